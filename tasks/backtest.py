"""Backtest tasks: read a clean Parquet path, write the backtest table and summary.

Paths in, paths out (no DataFrames between tasks, see ../shared/STACK.md on
cache hashing). Files under ``<data_dir>/backtests/<name>/``:
``table.parquet`` (:func:`seqcast.backtest.rolling_origin`'s long table) and
``summary.parquet`` (:func:`seqcast.metrics.evaluate` per series and model).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from seqcast.partitions import read as read_clean
from tasks.common import artifact_key

SUMMARY_METRICS = ("mae", "rmse", "mape", "smape", "mase")


def _logger():
    return get_run_logger() if TaskRunContext.get() is not None else logging.getLogger(__name__)


def _read_clean(clean_path: str, series: list[str] | None):

    data = read_clean(clean_path, columns=["series_id", "ds", "y"])
    if series:
        data = data[data["series_id"].isin(series)]
    return data


def _write(table, data, out: Path) -> dict[str, Any]:
    from seqcast.io import write_parquet_atomic

    table_path = write_parquet_atomic(table, out / "table.parquet")
    return _summarise(table, data, out, table_path)


def _summarise(table, data, out: Path, table_path: str | Path) -> dict[str, Any]:
    """Metrics per series and model -> ``out/summary.parquet`` (+ a table artifact in a task)."""
    from seqcast.backtest import failures
    from seqcast.io import write_parquet_atomic
    from seqcast.metrics import evaluate

    summary = evaluate(table, metrics=SUMMARY_METRICS, history=data)
    summary_path = write_parquet_atomic(summary, out / "summary.parquet")
    n_failed = int(len(failures(table)))
    if TaskRunContext.get() is not None:
        from prefect.artifacts import create_table_artifact

        shown = summary.astype({c: str for c in summary.columns if summary[c].dtype == object})
        create_table_artifact(
            key=artifact_key("backtest", out.name),
            table=shown.round(4).to_dict(orient="list"),
            description=f"Backtest summary ({n_failed} failed origin(s)); table: {table_path}",
        )
    return {"table_path": str(table_path), "summary_path": str(summary_path),
            "rows": int(len(table)), "failed_origins": n_failed,
            "summary": summary.to_dict(orient="records")}


@task(name="backtest", cache_policy=NO_CACHE)
def backtest_task(
    clean_path: str,
    out_dir: str,
    models: list[Any],
    h: int,
    start: str,
    end: str,
    *,
    step: int = 1,
    refit_every: int = 1,
    window: str = "expanding",
    window_length: int | None = None,
    train_start: str | None = None,
    series: list[str] | None = None,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Full rolling-origin backtest; writes ``table.parquet`` + ``summary.parquet`` in ``out_dir``."""
    from seqcast.backtest import rolling_origin
    from seqcast.models import build

    data = _read_clean(clean_path, series)
    table = rolling_origin([build(m) for m in models], data, h=h, start=start, end=end, step=step,
                           refit_every=refit_every, window=window, window_length=window_length,
                           train_start=train_start, n_jobs=n_jobs)
    result = _write(table, data, Path(out_dir))
    _logger().info("backtest: %s rows, %s failed origin(s) -> %s", result["rows"],
                   result["failed_origins"], result["table_path"])
    return result


@task(name="backtest-summary", cache_policy=NO_CACHE)
def backtest_summary_task(
    table_path: str, clean_path: str, out_dir: str, series: list[str] | None = None
) -> dict[str, Any]:
    """Metrics per series and model over a finished backtest table (file or bucketed folder)."""
    return _summarise(read_clean(table_path), _read_clean(clean_path, series), Path(out_dir), table_path)
