"""The trained-model store: train a registered network on a windowed dataset, save it
under a label, and load the latest one back for tonight's forecast.

It sits above :mod:`seqcast.models` and :mod:`seqcast.training` (models use the
training recipe; this module uses both), so the dependencies run one way:
``trained -> models.neural -> training``.

Labels: ``<model>-<targets>``, e.g. ``rnn-rail`` or ``rnn_multitask-bus+rail``: the
folder a trained model lives in, and its ``model`` value in the backtest and
published tables.
"""

from __future__ import annotations

import os
from typing import Any

from seqcast.errors import ModelError


def model_window_spec(name: str, params: dict[str, Any] | None = None, *,
                      targets: tuple[str, ...] | list[str] | None = None,
                      splits: Any = None):
    """The window spec model ``name`` (with ``params``) trains on; cheap, no TensorFlow.

    Univariate models take ``targets`` (one series, default ``("rail",)``);
    multi-series models carry their ``inputs``/``targets``/``known_future``.
    """
    from seqcast.models import get_model

    model = get_model(name, **(params or {}))
    if "known_future" in model.param_defaults():
        return model.window_spec(targets=tuple(targets or model.targets), inputs=model.inputs,
                                 known_future=model.known_future, splits=splits)
    return model.window_spec(targets=tuple(targets or ("rail",)), splits=splits)


def trained_label(name: str, targets: Any) -> str:
    """``rnn-rail``, ``rnn_multitask-bus+rail``: the folder a trained model lives in."""
    return f"{name}-{'+'.join(targets)}"


def train_and_save(
    name: str,
    dataset,
    models_dir: str | os.PathLike[str],
    params: dict[str, Any] | None = None,
    *,
    valid: str | None = "valid",
) -> dict[str, Any]:
    """Fit model ``name`` on a windowed dataset (object or Parquet path) and save it.

    Writes ``<models_dir>/<label>/`` (``.keras`` + ``metadata.json``, where the
    metadata also records the dataset path, spec key and data hash) and updates
    ``<models_dir>/latest.json`` (label → folder, metrics). Returns a summary
    dict: label, path, metrics, epochs_run, best_epoch, windows_per_s, seconds, device.
    """
    import json
    from pathlib import Path

    from seqcast.io import path_part
    from seqcast.models import get_model
    from seqcast.windows import read_dataset

    source = None
    if isinstance(dataset, str | os.PathLike):
        source = str(dataset)
        dataset = read_dataset(dataset)
    if valid is not None and valid not in dataset.splits:
        valid = None
    model = get_model(name, **(params or {}))
    model.fit_windows(dataset, valid=valid)
    (state,) = model.states_.values()
    label = trained_label(name, dataset.spec.targets)
    models_dir = Path(models_dir)
    out = models_dir / path_part(label)  # a target's id may hold '/' or '..'
    model.save(out, extra={"dataset": source, "spec_key": dataset.spec.key,
                           "data_hash": dataset.data_hash, "label": label})
    summary = {
        "label": label, "model": name, "path": str(out), "metrics": state.metrics,
        "epochs_run": state.train["epochs_run"], "best_epoch": state.train["best_epoch"],
        "windows_per_s": state.train["windows_per_s"], "seconds": state.train["seconds"],
        "device": state.train["device"], "data_hash": dataset.data_hash,
        "cutoff": str(state.last_day),
    }
    latest = models_dir / "latest.json"
    index = json.loads(latest.read_text()) if latest.exists() else {}
    index[label] = {k: summary[k] for k in ("path", "model", "data_hash", "cutoff", "metrics")}
    tmp = models_dir / f".latest.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
    os.replace(tmp, latest)
    return summary


def load_trained(models_dir: str | os.PathLike[str], label: str):
    """The model ``train_and_save`` last saved under ``label`` (``models/latest.json``).

    Nightly use: ``load_trained(d, "rnn-rail").update(clean).predict(14)``
    forecasts from the newest data with last training's weights.
    """
    import json
    from pathlib import Path

    from seqcast.models.neural import load_model

    index_path = Path(models_dir) / "latest.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    if label not in index:
        raise ModelError(f"no trained model {label!r} in {index_path}; have {sorted(index)}")
    return load_model(index[label]["path"])
