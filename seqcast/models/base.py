"""The one model interface every forecaster implements.

History and forecasts are long DataFrames with one vocabulary:

- history: ``series_id, ds, y`` (one row per series and day, sorted, no NaN);
- forecasts: ``series_id, ds, model, mean`` plus ``lo-<level>``/``hi-<level>``
  columns when the model gives intervals.

Constructors only store hyperparameters (scikit-learn's rule), so
:meth:`Forecaster.get_params` and :meth:`Forecaster.clone` work; learned state
ends in ``_``. Capability flags say what a model can do, so the backtester and
the flows never special-case a model by name.

>>> import pandas as pd
>>> from seqcast.models.naive import SeasonalNaive
>>> hist = pd.DataFrame({"series_id": "a", "ds": pd.date_range("2024-01-01", periods=14),
...                      "y": [float(i % 7) for i in range(14)]})
>>> SeasonalNaive(season_length=7).fit(hist).predict(3)["mean"].tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from seqcast.errors import ModelError

HISTORY_COLUMNS = ("series_id", "ds", "y")


class Forecaster(ABC):
    """Base class: validates inputs, keeps the cutoff, formats the output."""

    alias: ClassVar[str]
    supports_future_covariates: ClassVar[bool] = False
    supports_probabilistic_prediction: ClassVar[bool] = False
    supports_multivariate: ClassVar[bool] = False

    # -- parameters -----------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def clone(self) -> Self:
        """An unfitted copy with the same hyperparameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @property
    def min_history(self) -> int:
        """Fewest observations per series the model can be fitted on."""
        return 1

    # -- public API -----------------------------------------------------------------
    def fit(self, history: pd.DataFrame, exog: pd.DataFrame | None = None) -> Self:
        """Fit on ``history`` (``series_id, ds, y``); ``exog`` has ``series_id, ds`` + features."""
        history = check_history(history, min_length=self.min_history, model=self.alias)
        if exog is not None and not self.supports_future_covariates:
            raise ModelError(f"{self.alias}: this model takes no exogenous features")
        self.cutoff_ = history.groupby("series_id", sort=True)["ds"].max()
        self._fit(history, exog)
        return self

    def predict(
        self,
        h: int,
        exog_future: pd.DataFrame | None = None,
        level: tuple[int, ...] | list[int] = (),
    ) -> pd.DataFrame:
        """Forecast ``h`` days past each series' cutoff.

        Returns a long frame ``series_id, ds, model, mean`` (+ ``lo-L``, ``hi-L``).
        """
        if not hasattr(self, "cutoff_"):
            raise ModelError(f"{self.alias}: call fit() before predict()")
        if int(h) != h or h < 1:
            raise ModelError(f"{self.alias}: horizon h must be a positive integer, got {h!r}")
        if level and not self.supports_probabilistic_prediction:
            raise ModelError(f"{self.alias}: this model gives no prediction intervals")
        out = self._predict(int(h), exog_future, tuple(level))
        return out.reset_index(drop=True)

    # -- to implement -----------------------------------------------------------------
    @abstractmethod
    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None) -> None: ...

    @abstractmethod
    def _predict(
        self, h: int, exog_future: pd.DataFrame | None, level: tuple[int, ...]
    ) -> pd.DataFrame: ...

    # -- helpers for subclasses ---------------------------------------------------------
    def _frame(self, series_id: Any, h: int, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        cutoff = self.cutoff_[series_id]
        ds = pd.date_range(cutoff + pd.Timedelta(days=1), periods=h, freq="D")
        return pd.DataFrame({"series_id": series_id, "ds": ds, "model": self.alias, **columns})


class LocalForecaster(Forecaster):
    """A model fitted separately on each series (naive, seasonal naive, SARIMA)."""

    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None) -> None:
        self.states_: dict[Any, Any] = {}
        for sid, part in history.groupby("series_id", sort=True):
            x = None
            if exog is not None:
                x = _exog_for(exog, sid, part["ds"])
            self.states_[sid] = self._fit_series(part["y"].to_numpy(dtype=float), x)

    def _predict(
        self, h: int, exog_future: pd.DataFrame | None, level: tuple[int, ...]
    ) -> pd.DataFrame:
        frames = []
        for sid, state in self.states_.items():
            x = None
            if exog_future is not None:
                cutoff = self.cutoff_[sid]
                ds = pd.date_range(cutoff + pd.Timedelta(days=1), periods=h, freq="D")
                x = _exog_for(exog_future, sid, pd.Series(ds))
            frames.append(self._frame(sid, h, self._predict_series(state, h, x, level)))
        return pd.concat(frames, ignore_index=True)

    @abstractmethod
    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> Any:
        """Fit one series ``y`` of shape ``(n,)``; return its fitted state."""

    @abstractmethod
    def _predict_series(
        self, state: Any, h: int, exog_future: np.ndarray | None, level: tuple[int, ...]
    ) -> dict[str, np.ndarray]:
        """Return ``{"mean": (h,), "lo-90": (h,), ...}`` for one series."""


def check_history(history: pd.DataFrame, *, min_length: int = 1, model: str = "model") -> pd.DataFrame:
    """Validate a long history frame and return it sorted by ``series_id, ds``.

    Raises :class:`ModelError` naming the problem: missing columns, NaNs,
    duplicated days, gaps, or a series shorter than ``min_length``.
    """
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ModelError(f"{model}: history lacks column(s) {missing}")
    if history.empty:
        raise ModelError(f"{model}: history is empty")
    if history["y"].isna().any():
        bad = history.loc[history["y"].isna(), ["series_id", "ds"]].head(3).to_dict("records")
        raise ModelError(f"{model}: history has NaN values, e.g. {bad}")
    history = history.sort_values(["series_id", "ds"], kind="stable")
    if history.duplicated(["series_id", "ds"]).any():
        raise ModelError(f"{model}: history has more than one row per series and day")
    sizes = history.groupby("series_id", sort=False)["ds"].agg(["min", "max", "size"])
    span = (sizes["max"] - sizes["min"]).dt.days + 1
    gappy = sizes.index[span != sizes["size"]]
    if len(gappy):
        raise ModelError(f"{model}: series {list(gappy)[:3]} have missing days; clean them first")
    short = sizes.index[sizes["size"] < min_length]
    if len(short):
        raise ModelError(
            f"{model}: series {list(short)[:3]} have fewer than {min_length} observations"
        )
    return history


def _exog_for(exog: pd.DataFrame, series_id: Any, ds: pd.Series) -> np.ndarray:
    """Rows of ``exog`` for one series on the given days, as ``(len(ds), n_features)``."""
    part = exog[exog["series_id"] == series_id] if "series_id" in exog else exog
    part = part.set_index("ds").drop(columns=["series_id"], errors="ignore")
    missing = pd.Index(ds).difference(part.index)
    if len(missing):
        raise ModelError(f"exogenous features missing for {series_id!r} on {missing[:3].tolist()}")
    return part.loc[pd.Index(ds)].to_numpy(dtype=float)
