"""The nightly flow: ingest -> validate -> clean -> forecast -> publish.

Run it once with ``seqcast run`` (or ``make run``); deployments schedule it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from prefect import flow, runtime
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Cancelled
from pydantic import BaseModel, Field, SecretStr

from flows.train import ModelChoice, Split, TrainParams, train
from seqcast.alerts import md_text
from seqcast.champion import format_mae
from seqcast.errors import ModelError
from seqcast.io import file_lock
from seqcast.layout import DataDir
from seqcast.partitions import bucket_groups, series_in
from seqcast.pipeline import dropped_series
from seqcast.trained import trained_label
from tasks.data import clean_task, gx_task, ingest_task, sample_task, validate_task
from tasks.database import database_url, publish_database_task
from tasks.dispatch import gpu_train_task, neural_forecast_task
from tasks.forecast import backtest_plot_task, plot_task, publish_task
from tasks.monitor import drift_buckets_task, freshness_task, monitor_task
from tasks.panel import (
    backtest_buckets_task,
    champion_buckets_task,
    forecast_buckets_task,
    model_labels,
    prune_fits_task,
    runner_for,
)
from tasks.report import move_progress, report_task, start_progress


class ModelSpec(BaseModel):
    """A candidate model: a registered name and its hyperparameters."""

    name: str = Field(description="A registered model name, e.g. seasonal_naive, sarima")
    params: dict[str, Any] = Field(default_factory=dict)


DEFAULT_MODELS = ("seasonal_naive", "naive", "sarima")


def spec_for(name: str) -> ModelSpec:
    """A bare name means the model class's defaults (the same model everywhere)."""
    return ModelSpec(name=name)


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
        default_factory=lambda: [spec_for(n) for n in DEFAULT_MODELS],
        description="Candidate models; per series the best on the recent backtest is published",
    )
    backtest_days: int = Field(
        28, ge=1, description="Recent origins scored (incrementally) to choose the champion"
    )
    champion_days: int = Field(
        56, ge=1, description="Recent origins the champion is chosen on (MAE over h=1..horizon); "
        "the first night has backtest_days + horizon - 1 of them, later nights add one a night"
    )
    interval_gamma: float = Field(
        0.01, ge=0, lt=1, description="Step of adaptive conformal inference for the published "
        "intervals (Gibbs & Candes 2021); 0 gives plain split-conformal intervals"
    )
    refit_every: int = Field(7, ge=1, description="Backtest re-estimation interval (origins)")
    fit_cache_days: float = Field(
        30, gt=0, description="Saved fits (data_dir/models/fits) not used for this many days are deleted "
        "after the night's forecasts; one that is needed again is fitted again",
    )
    monitor: bool = Field(True, description="Check data and forecast-error drift after publishing")
    neural: list[ModelChoice] = Field(
        default_factory=list,
        description="Neural models to retrain tonight (on the gpu pool, else on CPU here); they "
        "join the candidates, and are published once their backtest beats seasonal naive",
    )
    holidays: str | None = Field(
        None,
        description="Public-holiday calendar for the known-future features, COUNTRY or "
        "COUNTRY-SUBDIV (US-IL); empty = the mapping's (the CTA export: US-IL); none = no calendar",
    )
    max_epochs: int = Field(50, ge=1, description="Epoch budget per neural model")
    valid_days: int = Field(120, ge=14, description="Last days held out for early stopping")
    gpu_deployment: str = Field("train/train", description="Training deployment on the gpu pool")
    gpu_pickup_timeout_s: float = Field(
        120, ge=0, description="Train in-process on CPU when no gpu worker starts it within this"
    )
    fill: Literal["seasonal", "linear", "none"] = "seasonal"
    max_gap_days: int = Field(7, ge=0, description="Longest gap cleaning may fill")
    runner: Literal["thread", "process", "dask"] = Field(
        "thread",
        description="Where the per-bucket work runs: threads here (a few series), a process "
        "pool, or Dask (a LocalCluster, or the cluster at dask_address)",
    )
    workers: int | None = Field(None, ge=1, description="Threads / processes / Dask workers; empty = all cores")
    tasks_per_worker: int = Field(
        4, ge=1, description="Backtest task runs per worker and model: the buckets of series are grouped "
        "into this many per worker (fewer, larger task runs spend less on orchestration; more balance "
        "better); the cheaper stages after the backtest run one task run a worker",
    )
    dask_address: str | None = Field(
        None, description="Scheduler of an existing Dask cluster, e.g. tcp://host:8786 (implies runner dask)"
    )
    max_lateness_hours: float = Field(
        20.0,
        gt=0,
        description="Catch-up policy: a scheduled run that starts later than this is skipped "
        "(the next night forecasts from all data anyway; use backfill to recreate a night)",
    )
    max_staleness_days: int = Field(
        3, ge=0, description="A series whose newest day is more than this many days before the run "
        "date is stale: the summary says so and a stale_data alert opens"
    )
    database_url: SecretStr | None = Field(
        None, description="Also publish the night into this PostgreSQL database, "
        "postgresql+psycopg://user:password@host:5432/db (kept secret; empty = Parquet only)",
    )
    database_secret: str | None = Field(
        None, description="Name of a Prefect Secret block holding the database URL (deployments: "
        "no password in prefect.yaml); else the SEQCAST_DATABASE_URL environment variable",
    )


