"""The nightly flow: ingest -> validate -> clean -> forecast -> publish.

Run it once with ``seqcast run`` (or ``make run``); deployments schedule it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from prefect import flow, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.states import Cancelled
from pydantic import BaseModel, Field

from flows.train import ModelChoice, Split, TrainParams, train
from seqcast.io import file_lock
from seqcast.layout import DataDir
from seqcast.training import model_label
from tasks.backtest import incremental_backtest_task
from tasks.data import clean_task, ingest_task, resolve_source, validate_task
from tasks.dispatch import gpu_train_task, neural_forecast_task
from tasks.forecast import backtest_plot_task, champion_task, forecast_task, plot_task, publish_task
from tasks.monitor import monitor_task


class ModelSpec(BaseModel):
    """A candidate model: a registered name and its hyperparameters."""

    name: str = Field(description="A registered model name, e.g. seasonal_naive, sarima")
    params: dict[str, Any] = Field(default_factory=dict)


# What a bare name on the CLI means: sensible defaults for daily data with a weekly cycle.
DEFAULT_SPECS: dict[str, ModelSpec] = {
    "seasonal_naive": ModelSpec(name="seasonal_naive", params={"season_length": 7}),
    "naive": ModelSpec(name="naive"),
    "sarima": ModelSpec(name="sarima", params={"order": [1, 0, 0], "seasonal_order": [0, 1, 1, 7]}),
}


def spec_for(name: str) -> ModelSpec:
    return DEFAULT_SPECS.get(name, ModelSpec(name=name))


class NightlyParams(BaseModel):
    """Parameters of one nightly run (a form in the Prefect UI)."""

    source: str | None = Field(
        None, description="Path or http(s) URL of a CSV/Parquet export; empty = embedded sample"
    )
    mapping: str | None = Field(None, description="Mapping file for tables other than the CTA export")
    data_dir: str = Field("data", description="Where snapshots, clean data and published tables live")
    horizon: int = Field(14, ge=1, le=366, description="Days to forecast")
    as_of: date | None = Field(None, description="Treat this date as today (replays, backfills)")
    models: list[ModelSpec] = Field(
        default_factory=lambda: [DEFAULT_SPECS[n] for n in ("seasonal_naive", "naive", "sarima")],
        description="Candidate models; per series the best on the recent backtest is published",
    )
    backtest_days: int = Field(
        28, ge=1, description="Recent origins scored (incrementally) to choose the champion"
    )
    refit_every: int = Field(7, ge=1, description="Backtest re-estimation interval (origins)")
    monitor: bool = Field(True, description="Check data and forecast-error drift after publishing")
    neural: list[ModelChoice] = Field(
        default_factory=list,
        description="Neural models to retrain tonight (on the gpu pool, else on CPU here); they "
        "join the candidates, and are published once their backtest beats seasonal naive",
    )
    max_epochs: int = Field(50, ge=1, description="Epoch budget per neural model")
    valid_days: int = Field(120, ge=14, description="Last days held out for early stopping")
    gpu_deployment: str = Field("train/train", description="Training deployment on the gpu pool")
    gpu_pickup_timeout_s: float = Field(
        120, ge=0, description="Train in-process on CPU when no gpu worker starts it within this"
    )
    fill: Literal["seasonal", "linear", "none"] = "seasonal"
    max_gap_days: int = Field(7, ge=0, description="Longest gap cleaning may fill")
    max_lateness_hours: float = Field(
        20.0,
        gt=0,
        description="Catch-up policy: a scheduled run that starts later than this is skipped "
        "(the next night forecasts from all data anyway; use backfill to recreate a night)",
    )


@flow(name="nightly", log_prints=True)
def nightly(params: NightlyParams = NightlyParams()) -> dict:  # noqa: B008 (a form default)
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
    specs = [m.model_dump() for m in p.models]
    candidates = forecast_task(report["clean_path"], specs, p.horizon)
    last_day = date.fromisoformat(report["last_day"])
    training = _train_neural(p, report["clean_path"], last_day) if p.neural else None
    if training:
        neural_forecast_task(
            report["clean_path"], str(Path(p.data_dir, "models")),
            [model_label(m.name, m.targets) for m in p.neural], p.horizon, candidates["candidates_path"],
        )
    backtests = DataDir(p.data_dir).backtests / "nightly"
    with file_lock(backtests / ".lock"):  # runs sharing a data dir merge one after the other
        backtest = incremental_backtest_task(
            report["clean_path"],
            str(backtests),
            specs,
            p.horizon,
            (last_day - timedelta(days=p.backtest_days + p.horizon - 1)).isoformat(),
            refit_every=p.refit_every,
        )
    chosen = champion_task(candidates["candidates_path"], backtest["table_path"], p.backtest_days)
    run_date = p.as_of or date.today()
    run_id = str(runtime.flow_run.id or "local")
    published = publish_task(chosen["champions_path"], p.data_dir, run_date, run_id, report["data_hash"])
    drift = None
    if p.monitor:
        state = monitor_task(
            report["clean_path"], p.data_dir, as_of=last_day, run_id=run_id,
            backtest_path=backtest["table_path"], return_state=True,
        )
        # The table is published already: a monitoring failure is reported, not fatal.
        drift = state.result() if state.is_completed() else {"error": str(state.message)}
    errors_plot = backtest_plot_task(backtest["table_path"], p.data_dir, run_date, last_day, p.backtest_days)
    plot = plot_task(report["clean_path"], published, p.data_dir)
    summary = {
        **report,
        "run_date": run_date.isoformat(),
        "run_id": run_id,
        "published": published,
        "plot": plot,
        "errors_plot": errors_plot,
        "champions": chosen["choice"],
        "scores": chosen["scores"],
        "model_failures": candidates["failures"],
        "backtest_failed_origins": backtest["failed_origins"],
        "drift": drift,
        "training": training,
        "data_docs": validated["data_docs"],
        "gx_failed": validated["gx_failed"],
    }
    create_markdown_artifact(key="nightly-summary", markdown=_summary_markdown(summary))
    return summary


def _train_neural(p: NightlyParams, clean_path: str, last_day: date) -> dict:
    """Retrain the neural models: on the gpu pool if a gpu worker takes it, else here on CPU."""
    valid_start = last_day - timedelta(days=p.valid_days - 1)
    params = TrainParams(
        data_dir=p.data_dir,
        clean_path=clean_path,
        models=p.neural,
        max_epochs=p.max_epochs,
        splits=[
            Split(name="train", end=(valid_start - timedelta(days=1)).isoformat()),
            Split(name="valid", start=valid_start.isoformat(), end=last_day.isoformat()),
        ],
    )
    outcome = gpu_train_task(params.model_dump(mode="json"), p.gpu_deployment, p.gpu_pickup_timeout_s)
    if not outcome["completed"]:
        print(f"{outcome['reason']}: training in-process on CPU instead")
        result = train(params)
        outcome = {**outcome, "where": "in-process CPU", "models": result["models"]}
    return outcome


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
| drift | {_drift_line(s['drift'])} |
| neural training | {(s['training'] or {}).get('where', 'none configured')}: {(s['training'] or {}).get('reason', '')} |

## Champions (what was published, and why)

{_champions_markdown(s)}

## Forecast vs actuals

![forecast vs actuals]({_data_uri(s['plot'])})

## Backtest error by horizon

![backtest MAE by horizon]({_data_uri(s['errors_plot'])})

Files: `{s['plot']}`, `{s['errors_plot']}`
"""


