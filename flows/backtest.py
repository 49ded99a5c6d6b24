"""Backtest flow: clean a source, backtest models over a date range, write the table.

Outputs under ``<data_dir>/backtests/<name>/``: ``table/<model>/bucket-NNNN.parquet`` (the
long backtest table, bucketed by series like the clean data) and ``summary.parquet``,
plus a summary table artifact. The units (a bucket of series x a model) run on threads,
a process pool or Dask (``runner``, ``dask_address``).

    from flows.backtest import BacktestParams, backtest
    backtest(BacktestParams(source="../shared/data/cta_ridership_daily.csv",
                            series=["rail"], start="2019-03-01", end="2019-05-31",
                            train_start="2019-01-01",
                            models=[{"name": "sarima", "params": {"order": [1, 0, 0],
                                                                  "seasonal_order": [0, 1, 1, 7]}}]))
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import date
from typing import Any, Literal

from prefect import flow
from prefect.futures import wait
from pydantic import BaseModel, Field, model_validator

from seqcast.errors import InputError
from seqcast.layout import DataDir
from seqcast.partitions import bucket_groups, bucket_of, series_in, swap_in
from tasks.backtest import backtest_summary_task
from tasks.data import clean_task, ingest_task, sample_task, validate_task
from tasks.panel import backtest_buckets_task, model_labels, runner_for


class ModelConfig(BaseModel):
    """A registered model name and its hyperparameters."""

    name: str = Field("seasonal_naive", description="naive, seasonal_naive, sarima, ...")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description='e.g. {"order": [1,0,0], "seasonal_order": [0,1,1,7]}')


class BacktestParams(BaseModel):
    """Parameters of one backtest run (a form in the Prefect UI)."""

    source: str | None = Field(None, description="Path or URL of the export; empty = embedded sample")
    mapping: str | None = None
    data_dir: str = "data"
    name: str = Field("backtest", pattern=r"^[A-Za-z0-9_.-]+$",
                      description="Output folder under <data_dir>/backtests/")
    series: list[str] | None = Field(None, description="series_id to backtest; empty = all")
    models: list[ModelConfig] = Field(default_factory=lambda: [ModelConfig()])
    start: date = Field(description="First day forecast one step ahead")
    end: date = Field(description="Last day forecast one step ahead")
    train_start: date | None = Field(None, description="First training day; empty = all history")
    h: int = Field(1, ge=1, le=366)
    step: int = Field(1, ge=1)
    refit_every: int = Field(1, ge=1)
    window: Literal["expanding", "sliding"] = "expanding"
    window_length: int | None = Field(None, ge=2)
    runner: Literal["thread", "process", "dask"] = Field(
        "process", description="Where the units (bucket of series x model) run: threads, a "
        "process pool, or Dask (a LocalCluster, or the cluster at dask_address)")
    workers: int | None = Field(None, ge=1, description="Processes / Dask workers; empty = all cores")
    dask_address: str | None = Field(None, description="Existing Dask scheduler, e.g. tcp://host:8786")
    n_jobs: int | None = Field(None, description="Old name of workers")
    fill: Literal["seasonal", "linear", "none"] = "seasonal"
    max_gap_days: int = Field(7, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> BacktestParams:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.window == "sliding" and not self.window_length:
            raise ValueError("a sliding window needs window_length")
        return self


@flow(name="backtest", log_prints=True)
def backtest(params: BacktestParams) -> dict:
    """Run the backtest's units on the task runner the parameters choose."""
    p = params
    runner, where = runner_for(p.runner, p.workers or p.n_jobs, p.dask_address)
    stages = backtest_stages.with_options(task_runner=runner, flow_run_name=f"{p.name} on {where}")
    result = stages(p)
    for row in result["summary"][:50]:
        print(f"{row['series_id']:>10} {row['model']:<24} MAE {row['mae']:,.1f} "
              f"MAPE {row['mape']:.2f}% ({row['n']} scored, {row['n_failed_origins']} failed origins)")
    return result


@flow(name="backtest-stages", log_prints=True)
def backtest_stages(params: BacktestParams) -> dict:
    """Data stages, then one unit per bucket of series and model, then the summary.

    Units write into a fresh folder that replaces ``table/`` only once all of them
    succeeded: a failed run leaves the previous table as it was.
    """
    p = params
    source = p.source or sample_task.submit(p.data_dir).result()
    snapshot = ingest_task.submit(source, p.data_dir).result()
    validated = validate_task.submit(snapshot["snapshot_dir"], p.data_dir, p.mapping, None).result()
    report = clean_task.submit(validated, p.mapping, p.fill, p.max_gap_days).result()
    clean_path = report["clean_path"]
    out = DataDir(p.data_dir).backtests / p.name
    staging = out / f".table-{uuid.uuid4().hex[:8]}"
    specs = [m.model_dump() for m in p.models]
    labels = model_labels(specs)
    # one task run per group of buckets and model: 4 a worker balance the load and keep
    # orchestration small (a bucket is the unit of storage)
    groups = bucket_groups(clean_path, 4 * (p.workers or p.n_jobs or os.cpu_count() or 1))
    if p.series:
        missing = sorted(set(p.series) - set(series_in(clean_path)))
        if missing:
            raise InputError(f"series {missing} not in the data (it has {len(series_in(clean_path))} series)")
        groups = [[b] for b in sorted({bucket_of(s) for s in p.series})]
    buckets = [b for g in groups for b in g]
    units = [backtest_buckets_task.submit(
                clean_path, g, spec, label, str(staging), p.h, p.start.isoformat(),
                end=p.end.isoformat(), step=p.step, refit_every=p.refit_every, window=p.window,
                window_length=p.window_length,
                train_start=p.train_start.isoformat() if p.train_start else None,
                incremental=False, series=p.series)
             for g in groups for spec, label in zip(specs, labels, strict=True)]
    try:
        wait(units)
        done = [b for u in units for b in u.result()]
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    table_dir = out / "table"
    swap_in(staging, table_dir)
    print(f"{len(units)} task runs ({len(buckets)} bucket(s) in {len(groups)} group(s) x {len(specs)} model(s)), "
          f"{sum(u['failed_origins'] for u in done)} failed origin(s) -> {table_dir}")
    return backtest_summary_task.submit(str(table_dir), clean_path, str(out), p.series).result()