@flow(name="nightly", log_prints=True)
def nightly(params: NightlyParams = NightlyParams()) -> dict:  # noqa: B008 (a form default)
    """Run one night on the task runner the parameters choose (threads, processes or Dask)."""
    p = params
    late = _hours_late()
    if late is not None and late > p.max_lateness_hours:
        message = (
            f"skipped: this scheduled run started {late:.1f} h late (limit "
            f"{p.max_lateness_hours} h); the next night will catch up"
        )
        print(message)
        return Cancelled(message=message)
    run_id = str(runtime.flow_run.id or "local")
    runner, where = runner_for(p.runner, p.workers, p.dask_address)
    night = (p.as_of or date.today()).isoformat()
    # The user opens this run: the progress bar and every artifact of the night live here;
    # the subflow, named by its night, holds the task runs (linked from the summary).
    stages = nightly_stages.with_options(task_runner=runner, flow_run_name=f"stages {night} on {where}")
    summary = stages(p, run_id, start_progress("backtest"))
    summary["runner"] = where
    url = database_url(p.database_url, p.database_secret)
    if url:  # after the Parquet publish: the database gets the same night, in one transaction
        summary["database"] = publish_database_task(url, summary, p.data_dir)
    drift_markdown = (summary["drift"] or {}).pop("markdown", None)
    report_task(summary, _summary_markdown(summary), p.data_dir, drift_markdown)
    return summary


