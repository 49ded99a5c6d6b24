"""Forecast combination: the (weighted) mean of several models' forecasts, one candidate.

Averaging forecasts of models that err differently cancels part of their errors
(Bates & Granger 1969; the simple average is hard to beat, Clemen 1989, and
combinations of statistical and neural forecasts led the M4 competition). A
SARIMA with calendar regressors and a per-series GRU with the calendar as
known-future inputs are such a pair on daily ridership: on the CTA export (92
daily origins March-May 2019, h=1 MAE bus / rail) SARIMA 27,421 / 23,695, the
GRU 26,634 / 22,017, their mean 25,493 / 21,378; over h=1..14 28,375 / 27,581,
below both members (SARIMA 33,260 / 30,250, GRU 29,889 / 28,276). A per-series
LSTM as the third member (the default since December 2026): over the same origins,
from one replay's nightly table and ``seqcast backtest --model lstm --calendar
--refit-every 7``, SARIMA 27,172 / 23,768, GRU 26,850 / 22,542, LSTM 26,504 /
20,705, SARIMA+GRU 25,696 / 21,759, all three 25,727 / 20,982 (``docs/models.md``;
measured on the period it is judged on, so the gain is optimistic).

``combination`` is a model like any other: it is backtested, so the champion step
publishes it only where its own recent backtest beats the others, and its
conformal intervals come from its own residuals.

Parameters
----------
members : list of model specs (a name or ``{name, params}``), default
    ``["sarima", "gru", "lstm"]``; per-series models (each fitted on one series at a
    time, as the backtester hands them).
weights : list of positive numbers, one per member, or ``None`` (equal weights).

Each member gets the known-future features if it takes them. ``update`` updates
every member (fixed parameters). ``save``/``load`` (the nightly's fit cache):
members that can be saved (the networks, SARIMA) are saved; the others (the naive
baselines: no estimation) are refitted on load from the days they were fitted on,
kept in the folder, so a loaded combination forecasts as the saved one. Nothing
is pickled.

>>> from seqcast.models import build
>>> m = build({"name": "combination", "params": {"members": ["naive", "seasonal_naive"]}})
>>> import pandas as pd
>>> hist = pd.DataFrame({"series_id": "a", "ds": pd.date_range("2024-01-01", periods=14),
...                      "y": [float(i % 7) for i in range(14)]})
>>> m.fit(hist).predict(2)["mean"].tolist()  # (6 + 0) / 2, (6 + 1) / 2
[3.0, 3.5]
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from seqcast.errors import InputError, ModelError
from seqcast.models.base import Forecaster


class Combination(Forecaster):
    """The weighted mean of its members' forecasts (see the module docstring)."""

    alias = "combination"
    complexity = 20
    supports_update: ClassVar[bool] = True
    supports_future_covariates: ClassVar[bool] = True

    def __init__(self, members: list | tuple = ("sarima", "gru", "lstm"), weights: list | None = None) -> None:
        self.members = members
        self.weights = weights

    # -- parameters ---------------------------------------------------------------------
    def _built(self) -> list[Forecaster]:
        from seqcast.models import build

        if not isinstance(self.members, list | tuple) or not self.members:
            raise ModelError(f"{self.alias}: members must be a non-empty list of models, got {self.members!r}")
        out = []
        for spec in self.members:
            model = build(spec)
            if model.supports_multivariate:
                raise ModelError(f"{self.alias}: member {model.alias} learns across series; "
                                 "combine per-series models")
            if isinstance(model, Combination):
                raise ModelError(f"{self.alias}: a member cannot be a combination")
            out.append(model)
        return out

    def _weights(self) -> np.ndarray:
        n = len(self.members)
        if self.weights is None:
            return np.full(n, 1.0 / n)
        w = self.weights
        ok = isinstance(w, list | tuple) and len(w) == n and all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v > 0 for v in w)
        if not ok:
            raise ModelError(f"{self.alias}: weights must be {n} positive numbers (one per member), got {w!r}")
        w = np.asarray(w, dtype=float)
        return w / w.sum()

    def check_params(self) -> None:
        from seqcast.models import labels_for

        built = self._built()
        try:  # [sarima, sarima] is SARIMA alone, likely a typo for another member
            labels_for(built)
        except ModelError as exc:
            raise ModelError(f"{self.alias}: members: {exc}") from None
        self._weights()

    @property
    def min_history(self) -> int:
        return max(m.min_history for m in self._built())

    # -- fitting --------------------------------------------------------------------------
    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None, init: Forecaster | None) -> None:
        self.members_ = []
        for model in self._built():
            x = exog if model.supports_future_covariates else None
            self.members_.append(model.fit(history, x, check_input=False))
        self.fit_cutoff_ = self.cutoff_.copy()
        self.seen_ = history[["series_id", "ds", "y"]].reset_index(drop=True)
        self.seen_exog_ = None if exog is None else exog.reset_index(drop=True)

    def _update(self, history: pd.DataFrame, exog: pd.DataFrame | None) -> None:
        for model in self.members_:
            model.update(history, exog if model.supports_future_covariates else None, check_input=False)
        self.cutoff_ = self.members_[0].cutoff_.copy()
        self.seen_ = _union(self.seen_, history[["series_id", "ds", "y"]], ["series_id", "ds"])
        if exog is not None:
            keys = ["series_id", "ds"] if "series_id" in exog else ["ds"]
            self.seen_exog_ = exog if self.seen_exog_ is None else _union(self.seen_exog_, exog, keys)

    def _predict(self, h: int, exog_future: pd.DataFrame | None, level: tuple[int, ...]) -> pd.DataFrame:
        w = self._weights()
        out = None
        for wi, model in zip(w, self.members_, strict=True):
            fc = model.predict(h, exog_future if model.supports_future_covariates else None)
            fc = fc.sort_values(["series_id", "ds"], kind="stable").reset_index(drop=True)
            if out is None:
                out = fc[["series_id", "ds"]].assign(model=self.alias, mean=wi * fc["mean"].to_numpy())
            elif not (fc["series_id"].to_numpy() == out["series_id"].to_numpy()).all() or \
                    not (fc["ds"].to_numpy() == out["ds"].to_numpy()).all():
                raise ModelError(f"{self.alias}: member {model.alias} forecast other series or days")
            else:
                out["mean"] += wi * fc["mean"].to_numpy()
        return out

    # -- persistence (the nightly's fit cache) -----------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``path/``: saved members in ``member-<i>/``, the days seen for the others."""
        if not hasattr(self, "members_"):
            raise ModelError(f"{self.alias}: fit the model before saving it")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        saved = []
        for i, model in enumerate(self.members_):
            if hasattr(model, "save") and hasattr(model, "load") and getattr(model, "saveable", True):
                model.save(path / f"member-{i}")
                saved.append(i)
        self.seen_.to_parquet(path / "seen.parquet", index=False)
        if self.seen_exog_ is not None:
            self.seen_exog_.to_parquet(path / "seen_exog.parquet", index=False)
        meta = {"format_version": 1, "alias": self.alias, "params": self.get_params(), "saved": saved,
                "fit_cutoff": [[str(k), str(pd.Timestamp(v).date())] for k, v in self.fit_cutoff_.items()]}
        tmp = path / ".metadata.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1, default=list), encoding="utf-8")
        os.replace(tmp, path / "metadata.json")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Combination:
        """A combination written by :meth:`save`; it forecasts as the saved one did."""
        path = Path(path)
        try:
            meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path / 'metadata.json'}: cannot read a saved combination ({exc})") from None
        if not isinstance(meta, dict) or meta.get("alias") != cls.alias:
            raise InputError(f"{path / 'metadata.json'}: not a saved {cls.alias}")
        model = cls(**meta["params"])
        seen = pd.read_parquet(path / "seen.parquet")
        exog = pd.read_parquet(path / "seen_exog.parquet") if (path / "seen_exog.parquet").exists() else None
        fit_cutoff = pd.Series({sid: pd.Timestamp(d) for sid, d in meta["fit_cutoff"]})
        upto = seen[seen["ds"] <= seen["series_id"].astype(str).map(fit_cutoff)]
        model.members_ = []
        for i, member in enumerate(model._built()):
            x = exog if member.supports_future_covariates else None
            if i in meta["saved"]:
                member = type(member).load(path / f"member-{i}")
            else:
                member = member.fit(upto, x, check_input=False)
            if len(seen) > len(upto):
                member.update(seen, x, check_input=False)
            model.members_.append(member)
        model.cutoff_ = model.members_[0].cutoff_.copy()
        model.fit_cutoff_ = fit_cutoff
        model.seen_, model.seen_exog_ = seen, exog
        return model


def _union(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    both = pd.concat([old, new[[c for c in old.columns if c in new.columns]]], ignore_index=True)
    return both.drop_duplicates(keys, keep="first").sort_values(keys, kind="stable").reset_index(drop=True)
