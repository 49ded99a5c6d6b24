"""Custom Keras layers of the model zoo (registered, so ``.keras`` files load them).

Importing this module imports Keras; the model modules import it lazily.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="seqcast")
class LNSimpleRNNCell(keras.layers.Layer):
    """A SimpleRNN cell with layer normalization before its activation (the chapter's cell).

    ``h_t = tanh(LayerNorm(W x_t + U h_{t-1} + b))``; use it as
    ``keras.layers.RNN(LNSimpleRNNCell(32), return_sequences=True)``.
    """

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation_name = activation
        self.state_size = self.units
        self.output_size = self.units
        # No dropout inside: Keras caches RNN dropout masks only for its own cells
        # (a nested cell's mask leaks across graphs); rnn_stack drops inputs instead.
        self.cell = keras.layers.SimpleRNNCell(self.units, activation=None)
        self.norm = keras.layers.LayerNormalization()
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.cell.build(input_shape)
        self.norm.build((input_shape[0], self.units))
        self.built = True

    def call(self, inputs, states, training=False):
        out, new_states = self.cell(inputs, states, training=training)
        norm = self.activation(self.norm(out))
        return norm, [norm]

    def get_initial_state(self, batch_size=None):
        return [keras.ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name}