@flow(name="nightly-stages", log_prints=True)
def nightly_stages(params: NightlyParams, run_id: str, progress: str | None = None) -> dict:
    """The night's tasks, each submitted to this flow's task runner.

    Data stages run as single tasks; forecasting, the incremental backtest and the
    champion choice are mapped over the buckets of series of the clean dataset
    (and, for the backtest, over the models), so the flow's own process only ever
    holds paths and small summaries. ``progress``: the id of a progress artifact (on the
    parent run) moved as the backtest units finish.
    """
    p = params
    source = p.source or sample_task.submit(p.data_dir).result()
    snapshot = ingest_task.submit(source, p.data_dir).result()
    validated = validate_task.submit(snapshot["snapshot_dir"], p.data_dir, p.mapping, p.as_of,
                                     artifact=False, checkpoint=False).result()
    # the Great Expectations checkpoint documents the raw data; nothing below waits for it
    checkpoint = gx_task.submit(validated, p.data_dir, p.mapping, p.as_of)
    report = clean_task.submit(validated, p.mapping, p.fill, p.max_gap_days).result()
    clean_path = report["clean_path"]
    stage = Path(clean_path).parent
    # one task run per group of buckets and stage (a bucket is the unit of storage)
    workers = p.workers or os.cpu_count() or 1
    groups = bucket_groups(clean_path, p.tasks_per_worker * workers)
    buckets = [b for g in groups for b in g]
    # the stages after the backtest (forecasts from its store, drift statistics, champions)
    # cost ~70 ms a bucket and need no balancing: one task run a worker each
    light = bucket_groups(clean_path, workers)
    specs = [m.model_dump() for m in p.models]
    labels = model_labels(specs)
    _check_model_series([*zip(specs, labels, strict=True), *((s, lb) for s, lb, _ in _neural_backtests(p))],
                        {*series_in(clean_path), *dropped_series(report)})
    last_day = date.fromisoformat(report["last_day"])
    print(f"{len(series_in(clean_path))} series in {len(buckets)} bucket(s), {len(groups)} group(s); "
          f"{len(groups) * len(specs)} backtest + {len(light)} forecast task runs")

    holidays = _holidays(p)
    fit_cache = str(Path(p.data_dir) / "models" / "fits")
    table_dir = DataDir(p.data_dir).backtests / "nightly" / "table"
    start = (last_day - timedelta(days=p.backtest_days + p.horizon - 1)).isoformat()
    neural = _neural_backtests(p)
    with file_lock(table_dir.parent / ".lock"):  # runs sharing a data dir merge one after the other
        # the costlier models first (their complexity), so that the last task runs are short
        # ones and no worker idles long at the end (longest-processing-time-first)
        cost = _complexity(specs, labels, [])
        order = sorted(zip(specs, labels, strict=True), key=lambda sl: -cost[sl[1]])
        # (on Dask as a scheduler priority too: it does not keep the submission order, and
        # a SARIMA group left for last after the cheap ones kept one of 2 workers busy 13 s alone)
        backtests = []
        for rank, (spec, label) in enumerate(order):
            with first(len(order) - rank):
                backtests += [backtest_buckets_task.submit(clean_path, g, spec, label, str(table_dir),
                                                           p.horizon, start, refit_every=p.refit_every,
                                                           holidays=holidays, fit_cache=fit_cache)
                              for g in groups]
        # the models trained on the gpu pool compete on the same backtest (retrained on their
        # refit days here; on the whole panel when they learn across series)
        with first(len(order) + 1):  # a network's training costs more than any group above
            backtests += [backtest_buckets_task.submit(clean_path, [None], spec, label, str(table_dir),
                                                       p.horizon, start, refit_every=p.refit_every,
                                                       holidays=holidays, series=series, fit_cache=fit_cache)
                          for spec, label, series in neural]
        backtests = [b for part in _results(backtests, progress, "backtest") for b in part]
    config = {"holidays": holidays} if holidays else None
    run_date = p.as_of or date.today()
    # after the backtest, whose origin tonight made tonight's forecasts (kept in its store);
    # what is missing there is fitted from the last refit day's fit (cached there). Submitted
    # first: forecasts -> champions -> publish is the night's critical path; the drift
    # statistics, the monitor and the error plot fill the workers around it.
    with first(10):
        forecasts = [forecast_buckets_task.submit(clean_path, g, specs, p.horizon, str(stage / "candidates"),
                                                  holidays, fit_cache, p.refit_every, str(table_dir))
                     for g in light]
    monitored = None
    if p.monitor:
        # drift statistics per bucket, beside the forecasts: they read the data, the backtest
        # table and earlier nights' published forecasts, never tonight's (which have no
        # actuals yet), so the monitor deciding the alerts need not wait for the publish
        stats = [drift_buckets_task.submit(clean_path, g, p.data_dir, last_day, str(stage / "drift"),
                                           p.horizon, backtest_path=str(table_dir), config=config)
                 for g in light]
        monitored = monitor_task.submit(clean_path, p.data_dir, as_of=last_day, run_id=run_id,
                                        backtest_path=str(table_dir), config=config, artifact=False,
                                        history_dir=str(stage / "drift"), wait_for=stats)
    errors_plot = backtest_plot_task.submit(str(table_dir), p.data_dir, run_date, last_day,
                                            p.backtest_days)
    candidates = [c for part in _results(forecasts) for c in part]  # in the order of ``buckets``
    pruned = prune_fits_task.submit(fit_cache, p.fit_cache_days)  # the night's fits are all loaded now
    failures = [f for c in candidates for f in c["failures"]]
    training = _train_neural(p, clean_path, last_day) if p.neural else None
    if training:
        neural_forecast_task.submit(
            clean_path, str(Path(p.data_dir, "models")),
            [trained_label(m.name, m.targets) for m in p.neural], p.horizon, str(stage / "candidates"),
        ).result()
    labels = labels + [label for _, label, _ in neural]
    complexity = _complexity(specs, labels, neural)
    no_forecast = {b: c["no_forecast"] for b, c in zip(buckets, candidates, strict=True)}
    with first(10):
        chosen = [champion_buckets_task.submit(str(stage / "candidates"), str(table_dir), labels, g,
                                               p.backtest_days, str(stage / "champions"), complexity,
                                               [no_forecast[b] for b in g], champion_days=p.champion_days,
                                               interval_gamma=p.interval_gamma, floor=_floor(p),
                                               last_day=last_day)
                  for g in light]
    chosen = _results(chosen)
    chosen = [c for part in chosen for c in part]
    choice = [c for part in chosen for c in part["choice"]]
    not_published = [c for c in choice if c["model"] is None]
    if not any(part["rows"] for part in chosen):
        raise ModelError(_nothing_to_publish(not_published))
    published = publish_task.submit(str(stage / "champions"), p.data_dir, run_date, run_id,
                                    report["data_hash"]).result()
    freshness = freshness_task.submit(clean_path, p.data_dir, run_date, p.max_staleness_days,
                                      run_id=run_id, dropped=dropped_series(report)).result()
    plot = plot_task.submit(clean_path, published, p.data_dir)
    drift = None
    if monitored is not None:
        # submitted beside the forecasts (above); the monitor task decides the alerts
        monitored.wait()
        # The table is published already: a monitoring failure is reported, not fatal.
        drift = (monitored.result() if monitored.state.is_completed()
                 else {"error": str(monitored.state.message)})
    gx = checkpoint.result(raise_on_failure=False)
    if not isinstance(gx, dict):  # the docs are for people: a crashed checkpoint is reported, not fatal
        gx = {"gx_success": None, "gx_failed": [f"checkpoint error: {gx!r}"], "gx_results": [],
              "data_docs": None, "data_docs_page": None}
    validated = {**validated, **gx}
    scores = [s for part in chosen for s in part["scores"]]
    scores_by_h = [s for part in chosen for s in part["scores_by_h"]]
    return {
        **report,
        "run_date": run_date.isoformat(),
        "run_id": run_id,
        "published": published,
        "plot": plot.result(),
        "errors_plot": errors_plot.result(),
        "champions": choice,
        "scores": scores,
        "scores_by_h": scores_by_h,
        "model_failures": failures,
        "not_published": [{"series_id": c["series_id"], "reason": c["reason"]} for c in not_published],
        "backtest_failed_origins": sum(b["failed_origins"] for b in backtests),
        "backtest_new_origins": sum(b["new_origins"] for b in backtests),
        "backtest_table": str(table_dir),
        "buckets": len(buckets),
        "fits_pruned": pruned.result(),
        "bucket_groups": len(groups),
        "light_groups": len(light),
        "fit_seconds": {"forecast": sum(c["fit_s"] for c in candidates),
                        "backtest": sum(b["fit_s"] for b in backtests)},
        "drift": drift,
        "freshness": freshness,
        "training": training,
        "data_docs": validated["data_docs"],
        "data_docs_page": validated.get("data_docs_page"),
        "gx_success": validated.get("gx_success"),
        "gx_results": validated.get("gx_results", []),
        "gx_failed": validated["gx_failed"],
        "stages_run_id": str(runtime.flow_run.id or ""),
    }


