"""Backtest flow: clean a source, backtest models over a date range, write the table.

Outputs under ``<data_dir>/backtests/<name>/``: ``table.parquet`` and
``summary.parquet``, plus a summary table artifact.

    from flows.backtest import BacktestParams, backtest
    backtest(BacktestParams(source="../shared/data/cta_ridership_daily.csv",
                            series=["rail"], start="2019-03-01", end="2019-05-31",
                            train_start="2019-01-01",
                            models=[{"name": "sarima", "params": {"order": [1, 0, 0],
                                                                  "seasonal_order": [0, 1, 1, 7]}}]))
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from prefect import flow
from pydantic import BaseModel, Field, model_validator

from seqcast.layout import DataDir
from tasks.backtest import backtest_task
from tasks.data import clean_task, ingest_task, resolve_source, validate_task


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
    n_jobs: int | None = Field(None, description="Worker processes; empty = all cores")
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
    p = params
    source = resolve_source(p.source, p.data_dir)
    snapshot = ingest_task(source, p.data_dir)
    validated = validate_task(snapshot["snapshot_dir"], p.data_dir, p.mapping, None)
    report = clean_task(validated, p.mapping, p.fill, p.max_gap_days)
    result = backtest_task(
        report["clean_path"],
        str(DataDir(p.data_dir).backtests / p.name),
        [m.model_dump() for m in p.models],
        p.h,
        p.start.isoformat(),
        p.end.isoformat(),
        step=p.step,
        refit_every=p.refit_every,
        window=p.window,
        window_length=p.window_length,
        train_start=p.train_start.isoformat() if p.train_start else None,
        series=p.series,
        n_jobs=p.n_jobs,
    )
    for row in result["summary"]:
        print(f"{row['series_id']:>10} {row['model']:<24} MAE {row['mae']:,.1f} "
              f"MAPE {row['mape']:.2f}% ({row['n']} scored, {row['n_failed_origins']} failed origins)")
    return result
