"""Naive baselines: the last value, and the value one season earlier."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from seqcast.errors import ModelError
from seqcast.models.base import LocalForecaster, positive_int

LOOKBACK_SEASONS = 8
"""Seasons back :class:`SeasonalNaive` looks for a same-phase day that is no holiday."""


class Naive(LocalForecaster):
    """Repeats the last observed value for every step ahead."""

    alias = "naive"
    complexity = 0

    def __init__(self) -> None:
        pass

    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> Any:
        return float(y[-1])

    def _predict_series(self, state, h, exog_future, level) -> dict[str, np.ndarray]:
        return {"mean": np.full(h, state)}


class SeasonalState(NamedTuple):
    """What :class:`SeasonalNaive` keeps per series: two arrays of shape ``(m,)``.

    ``last[r]``: the value at phase ``r`` of the last season (``y[n - m + r]``).
    ``clean[r]``: the most recent value at phase ``r`` (``y[n - m + r - j*m]``,
    ``j = 0, 1, ...`` up to :data:`LOOKBACK_SEASONS` seasons back) on a day that
    is not a holiday; ``last[r]`` where there is none or no flags were given.
    """

    last: np.ndarray
    clean: np.ndarray


class SeasonalNaive(LocalForecaster):
    """Forecasts each day with the value ``season_length`` days earlier.

    Steps beyond one season repeat the last season: ``yhat[t+k] = y[t + k - m*ceil(k/m)]``.

    With known-future features (``exog``; ``skip_holidays=True``) holidays are
    not copied into normal weeks: a target day that is not a holiday gets the
    value of the most recent day of the same phase (same weekday for
    ``m = 7``) that is not a holiday, searching up to :data:`LOOKBACK_SEASONS`
    seasons back (the plain value when every one of them was a holiday). A
    target day that is itself a holiday gets the plain seasonal-naive value:
    one holiday's level says little about another's.

    The holiday flag is the ``holiday`` column of ``exog``/``exog_future`` (0 or 1;
    other columns are ignored, and a frame without ``holiday`` counts as no
    flags): :func:`seqcast.calendar.panel_exog` makes it. Without ``exog`` at fit
    time, or with ``skip_holidays=False``, the forecast is the plain one; without
    ``exog_future`` every target day counts as no holiday.

    Parameters
    ----------
    season_length : ``m``, days per season.
    skip_holidays : use the holiday flag as above.

    Raises
    ------
    ModelError : (from ``fit``/``predict``) a ``holiday`` column that is not 0/1.

    Examples
    --------
    >>> import pandas as pd
    >>> days = pd.date_range("2021-11-01", "2021-11-30")
    >>> hist = pd.DataFrame({"series_id": "bus", "ds": days,
    ...                      "y": [136.0 if d.day == 25 else 420.0 for d in days]})
    >>> x = pd.DataFrame({"ds": pd.date_range("2021-11-01", "2021-12-02")})
    >>> x["holiday"] = (x["ds"] == "2021-11-25").astype(float)  # Thanksgiving
    >>> SeasonalNaive(7).fit(hist).predict(2)["mean"].tolist()
    [420.0, 136.0]
    >>> SeasonalNaive(7).fit(hist, exog=x).predict(2, exog_future=x)["mean"].tolist()
    [420.0, 420.0]
    """

    alias = "seasonal_naive"
    complexity = 1
    supports_future_covariates = True
    exog_columns = ("holiday",)

    def __init__(self, season_length: int = 7, skip_holidays: bool = True) -> None:
        self.season_length = season_length
        self.skip_holidays = skip_holidays

    @property
    def min_history(self) -> int:
        return int(self.season_length)

    def check_params(self) -> None:
        positive_int(self, "season_length", self.season_length)
        if not isinstance(self.skip_holidays, bool):
            raise ModelError(f"{self.alias}: skip_holidays must be true or false, got {self.skip_holidays!r}")

    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> SeasonalState:
        m = int(self.season_length)
        last = y[-m:].copy()
        if exog is None or not self.skip_holidays:
            return SeasonalState(last, last)
        keep = m * LOOKBACK_SEASONS
        values, flags = y[-keep:], self._holiday_flag(exog)[-keep:]
        usable = (flags == 0) & np.isfinite(values)
        clean = last.copy()
        for r in range(m):
            pos = np.arange(len(values) - m + r, -1, -m)  # most recent first
            ok = pos[usable[pos]]
            if len(ok):
                clean[r] = values[ok[0]]
        return SeasonalState(last, clean)

    def _predict_series(self, state, h, exog_future, level) -> dict[str, np.ndarray]:
        if isinstance(state, np.ndarray):  # a model fitted before holidays were skipped
            state = SeasonalState(state, state)
        phase = np.arange(h) % len(state.last)
        mean = state.clean[phase]
        if exog_future is not None and self.skip_holidays:
            mean = np.where(self._holiday_flag(exog_future) == 1, state.last[phase], mean)
        return {"mean": mean}

    def _holiday_flag(self, exog: np.ndarray) -> np.ndarray:
        """The ``holiday`` column (``exog`` is ``(n, 1)``), checked to be 0/1: shape ``(n,)``."""
        if exog.ndim != 2 or exog.shape[1] == 0:
            raise ModelError(f"{self.alias}: exog needs the 0/1 holiday flag")
        flag = exog[:, -1]
        if not np.isin(flag, (0.0, 1.0)).all():
            raise ModelError(f"{self.alias}: the exog column `holiday` must be 0 or 1 "
                             "(seqcast.calendar.panel_exog makes it)")
        return flag