def _nothing_to_publish(not_published: list[dict], shown: int = 3) -> str:
    """The one error of a night where no series has a forecast (the published table is kept)."""
    reasons = "; ".join(f"{c['series_id']}: {c['reason'].removeprefix('not published: ')}"
                        for c in sorted(not_published, key=lambda c: c["series_id"])[:shown])
    more = f" (and {len(not_published) - shown} more series)" if len(not_published) > shown else ""
    return (f"no forecast to publish: every model failed on every one of the {len(not_published)} "
            f"series, nothing was published. {reasons}{more}")


def _complexity(specs: list[dict], labels: list[str], neural: list) -> dict[str, int]:
    """Label -> the model's complexity (ties in the champion choice go to the simpler)."""
    from seqcast.models import build

    out = {label: build(spec).complexity for spec, label in zip(specs, labels, strict=False)}
    out.update({label: build(spec).complexity for spec, label, _ in neural})
    return out


def _check_model_series(models: list[tuple[dict, str]], known: set[str]) -> None:
    """Stop before any backtest when a model that reads named series (``rnn_multitask``:
    bus and rail) names one the source does not have at all (was: a warning per series
    in the log, the night published without it). ``known``: the clean data's series and
    those dropped tonight (a series quarantined tonight fails that model alone).

    Raises :class:`ModelError` naming the model, the series and the way out.
    """
    from seqcast.models import build

    for spec, label in models:
        model = build(spec)
        named = [*(getattr(model, "inputs", None) or ()), *(getattr(model, "targets", None) or ())]
        needed = list(dict.fromkeys(named))
        missing = [s for s in needed if s not in known] if model.supports_multivariate else []
        if missing:
            some = sorted(known)
            raise ModelError(f"model {label}: needs series {needed}; the data has no {missing} (its series: "
                             f"{', '.join(some[:5])}{', …' if len(some) > 5 else ''}); name yours in its "
                             f"params (inputs, targets) in a models file")


