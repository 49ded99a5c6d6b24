"""The monitor task: drift checks for one night, the alerts table, events, artifacts, a plot.

The checks themselves live in :mod:`seqcast.drift` and :mod:`seqcast.alerts`; this
module reads the inputs from paths, emits one ``seqcast.drift.detected`` event per
new alert (``seqcast.drift.cleared`` when one clears), optionally notifies through a
saved Prefect notification block, and leaves a markdown artifact and a PNG.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.logging import get_run_logger

from seqcast import alerts
from seqcast.drift import DriftConfig, drift_history, drift_plot_file, load_backtest, shown_series
from seqcast.partitions import read as read_clean
from tasks.common import artifact_key, group_name, png_markdown, retry_unless_input_error

DETECTED = "seqcast.drift.detected"
CLEARED = "seqcast.drift.cleared"
def alert_event(row: dict[str, Any], event: str = DETECTED) -> dict[str, Any]:
    """The arguments of ``emit_event`` for one alert row (plain JSON-able values)."""
    sid, kind = str(row["series_id"]), str(row["kind"])
    night = pd.Timestamp(row["detected_at"]).date().isoformat()
    payload = {
        k: (pd.Timestamp(v).date().isoformat() if k in ("detected_at", "run_date") else v)
        for k, v in row.items()
    }
    payload = {
        k: (None if v is None or (isinstance(v, float) and v != v) else
            float(v) if isinstance(v, float) else str(v))
        for k, v in payload.items()
    }
    return {
        "event": event,
        "resource": {
            "prefect.resource.id": f"seqcast.series.{sid}",
            "prefect.resource.name": sid,
            "seqcast.drift.kind": kind,
            "seqcast.drift.severity": str(row["severity"]),
        },
        "related": [
            {"prefect.resource.id": f"seqcast.alert.{sid}.{kind}.{night}",
             "prefect.resource.role": "alert"},
        ],
        "payload": payload,
    }


def _notify(block: str, new: pd.DataFrame, as_of: date) -> None:
    """Send the new alerts through a saved notification block (``<block-type>/<name>``)."""
    from prefect.blocks.core import Block

    lines = [
        f"{r.series_id}: {r.kind} {r.statistic:.3g} > {r.threshold:.3g} ({r.severity}) since {r.detected_at:%Y-%m-%d}"
        for r in new.itertuples()
    ]
    Block.load(block).notify("\n".join(lines), subject=f"seqcast: {len(lines)} drift alert(s) on {as_of}")


PLOT_SERIES = 12  # series drawn in the drift plot (seqcast.drift.shown_series picks them)


@task(name="drift-buckets", task_run_name=group_name("drift"), cache_policy=NO_CACHE)
def drift_buckets_task(clean_path: str, buckets: list[int], data_dir: str, as_of: date | str, out_dir: str,
                       horizon: int, **kwargs: Any) -> list[str]:
    """:func:`drift_bucket` on each of a group of buckets, in one task run."""
    return [drift_bucket(clean_path, b, data_dir, as_of, out_dir, horizon, **kwargs) for b in buckets]


def drift_bucket(clean_path: str, bucket: int, data_dir: str, as_of: date | str, out_dir: str,
                      horizon: int, backtest_path: str | None = None, config: dict[str, Any] | None = None,
                      since: date | str | None = None) -> str:
    """The drift statistics the night needs for one bucket of series
    (:func:`seqcast.alerts.lookback_nights`), written to ``out_dir/bucket-NNNN.parquet``
    for :func:`monitor_task` (``history_dir``): the statistics are per series, so the
    buckets run in parallel and the monitor only decides the alerts.

    ``as_of``: the night, as the monitor evaluates it (the last day of the whole clean
    data, not of this bucket). ``horizon``: the published forecasts' longest step; only
    the nights whose forecasts reach the error-drift windows are read.
    """
    from seqcast.io import write_parquet_atomic
    from seqcast.partitions import bucket_file
    from seqcast.published import read_forecasts

    cfg = DriftConfig(**(config or {}))
    as_of_ts = pd.Timestamp(as_of).normalize()
    _, lookback = alerts.lookback_nights(data_dir, as_of_ts, since, cfg)
    clean = read_clean(clean_path, bucket=bucket)
    sids = set(clean["series_id"].unique())
    reach = cfg.error_window + cfg.error_consecutive_days + int(horizon) + 1
    forecasts = read_forecasts(data_dir, since=(lookback.min() - pd.Timedelta(days=reach)).date())
    forecasts = forecasts[forecasts["series_id"].isin(sids)] if len(forecasts) else None
    backtest = load_backtest(backtest_path, data_dir, bucket=bucket)
    backtest = backtest[backtest["series_id"].isin(sids)] if backtest is not None else None
    history = drift_history(clean, forecasts, backtest, cfg, nights=lookback, as_of=as_of_ts)
    return str(write_parquet_atomic(history, bucket_file(out_dir, bucket)))


@task(name="monitor", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=retry_unless_input_error)
def monitor_task(
    clean_path: str,
    data_dir: str,
    as_of: date | str | None = None,
    run_id: str = "local",
    backtest_path: str | None = None,
    config: dict[str, Any] | None = None,
    since: date | str | None = None,
    notify_block: str | None = None,
    plot_days: int = 182,
    artifact: bool = True,
    history_dir: str | None = None,
) -> dict[str, Any]:
    """Check drift for the night ``as_of`` (default: the last day of the clean data).

    Parameters
    ----------
    clean_path
        Clean Parquet (``series_id, ds, y, day_type, is_imputed``).
    data_dir
        Data dir: published forecasts are read from it, alerts written beside them.
    backtest_path
        Backtest table (file or folder); default ``<data_dir>/backtests``. Without one,
        forecast-error drift is skipped and the summary says so.
    config
        Overrides of :class:`seqcast.drift.DriftConfig` fields.
    since
        First night to evaluate when the table is still empty (default: ``as_of`` only).
    notify_block
        Optional saved notification block, e.g. ``slack-webhook/seqcast-alerts``.
    artifact
        Leave the report (``markdown`` in the result, plot embedded) as a markdown artifact
        on this run; the nightly flow shows it on its parent run instead.
    history_dir
        The night's statistics computed per bucket (:func:`drift_bucket`); default:
        computed here.
    """
    from seqcast.published import read_forecasts

    log = get_run_logger()
    cfg = DriftConfig(**(config or {}))
    clean = read_clean(clean_path)
    last_day = pd.Timestamp(clean["ds"].max()).normalize()
    as_of_ts = min(pd.Timestamp(as_of).normalize(), last_day) if as_of is not None else last_day
    history = None
    if history_dir is not None:
        # the statistics came per bucket; the published table and the backtest are read
        # below for the plotted series only
        parts = [pd.read_parquet(f) for f in sorted(Path(history_dir).glob("bucket-*.parquet"))]
        history = pd.concat([p for p in parts if len(p)] or parts, ignore_index=True)
        history = history.sort_values(["series_id", "kind", "night"], kind="stable", ignore_index=True)
        forecasts = backtest = None
    else:
        forecasts = read_forecasts(data_dir)
        forecasts = forecasts if len(forecasts) else None
        backtest = load_backtest(backtest_path, data_dir)
        if backtest is None or forecasts is None:
            log.info("forecast-error drift skipped: %s",
                     "no backtest table" if backtest is None else "no published forecasts yet")
    result = alerts.monitor(data_dir, clean, as_of_ts, forecasts=forecasts, backtest=backtest,
                            config=cfg, run_id=run_id, since=since, history=history)
    new = result.new_alerts
    emitted = 0
    for row in new.to_dict(orient="records"):
        emit_event(**alert_event(row, DETECTED if row["status"] == "open" else CLEARED))
        emitted += row["status"] == "open"
    opened = new[new["status"] == "open"]
    if notify_block and len(opened):
        _notify(notify_block, opened, as_of_ts.date())

    # The plot draws at most PLOT_SERIES series (alerts first, then nearest their threshold
    # tonight): its history is computed for those only, not 182 nights of every series,
    # from the files (the forecasts and backtest of those series' buckets only).
    n_all = int(clean["series_id"].nunique())
    keep = None
    if n_all > PLOT_SERIES and len(result.history):
        flagged = pd.concat([result.open_alerts, new], ignore_index=True)
        keep = sorted(map(str, shown_series(result.history, flagged, PLOT_SERIES)))
    png = Path(drift_plot_file(clean_path, data_dir, as_of_ts, config=config, plot_days=plot_days, keep=keep,
                               backtest_path=backtest_path, n_series=n_all, max_series=PLOT_SERIES))
    # series too short for any data-drift statistic yet: said, not silently unchecked; and
    # those checked against their last weeks until they have the year-ago ones
    need = cfg.first_check_days
    full = cfg.lookback_days - cfg.persist_nights + 1
    span = clean[clean["ds"] <= as_of_ts].groupby("series_id")["ds"].agg(["min", "max"])
    days = (span["max"] - span["min"]).dt.days + 1  # the statistics' positions count calendar days
    short = {str(k): int(v) for k, v in days[days < need].items()}
    young = {str(k): int(v) for k, v in days[(days >= need) & (days < full)].items()} if full > need else {}
    markdown = alerts.summary_markdown(result, as_of_ts)

    def some(series: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v} days)" for k, v in list(series.items())[:10]) + (" ..." if len(series) > 10 else "")

    if short:
        markdown += (f"\n\nData drift not checked yet for {len(short)} series with fewer than {need} "
                     f"days of history: {some(short)}.\n")
        log.info("data drift not checked for %d series with fewer than %d days", len(short), need)
    if young:
        markdown += (f"\n\nData drift of {len(young)} series with fewer than {full} days of history is "
                     f"checked against the {2 * cfg.recent_days} days before the recent window (no "
                     f"year-ago weeks yet, so a yearly cycle can read as drift): {some(young)}.\n")
    markdown += (f"\n\n## Each statistic over the last {plot_days} nights\n\n"
                 f"{png_markdown(png, 'drift statistics by night')}\n\nFile: `{png}`\n")
    if artifact:
        create_markdown_artifact(key=artifact_key("drift", "monitor"), markdown=markdown,
                                 description=f"Drift monitor for {as_of_ts.date()}")
    log.info("drift monitor %s: %d night(s), %d new alert(s), %d cleared, %d open",
             as_of_ts.date(), len(result.nights), len(opened), int((new["status"] == "cleared").sum()),
             len(result.open_alerts))
    return {
        "as_of": as_of_ts.date().isoformat(),
        "nights": len(result.nights),
        "new_alerts": len(opened),
        "cleared": int((new["status"] == "cleared").sum()),
        "open_alerts": len(result.open_alerts),
        "events": emitted,
        "alerts_path": str(result.path),
        "plot": str(png),
        "error_drift": backtest is not None and forecasts is not None,
        "too_short": short,
        "needs_days": need,
        "trailing_reference": young,
        "seasonal_needs_days": full,
        "markdown": markdown,
    }


@task(name="freshness", cache_policy=NO_CACHE)
def freshness_task(clean_path: str, data_dir: str, run_date: date | str, max_staleness_days: int = 3,
                   run_id: str = "local", dropped: dict[str, str] | None = None) -> dict[str, Any]:
    """Open a ``stale_data`` alert for each series whose newest day is older than
    ``max_staleness_days`` before the run date, and for each series cleaning dropped
    (``dropped``: id -> reason) (:func:`seqcast.alerts.check_freshness`)."""
    clean = read_clean(clean_path, columns=["series_id", "ds"])
    last_days = clean.groupby("series_id")["ds"].max()
    stale = alerts.check_freshness(data_dir, last_days, run_date, max_staleness_days, run_id=run_id,
                                   dropped=dropped)
    newest = pd.Timestamp(last_days.max()).date()
    out = {"run_date": str(pd.Timestamp(run_date).date()), "newest_day": str(newest),
           "max_staleness_days": int(max_staleness_days), "series": int(len(last_days)),
           "stale": [{"series_id": r.series_id, "last_day": str(pd.Timestamp(r.last_day).date()),
                      "days_stale": int(r.days_stale)} for r in stale.itertuples()]}
    if out["stale"]:
        worst = max(out["stale"], key=lambda r: r["days_stale"])
        get_run_logger().warning(
            "stale data: %d of %d series end more than %d days before %s (e.g. %s: newest day %s, %d days)",
            len(out["stale"]), out["series"], max_staleness_days, out["run_date"], worst["series_id"],
            worst["last_day"], worst["days_stale"])
    return out
