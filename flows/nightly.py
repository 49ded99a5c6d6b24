"""The nightly flow: ingest -> validate -> clean -> forecast -> publish.

Run it once with ``seqcast run`` (or ``make run``); deployments schedule it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.states import Cancelled
from pydantic import BaseModel, Field

from tasks.data import clean_task, ingest_task, resolve_source, validate_task
from tasks.forecast import forecast_task, plot_task, publish_task


class NightlyParams(BaseModel):
    """Parameters of one nightly run (a form in the Prefect UI)."""

    source: str | None = Field(
        None, description="Path or http(s) URL of a CSV/Parquet export; empty = embedded sample"
    )
    mapping: str | None = Field(None, description="Mapping file for tables other than the CTA export")
    data_dir: str = Field("data", description="Where snapshots, clean data and published tables live")
    horizon: int = Field(14, ge=1, le=366, description="Days to forecast")
    as_of: date | None = Field(None, description="Treat this date as today (replays, backfills)")
    models: list[str] = Field(default_factory=lambda: ["seasonal_naive"])
    fill: Literal["seasonal", "linear", "none"] = "seasonal"
    max_gap_days: int = Field(7, ge=0, description="Longest gap cleaning may fill")
    max_lateness_hours: float = Field(
        20.0,
        gt=0,
        description="Catch-up policy: a scheduled run that starts later than this is skipped "
        "(the next night forecasts from all data anyway; use backfill to recreate a night)",
    )


@flow(name="nightly", log_prints=True)
def nightly(params: NightlyParams = NightlyParams()) -> dict:
    p = params
    late = _hours_late()
    if late is not None and late > p.max_lateness_hours:
        message = (
            f"skipped: this scheduled run started {late:.1f} h late (limit "
            f"{p.max_lateness_hours} h); the next night will catch up"
        )
        print(message)
        return Cancelled(message=message)
    source = resolve_source(p.source, p.data_dir)
    snapshot = ingest_task(source, p.data_dir)
    validated = validate_task(snapshot["snapshot_dir"], p.data_dir, p.mapping, p.as_of)
    report = clean_task(validated, p.mapping, p.fill, p.max_gap_days)
    staged = forecast_task(report["clean_path"], p.models, p.horizon)
    run_date = p.as_of or date.today()
    run_id = str(runtime.flow_run.id or "local")
    published = publish_task(staged, p.data_dir, run_date, run_id, report["data_hash"])
    plot = plot_task(report["clean_path"], published, p.data_dir)
    summary = {
        **report,
        "run_date": run_date.isoformat(),
        "run_id": run_id,
        "published": published,
        "plot": plot,
        "data_docs": validated["data_docs"],
        "gx_failed": validated["gx_failed"],
    }
    create_markdown_artifact(key="nightly-summary", markdown=_summary_markdown(summary))
    return summary


def _hours_late() -> float | None:
    """Hours between this run's schedule and now, for auto-scheduled runs only."""
    if "auto-scheduled" not in (runtime.flow_run.tags or []):
        return None
    scheduled = runtime.flow_run.scheduled_start_time
    return (datetime.now(UTC) - scheduled).total_seconds() / 3600


def _summary_markdown(s: dict) -> str:
    gx = "all passed" if not s["gx_failed"] else "<br>".join(s["gx_failed"])
    return f"""# Nightly run {s['run_date']}

| | |
|---|---|
| source | `{s['source']}` (data `{s['data_hash']}`) |
| rows in | {s['rows_in']} |
| kept | {s['rows_kept']} |
| quarantined | {s['rows_quarantined']} (`{s['quarantine_path']}`) |
| exact duplicates dropped | {s['exact_duplicates_dropped']} |
| days imputed | {s['days_imputed']} in {s['gaps']} gap(s) |
| days | {s['days']} ({s['first_day']} .. {s['last_day']}) |
| Great Expectations | {gx} |
| published | `{s['published']}` |

![forecast vs actuals]({_data_uri(s['plot'])})

Plot file: `{s['plot']}`
"""


def _data_uri(path: str) -> str:
    import base64
    from pathlib import Path

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


if __name__ == "__main__":
    nightly()
