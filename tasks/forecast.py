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
    """Forecast-vs-actuals PNG beside the table: tonight's forecast and the one of a week ago.

    With many series, the first ``max_series`` (by id) are drawn; the table has them all.
    """
    from seqcast.layout import DataDir
    from seqcast.plots import plot_forecasts
    from seqcast.published import read_forecasts, read_published_file

    tonight = read_published_file(published_path)
    shown = sorted(tonight["series_id"].unique())[:max_series]
    tonight = tonight[tonight["series_id"].isin(shown)]
    clean = read_clean(clean_path, series=shown)
    run_date = tonight["run_date"].iloc[0]
    earlier = read_forecasts(data_dir)
    earlier = earlier[(earlier["run_date"] <= run_date - pd.Timedelta(days=7)) & earlier["series_id"].isin(shown)]
    if len(earlier):
        earlier = earlier[earlier["run_date"] == earlier["run_date"].max()]
    path = DataDir(data_dir).plots / f"forecast-vs-actuals-{run_date:%Y-%m-%d}.png"
    return str(plot_forecasts(clean, tonight, path, previous=earlier))


@task(name="plot-backtest-errors", cache_policy=NO_CACHE)
def backtest_plot_task(
    table_path: str, data_dir: str, run_date: date, last_day: date, window_days: int, max_series: int = 4
) -> str:
    """Backtest MAE by horizon over the recent origins (scored rows known by ``last_day``)."""
    from seqcast.layout import DataDir
    from seqcast.metrics import mae
    from seqcast.plots import plot_errors_by_horizon

    table = read_clean(table_path)
    cutoff = pd.Timestamp(last_day)
    recent = table[(table["cutoff"] > cutoff - pd.Timedelta(days=window_days)) & (table["ds"] <= cutoff)]
    path = DataDir(data_dir).plots / f"backtest-mae-by-horizon-{run_date:%Y-%m-%d}.png"
    n = recent["series_id"].nunique()
    if n <= max_series:
        return str(plot_errors_by_horizon(mae(recent, by=["series_id", "model", "h"]), path))
    # Many series: one panel, each series' MAE as a % of its mean level, averaged over series.
    scored = recent[recent["error"].isna() & recent["y"].notna() & recent["mean"].notna()]
    level = scored.groupby("series_id")["y"].transform(lambda y: y.abs().mean())
    pct = (scored["y"] - scored["mean"]).abs() / level.where(level > 0) * 100
    per_series = scored.assign(pct=pct).groupby(["series_id", "model", "h"])["pct"].mean()
    errors = per_series.groupby(["model", "h"]).mean().rename("mae_pct_of_level").reset_index()
    errors.insert(0, "series_id", f"mean of {n} series")
    return str(plot_errors_by_horizon(errors, path, metric="mae_pct_of_level"))
