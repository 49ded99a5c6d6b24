"""The one model contract every forecaster implements, and that the backtester,
the nightly flow and the champion step use (and nothing else).

History and forecasts are long DataFrames with one vocabulary:

- history: ``series_id, ds, y`` (one row per series and day, sorted, no NaN, no gaps);
- exogenous (known-future) features: ``series_id, ds`` + numeric columns, for the
  history days (``fit``/``update``) and the days ahead (``predict``);
- forecasts: ``series_id, ds, model, mean`` plus ``lo-<level>``/``hi-<level>``
  columns when the model gives intervals.

The public methods:

``fit(history, exog=None, *, init=None) -> self``
    Estimate on one or many series. ``init``: a fitted model of the same class
    to start the estimation from (warm start), where ``supports_warm_start``.
``update(history, exog=None) -> self``
    Take the days after each series' cutoff without re-estimating (the fitted
    parameters stay; the state moves on), where ``supports_update``.
``predict(h, exog_future=None, level=()) -> DataFrame``
    ``h`` days past each series' cutoff, intervals at ``level`` percent where
    ``supports_probabilistic_prediction``.

Capability flags (class attributes; the backtester and flows read these, never a
model's name):

``supports_update``
    ``update`` takes new observations at fixed parameters. Between refits the
    backtester updates such a model instead of refitting it.
``supports_warm_start``
    ``fit(..., init=previous)`` starts from ``previous``'s estimates.
``supports_future_covariates``
    ``fit``/``predict`` take known-future features (``exog``/``exog_future``).
``supports_multivariate``
    One fit learns several series at once (a global network over a panel, or a
    multivariate model such as bus + rail together): the backtester hands it
    the whole panel at each origin instead of one series at a time.
``supports_probabilistic_prediction``
    ``predict(level=...)`` returns model-based intervals. (Every published
    model also gets conformal intervals from its backtest, see
    :mod:`seqcast.conformal`.)

Constructors only store hyperparameters (scikit-learn's rule), so
:meth:`Forecaster.get_params` and :meth:`Forecaster.clone` work; learned state
ends in ``_``. :class:`LocalForecaster` is an implementation helper for models
fitted separately on each series: they write per-series hooks on arrays
(``_fit_series``, ``_predict_series``, optionally ``_fit_series_warm`` and
``_update_series``), and the public methods above loop over the series.

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
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from seqcast.errors import ModelError

HISTORY_COLUMNS = ("series_id", "ds", "y")


class Forecaster(ABC):
    """Base class: validates inputs, keeps the cutoff, formats the output."""

    alias: ClassVar[str]
    supports_update: ClassVar[bool] = False
    supports_warm_start: ClassVar[bool] = False
    supports_future_covariates: ClassVar[bool] = False
    supports_multivariate: ClassVar[bool] = False
    supports_probabilistic_prediction: ClassVar[bool] = False
    #: Ties in the champion choice go to the simpler model (lower is simpler).
    complexity: ClassVar[int] = 10

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

    def check_params(self) -> None:
        """Raise :class:`ModelError` naming a hyperparameter whose value cannot work.

        Called by ``fit`` and by :func:`seqcast.models.build` (so a bad ``--param`` or
        models-file value stops before any data is read); the constructor only stores.
        The base class accepts everything.
        """
        return None

    @property
    def uses_warm_start(self) -> bool:
        """Whether ``fit(init=...)`` will start from ``init``: ``supports_warm_start``,
        unless a ``warm_start`` hyperparameter turns it off."""
        return self.supports_warm_start and bool(getattr(self, "warm_start", True))

    # -- what a warm-started fit says about itself (for the backtester) -----------------
    @property
    def provisional_(self) -> bool:
        """True for a warm-started fit not yet confirmed against a cold fit.

        The backtester re-runs provisional origins cold when a later check sets
        :attr:`cold_only_` (see :func:`seqcast.backtest.walk_origins`).
        """
        return False

    @property
    def cold_only_(self) -> bool:
        """True once a check found warm starts off the cold fit: fit cold from here on."""
        return False

    # -- public API -----------------------------------------------------------------
    def fit(
        self,
        history: pd.DataFrame,
        exog: pd.DataFrame | None = None,
        *,
        init: Forecaster | None = None,
        check_input: bool = True,
    ) -> Self:
        """Fit on ``history`` (``series_id, ds, y``).

        Parameters
        ----------
        history : long frame, one row per series and day, no gaps, no NaN.
        exog : ``series_id, ds`` (``series_id`` optional) + numeric known-future
            features covering the history days; models without
            ``supports_future_covariates`` raise :class:`ModelError`.
        init : a fitted model of the same class to warm-start from
            (``supports_warm_start`` models only).
        check_input : validate ``history`` (skip only when the caller has, as
            the backtester does once per series: scikit-learn's ``check_input``).

        Raises
        ------
        ModelError : bad history, unsupported ``exog``/``init``, or a failed fit.
        """
        self.check_params()
        if check_input:
            history = check_history(history, min_length=self.min_history, model=self.alias)
        if exog is not None and not self.supports_future_covariates:
            raise ModelError(f"{self.alias}: this model takes no exogenous features")
        if init is not None:
            if not self.supports_warm_start:
                raise ModelError(f"{self.alias}: this model cannot warm-start (init=...)")
            if not isinstance(init, type(self)) or not hasattr(init, "cutoff_"):
                raise ModelError(f"{self.alias}: init must be a fitted {type(self).__name__}")
        sids = history["series_id"].to_numpy()
        if len(sids) and (sids[0] == sids).all():  # one series (the backtester's case): no groupby
            self.cutoff_ = pd.Series([history["ds"].max()], index=pd.Index([sids[0]], name="series_id"),
                                     name="ds")
        else:
            self.cutoff_ = history.groupby("series_id", sort=True)["ds"].max()
        self._fit(history, exog, init)
        return self

    def update(
        self, history: pd.DataFrame, exog: pd.DataFrame | None = None, *, check_input: bool = True
    ) -> Self:
        """Take the rows of ``history`` after each series' cutoff, at fixed parameters.

        ``history`` may hold the whole history or only the new days; rows up to
        the cutoff are ignored. The new days must follow the cutoff without a gap.
        ``exog`` gives the known-future features of the new days.

        Raises :class:`ModelError` for models without ``supports_update``, an
        unfitted model, or new days that do not follow the cutoff.
        """
        if not self.supports_update:
            raise ModelError(f"{self.alias}: this model cannot update; fit it again")
        if not hasattr(self, "cutoff_"):
            raise ModelError(f"{self.alias}: fit or load the model before update()")
        if check_input:
            history = check_history(history, model=self.alias)
        self._update(history, exog)
        return self

    def predict(
        self,
        h: int,
        exog_future: pd.DataFrame | None = None,
        level: tuple[int, ...] | list[int] = (),
    ) -> pd.DataFrame:
        """Forecast ``h`` days past each series' cutoff.

        Returns a long frame ``series_id, ds, model, mean`` (+ ``lo-L``, ``hi-L``),
        ``h`` rows per series, sorted by series and day.
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
    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None, init: Forecaster | None) -> None: ...

    def _update(self, history: pd.DataFrame, exog: pd.DataFrame | None) -> None:
        raise ModelError(f"{self.alias}: this model cannot update; fit it again")

    @abstractmethod
    def _predict(
        self, h: int, exog_future: pd.DataFrame | None, level: tuple[int, ...]
    ) -> pd.DataFrame: ...

    # -- helpers for subclasses ---------------------------------------------------------
    def _frame(self, series_id: Any, h: int, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        """``h`` output rows for one series: ``series_id, ds, model`` + ``columns`` (each ``(h,)``)."""
        cutoff = np.datetime64(pd.Timestamp(self.cutoff_[series_id]).as_unit("ns"))
        ds = cutoff + np.arange(1, h + 1).astype("timedelta64[D]")
        return pd.DataFrame({"series_id": [series_id] * h, "ds": ds.astype("datetime64[ns]"),
                             "model": [self.alias] * h, **columns})


class LocalForecaster(Forecaster):
    """Implementation helper for models fitted separately on each series.

    Subclasses write array hooks for one series; the public methods of
    :class:`Forecaster` loop over the series:

    - ``_fit_series(y (n,), exog (n, k) | None) -> state``
    - ``_predict_series(state, h, exog_future (h, k) | None, level) -> {"mean": (h,), "lo-L": (h,), ...}``
    - ``_fit_series_warm(y, exog, previous_state) -> state`` (``supports_warm_start``)
    - ``_update_series(state, y_new (m,), exog_new (m, k) | None) -> state`` (``supports_update``)
    """

    #: The exog columns the model reads, by name (None: all of them, in order). A
    #: model naming columns gets ``exog=None`` when a frame lacks any of them.
    exog_columns: ClassVar[tuple[str, ...] | None] = None

    def _own_exog(self, exog: pd.DataFrame | None) -> pd.DataFrame | None:
        """``exog`` when it has the columns the model reads (:func:`_exog_for` takes only
        those, no copy of the frame per origin), else None."""
        if exog is None or self.exog_columns is None:
            return exog
        return exog if set(self.exog_columns) <= set(exog.columns) else None

    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None, init: Forecaster | None) -> None:
        self.states_: dict[Any, Any] = {}
        previous = getattr(init, "states_", {}) if init is not None else {}
        exog = self._own_exog(exog)
        for sid, part in _by_series(history):
            part = self._recent(part)
            x = None
            if exog is not None:
                x = _exog_for(exog, sid, part["ds"], self.exog_columns)
            y = part["y"].to_numpy(dtype=float)
            if sid in previous:
                self.states_[sid] = self._fit_series_warm(y, x, previous[sid])
            else:
                self.states_[sid] = self._fit_series(y, x)

    def _recent(self, part: pd.DataFrame) -> pd.DataFrame:
        """The last ``max_history`` days of one series' history (all of it when the model
        has no ``max_history`` hyperparameter or it is ``None``)."""
        n = getattr(self, "max_history", None)
        return part if n is None or len(part) <= int(n) else part.iloc[-int(n):]

    def _update(self, history: pd.DataFrame, exog: pd.DataFrame | None) -> None:
        exog = self._own_exog(exog)
        cutoff = self.cutoff_.copy()
        for sid, part in _by_series(history):
            if sid not in self.states_:
                raise ModelError(f"{self.alias}: update got series {sid!r} the model was not fitted on")
            new = part[part["ds"] > cutoff[sid]]
            if new.empty:
                continue
            if new["ds"].iloc[0] != cutoff[sid] + pd.Timedelta(days=1):
                raise ModelError(f"{self.alias}: {sid!r} has no data on the day after {cutoff[sid].date()}")
            x_new = None if exog is None else _exog_for(exog, sid, new["ds"], self.exog_columns)
            self.states_[sid] = self._update_series(self.states_[sid], new["y"].to_numpy(dtype=float), x_new)
            cutoff[sid] = new["ds"].iloc[-1]
        self.cutoff_ = cutoff

    def _predict(
        self, h: int, exog_future: pd.DataFrame | None, level: tuple[int, ...]
    ) -> pd.DataFrame:
        exog_future = self._own_exog(exog_future)
        frames = []
        for sid, state in self.states_.items():
            x = None
            if exog_future is not None:
                cutoff = self.cutoff_[sid]
                ds = pd.date_range(cutoff + pd.Timedelta(days=1), periods=h, freq="D")
                x = _exog_for(exog_future, sid, pd.Series(ds), self.exog_columns)
            frames.append(self._frame(sid, h, self._predict_series(state, h, x, level)))
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    @property
    def provisional_(self) -> bool:
        return not all(getattr(s, "checked", True) for s in getattr(self, "states_", {}).values())

    @property
    def cold_only_(self) -> bool:
        return any(getattr(s, "cold_only", False) for s in getattr(self, "states_", {}).values())

    @abstractmethod
    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> Any:
        """Fit one series ``y`` of shape ``(n,)``; return its fitted state."""

    def _fit_series_warm(self, y: np.ndarray, exog: np.ndarray | None, previous: Any) -> Any:
        """Fit one series starting from ``previous`` (default: a cold fit)."""
        return self._fit_series(y, exog)

    def _update_series(self, state: Any, y_new: np.ndarray, exog_new: np.ndarray | None) -> Any:
        raise ModelError(f"{self.alias}: this model cannot update; fit it again")

    @abstractmethod
    def _predict_series(
        self, state: Any, h: int, exog_future: np.ndarray | None, level: tuple[int, ...]
    ) -> dict[str, np.ndarray]:
        """Return ``{"mean": (h,), "lo-90": (h,), ...}`` for one series."""


