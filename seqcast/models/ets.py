"""Holt-Winters exponential smoothing (statsmodels ``ExponentialSmoothing``).

The example of ``docs/models.md``: a whole model is this file plus one line in
:data:`seqcast.models.REGISTRY`. It fits each series separately
(:class:`~seqcast.models.base.LocalForecaster`), so it only writes the two
array hooks; the backtester, the nightly flow and the champion step take it
as they take SARIMA.

Source: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.),
ch. 8.3 (Holt-Winters' additive method); statsmodels' implementation.

>>> import numpy as np, pandas as pd
>>> ds = pd.date_range("2024-01-01", periods=56)
>>> y = 100 + 10 * (ds.day_of_week < 5) + np.random.default_rng(0).normal(0, 1, 56)
>>> fc = ETS().fit(pd.DataFrame({"series_id": "a", "ds": ds, "y": y})).predict(7)
>>> fc["mean"].round(-1).tolist()
[110.0, 110.0, 110.0, 110.0, 110.0, 100.0, 100.0]
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from seqcast.errors import ModelError
from seqcast.models.base import LocalForecaster, positive_int


class ETS(LocalForecaster):
    """Holt-Winters: level, optional (damped) trend, additive or multiplicative season.

    Parameters
    ----------
    season_length : int, default 7 (days in the weekly cycle of daily data).
    trend : None, "add" or "mul".
    damped_trend : bool, damp the trend (only with ``trend``).
    seasonal : "add", "mul" or None.
    """

    alias = "ets"
    complexity = 2

    def __init__(
        self,
        season_length: int = 7,
        trend: str | None = None,
        damped_trend: bool = False,
        seasonal: str | None = "add",
    ) -> None:
        self.season_length = season_length
        self.trend = trend
        self.damped_trend = damped_trend
        self.seasonal = seasonal

    def check_params(self) -> None:
        positive_int(self, "season_length", self.season_length, minimum=2)
        for name in ("trend", "seasonal"):
            if getattr(self, name) not in (None, "add", "mul"):
                raise ModelError(f"{self.alias}: {name} must be add, mul or none, got {getattr(self, name)!r}")
        if not isinstance(self.damped_trend, bool):
            raise ModelError(f"{self.alias}: damped_trend must be true or false, got {self.damped_trend!r}")

    @property
    def min_history(self) -> int:
        return 2 * int(self.season_length) + 2 if self.seasonal else 4

    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> Any:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        if len(y) < self.min_history:
            raise ModelError(f"{self.alias}: {len(y)} observations, needs at least {self.min_history}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; a bad fit shows in the backtest
            return ExponentialSmoothing(
                np.asarray(y, dtype=float),
                trend=self.trend,
                damped_trend=bool(self.damped_trend) and self.trend is not None,
                seasonal=self.seasonal,
                seasonal_periods=int(self.season_length) if self.seasonal else None,
                initialization_method="estimated",
            ).fit()

    def _predict_series(self, state, h, exog_future, level) -> dict[str, np.ndarray]:
        mean = np.asarray(state.forecast(h), dtype=float)
        if not np.isfinite(mean).all():
            raise ModelError(f"{self.alias}: the forecast has non-finite values")
        return {"mean": mean}
