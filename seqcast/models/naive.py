"""Naive baselines: the last value, and the value one season earlier."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqcast.models.base import LocalForecaster


class Naive(LocalForecaster):
    """Repeats the last observed value for every step ahead."""

    alias = "naive"

    def __init__(self) -> None:
        pass

    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> Any:
        return float(y[-1])

    def _predict_series(self, state, h, exog_future, level) -> dict[str, np.ndarray]:
        return {"mean": np.full(h, state)}


class SeasonalNaive(LocalForecaster):
    """Forecasts each day with the value ``season_length`` days earlier.

    Steps beyond one season repeat the last season: ``yhat[t+k] = y[t + k - m*ceil(k/m)]``.
    """

    alias = "seasonal_naive"

    def __init__(self, season_length: int = 7) -> None:
        self.season_length = season_length

    @property
    def min_history(self) -> int:
        return int(self.season_length)

    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> Any:
        return y[-int(self.season_length) :].copy()

    def _predict_series(self, state, h, exog_future, level) -> dict[str, np.ndarray]:
        m = len(state)
        return {"mean": state[np.arange(h) % m]}
