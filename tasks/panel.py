"""Per-bucket work units of a nightly run, and the task runners that execute them.

The clean data is a series-bucketed dataset (:mod:`seqcast.partitions`); each
task here reads one bucket of series, does one piece of work and writes its own
file, so the units can run anywhere: threads in the flow's process, a process
pool, or the workers of a Dask cluster. Results do not depend on where they ran:
every unit is a pure function of its inputs (seeded, one BLAS thread).

Files, under the night's stage folder ``clean/<hash>/asof-<date>/``::

    candidates/bucket-NNNN.parquet   every model's forecast for the bucket's series
    champions/bucket-NNNN.parquet    the forecast chosen per series, with the reason

and the backtest table under ``backtests/<name>/table/<model>/bucket-NNNN.parquet``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from seqcast.io import file_lock, write_parquet_atomic
from seqcast.partitions import bucket_file
from seqcast.partitions import read as read_clean
from tasks.common import group_name

Runner = Literal["thread", "process", "dask"]
ANCHOR = "1970-01-01"  # incremental backtests refit every refit_every days counted from here


def _logger():
    return get_run_logger() if TaskRunContext.get() is not None else logging.getLogger(__name__)


def task_runner(kind: Runner = "thread", workers: int | None = None, address: str | None = None):
    """The Prefect task runner for ``kind``.

    ``thread``: threads in the flow's process (quick to start; for a few series).
    ``process``: Prefect's process pool, ``workers`` processes (default: all cores).
    ``dask``: prefect-dask's ``DaskTaskRunner`` on an existing cluster when
    ``address`` (``tcp://host:8786``) is given, else a ``distributed.LocalCluster``
    of ``workers`` single-threaded worker processes.
    """
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    n = workers or os.cpu_count() or 1
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=n)
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=n)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        import tempfile

        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": n,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
                "local_directory": os.path.join(tempfile.gettempdir(), "seqcast-dask"),
            },
        )
    raise ValueError(f"unknown task runner {kind!r}: thread, process or dask")


def known_exog(data: pd.DataFrame, h: int, holidays: str | None) -> pd.DataFrame | None:
    """Calendar features of the bucket's days and the ``h`` after (see :func:`seqcast.calendar.known_future`)."""
    from seqcast.calendar import known_future, parse_holidays

    country, subdiv = parse_holidays(holidays)
    return known_future(data, h, country=country, subdiv=subdiv)  # none: weekday features only


def runner_for(runner: Runner, workers: int | None, address: str | None):
    """``(task runner, where in words)`` from a flow's parameters; an address implies Dask."""
    kind = "dask" if address else runner
    where = f"dask cluster {address}" if address else f"{kind} runner, {workers or 'all'} worker(s)"
    return task_runner(kind, workers, address), where


def model_labels(specs: list[Any]) -> list[str]:
    """Column ``model`` of the tables for each spec: the alias, or alias + params when two share it."""
    from seqcast.models import build, labels_for

    return labels_for([build(s) for s in specs])


@task(name="forecast-buckets", task_run_name=group_name("forecast"), cache_policy=NO_CACHE)
def forecast_buckets_task(clean_path: str, buckets: list[int], specs: list, horizon: int, out_dir: str,
                          holidays: str | None = None, fit_cache: str | None = None,
                          refit_every: int = 1, table_dir: str | None = None) -> list[dict]:
    """:func:`forecast_bucket` on each of a group of buckets, in one task run."""
    return [forecast_bucket(clean_path, b, specs, horizon, out_dir, holidays, fit_cache, refit_every, table_dir)
            for b in buckets]


def forecast_bucket(clean_path: str, bucket: int, specs: list, horizon: int, out_dir: str,
                    holidays: str | None = None, fit_cache: str | None = None,
                    refit_every: int = 1, table_dir: str | None = None) -> dict:
    """Fit every candidate model on the bucket's series and forecast; failures are recorded.

    Models with ``supports_future_covariates`` get the calendar features
    (:func:`known_exog`) of the history and the horizon. With ``fit_cache``, the
    networks forecast from their fit of the latest refit day (the backtest's),
    updated to today (:func:`seqcast.pipeline.forecast`). With ``table_dir`` (the
    nightly backtest's table), the forecasts tonight's backtest origin already made
    (its forecasts store, :func:`backtest_bucket`) are taken as they are; only
    what is not there is fitted (e.g. an origin that failed there).
    """
    from seqcast import pipeline
    from seqcast.champion import no_forecast

    data = read_clean(clean_path, bucket=bucket)
    stored = None
    if table_dir is not None:
        since = pd.to_datetime(data.groupby("series_id")["ds"].max()).min()  # the stalest series' last day
        parts = [part[part["cutoff"] >= since] for label in model_labels(specs)
                 if (part := _read_buckets(_store_dir(table_dir, label), bucket, data["series_id"].unique()))
                 is not None]
        stored = pd.concat(parts, ignore_index=True) if parts else None
    t0 = time.perf_counter()
    fc, failures = pipeline.forecast(data, specs, horizon, exog=known_exog(data, horizon, holidays),
                                     fit_cache=fit_cache, refit_every=refit_every, anchor=ANCHOR,
                                     stored=stored)
    fit_s = time.perf_counter() - t0
    path = write_parquet_atomic(_typed_candidates(fc), bucket_file(out_dir, bucket))
    for row in failures.itertuples():
        _logger().warning("model %s failed on %s: %s", row.model, row.series_id, row.error)
    missing = no_forecast(data["series_id"].unique(), fc, failures)
    for row in missing.itertuples():
        _logger().warning("no forecast for %s: %s", row.series_id, row.reason)
    return {"path": str(path), "series": int(data["series_id"].nunique()), "rows": int(len(fc)),
            "failures": failures.drop(columns="members").to_dict(orient="records"), "fit_s": fit_s,
            "no_forecast": missing.to_dict(orient="records")}


# Columns of a candidates file, so that a bucket where every model failed still has
# the types of the others (an untyped empty file makes the published table's dtypes object).
CANDIDATE_DTYPES = {"series_id": "str", "ds": "datetime64[ns]", "cutoff": "datetime64[ns]", "h": "int64",
                    "model": "str", "mean": "float64", "model_version": "str"}


def _typed_candidates(fc: pd.DataFrame) -> pd.DataFrame:
    if len(fc):
        return fc
    return fc.astype({c: t for c, t in CANDIDATE_DTYPES.items() if c in fc.columns})


@task(name="backtest-buckets", task_run_name=group_name("backtest"), cache_policy=NO_CACHE)
def backtest_buckets_task(clean_path: str, buckets: list[int | None], spec: Any, label: str, table_dir: str,
                          h: int, start: str, **kwargs: Any) -> list[dict]:
    """:func:`backtest_bucket` of one model on each of a group of buckets, in one task run
    (``[None]``: on every series at once)."""
    return [backtest_bucket(clean_path, b, spec, label, table_dir, h, start, **kwargs) for b in buckets]


def backtest_bucket(
    clean_path: str,
    bucket: int | None,
    spec: Any,
    label: str,
    table_dir: str,
    h: int,
    start: str,
    *,
    end: str | None = None,
    step: int = 1,
    refit_every: int = 1,
    window: str = "expanding",
    window_length: int | None = None,
    train_start: str | None = None,
    incremental: bool = True,
    series: list[str] | None = None,
    holidays: str | None = None,
    fit_cache: str | None = None,
) -> dict:
    """Backtest one model on one bucket's series; writes ``table_dir/<label>/bucket-NNNN.parquet``.

    ``bucket=None``: on every series of the clean dataset (or ``series``) at once, for
    models that learn across buckets (multivariate networks over bus + rail); the
    rows are still written to each series' bucket file.
    ``incremental``: keep the origins this file has scored already and run only the
    missing ones, series by series (a new or a failed origin). Each origin's whole
    ``h``-day forecast is kept under ``<table_dir>/../forecasts/<label>/`` (the last
    ``start - refit_every`` days of cutoffs), so a partly observed origin is scored
    from it as its days come in, never fitted again
    (:func:`seqcast.backtest.score_stored`).
    ``fit_cache``: where saved fits of the networks live (:func:`seqcast.backtest.cached_fit`).
    """
    from seqcast.backtest import (
        anchored_cutoffs,
        changed_origins,
        empty_table,
        failures,
        history_digests,
        merge_tables,
        missing_origins,
        origin_cutoffs,
        plan_units,
        run_units,
        score_stored,
        with_current_actuals,
        without_origins,
    )
    from seqcast.models import build

    data = read_clean(clean_path, bucket=bucket, series=series)
    exog = known_exog(data, h, holidays)
    data = data[["series_id", "ds", "y", *(["is_imputed"] if "is_imputed" in data else [])]]
    model = build(spec)
    label_dir = Path(table_dir) / _safe(label)
    sids_all = data["series_id"].unique()
    existing = _read_buckets(label_dir, bucket, sids_all) if incremental else None
    # the nightly case: origins keep their whole forecast (fitted once, scored as days come in)
    store = incremental and step == 1
    fc_dir = _store_dir(table_dir, label)
    keep_from = pd.Timestamp(start) - pd.Timedelta(days=1 + max(int(refit_every), 1))
    stored = _read_buckets(fc_dir, bucket, sids_all) if store else None
    # Origins whose history changed since they ran (a corrected or revised day) run
    # again: their forecasts and scores came from the old values.
    digest_dir = _digest_dir(table_dir, label)
    seen = _read_buckets(digest_dir, bucket, sids_all) if incremental else None
    stale = changed_origins(seen, history_digests(
        data, _cutoffs_of(existing, stored, seen), panel=model.supports_multivariate))
    existing, stored = without_origins(existing, stale), without_origins(stored, stale)
    # the others keep their forecasts, scored against the days as they are now
    existing, rescored = with_current_actuals(existing, data) if incremental else (existing, stale.iloc[:0])
    promoted = None
    if stored is not None:
        stored = stored[stored["cutoff"] >= keep_from]
        promoted = score_stored(stored, data)
        existing = merge_tables(existing, promoted) if existing is not None else promoted
    # Group series by the origins they still need (usually all the same), one run each.
    todo: dict[tuple, list[str]] = {}
    if incremental:
        # with the store, tonight's origin too: its forecast is the one published
        needed = missing_origins(existing, data, model=label, h=h, start=start, end=end, step=step,
                                 stored=stored, tonight=store)
    else:
        needed = dict.fromkeys(sorted(data["series_id"].unique()), origin_cutoffs(start, end, h=h, step=step))
    for sid, cutoffs in needed.items():
        if len(cutoffs):
            todo.setdefault(tuple(cutoffs), []).append(sid)
    if model.supports_multivariate and todo:
        # one panel, the union of the origins its forecast series still need (series it
        # only reads, e.g. bus for a rail model, never get rows: they do not count)
        forecast = set(existing["series_id"]) if existing is not None and len(existing) else None
        sets = [set(c) for c, sids in todo.items() if forecast is None or forecast & set(sids)]
        todo = {tuple(sorted(set().union(*sets))): list(data["series_id"].unique())} if sets else {}
    if incremental and step == 1:
        # Refits on calendar days, cold: the numbers do not depend on which origins this
        # run re-scores (same night again, a missed night, a full run: same table).
        if "warm_start" in model.get_params():
            model = type(model)(**{**model.get_params(), "warm_start": False})
        anchor = ANCHOR
    else:
        anchor = None
    new = []
    t0 = time.perf_counter()
    for cutoffs, sids in todo.items():
        if anchor is not None:
            cutoffs = anchored_cutoffs(cutoffs, refit_every, anchor)
        units = plan_units(model, data[data["series_id"].isin(sids)], h=h, cutoffs=list(cutoffs),
                           refit_every=refit_every, window=window, window_length=window_length,
                           train_start=train_start, labels=[label], refit_anchor=anchor, exog=exog,
                           fit_cache=fit_cache, full_horizon=store)
        new.append(run_units(units, n_jobs=1))
    fit_s = time.perf_counter() - t0
    table = existing if existing is not None else empty_table()
    forecasts = []
    for i, part in enumerate(new):
        if store:  # whole forecasts to the store; the table gets the observed days (and failures)
            forecasts.append(part[part["error"].isna()].drop(columns="y"))
            new[i] = part = part[part["y"].notna() | part["error"].notna()]
        table = merge_tables(table, part)
    table = table.sort_values(["series_id", "model", "cutoff", "h"], kind="stable", ignore_index=True)
    replaced = pd.concat([stale, rescored], ignore_index=True)
    paths = _write_buckets(table, label_dir, bucket, force=bool(new) or promoted is not None or not replaced.empty,
                           drop=replaced)
    if forecasts or (store and not stale.empty):
        _write_buckets(pd.concat(forecasts, ignore_index=True) if forecasts else empty_table(), fc_dir, bucket,
                       force=True, keep_from=keep_from, drop=stale)
    if incremental:
        kept_forecasts = [stored] if stored is not None else []
        _write_digests(history_digests(data, _cutoffs_of(table, *kept_forecasts, *forecasts),
                                       panel=model.supports_multivariate), digest_dir, bucket)
    n_new = sum(p[["series_id", "cutoff"]].drop_duplicates().shape[0] for p in new)
    return {"path": str(paths[0]) if paths else str(label_dir), "label": label, "bucket": bucket,
            "new_origins": int(n_new), "failed_origins": int(len(failures(table))), "fit_s": fit_s}


def _read_buckets(label_dir: Path, bucket: int | None, sids) -> pd.DataFrame | None:
    """The rows already scored for these series (one bucket file, or all of them)."""
    files = [bucket_file(label_dir, bucket)] if bucket is not None else sorted(label_dir.glob("bucket-*.parquet"))
    parts = [pd.read_parquet(f) for f in files if f.exists()]
    if not parts:
        return None
    existing = pd.concat(parts, ignore_index=True)
    return existing[existing["series_id"].isin(list(sids))]


def _cutoffs_of(*tables: pd.DataFrame | None) -> pd.DatetimeIndex:
    """Every cutoff the tables hold."""
    parts = [pd.to_datetime(t["cutoff"]).astype("datetime64[ns]").unique() for t in tables
             if t is not None and len(t)]
    return pd.DatetimeIndex(np.concatenate(parts) if parts else [], dtype="datetime64[ns]").unique()


def _write_digests(digests: pd.DataFrame, digest_dir: Path, bucket: int | None) -> None:
    """Record the history digest of each origin kept (``series_id, cutoff, digest``),
    replacing what the bucket file held for the same series and cutoff."""
    from seqcast.backtest import without_origins
    from seqcast.partitions import bucket_of

    if digests.empty:
        return
    digest_dir.mkdir(parents=True, exist_ok=True)
    if bucket is not None:
        parts = [(bucket, digests)]
    else:
        parts = [(int(b), p) for b, p in digests.groupby(digests["series_id"].map(bucket_of), sort=True)]
    for b, part in parts:
        out = bucket_file(digest_dir, b)
        with file_lock(digest_dir / f".bucket-{b:04d}.lock"):
            if out.exists():
                before = without_origins(pd.read_parquet(out), part)
                part = pd.concat([before, part], ignore_index=True)
            part = part.sort_values(["series_id", "cutoff"], kind="stable", ignore_index=True)
            write_parquet_atomic(part, out)


def _write_buckets(table: pd.DataFrame, label_dir: Path, bucket: int | None, force: bool,
                   keep_from: pd.Timestamp | None = None, drop: pd.DataFrame | None = None) -> list[Path]:
    """Merge the table into its bucket file(s); only when something changed or none exists yet.
    ``keep_from``: drop the file's rows of earlier cutoffs (the forecasts store).
    ``drop``: ``series_id, cutoff`` whose rows in the file are replaced, not merged (their
    history changed: the table's rows for them are the only valid ones).

    Each file is re-read and merged under its own lock (:func:`seqcast.backtest.merge_tables`:
    the union, whatever the order): a night that runs after a later one (a replay, a
    backfill, two at once) keeps the rows the other scored, the other series of the
    bucket included.
    """
    from seqcast.backtest import merge_tables, without_origins
    from seqcast.partitions import bucket_of

    if bucket is not None:
        parts = [(bucket, table)]
    else:
        of = table["series_id"].map(bucket_of)
        touched = set(of) | (set(drop["series_id"].map(bucket_of)) if drop is not None else set())
        parts = [(int(b), table[of == b]) for b in sorted(touched)]
    paths = []
    for b, part in parts:
        out = bucket_file(label_dir, b)
        if force or not out.exists():
            with file_lock(label_dir / f".bucket-{b:04d}.lock"):
                before = pd.read_parquet(out) if out.exists() else None
                if before is not None and keep_from is not None:
                    before = before[before["cutoff"] >= keep_from]
                if before is not None and drop is not None:
                    before = without_origins(before, drop)
                write_parquet_atomic(merge_tables(before, part), out)
        paths.append(out)
    return paths


@task(name="prune-fits", cache_policy=NO_CACHE)
def prune_fits_task(fit_cache: str, keep_days: float) -> int:
    """Delete the saved fits not used for ``keep_days`` days (:func:`seqcast.backtest.prune_fit_cache`)."""
    from seqcast.backtest import prune_fit_cache

    removed = prune_fit_cache(fit_cache, keep_days)
    if removed:
        _logger().info("deleted %d saved fit(s) not used for %s days from %s", removed, keep_days, fit_cache)
    return removed


@task(name="choose-buckets", task_run_name=group_name("champions"), cache_policy=NO_CACHE)
def champion_buckets_task(candidates_dir: str, table_dir: str, labels: list[str], buckets: list[int],
                          window_days: int, out_dir: str, complexity: dict[str, int] | None = None,
                          no_forecast: list[list[dict]] | None = None, **kwargs: Any) -> list[dict]:
    """:func:`choose_bucket` on each of a group of buckets, in one task run;
    ``no_forecast``: each bucket's list (as :func:`forecast_bucket` returns it)."""
    return [choose_bucket(candidates_dir, table_dir, labels, b, window_days, out_dir, complexity,
                          (no_forecast or [None] * len(buckets))[i], **kwargs)
            for i, b in enumerate(buckets)]


def choose_bucket(
    candidates_dir: str, table_dir: str, labels: list[str], bucket: int, window_days: int, out_dir: str,
    complexity: dict[str, int] | None = None, no_forecast: list[dict] | None = None,
    champion_days: int | None = None, interval_gamma: float = 0.0, floor: float | None = None,
    last_day: Any = None,
) -> dict:
    """Per series of the bucket: the model to publish and why (see :mod:`seqcast.champion`).

    The choice is made on the origins of the last ``champion_days`` (default
    ``window_days``); the conformal intervals use the errors of the last ``window_days``
    plus the horizon, adapted by ``interval_gamma`` (:func:`seqcast.conformal.conformal_intervals`).

    ``no_forecast``: the bucket's series every model failed on (``series_id, reason``,
    from :func:`forecast_bucket`); they are listed in the choice with ``model``
    None and their reason. The champions file always has the same columns and types,
    empty when no series of the bucket has a forecast.

    ``last_day``: the night's last day of data (the panel's); a series whose data end before it
    and has no recent backtest scores is said to have stopped, not to have "no scores yet".

    ``floor``: the lowest value the series can take (0 for a mapping's ``non_negative``
    series, the default); the published ``mean`` and bounds below it are raised to it,
    which never moves an actual value out of an interval and never raises an error.
    """
    from seqcast.champion import choose, horizon_scores, recent_scores
    from seqcast.conformal import conformal_intervals

    fc = _typed_candidates(pd.read_parquet(bucket_file(candidates_dir, bucket)))
    missing = [{"series_id": r["series_id"], "model": None, "reason": r["reason"], "mae": float("nan"),
                "baseline_mae": float("nan")}
               for r in (no_forecast or []) if r["series_id"] not in set(fc["series_id"])]
    tables = [pd.read_parquet(f) for f in (bucket_file(Path(table_dir) / _safe(lb), bucket) for lb in labels)
              if f.exists()]
    table = pd.concat(tables, ignore_index=True) if tables else None
    if fc.empty:
        chosen = conformal_intervals(fc.assign(reason=pd.Series(dtype="str")), _no_scores(), levels=LEVELS)
        chosen = chosen.drop(columns=["interval_pooled", "interval_capped"])
        path = write_parquet_atomic(chosen, bucket_file(out_dir, bucket))
        return {"path": str(path), "rows": 0, "choice": missing, "scores": [], "scores_by_h": []}
    cutoff = fc["cutoff"].max()
    champion_days = champion_days or window_days
    scores = recent_scores(table, cutoff, champion_days)
    choice = choose(scores, fc[["series_id", "model"]].drop_duplicates(), complexity=complexity,
                    candidates=labels)
    if last_day is not None:
        choice = _stopped_early(choice, fc, pd.Timestamp(last_day))
    by_h = horizon_scores(table, cutoff, champion_days)
    chosen = fc.merge(choice[["series_id", "model", "reason"]], on=["series_id", "model"])
    chosen = chosen.sort_values(["series_id", "ds"], kind="stable", ignore_index=True)
    # conformal intervals from the published model's own recent backtest errors, per step
    empty = table is None or table.empty
    chosen = conformal_intervals(chosen, table if not empty else _no_scores(), levels=LEVELS,
                                 window_days=window_days + int(chosen["h"].max()), gamma=interval_gamma)
    chosen = chosen.drop(columns=["interval_pooled", "interval_capped"])
    if floor is not None:  # a count is never published below 0 (monotone: the order is kept)
        bounded = ["mean", *(f"{side}-{lv}" for lv in LEVELS for side in ("lo", "hi"))]
        chosen[bounded] = chosen[bounded].clip(lower=floor)
    path = write_parquet_atomic(chosen, bucket_file(out_dir, bucket))
    return {"path": str(path), "rows": int(len(chosen)), "choice": choice.to_dict(orient="records") + missing,
            "scores": scores.to_dict(orient="records"), "scores_by_h": by_h.to_dict(orient="records")}


def _stopped_early(choice: pd.DataFrame, fc: pd.DataFrame, last_day: pd.Timestamp) -> pd.DataFrame:
    """A series whose history ends before the night's last day has no backtest origin in the
    recent window, and will have none until its data are back: its reason was "no recent
    backtest scores yet", as if it were new. Say where its data end.

    >>> ch = pd.DataFrame({"series_id": ["old"], "model": ["seasonal_naive"],
    ...                    "reason": ["no recent backtest scores yet: baseline published"]})
    >>> fc = pd.DataFrame({"series_id": ["old"], "cutoff": [pd.Timestamp("2024-04-10")]})
    >>> _stopped_early(ch, fc, pd.Timestamp("2024-07-18"))["reason"].iloc[0]
    "its data end on 2024-04-10, 99 days before the night's last day 2024-07-18: no recent backtest scores, baseline published"
    """
    ends = fc.groupby("series_id")["cutoff"].max()
    stale = choice["reason"].str.startswith("no recent backtest scores yet") & (
        choice["series_id"].map(ends) < last_day)
    if not stale.any():
        return choice
    choice = choice.copy()
    choice.loc[stale, "reason"] = [
        f"its data end on {ends[s]:%Y-%m-%d}, {(last_day - ends[s]).days} days before the night's last day "
        f"{last_day:%Y-%m-%d}: no recent backtest scores, baseline published" for s in choice.loc[stale, "series_id"]]
    return choice


LEVELS = (80, 95)  # published interval levels (lo-80, hi-80, lo-95, hi-95)


def _no_scores() -> pd.DataFrame:
    from seqcast.backtest import empty_table

    return empty_table()


def _digest_dir(table_dir: str | Path, label: str) -> Path:
    """Where the nightly backtest keeps the history digest of ``label``'s origins."""
    return Path(table_dir).parent / "digests" / _safe(label)


def _store_dir(table_dir: str | Path, label: str) -> Path:
    """Where the nightly backtest keeps the whole forecasts of ``label``'s origins."""
    return Path(table_dir).parent / "forecasts" / _safe(label)


def _safe(label: str) -> str:
    """A model label as a folder name (``sarima(1,0,0)(0,1,1,7)`` is fine; ``/`` is not)."""
    return label.replace("/", "_").replace(os.sep, "_")