def positive_int(model: Forecaster, name: str, value: Any, minimum: int = 1) -> None:
    """Raise :class:`ModelError` unless ``value`` is an integer ``>= minimum`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ModelError(f"{model.alias}: {name} must be an integer >= {minimum}, got {value!r}")


def optional_positive_int(model: Forecaster, name: str, value: Any, minimum: int = 1) -> None:
    """Like :func:`positive_int`, ``None`` allowed (e.g. ``max_history=None``: no bound)."""
    if value is not None:
        positive_int(model, name, value, minimum)


def int_tuple(model: Forecaster, name: str, value: Any, n: int) -> None:
    """Raise :class:`ModelError` unless ``value`` is ``n`` non-negative integers."""
    ok = isinstance(value, list | tuple) and len(value) == n and all(
        not isinstance(v, bool) and isinstance(v, int | np.integer) and v >= 0 for v in value)
    if not ok:
        raise ModelError(f"{model.alias}: {name} must be {n} non-negative integers, got {value!r}")


def _by_series(history: pd.DataFrame):
    """``(series_id, part)`` pairs; one series skips pandas' groupby (the backtester's case)."""
    sids = history["series_id"].to_numpy()
    if len(sids) and (sids[0] == sids).all():
        return [(sids[0], history)]
    return history.groupby("series_id", sort=True)


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


def _day_positions(days: np.ndarray, want: np.ndarray, series_id: Any) -> np.ndarray:
    """Where each day of ``want`` is in ``days`` (sorted, unique ``datetime64[ns]``).

    Raises :class:`ModelError` naming the series and the first missing days.
    """
    pos = np.minimum(np.searchsorted(days, want), max(len(days) - 1, 0))
    found = days[pos] == want if len(days) else np.zeros(len(want), dtype=bool)
    if not found.all():
        missing = pd.DatetimeIndex(want[~found])
        raise ModelError(f"exogenous features missing for {series_id!r} on {missing[:3].tolist()}")
    return pos


def _exog_for(exog: pd.DataFrame, series_id: Any, ds: pd.Series,
              columns: Sequence[str] | None = None) -> np.ndarray:
    """Rows of ``exog`` for one series on the given days, as ``(len(ds), n_features)``;
    the features are ``columns`` in that order (None: every column but ``series_id, ds``).

    Raises :class:`ModelError` when a day has no row. The backtester asks this for
    every origin (fit, update, forecast): days are looked up in numpy (``searchsorted``
    on the sorted days) rather than through a pandas index built per call (3 ms a call
    on a 3-year series, a third of a SARIMA backtest's time).
    """
    feats = list(columns) if columns is not None else [c for c in exog.columns if c not in ("series_id", "ds")]
    days = exog["ds"].to_numpy(dtype="datetime64[ns]")
    rows = np.arange(len(exog))
    if "series_id" in exog:
        rows = np.flatnonzero(exog["series_id"].to_numpy() == series_id)
        days = days[rows]
    want = np.asarray(pd.to_datetime(pd.Index(ds)).to_numpy(dtype="datetime64[ns]"))
    if len(days) and (days[1:] > days[:-1]).all():  # sorted, one row a day: the usual case
        pos = _day_positions(days, want, series_id)
        take = rows[pos]  # only these rows are converted (a panel-wide frame costs no more)
        return (np.column_stack([exog[c].to_numpy()[take].astype(float) for c in feats]) if feats
                else np.empty((len(want), 0)))
    part = exog[exog["series_id"] == series_id] if "series_id" in exog else exog
    part = part.set_index("ds")[feats]
    missing = pd.Index(ds).difference(part.index)
    if len(missing):
        raise ModelError(f"exogenous features missing for {series_id!r} on {missing[:3].tolist()}")
    return part.loc[pd.Index(ds)].to_numpy(dtype=float)
