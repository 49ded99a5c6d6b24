"""The train flow (Prefect), its task through ``.fn()``, and ``seqcast train`` on the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

TINY = {"units": 4, "epochs": 1, "batch_size": 64, "jit_compile": False, "input_length": 14}
SPLITS = [{"name": "train", "start": None, "end": "2022-05-31"},
          {"name": "valid", "start": "2022-06-01", "end": None}]


@pytest.fixture(scope="module")
def clean_path(tmp_path_factory):
    rng = np.random.default_rng(1)
    ds = pd.date_range("2022-01-01", periods=200, freq="D")
    dow = ds.day_of_week
    day_type = np.where(dow < 5, "W", np.where(dow == 5, "A", "U"))
    frames = [pd.DataFrame({"series_id": sid, "ds": ds, "day_type": day_type, "is_imputed": False,
                            "y": lvl * np.where(dow < 5, 1.0, 0.55) + rng.normal(0, 10, len(ds))})
              for sid, lvl in (("bus", 800.0), ("rail", 500.0))]
    path = tmp_path_factory.mktemp("clean") / "clean.parquet"
    pd.concat(frames, ignore_index=True).to_parquet(path)
    return str(path)


def test_train_flow_saves_models_that_forecast(prefect_harness, clean_path, tmp_path):
    from flows.train import ModelChoice, TrainParams, train
    from seqcast.models.neural import load_model

    params = TrainParams(
        data_dir=str(tmp_path), clean_path=clean_path, splits=SPLITS, max_epochs=1,
        input_length=14, scaling="standard",
        models=[ModelChoice(name="rnn", targets=["rail"], params=TINY),
                ModelChoice(name="rnn_multitask", targets=["bus", "rail"], params=TINY)],
    )
    out = train(params)
    labels = [m["label"] for m in out["models"]]
    assert labels == ["rnn-rail", "rnn_multitask-bus+rail"]
    index = json.loads((tmp_path / "models" / "latest.json").read_text())
    assert sorted(index) == sorted(labels)
    model = load_model(index["rnn-rail"]["path"])
    fc = model.predict(3)
    from seqcast.trained import load_trained

    mt = load_trained(tmp_path / "models", "rnn_multitask-bus+rail")
    assert sorted(mt.predict(1, exog_future=pd.DataFrame(
        {"ds": [pd.Timestamp("2022-07-20")], "day_type": ["W"]}))["series_id"]) == ["bus", "rail"]
    assert len(fc) == 3 and fc["ds"].min() == pd.Timestamp("2022-07-20")
    meta = json.loads((tmp_path / "models" / "rnn-rail" / "metadata.json").read_text())
    assert meta["dataset"].endswith(".parquet") and meta["data_hash"] and meta["states"][0]["metrics"]
    assert len(list((tmp_path / "windows").glob("*.parquet"))) == 2


def test_train_flow_rejects_unknown_models():
    from pydantic import ValidationError

    from flows.train import ModelChoice, TrainParams

    with pytest.raises(ValidationError, match="unknown model"):
        TrainParams(models=[ModelChoice(name="transformer")])


def test_train_task_fn_and_progress(clean_path, tmp_path):
    from seqcast.trained import model_window_spec
    from seqcast.windows import ensure_dataset
    from tasks.train import train_task

    splits = tuple((s["name"], s["start"], s["end"]) for s in SPLITS)
    spec = model_window_spec("gru", TINY, targets=["rail"], splits=splits)
    path, _ = ensure_dataset(pd.read_parquet(clean_path), spec, tmp_path / "windows")
    summary = train_task.fn("gru", TINY, str(path), str(tmp_path / "models"))
    assert summary["label"] == "gru-rail" and summary["epochs_run"] == 1
    assert summary["device"] == "CPU" and summary["windows_per_s"] > 0


def test_cli_train(clean_path, tmp_path, capsys):
    from seqcast.cli import main

    rc = main(["train", "--model", "rnn", "--clean", clean_path, "--targets", "rail",
               "--input-length", "14", "--epochs", "2", "--scaling", "standard",
               "--split", "train=:2022-05-31", "--split", "valid=2022-06-01:",
               "--param", "units=4", "--param", "jit_compile=false", "--out", str(tmp_path)])
    out = capsys.readouterr()
    assert rc == 0
    assert "rnn-rail: valid MAE" in out.out and "saved:" in out.out
    assert "2/2" in out.err or "stopped after" in out.err  # the epoch bar
    assert (tmp_path / "rnn-rail" / "network-0.keras").exists()
    rc = main(["train", "--model", "nope", "--clean", clean_path])
    assert rc == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as usage:  # argparse's usage error
        main(["train", "--model", "rnn", "--clean", clean_path, "--epochs", "0"])
    assert usage.value.code == 2
    assert "--epochs: must be at least 1 (got 0)" in capsys.readouterr().err
    assert main(["train", "--model", "gru", "--clean", clean_path, "--param", "units=0"]) == 1
    assert capsys.readouterr().err.strip() == "seqcast: error: gru: units must be an integer >= 1, got 0"
    # without a valid split there is nothing to stop early on or to report: say so, save nothing
    assert main(["train", "--model", "rnn", "--clean", clean_path, "--split", "train=:2022-05-31",
                 "--out", str(tmp_path / "none")]) == 1
    assert "one named 'valid' is needed" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()