def _neural_backtests(p: NightlyParams) -> list[tuple[dict, str, list[str] | None]]:
    """``(spec, label, series)`` of each ``neural`` model: the same hyperparameters and
    epoch budget as its training; a per-series model on its targets, one that learns
    across series on the whole panel."""
    from seqcast.models import build

    out = []
    for m in p.neural:
        spec = {"name": m.name, "params": {**m.params, "epochs": p.max_epochs}}
        series = None if build(spec).supports_multivariate else list(m.targets)
        out.append((spec, trained_label(m.name, m.targets), series))
    return out


def first(priority: int):
    """Start the task runs submitted inside before those of a lower ``priority`` (default 0)
    where workers have a choice: the night's critical path (forecasts -> champions ->
    publish) before the drift statistics and plots, the costly backtests before the cheap.

    On Dask, a scheduler priority (``dask.annotate``; Prefect's Dask runner passes the
    annotations on); the thread and process runners start task runs in submission order
    and ignore it. Dask is imported by the Dask runner only: without it (``seqcast run``'s
    threads) this costs no 0.1-s import.
    """
    import contextlib
    import sys

    if "dask" not in sys.modules:
        return contextlib.nullcontext()
    import dask

    return dask.annotate(priority=int(priority))


def local_run_settings():
    """Prefect settings for a run started from this terminal: no flow-run heartbeats.

    Heartbeats let a zombie-flow automation mark a crashed run of a *deployment* (Prefect
    docs, "Detect zombie flows"); this run is watched by its terminal, and ending each
    flow run's heartbeat thread (it sleeps in 1-s steps) cost up to 1 s a flow run, 2 a
    night. ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` in the environment still wins.
    """
    import contextlib

    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ:
        return contextlib.nullcontext()
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def _floor(p: NightlyParams) -> float | None:
    """The lowest publishable value: 0 for the mapping's ``non_negative`` series (the default)."""
    from seqcast.ingest import load_mapping

    return 0.0 if load_mapping(p.mapping).non_negative else None


