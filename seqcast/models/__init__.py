"""Model registry and model specs: the one way a configured model is named and built.

A *spec* is ``{"name": <registered name>, "params": {...}}`` (or just the name);
hyperparameter defaults live only in the model classes, so ``seqcast run --models
sarima``, ``seqcast backtest --model sarima`` and a ``models.yaml`` entry
``- name: sarima`` are the same model. :func:`build` turns a spec into a model,
:func:`labels_for` names configured models in the tables (the ``model`` column).

Classes are imported lazily, so asking for ``"seasonal_naive"`` never imports
TensorFlow or statsmodels.

>>> build("seasonal_naive")
SeasonalNaive(season_length=7, skip_holidays=True)
>>> [labels_for([build(s) for s in specs]) for specs in (["naive", "seasonal_naive"],
...     [{"name": "seasonal_naive"}, {"name": "seasonal_naive", "params": {"season_length": 14}}])]
[['naive', 'seasonal_naive'], ['seasonal_naive', 'seasonal_naive(season_length=14)']]
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from seqcast.errors import ModelError, parse_problem
from seqcast.models.base import Forecaster

# name -> "module:Class". Adding a model: its module plus one line here (docs/models.md).
REGISTRY: dict[str, str] = {
    "naive": "seqcast.models.naive:Naive",
    "seasonal_naive": "seqcast.models.naive:SeasonalNaive",
    "sarima": "seqcast.models.sarima:SARIMA",
    "ets": "seqcast.models.ets:ETS",
    # Keras sequence models; TensorFlow loads only when one is built.
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
    # one network over every series of a panel (nightly neural candidates)
    "global_rnn": "seqcast.models.global_models:GlobalRNN",
    "global_gru": "seqcast.models.global_models:GlobalGRU",
    "global_lstm": "seqcast.models.global_models:GlobalLSTM",
    # the mean of several models' forecasts (SARIMA + GRU by default)
    "combination": "seqcast.models.combination:Combination",
}


def model_class(name: str) -> type[Forecaster]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def get_model(name: str, **params: Any) -> Forecaster:
    """Instantiate a registered model: ``get_model("seasonal_naive", season_length=7)``.

    Raises :class:`ModelError` for an unknown name or hyperparameter.
    """
    klass = model_class(name)
    try:
        return klass(**params)
    except TypeError:
        known = sorted(klass().get_params())
        unknown = sorted(set(params) - set(known))
        takes = f"known: {', '.join(known)}" if known else "it takes none"
        raise ModelError(f"{name}: unknown hyperparameter(s) {unknown}; {takes}") from None


# -- specs -----------------------------------------------------------------------------------
def spec_dict(spec: Any) -> dict[str, Any]:
    """A spec (name, ``{"name", "params"}``, or a pydantic model of them) as a plain dict."""
    if isinstance(spec, str):
        return {"name": spec, "params": {}}
    if hasattr(spec, "model_dump"):
        spec = spec.model_dump()
    if not isinstance(spec, dict) or "name" not in spec:
        raise ModelError(f"a model spec is a name or {{name, params}}, got {spec!r}")
    unknown = set(spec) - {"name", "params"}
    if unknown:
        raise ModelError(f"model spec {spec['name']!r}: unknown key(s) {sorted(unknown, key=str)} "
                         "(hyperparameters go under params)")
    params = spec.get("params")
    if params is not None and not isinstance(params, dict):
        raise ModelError(f"model spec {spec['name']!r}: params must be a mapping of hyperparameters "
                         f"(params: {{order: [2, 0, 0]}}), got {params!r}")
    odd = [k for k in params or {} if not isinstance(k, str)]
    if odd:  # YAML reads `params: {1: 2}` with an int key: was "internal error TypeError: keywords must be strings"
        raise ModelError(f"model spec {spec['name']!r}: params: a hyperparameter is named by text, got {odd[0]!r}")
    return {"name": str(spec["name"]), "params": dict(params or {})}


def build(spec: Any) -> Forecaster:
    """The model a spec describes: ``build({"name": "sarima", "params": {"order": [2, 0, 0]}})``."""
    spec = spec_dict(spec)
    model = get_model(spec["name"], **spec["params"])
    model.check_params()
    return model


def model_label(model: Forecaster) -> str:
    """The model's alias with the hyperparameters that differ from its class defaults.

    Orders are written compactly: ``sarima(1,0,0)(0,1,1,7)``, ``sarima(2,0,0)(0,1,1,7)[trend=c]``;
    ``seasonal_naive(season_length=14)``; the bare alias when every parameter is a default.
    """
    try:
        base = type(model)().get_params()
    except TypeError:  # a model without a no-argument constructor
        base = {}
    params = model.get_params()
    changed = {k: v for k, v in params.items() if k not in base or _norm(base[k]) != _norm(v)}
    if "order" in params and "seasonal_order" in params:
        o = ",".join(map(str, params["order"]))
        s = ",".join(map(str, params["seasonal_order"]))
        rest = ",".join(f"{k}={_norm(v)}" for k, v in changed.items()
                        if k not in ("order", "seasonal_order"))
        return f"{model.alias}({o})({s})" + (f"[{rest}]" if rest else "")
    inner = ",".join(f"{k}={_norm(v)}" for k, v in changed.items())
    return f"{model.alias}({inner})" if inner else model.alias


def labels_for(models: Sequence[Forecaster]) -> list[str]:
    """The ``model`` column value of each configured model: its alias when no other
    model shares it, else :func:`model_label`. Raises on two identical configurations."""
    aliases = [m.alias for m in models]
    out = [m.alias if aliases.count(m.alias) == 1 else model_label(m) for m in models]
    dupes = sorted({lb for lb in out if out.count(lb) > 1})
    if dupes:
        raise ModelError(f"the same model is configured twice: {dupes}")
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value


# -- text forms ------------------------------------------------------------------------------
def parse_param(text: str) -> tuple[str, Any]:
    """``"order=1,0,0"`` -> ``("order", [1, 0, 0])``; values are read as YAML
    (``epochs=5`` -> 5, ``trend=c`` -> "c", ``seasonal_order=[0,1,1,7]``)."""
    import yaml

    key, eq, raw = str(text).partition("=")
    key = key.strip().replace("-", "_")
    if not eq or not key:
        raise ModelError(f"--param takes key=value, got {text!r}")
    raw = raw.strip()
    if "," in raw and not raw.startswith(("[", "{", "(")):
        raw = f"[{raw}]"
    if raw.startswith("(") and raw.endswith(")"):
        raw = f"[{raw[1:-1]}]"
    if raw.lower() in ("none", "null"):
        return key, None
    from seqcast.errors import parse_problem
    from seqcast.strict_load import StrictLoader

    try:  # strict: `window=010` is not octal 8
        return key, yaml.load(raw, Loader=StrictLoader) if raw else None
    except yaml.constructor.ConstructorError as exc:
        raise ModelError(f"--param {key}: {parse_problem(exc).split(' at line ')[0]}") from None
    except yaml.YAMLError:
        raise ModelError(f"--param {key}: cannot read the value {raw!r}") from None


def load_models_file(path: str | Path) -> list[dict[str, Any]]:
    """Read a models file (YAML or JSON): a list of names or ``{name, params}``,
    or ``{"models": [...]}``. Every entry is checked by building it.

    Raises :class:`ModelError` naming the file and the problem.
    """
    import yaml

    from seqcast.strict_load import StrictLoader, read_text

    path = Path(path)
    try:
        doc = yaml.load(read_text(path), Loader=StrictLoader)  # a key twice: an error
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the models file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML/JSON ({parse_problem(exc)})") from None
    except ValueError as exc:  # not UTF-8
        raise ModelError(f"{path}: the models file is {exc}") from None
    if isinstance(doc, dict):
        other = sorted(map(str, set(doc) - {"models"}))
        if other:  # `horizon: 7` beside the list did nothing, silently
            raise ModelError(f"{path}: unknown key(s) {other}; a models file holds a list, or models: [...] only")
        doc = doc.get("models")
    if not isinstance(doc, list) or not doc:
        raise ModelError(f"{path}: expected a list of models (names or {{name, params}})")
    specs = []
    for i, entry in enumerate(doc, 1):
        try:
            spec = spec_dict(entry)
            build(spec)
        except ModelError as exc:
            raise ModelError(f"{path}: model {i}: {exc}") from None
        specs.append(spec)
    try:
        labels_for([build(s) for s in specs])
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    return specs


def specs_from_names(names: str | Iterable[str]) -> list[dict[str, Any]]:
    """``"seasonal_naive,sarima"`` -> specs with the classes' defaults."""
    if isinstance(names, str):
        names = names.split(",")
    specs = [spec_dict(n.strip()) for n in names if n.strip()]
    if not specs:  # an empty --models ran the whole night to "every model failed (no model ran)"
        raise ModelError("no model named; give one or more, e.g. seasonal_naive,sarima")
    labels_for([build(s) for s in specs])  # unknown names, a name twice: before any work
    return specs


__all__ = ["REGISTRY", "Forecaster", "build", "get_model", "labels_for", "load_models_file",
           "model_class", "model_label", "parse_param", "spec_dict", "specs_from_names"]
