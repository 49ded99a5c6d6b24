"""The ``train`` flow: windowed datasets for the configured neural models, then train and save each.

    from flows.train import train, TrainParams, ModelChoice
    train(TrainParams(clean_path="data/clean/<hash>/asof-<date>/clean",
                      models=[ModelChoice(name="lstm", targets=["rail"])], max_epochs=300))

Outputs under ``<data_dir>``: ``windows/<spec>.parquet`` (reused when spec and
data are unchanged) and ``models/<model>-<targets>/`` (``.keras`` + metadata),
indexed by ``models/latest.json``. Returns ``{"models_dir", "models": [summary, ...]}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect import flow
from prefect.artifacts import create_table_artifact
from pydantic import BaseModel, Field, model_validator

from seqcast.metrics import figure
from tasks.train import train_task
from tasks.windows import windows_task


class ModelChoice(BaseModel):
    """One model to train: registry name, target series, extra hyperparameters."""

    name: str = Field("rnn", description="registered model: rnn, lstm, gru, rnn_seq2seq, ...")
    targets: list[str] = Field(default_factory=lambda: ["rail"],
                               description="target series (univariate models: one)")
    params: dict[str, Any] = Field(default_factory=dict, description="e.g. {\"units\": 64}")


class Split(BaseModel):
    name: str
    start: str | None = None
    end: str | None = None


def _chapter_splits() -> list[Split]:
    return [Split(name="train", start="2016-01-01", end="2018-12-31"),
            Split(name="valid", start="2019-01-01", end="2019-05-31"),
            Split(name="test", start="2019-06-01", end=None)]


class TrainParams(BaseModel):
    """Parameters of one training run (a form in the Prefect UI)."""

    data_dir: str = Field("data", description="windows/ and models/ are written here")
    clean_path: str | None = Field(None, description="clean long Parquet; empty = newest under data_dir/clean")
    models: list[ModelChoice] = Field(default_factory=lambda: [ModelChoice()])
    input_length: int = Field(56, ge=2, description="input days per window (a model's own default wins "
                              "when its params set input_length)")
    scaling: Literal["none", "constant", "standard"] = "constant"
    splits: list[Split] = Field(default_factory=_chapter_splits)
    max_epochs: int = Field(300, ge=1, description="epoch budget per model; early stopping ends sooner")
    patience: int = Field(30, ge=1)
    seed: int = 42

    @model_validator(mode="after")
    def _known_models(self):
        from seqcast.models import REGISTRY

        unknown = [m.name for m in self.models if m.name not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; known: {sorted(REGISTRY)}")
        return self


def newest_clean(data_dir: str | Path) -> str:
    paths = sorted(Path(data_dir, "clean").glob("*/asof-*/clean"),
                   key=lambda p: (p.parent.name, p.stat().st_mtime))
    if not paths:
        raise FileNotFoundError(f"no clean data under {data_dir}/clean; run the nightly flow first")
    return str(paths[-1])


@flow(name="train", log_prints=True)
def train(params: TrainParams = TrainParams()) -> dict[str, Any]:  # noqa: B008 - a form default
    from seqcast.models import model_class
    from seqcast.trained import model_window_spec

    p = params
    clean_path = p.clean_path or newest_clean(p.data_dir)
    splits = tuple((s.name, s.start, s.end) for s in p.splits)
    jobs = []
    for choice in p.models:
        defaults = model_class(choice.name).param_defaults()
        hp = {"scaling": p.scaling, "epochs": p.max_epochs, "patience": p.patience, "seed": p.seed}
        if "input_length" not in choice.params and defaults["input_length"] == 56:
            hp["input_length"] = p.input_length  # models with their own length (conv: 112) keep it
        hp.update(choice.params)
        if "targets" in defaults:
            hp["targets"] = tuple(choice.targets)
        spec = model_window_spec(choice.name, hp, targets=choice.targets, splits=splits)
        jobs.append((choice.name, hp, spec))
    paths = windows_task(clean_path, [spec.to_dict() for *_, spec in jobs],
                         str(Path(p.data_dir, "windows")))
    models_dir = str(Path(p.data_dir, "models"))
    summaries = [train_task(name, _jsonable(hp), path, models_dir)
                 for (name, hp, _), path in zip(jobs, paths, strict=True)]
    table = {
        "model": [s["label"] for s in summaries],
        "valid_mae": [round(s["metrics"].get("valid_mae", float("nan")), 1) for s in summaries],
        "epochs": [s["epochs_run"] for s in summaries],
        "windows_per_s": [round(s["windows_per_s"]) for s in summaries],
        "device": [s["device"] for s in summaries],
        "path": [s["path"] for s in summaries],
    }
    create_table_artifact(key="trained-models", table=table, description=f"Models saved in {models_dir}")
    for s in summaries:
        print(f"{s['label']}: valid MAE {figure(s['metrics'].get('valid_mae', float('nan')))}, "
              f"{s['epochs_run']} epochs -> {s['path']}")
    return {"models_dir": models_dir, "clean_path": clean_path, "models": summaries}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


if __name__ == "__main__":  # pragma: no cover
    train()
