"""Global networks: one Keras network trained on every series of a panel.

A *global* model learns one set of weights from the windows of all the series
it is given (each series scaled on its own, so a series of 500 riders and one
of 500,000 look alike to the network) and forecasts each series from its own
last ``input_length`` days. Unlike the per-series networks (one network per
series, :class:`~seqcast.models.neural.NeuralForecaster`), the training
cost does not grow with the number of networks, and short or noisy series
borrow strength from the others (Montero-Manso & Hyndman, "Principles and
algorithms for forecasting groups of time series: locality and globality",
IJF 2021).

Capabilities: ``supports_multivariate`` (the backtester hands it the whole
panel), ``supports_update`` (tonight's forecast from tonight's window with last
training's weights, no retraining), ``supports_warm_start`` (a refit starts
from the previous weights when ``warm_start=True``), known-future features
(the calendar of :mod:`seqcast.calendar`: ``exog`` numeric columns, the value
for day ``t+1`` at input step ``t``), MC-dropout intervals when ``dropout > 0``.

Defaults suit a nightly candidate on CPU: a GRU(32) reading 56 days of the
last ``max_history`` (3 years) of each series, answering one day ahead
(``horizon=1``) and rolled forward for longer horizons, at most 300 epochs with
early stopping on the last 15 % of the days.

Why one step and rolled forward, not 14 outputs at once: the known-future
input at step ``t`` is the calendar of day ``t+1`` only, so a direct 14-output
network never sees the calendar of the days 2..14 ahead. On CTA (92 daily
origins, March-May 2019, trained once on 2016-2019) it forecast Memorial Day
two days ahead as a weekday (bus: 739,000 for ~330,000), and its one-step
output shared the network with the 13 others: h=1 MAE bus 29,106, rail 28,323
with ``horizon=14``; 26,195 and 24,036 with ``horizon=1`` (each rolled step reads
its own day's calendar). The whole-history fit at 30 epochs gave 28,073 and
28,508; on the last 3 years at 30 epochs (~240 gradient steps) it underfits
(35,313 and 32,876): a bounded window needs the epoch budget, early stopping
ends it (~30 s on 2 CPU cores for 2 series).

>>> from seqcast.models import get_model
>>> m = get_model("global_gru", epochs=2)
>>> m.supports_multivariate, m.get_params()["horizon"], m.get_params()["cell"]
(True, 1, 'gru')
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from seqcast.errors import ModelError
from seqcast.models.base import _by_series, _exog_for
from seqcast.models.neural import NeuralForecaster
from seqcast.models.recurrent import Recurrent


class GlobalForecaster(NeuralForecaster):
    """One network over all series of the history (see the module docstring)."""

    supports_multivariate: ClassVar[bool] = True
    _defaults: ClassVar[dict[str, Any]] = {"horizon": 1}

    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None, init=None) -> None:
        datasets, problems = {}, {}
        for sid, part in _by_series(history):
            part = self._recent(part)
            x = None if exog is None else _exog_for(exog, sid, part["ds"])
            try:
                datasets[sid] = self._series_dataset(part["y"].to_numpy(dtype=float), x)
            except ModelError as exc:  # one short series must not sink the others
                problems[sid] = str(exc)
        if not datasets:
            raise ModelError(f"{self.alias}: no series can be trained on: {problems}")
        first = next(iter(datasets.values()))
        for name in ("train", "valid"):
            if any((name in d.splits) != (name in first.splits) for d in datasets.values()):
                raise ModelError(f"{self.alias}: every series needs the same train/valid splits")
        x, y = _stack(d["train"].arrays() for d in datasets.values())
        y = self._prepare_targets(y)
        val = None
        if "valid" in first.splits:
            vx, vy = _stack(d["valid"].arrays() for d in datasets.values())
            val = (vx, self._prepare_targets(vy))
        previous = None
        if init is not None and self.warm_start and getattr(init, "states_", None):
            previous = next(iter(init.states_.values()))
        known_dim = max(len(first.known_names), 1)
        net, result = self._train_arrays(first.spec, x, y, val, first["train"].features.shape[1],
                                         known_dim, previous, f"{self.alias}:{len(datasets)} series")
        self.states_ = {}
        for sid, ds in datasets.items():
            metrics = {}
            if "valid" in ds.splits:
                vx, vy = ds["valid"].arrays()
                metrics = self._valid_metrics(net, (vx, self._prepare_targets(vy)), ds)
            self.states_[sid] = self._state(net, ds, metrics, result.to_dict())
        self.skipped_ = problems
        self.cutoff_ = self.cutoff_[self.cutoff_.index.isin(list(self.states_))]


def _stack(pairs) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*pairs, strict=True)
    return np.concatenate(xs), np.concatenate(ys)


class GlobalRNN(GlobalForecaster, Recurrent):
    """Global SimpleRNN(32) + Dense(horizon)."""

    alias = "global_rnn"


class GlobalGRU(GlobalForecaster, Recurrent):
    """Global GRU(32) + Dense(horizon): the nightly's neural candidate."""

    alias = "global_gru"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "gru"}


class GlobalLSTM(GlobalForecaster, Recurrent):
    """Global LSTM(32) + Dense(horizon)."""

    alias = "global_lstm"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "lstm"}
