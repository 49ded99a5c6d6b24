"""Dense and recurrent models: the chapter's linear model, SimpleRNN, deep RNN,
LSTM, GRU, bidirectional LSTM stacks, a LayerNorm RNN, seq→seq, and the
multivariate / multitask RNNs over bus and rail.

Fourteen days ahead three ways:

- ``get_model("rnn", horizon=1).predict(14)``: autoregressive rollout of a one-step model;
- ``get_model("rnn", horizon=14)``: seq→vec, 14 outputs from the last state;
- ``get_model("rnn_seq2seq", horizon=14)``: 14 outputs at every input step
  (more gradient signal), forecasts read at the last step.

GPU: LSTM and GRU keep Keras' cuDNN-compatible defaults (tanh/sigmoid,
``use_bias``, GRU ``reset_after``, no unroll); ``recurrent_dropout > 0`` turns
the cuDNN kernel off, so MC-dropout models prefer ``dropout``.

>>> from seqcast.models import get_model
>>> get_model("deep_rnn").get_params()["layers"]
3
"""

from __future__ import annotations

from typing import Any, ClassVar

from seqcast.errors import ModelError
from seqcast.models.neural import CELLS, MultiSeriesForecaster, NeuralForecaster


def rnn_layer(cell: str, units: int, return_sequences: bool, dropout: float = 0.0,
              recurrent_dropout: float = 0.0, bidirectional: bool = False, **kwargs: Any):
    """One recurrent layer; ``cell`` is ``simple``, ``lstm``, ``gru`` or ``ln`` (LayerNorm SimpleRNN)."""
    import keras

    common = {"return_sequences": return_sequences, **kwargs}
    if cell == "simple":
        layer = keras.layers.SimpleRNN(units, dropout=dropout, recurrent_dropout=recurrent_dropout,
                                       **common)
    elif cell == "lstm":
        layer = keras.layers.LSTM(units, dropout=dropout, recurrent_dropout=recurrent_dropout, **common)
    elif cell == "gru":
        layer = keras.layers.GRU(units, dropout=dropout, recurrent_dropout=recurrent_dropout, **common)
    elif cell == "ln":
        from seqcast.models.layers import LNSimpleRNNCell

        layer = keras.layers.RNN(LNSimpleRNNCell(units), **common)  # dropout: see rnn_stack
    else:
        raise ModelError(f"unknown recurrent cell {cell!r}; use one of {CELLS}")
    return keras.layers.Bidirectional(layer) if bidirectional else layer


def rnn_stack(x, *, cell: str, units: int, layers: int, return_sequences: bool, dropout: float,
              recurrent_dropout: float, bidirectional: bool):
    """``layers`` stacked recurrent layers; every layer but the last returns sequences."""
    if int(layers) < 1:
        raise ModelError(f"layers must be >= 1, got {layers}")
    for i in range(int(layers)):
        seq = return_sequences or i < int(layers) - 1
        if cell == "ln" and float(dropout) > 0:
            import keras

            x = keras.layers.Dropout(float(dropout), name=f"input_dropout_{i}")(x)
        x = rnn_layer(cell, int(units), seq, float(dropout), float(recurrent_dropout),
                      bool(bidirectional), name=f"rnn_{i}")(x)
    return x


class Linear(NeuralForecaster):
    """Dense layer on the flattened window (the chapter's linear model)."""

    alias = "linear"

    def _build(self, input_length, n_features, n_targets, known_dim):
        import keras

        inp = keras.Input((input_length, n_features))
        x = keras.layers.Flatten()(inp)
        if float(self.dropout) > 0:
            x = keras.layers.Dropout(float(self.dropout))(x)
        out = keras.layers.Dense(self.train_horizon * n_targets, dtype="float32")(x)
        return keras.Model(inp, out, name=self.alias)


class Recurrent(NeuralForecaster):
    """A stack of recurrent layers and a Dense head: SimpleRNN(32) + Dense by default."""

    alias = "rnn"
    _defaults: ClassVar[dict[str, Any]] = {
        "cell": "simple", "units": 32, "layers": 1, "bidirectional": False, "recurrent_dropout": 0.0,
    }

    def _check_spec(self, spec) -> None:
        super()._check_spec(spec)
        if self.cell not in CELLS:
            raise ModelError(f"{self.alias}: unknown cell {self.cell!r}; use one of {CELLS}")

    def _body(self, x):
        return rnn_stack(x, cell=self.cell, units=self.units, layers=self.layers,
                         return_sequences=self.kind == "seq2seq", dropout=self.dropout,
                         recurrent_dropout=self.recurrent_dropout, bidirectional=self.bidirectional)

    def _build(self, input_length, n_features, n_targets, known_dim):
        import keras

        inp = keras.Input((input_length, n_features))
        x = self._body(inp)
        out = keras.layers.Dense(self.train_horizon * n_targets, dtype="float32")(x)
        return keras.Model(inp, out, name=self.alias)


class DeepRNN(Recurrent):
    """Three stacked SimpleRNN(32) layers (``return_sequences`` on all but the last)."""

    alias = "deep_rnn"
    _defaults: ClassVar[dict[str, Any]] = {"layers": 3}


class LSTM(Recurrent):
    alias = "lstm"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "lstm"}


class GRU(Recurrent):
    alias = "gru"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "gru"}


class BiLSTM(Recurrent):
    """Two bidirectional LSTM layers (a bidirectional encoder of the input window)."""

    alias = "bilstm"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "lstm", "bidirectional": True, "layers": 2}


class LayerNormRNN(Recurrent):
    """SimpleRNN with a layer-normalized cell (:class:`seqcast.models.layers.LNSimpleRNNCell`)."""

    alias = "ln_rnn"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "ln"}


class RNNSeq2Seq(Recurrent):
    """SimpleRNN returning sequences: ``horizon`` outputs at every input step."""

    alias = "rnn_seq2seq"
    kind = "seq2seq"
    _defaults: ClassVar[dict[str, Any]] = {"horizon": 14}


class RNNMultivariate(MultiSeriesForecaster, Recurrent):
    """SimpleRNN over bus, rail and the one-hot type of the *next* day (5 inputs) → rail."""

    alias = "rnn_multivariate"


class RNNMultitask(MultiSeriesForecaster, Recurrent):
    """The multivariate inputs, forecasting bus and rail together."""

    alias = "rnn_multitask"
    _defaults: ClassVar[dict[str, Any]] = {"targets": ("bus", "rail")}

    def _check_spec(self, spec) -> None:
        super()._check_spec(spec)
        if len(spec.targets) < 2:
            raise ModelError(f"{self.alias}: a multitask model needs two or more target series, "
                             f"got {list(spec.targets)}")