def _drift_line(drift: dict | None) -> str:
    if drift is None:
        return "not checked"
    if "error" in drift:
        return f"monitor failed: {drift['error']}"
    return f"{drift.get('new_alerts', 0)} new alert(s), {drift.get('open_alerts', 0)} open (`seqcast alerts show`)"


def _champions_markdown(s: dict) -> str:
    lines = ["| series | published | reason |", "|---|---|---|"]
    lines += [f"| {c['series_id']} | **{c['model']}** | {c['reason']} |" for c in s["champions"]]
    lines += ["", "Recent backtest MAE (last origins; failed = origins with an error):", "",
              "| series | model | MAE | forecasts scored | failed |", "|---|---|---|---|---|"]
    for r in sorted(s["scores"], key=lambda r: (r["series_id"], r["mae"] if r["mae"] == r["mae"] else 1e300)):
        mae = f"{r['mae']:,.0f}" if r["mae"] == r["mae"] else "n/a"
        lines.append(f"| {r['series_id']} | {r['model']} | {mae} | {r['n']} | {r['failed']} |")
    for f in s["model_failures"]:
        lines.append(f"\n**{f['model']} failed on {f['series_id']}**: {f['error']}")
    return "\n".join(lines)


def _data_uri(path: str) -> str:
    import base64
    from pathlib import Path

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


if __name__ == "__main__":
    nightly()
