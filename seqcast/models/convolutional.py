"""Convolutional sequence models: Conv1D + GRU/LSTM, and a WaveNet-style stack.

:class:`ConvRecurrent` is the chapter's model: a stride-2 Conv1D (kernel 4,
``valid`` padding) over 112-day inputs, a GRU returning sequences and 14
outputs per step. The convolution shortens and shifts the sequence, so the
seq→seq targets are cropped and downsampled to match:
``y[:, kernel_size - 1 :: strides]`` (output step ``j`` has seen input steps
``0 .. j*strides + kernel_size - 1``).

:class:`WaveNet` stacks causal Conv1D layers with dilation rates 1, 2, 4, 8
(twice), so each output step sees only the past, and ends with a 1×1 Conv1D
giving ``horizon`` values per step. XLA does not speed it up on CPU, so it
trains without ``jit_compile`` by default.

>>> from seqcast.models import get_model
>>> m = get_model("conv_gru")
>>> m.input_length, m.horizon, m.kind
(112, 14, 'seq2seq')
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from seqcast.errors import ModelError
from seqcast.models.neural import NeuralForecaster
from seqcast.models.recurrent import Recurrent


class ConvRecurrent(Recurrent):
    """Conv1D(filters, kernel_size, strides) → recurrent stack (seq) → Dense(horizon)."""

    alias = "conv_gru"
    kind = "seq2seq"
    _defaults: ClassVar[dict[str, Any]] = {
        "cell": "gru", "input_length": 112, "horizon": 14, "filters": 32, "kernel_size": 4,
        "strides": 2,
    }

    def _check_spec(self, spec) -> None:
        super()._check_spec(spec)
        if int(self.kernel_size) > spec.input_length:
            raise ModelError(f"{self.alias}: kernel_size {self.kernel_size} exceeds the input "
                             f"length {spec.input_length}")

    def _prepare_targets(self, y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(y[:, int(self.kernel_size) - 1 :: int(self.strides)])

    def _build(self, input_length, n_features, n_targets, known_dim):
        import keras

        inp = keras.Input((input_length, n_features))
        x = keras.layers.Conv1D(int(self.filters), int(self.kernel_size), strides=int(self.strides),
                                activation="relu")(inp)
        x = self._body(x)
        out = keras.layers.Dense(self.train_horizon * n_targets, dtype="float32")(x)
        return keras.Model(inp, out, name=self.alias)


class ConvLSTM(ConvRecurrent):
    alias = "conv_lstm"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "lstm"}


class WaveNet(NeuralForecaster):
    """Dilated causal Conv1D layers (rates ``dilations``) and a 1×1 Conv1D head, seq→seq."""

    alias = "wavenet"
    kind = "seq2seq"
    default_jit = False
    _defaults: ClassVar[dict[str, Any]] = {
        "horizon": 14, "filters": 32, "kernel_size": 2, "dilations": (1, 2, 4, 8, 1, 2, 4, 8),
    }

    def _build(self, input_length, n_features, n_targets, known_dim):
        import keras

        inp = keras.Input((input_length, n_features))
        x = inp
        for i, rate in enumerate(self.dilations):
            x = keras.layers.Conv1D(int(self.filters), int(self.kernel_size), padding="causal",
                                    activation="relu", dilation_rate=int(rate), name=f"causal_{i}")(x)
        if float(self.dropout) > 0:
            x = keras.layers.Dropout(float(self.dropout))(x)
        out = keras.layers.Conv1D(self.train_horizon * n_targets, 1, dtype="float32")(x)
        return keras.Model(inp, out, name=self.alias)
