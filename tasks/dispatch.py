"""Neural training on the GPU work pool, with a CPU fallback so a night is never lost.

The nightly flow asks the ``train`` deployment (work pool ``gpu``) to run. If no
gpu worker picks the run up within the timeout, the run is cancelled and the
nightly flow trains in-process on CPU, and says so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from seqcast.partitions import read as read_clean

WAITING = {"SCHEDULED", "PENDING"}
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED", "CANCELLING"}


@task(name="train-on-gpu-pool", cache_policy=NO_CACHE)
def gpu_train_task(
    params: dict[str, Any], deployment: str, pickup_timeout_s: float, max_train_s: float = 6 * 3600
) -> dict[str, Any]:
    """Run ``deployment`` with ``params``; ``completed`` False (with the reason) when it cannot.

    Returns ``{"completed": bool, "reason": str, "flow_run_id": str | None, "where": "gpu-pool"}``.
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelled

    logger = get_run_logger()
    try:
        run = run_deployment(deployment, parameters={"params": params}, timeout=0, as_subflow=True)
    except Exception as exc:  # no such deployment (e.g. a local `seqcast run`), server trouble
        return {"completed": False, "flow_run_id": None, "where": "gpu-pool",
                "reason": f"deployment {deployment} unavailable ({type(exc).__name__}: {exc})"}
    with get_client(sync_client=True) as client:
        start = time.monotonic()
        state = client.read_flow_run(run.id).state
        while state.type.value in WAITING and time.monotonic() - start < pickup_timeout_s:
            time.sleep(2)
            state = client.read_flow_run(run.id).state
        if state.type.value in WAITING:
            client.set_flow_run_state(run.id, Cancelled(message="no gpu worker picked it up"), force=True)
            return {"completed": False, "flow_run_id": str(run.id), "where": "gpu-pool",
                    "reason": f"no gpu worker picked up {deployment} within {pickup_timeout_s:.0f} s"}
        logger.info("gpu worker picked up training run %s", run.id)
        while state.type.value not in FINAL and time.monotonic() - start < max_train_s:
            time.sleep(5)
            state = client.read_flow_run(run.id).state
    ok = state.type.value == "COMPLETED"
    return {"completed": ok, "flow_run_id": str(run.id), "where": "gpu-pool",
            "reason": "trained on the gpu pool" if ok else f"gpu training ended {state.type.value}: {state.message}"}


@task(name="neural-candidates", cache_policy=NO_CACHE)
def neural_forecast_task(
    clean_path: str, models_dir: str, labels: list[str], horizon: int, candidates_path: str
) -> dict[str, Any]:
    """Forecast with the latest trained models (their input window slid to today's data) and
    add them to tonight's candidates. A model that cannot forecast is recorded, not fatal."""
    import pandas as pd

    from seqcast.champion import model_version
    from seqcast.io import write_parquet_atomic
    from seqcast.trained import load_trained

    clean = read_clean(clean_path)
    candidates = read_clean(candidates_path)
    frames, failures = [], []
    for label in labels:
        try:
            model = load_trained(models_dir, label)
            series = list(model.cutoff_.index)
            fc = model.update(clean[clean["series_id"].isin(series)][["series_id", "ds", "y"]]).predict(horizon)
        except Exception as exc:
            failures.append({"series_id": "*", "model": label, "error": f"{type(exc).__name__}: {exc}"})
            get_run_logger().warning("neural model %s cannot forecast: %s", label, exc)
            continue
        fc["cutoff"] = fc["series_id"].map(model.cutoff_)
        fc["h"] = (fc["ds"] - fc["cutoff"]).dt.days.astype("int64")
        fc["model"] = label
        fc["model_version"] = model_version(label, {"data_hash": str(getattr(model, "data_hash_", ""))})
        frames.append(fc[candidates.columns])
    if frames:
        added = pd.concat(frames, ignore_index=True)
        if Path(candidates_path).is_dir():  # a bucketed folder: add to each series' bucket file
            from seqcast.partitions import bucket_file, bucket_of

            for b, part in added.groupby(added["series_id"].map(bucket_of)):
                path = bucket_file(candidates_path, int(b))
                before = pd.read_parquet(path) if path.exists() else candidates.iloc[:0]
                write_parquet_atomic(pd.concat([before, part], ignore_index=True), path)
        else:
            write_parquet_atomic(pd.concat([candidates, added], ignore_index=True), candidates_path)
    return {"labels": [f["model"].iloc[0] for f in frames], "failures": failures}
