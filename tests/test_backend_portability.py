"""Saved models are backend-portable: trained and saved under TensorFlow, a model loads
under JAX and forecasts the same (to float tolerance), and the other way round.

Each backend runs in its own process (Keras picks its backend once, at import):
the first trains and saves tiny models and writes their forecasts, the second loads
them, forecasts, and trains and saves its own for a third process to load back.
Runs in ``make test-jax``, which installs JAX (``pip install -e '.[jax]'``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Part of `make test-jax` (the suite under KERAS_BACKEND=jax), not of every `make test`.
pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                       reason="JAX is not installed (pip install -e '.[jax]')"),
    pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                       reason="runs in `make test-jax` (KERAS_BACKEND=jax)"),
]

# One of each kind of layer: Dense, the custom LayerNorm cell, LSTM, Bidirectional,
# Conv1D + GRU, dilated causal Conv1D, an encoder–decoder (GRU, initial state,
# free-length decoder), a multi-series network with known-future inputs.
MODELS = ("linear", "ln_rnn", "lstm", "bilstm", "conv_gru", "wavenet", "encoder_decoder",
          "rnn_multitask")
RTOL = 1e-4

SCRIPT = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import keras
from test_neural_models import forecast, history_for, tiny
from seqcast.models.neural import load_model

cmd, folder, names = sys.argv[2], Path(sys.argv[3]), sys.argv[4].split(",")
out = {"backend": keras.backend.backend(), "forecasts": {}, "meta": {}}
for name in names:
    if cmd == "train":
        model = tiny(name).fit(history_for(name))
        model.save(folder / name)
    else:
        model = load_model(folder / name)
    out["forecasts"][name] = forecast(model)["mean"].tolist()
    meta = json.loads((folder / name / "metadata.json").read_text())
    out["meta"][name] = {"backend": meta["backend"], "device": meta["states"][0]["train"]["device"]}
print("RESULT" + json.dumps(out))
"""


def run(backend: str, cmd: str, folder: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_ENABLE_ONEDNN_OPTS": "0"}
    tests = str(Path(__file__).resolve().parent)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, tests, cmd, str(folder), ",".join(MODELS)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    out = json.loads(line[len("RESULT"):])
    assert out["backend"] == backend
    return out


def test_models_saved_under_one_backend_forecast_the_same_under_the_other(tmp_path):
    for src, dst in (("tensorflow", "jax"), ("jax", "tensorflow")):
        folder = tmp_path / src
        trained = run(src, "train", folder)
        loaded = run(dst, "load", folder)
        for name in MODELS:
            assert trained["meta"][name] == {"backend": src, "device": "CPU"}, name
            np.testing.assert_allclose(loaded["forecasts"][name], trained["forecasts"][name],
                                       rtol=RTOL, err_msg=f"{name}: saved under {src}, "
                                       f"loaded under {dst}")
