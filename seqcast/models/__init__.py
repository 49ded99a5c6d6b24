"""Model registry: names used in config and on the CLI → forecaster classes.

Classes are imported lazily, so asking for ``"seasonal_naive"`` never imports
TensorFlow or statsmodels.
"""

from __future__ import annotations

import importlib
from typing import Any

from seqcast.errors import ModelError
from seqcast.models.base import Forecaster

# name -> "module:Class"; later model families register here.
REGISTRY: dict[str, str] = {
    "naive": "seqcast.models.naive:Naive",
    "seasonal_naive": "seqcast.models.naive:SeasonalNaive",
    "sarima": "seqcast.models.sarima:SARIMA",
    # Keras sequence models (issue 5); TensorFlow loads only when one is built.
    "linear": "seqcast.models.recurrent:Linear",
    "rnn": "seqcast.models.recurrent:Recurrent",
    "deep_rnn": "seqcast.models.recurrent:DeepRNN",
    "lstm": "seqcast.models.recurrent:LSTM",
    "gru": "seqcast.models.recurrent:GRU",
    "bilstm": "seqcast.models.recurrent:BiLSTM",
    "ln_rnn": "seqcast.models.recurrent:LayerNormRNN",
    "rnn_seq2seq": "seqcast.models.recurrent:RNNSeq2Seq",
    "rnn_multivariate": "seqcast.models.recurrent:RNNMultivariate",
    "rnn_multitask": "seqcast.models.recurrent:RNNMultitask",
    "conv_gru": "seqcast.models.convolutional:ConvRecurrent",
    "conv_lstm": "seqcast.models.convolutional:ConvLSTM",
    "wavenet": "seqcast.models.convolutional:WaveNet",
    "encoder_decoder": "seqcast.models.encoder_decoder:EncoderDecoder",
}


def model_class(name: str) -> type[Forecaster]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def get_model(name: str, **params: Any) -> Forecaster:
    """Instantiate a registered model: ``get_model("seasonal_naive", season_length=7)``."""
    return model_class(name)(**params)


__all__ = ["REGISTRY", "Forecaster", "get_model", "model_class"]
