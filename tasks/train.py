"""Task that trains one neural model on a windowed Parquet dataset and saves it."""

from __future__ import annotations

import logging
from typing import Any

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from tasks.common import artifact_key


@task(name="train-model", cache_policy=NO_CACHE)
def train_task(model: str, params: dict[str, Any], dataset_path: str, models_dir: str) -> dict[str, Any]:
    """Fit ``model`` (registry name) with ``params`` on ``dataset_path``; save under ``models_dir``.

    A progress artifact (key ``train-<model>``) moves with every epoch: the
    share of the epoch budget used, 100 % when early stopping ends the run.
    Returns :func:`seqcast.trained.train_and_save`'s summary.
    """
    from seqcast import trained, training

    in_run = TaskRunContext.get() is not None  # False under .fn() in tests
    logger = get_run_logger() if in_run else logging.getLogger(__name__)
    artifact = None
    if in_run:
        artifact = create_progress_artifact(progress=0.0, key=artifact_key("train", model),
                                            description=f"Training {model} on {dataset_path}")
    last = {"pct": -1.0}

    def on_epoch(event: dict[str, Any]) -> None:
        pct = 100.0 if event["stopped"] else 100.0 * event["epoch"] / max(event["epochs"], 1)
        if artifact is not None and (pct - last["pct"] >= 2.0 or event["stopped"]):
            val = event["logs"].get("val_mae", event["logs"].get("mae"))
            desc = f"{event['label']}: epoch {event['epoch']}/{event['epochs']}"
            if val is not None:
                desc += f", {'val_mae' if 'val_mae' in event['logs'] else 'mae'} {val:.4g}"
            update_progress_artifact(artifact_id=artifact, progress=pct, description=desc)
            last["pct"] = pct

    with training.progress_hook(on_epoch):
        summary = trained.train_and_save(model, dataset_path, models_dir, params)
    logger.info("%s: valid MAE %.0f after %d epochs (%.0f windows/s on %s) -> %s",
                summary["label"], summary["metrics"].get("valid_mae", float("nan")),
                summary["epochs_run"], summary["windows_per_s"], summary["device"], summary["path"])
    return summary
