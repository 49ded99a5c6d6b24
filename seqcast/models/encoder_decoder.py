"""A GRU encoder–decoder that forecasts any horizon (the encoder–decoder tutorial).

The encoder reads the ``input_length``-day window and hands its final state to
the decoder, which runs over ``h`` decoder steps whose inputs are zeros (or,
with known-future features, those of the target days) and emits one value per
target series at each step. Training uses ``horizon`` decoder steps; the
decoder input has no fixed length, so ``predict(h)`` works for any ``h``.

>>> from seqcast.models import get_model
>>> get_model("encoder_decoder").kind
'encoder_decoder'
"""

from __future__ import annotations

from typing import Any, ClassVar

from seqcast.models.neural import NeuralForecaster
from seqcast.models.recurrent import rnn_layer


class EncoderDecoder(NeuralForecaster):
    """GRU(units) encoder → state → GRU(units) decoder over zero inputs → Dense(T) per step."""

    alias = "encoder_decoder"
    kind = "encoder_decoder"
    _defaults: ClassVar[dict[str, Any]] = {"cell": "gru", "units": 32, "horizon": 14}

    def _build(self, input_length, n_features, n_targets, known_dim):
        import keras

        enc_in = keras.Input((input_length, n_features), name="encoder")
        dec_in = keras.Input((None, known_dim), name="decoder")
        units, drop = int(self.units), float(self.dropout)
        encoded = rnn_layer(self.cell, units, False, drop, return_state=True, name="enc")(enc_in)
        states = list(encoded[1:])
        x = rnn_layer(self.cell, units, True, drop, name="dec")(dec_in, initial_state=states)
        out = keras.layers.Dense(n_targets, dtype="float32")(x)
        return keras.Model([enc_in, dec_in], out, name=self.alias)