def _holidays(p: NightlyParams) -> str | None:
    """The holiday calendar: the parameter, else the mapping's; "none" switches it off."""
    from seqcast.calendar import parse_holidays
    from seqcast.ingest import load_mapping

    given = p.holidays is not None and p.holidays.strip()  # empty (a cleared form field): the mapping's
    spec = p.holidays if given else load_mapping(p.mapping).holidays
    parse_holidays(spec)  # an unknown calendar stops the night here, with one clear line
    return None if not spec or spec.lower() == "none" else spec


def _results(futures: list, progress: str | None = None, what: str = "") -> list:
    """Wait for every unit; then raise the first failure (a unit records model errors itself,
    so a failed unit is an infrastructure problem worth stopping for). With ``progress``
    (a progress artifact's id), move it as units finish."""
    from prefect.futures import as_completed

    move_progress(progress, 0, len(futures), what)
    for done, _ in enumerate(as_completed(futures), start=1):
        move_progress(progress, done, len(futures), what)
    return [f.result() for f in futures]


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


def _after_as_of(s: dict) -> str:
    n = s.get("rows_after_as_of") or 0
    return f" ({n} more after as-of {s['run_date']}: not yet known)" if n else ""


def _summary_markdown(s: dict) -> str:
    gx = "all passed" if not s["gx_failed"] else "<br>".join(s["gx_failed"])
    return f"""# Nightly run {s['run_date']}

| | |
|---|---|
| source | `{s['source']}` (data `{s['data_hash']}`) |
| rows in | {s['rows_in']} |
| kept | {s['rows_kept']}{_after_as_of(s)} |
| quarantined | {s['rows_quarantined']} row(s), {s.get('rows_partly_quarantined', 0)} more with some values set aside (`{s['quarantine_path']}`) |
| series dropped | {"<br>".join(map(md_text, s.get('series_quarantine_reasons') or [])) or "none"} |
| series ids trimmed | {"<br>".join(map(md_text, s.get('series_ids_trimmed') or [])) or "none"} |
| exact duplicates dropped | {s['exact_duplicates_dropped']} |
| days imputed | {s['days_imputed']} in {s['gaps']} gap(s) |
| days | {s['days']} ({s['first_day']} .. {s['last_day']}) |
| data freshness | {_freshness_line(s.get('freshness'))} |
| Great Expectations | {gx} |
| published | `{s['published']}` |
| drift | {_drift_line(s['drift'])} |
| ran on | {s.get('runner', '')}: {s['buckets']} bucket(s) of series in {s.get('bucket_groups', s['buckets'])} backtest task run(s) a model and {s.get('light_groups', s['buckets'])} a stage after it, {s['backtest_new_origins']} new backtest origin(s) |
| neural training | {_training_line(s['training'])} |
| task runs | {_stages_link(s)} |

## Champions (what was published, and why)

{_champions_markdown(s)}

## Forecast vs actuals

![forecast vs actuals]({_data_uri(s['plot'])})

## Backtest error by horizon

![backtest MAE by horizon]({_data_uri(s['errors_plot'])})

Files: `{s['plot']}`, `{s['errors_plot']}`
"""


def _freshness_line(f: dict | None) -> str:
    if not f:
        return "not checked"
    if not f["stale"]:
        return f"fresh: every series has data within {f['max_staleness_days']} days of {f['run_date']}"
    worst = max(f["stale"], key=lambda r: r["days_stale"])
    return (f"**stale**: {len(f['stale'])} of {f['series']} series end more than {f['max_staleness_days']} "
            f"days before {f['run_date']} (e.g. {md_text(worst['series_id'])}: newest day {worst['last_day']}, "
            f"{worst['days_stale']} days); a `stale_data` alert is open")


