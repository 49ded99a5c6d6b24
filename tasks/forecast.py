"""Tasks that forecast and publish."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from seqcast import pipeline
from seqcast.io import write_parquet_atomic
from seqcast.published import publish_forecasts
from tasks.common import retry_unless_input_error


@task(name="forecast", cache_policy=NO_CACHE)
def forecast_task(clean_path: str, models: list[str], horizon: int) -> str:
    """Forecast every series with each model; stage the result beside the clean data."""
    clean = pd.read_parquet(clean_path)
    fc = pipeline.forecast(clean, models, horizon)
    out = write_parquet_atomic(fc, Path(clean_path).parent / "forecasts.parquet")
    get_run_logger().info("%d forecast rows from %s", len(fc), ", ".join(models))
    return str(out)


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=retry_unless_input_error)
def publish_task(
    forecasts_path: str, data_dir: str, run_date: date, run_id: str, data_hash: str
) -> str:
    fc = pd.read_parquet(forecasts_path)
    path = publish_forecasts(fc, data_dir, run_date=run_date, run_id=run_id, data_hash=data_hash)
    table = fc.assign(ds=fc["ds"].dt.strftime("%Y-%m-%d"), cutoff=fc["cutoff"].dt.strftime("%Y-%m-%d"))
    table["mean"] = table["mean"].round(1)
    create_table_artifact(
        key="published-forecasts",
        table=table.to_dict(orient="list"),
        description=f"Forecasts published for {run_date} (data {data_hash})",
    )
    get_run_logger().info("published %d rows to %s", len(fc), path)
    return str(path)


@task(name="plot-forecasts", cache_policy=NO_CACHE)
def plot_task(clean_path: str, published_path: str, data_dir: str) -> str:
    """Forecast-vs-actuals PNG beside the table: tonight's forecast and the one of a week ago."""
    from seqcast.layout import DataDir
    from seqcast.plots import plot_forecasts
    from seqcast.published import read_forecasts

    clean = pd.read_parquet(clean_path)
    tonight = pd.read_parquet(published_path)
    run_date = tonight["run_date"].iloc[0]
    earlier = read_forecasts(data_dir)
    earlier = earlier[earlier["run_date"] <= run_date - pd.Timedelta(days=7)]
    if len(earlier):
        earlier = earlier[earlier["run_date"] == earlier["run_date"].max()]
    path = DataDir(data_dir).plots / f"forecast-vs-actuals-{run_date:%Y-%m-%d}.png"
    return str(plot_forecasts(clean, tonight, path, previous=earlier))
