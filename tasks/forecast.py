"""Tasks that forecast and publish."""

from __future__ import annotations

from datetime import date

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from seqcast.partitions import read as read_clean
from seqcast.published import publish_forecasts
from tasks.common import retry_unless_input_error


@task(name="publish", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=retry_unless_input_error)
def publish_task(
    forecasts_path: str, data_dir: str, run_date: date, run_id: str, data_hash: str
) -> str:
    fc = read_clean(forecasts_path)  # a file, or the bucketed champions folder
    path = publish_forecasts(fc, data_dir, run_date=run_date, run_id=run_id, data_hash=data_hash)
    get_run_logger().info("published %d rows to %s", len(fc), path)
    return str(path)


def forecast_table(published_path: str) -> dict[str, list]:
    """A published night as the columns of a Prefect table artifact (dates as strings)."""
    from seqcast.published import read_published_file

    fc = read_published_file(published_path)
    lineage = ["reason", "run_date", "run_id", "data_hash", "created_at", "model_version"]
    table = fc.drop(columns=lineage, errors="ignore")
    for col in table.columns:
        if pd.api.types.is_datetime64_any_dtype(table[col]) or table[col].dtype == object:
            table[col] = table[col].astype(str).str.removesuffix(" 00:00:00")
        elif pd.api.types.is_float_dtype(table[col]):
            table[col] = table[col].round(1)
    return table.to_dict(orient="list")


@task(name="plot-forecasts", cache_policy=NO_CACHE)
def plot_task(clean_path: str, published_path: str, data_dir: str, max_series: int = 6) -> str:
    """Forecast-vs-actuals PNG beside the table: tonight's forecast and the one of a week ago
    (:func:`seqcast.plots.forecast_plot_file`).

    With many series, the first ``max_series`` (by id) are drawn; the table has them all.
    """
    from seqcast.plots import forecast_plot_file

    return forecast_plot_file(clean_path, published_path, data_dir, max_series)


@task(name="plot-backtest-errors", cache_policy=NO_CACHE)
def backtest_plot_task(
    table_path: str, data_dir: str, run_date: date, last_day: date, window_days: int, max_series: int = 4
) -> str:
    """Backtest MAE by horizon over the recent origins (scored rows known by ``last_day``;
    :func:`seqcast.plots.backtest_plot_file`)."""
    from seqcast.plots import backtest_plot_file

    return backtest_plot_file(table_path, data_dir, run_date, last_day, window_days, max_series)