def _training_line(training: dict | None) -> str:
    if not training:
        return "none configured (`neural` parameter)"
    return "; ".join(str(training[k]) for k in ("where", "reason") if training.get(k))


def _stages_link(s: dict) -> str:
    """The subflow run holding the night's task runs, as a link in the Prefect UI."""
    run = s.get("stages_run_id")
    if not run:
        return "in the subflow run of this night"
    from prefect.settings import PREFECT_UI_URL

    ui = (PREFECT_UI_URL.value() or "").rstrip("/")
    return f"[subflow run `stages {s['run_date']}`]({ui}/runs/flow-run/{run}) (artifacts: this run)"


def _drift_line(drift: dict | None) -> str:
    if drift is None:
        return "not checked"
    if "error" in drift:
        return f"monitor failed: {drift['error']}"
    return f"{drift.get('new_alerts', 0)} new alert(s), {drift.get('open_alerts', 0)} open (`seqcast alerts show`)"


def _champions_markdown(s: dict, max_series: int = 20) -> str:
    champions = sorted(s["champions"], key=lambda c: c["series_id"])
    lines = []
    if len(champions) > max_series:
        counts = pd.Series([c["model"] for c in champions]).value_counts()
        lines += [f"{len(champions)} series: " + ", ".join(f"**{m}** {n}" for m, n in counts.items()),
                  f"(the first {max_series} below; all in the published table)", ""]
    shown = {c["series_id"] for c in champions[:max_series]}
    lines += ["| series | published | reason |", "|---|---|---|"]
    lines += [f"| {md_text(c['series_id'])} | {'**' + md_text(c['model']) + '**' if c['model'] else 'not published'} | "
              f"{md_text(c['reason'])} |" for c in champions[:max_series]]
    lines += ["", "Recent backtest MAE (last origins; failed = origins with an error):", "",
              "| series | model | MAE | forecasts scored | failed |", "|---|---|---|---|---|"]
    scores = [r for r in s["scores"] if r["series_id"] in shown]
    for r in sorted(scores, key=lambda r: (r["series_id"], r["mae"] if r["mae"] == r["mae"] else 1e300)):
        mae = format_mae(r["mae"])
        lines.append(f"| {md_text(r['series_id'])} | {md_text(r['model'])} | {mae} | {r['n']} | {r['failed']} |")
    lines += ["", _horizon_markdown(s, shown)]
    if len(s["model_failures"]) > max_series:
        lines.append(f"\n**{len(s['model_failures'])} model failures**; the first {max_series}:")
    for f in s["model_failures"][:max_series]:
        lines.append(f"\n**{md_text(f['model'])} failed on {md_text(f['series_id'])}**: {md_text(f['error'])}")
    return "\n".join(lines)


def _horizon_markdown(s: dict, shown: set, steps: tuple[int, ...] = (1, 2, 3, 7, 14)) -> str:
    """Recent backtest MAE per step ahead: series x model rows, a few steps as columns."""
    rows = [r for r in s.get("scores_by_h", []) if r["series_id"] in shown]
    if not rows:
        return ""
    df = pd.DataFrame(rows)
    cols = [h for h in steps if h in set(df["h"])]
    wide = df.pivot_table(index=["series_id", "model"], columns="h", values="mae")[cols]
    head = "| series | model | " + " | ".join(f"h={h}" for h in cols) + " |"
    lines = ["MAE by step ahead (same rows):", "", head, "|---|---|" + "---|" * len(cols)]
    for (sid, model), vals in wide.iterrows():
        cells = " | ".join(format_mae(v) for v in vals)
        lines.append(f"| {md_text(sid)} | {md_text(model)} | {cells} |")
    return "\n".join(lines)


def _data_uri(path: str) -> str:
    import base64
    from pathlib import Path

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


if __name__ == "__main__":
    nightly()
