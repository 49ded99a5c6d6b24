"""``seqcast run``: run the nightly flow once."""

from __future__ import annotations

import argparse

from seqcast.commands import iso_date, non_negative_int, positive_int

DEFAULT_MODELS = "seasonal_naive,naive,sarima"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the nightly flow once (ingest, validate, clean, forecast, publish)")
    p.add_argument("--source", help="path or http(s) URL of a CSV/Parquet export (default: embedded sample)")
    p.add_argument("--mapping", help="mapping file (YAML/JSON) for tables other than the CTA export")
    p.add_argument("--data-dir", default="data", help="data dir (default: ./data)")
    p.add_argument("--horizon", type=positive_int, default=14, help="days to forecast (default: 14)")
    p.add_argument("--as-of", type=iso_date, help="treat YYYY-MM-DD as today (replays, backfills)")
    p.add_argument(
        "--models",
        default=None,  # None, not the list: --models beside --models-file must not vanish silently
        help="comma-separated candidate models; per series the best on the recent backtest "
        "that beats seasonal naive is published (default: seasonal_naive,naive,sarima)",
    )
    p.add_argument("--models-file",
                   help="YAML/JSON list of candidate models with hyperparameters, e.g. "
                   "`- name: sarima` / `  params: {order: [2, 0, 0]}` (replaces --models)")
    p.add_argument("--holidays", help="public-holiday calendar for the calendar features, COUNTRY or "
                   "COUNTRY-SUBDIV (e.g. US-IL); default: the mapping's (CTA: US-IL); none: off")
    p.add_argument("--runner", choices=["thread", "process", "dask"], default="thread",
                   help="where the per-series work runs: threads here (default), a process pool, "
                   "or Dask (a local cluster, or --dask-address)")
    p.add_argument("--workers", type=positive_int, help="threads / processes / local Dask workers (default: all cores)")
    p.add_argument("--tasks-per-worker", type=positive_int, default=4,
                   help="backtest task runs per worker and model: the buckets of series are grouped "
                   "into this many per worker (fewer, larger task runs spend less on orchestration; "
                   "default: 4); the stages after the backtest run one a worker")
    p.add_argument("--dask-address", help="scheduler of an existing Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--max-staleness-days", type=non_negative_int, default=3,
                   help="warn and open a stale_data alert when a series' newest day is older than this")
    p.add_argument("--database-url", default=None,
                   help="also publish the night into this PostgreSQL database, "
                   "postgresql+psycopg://user:password@host:5432/db (default: $SEQCAST_DATABASE_URL; "
                   "unset: the Parquet files only)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import os
    import sys

    # Nothing leaves this machine: the temporary server's telemetry would only fail.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary server's first start creates and migrates its database: on a loaded
    # 2-core machine that took more than Prefect's default 20 s (a CI run), and the night
    # ended in "Timed out while attempting to connect to ephemeral Prefect API server".
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from datetime import date

    from flows.nightly import ModelSpec, NightlyParams, local_run_settings, nightly
    from seqcast.errors import SeqcastError
    from seqcast.models import load_models_file, specs_from_names
    from seqcast.published import read_forecasts, stray_warning

    if args.as_of is not None and args.as_of > date.today():
        from seqcast.errors import UsageError

        # a night dated ahead is the latest partition for every reader until that day comes
        raise UsageError(f"--as-of {args.as_of} is after today ({date.today()}): it replays a past night")
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        from seqcast.errors import UsageError

        # was: internal error NotADirectoryError (…/logs), after the checks of the source
        raise UsageError(f"--data-dir {args.data_dir}: a file, not a folder")
    if args.models_file and args.models is not None:
        from seqcast.errors import UsageError

        raise UsageError("--models and --models-file: give one (the file replaced the list)")
    if args.models_file:
        specs = load_models_file(args.models_file)
    else:
        try:
            specs = specs_from_names(DEFAULT_MODELS if args.models is None else args.models)
        except SeqcastError as exc:
            raise type(exc)(f"--models: {exc}") from None
    if args.holidays is not None:  # checked before the flow starts: one clear line
        from seqcast.calendar import parse_holidays
        from seqcast.errors import UsageError

        if not args.holidays.strip():  # `--holidays "$REGION"` unset switched the calendar off
            raise UsageError("--holidays: empty; give COUNTRY or COUNTRY-SUBDIV (US-IL), or none for no calendar")
        parse_holidays(args.holidays)

    from seqcast.ingest import fetch_bytes, load_mapping, read_table, source_format

    mapping = load_mapping(args.mapping)
    if args.source and "://" not in args.source:
        # structural problems (empty, header only, missing column, encoding) before any server starts
        data = fetch_bytes(args.source)
        read_table(data, mapping, args.source, source_format(args.source, data))
    database_url = args.database_url or os.environ.get("SEQCAST_DATABASE_URL") or None
    if database_url:  # a bad URL or an unreachable server: one line, before the night's work
        from seqcast.database import ensure_schema

        ensure_schema(database_url)
    params = _params(
        NightlyParams,
        source=args.source,
        mapping=args.mapping,
        data_dir=args.data_dir,
        horizon=args.horizon,
        as_of=args.as_of,
        models=[ModelSpec(**s) for s in specs],
        holidays=args.holidays,
        runner=args.runner,
        workers=args.workers,
        tasks_per_worker=args.tasks_per_worker,
        dask_address=args.dask_address,
        max_staleness_days=args.max_staleness_days,
        database_url=database_url,
    )
    log_path = _quiet_console(args.data_dir)
    try:
        with local_run_settings():
            summary = nightly(params)
    except SeqcastError as exc:  # the traceback went to the log file, the console gets one line
        raise type(exc)(f"{exc} (details: {log_path})") from None
    table = read_forecasts(args.data_dir, run_date=summary["run_date"])
    print()
    print(rows_line(summary))
    for reason in summary.get("series_quarantine_reasons") or []:
        print(f"warning: dropped {reason}", file=sys.stderr)
    stray = stray_warning(args.data_dir)
    if stray:
        print(stray, file=sys.stderr)
    for line in summary.get("series_ids_trimmed") or []:
        how = "" if "(Unicode NFC" in line or "(invisible" in line else " (surrounding spaces dropped)"
        print(f"warning: series id {line}{how}", file=sys.stderr)
    fresh = summary.get("freshness") or {}
    if fresh.get("stale"):
        worst = max(fresh["stale"], key=lambda r: r["days_stale"])
        print(f"warning: stale data: {len(fresh['stale'])} of {fresh['series']} series end more than "
              f"{fresh['max_staleness_days']} days before the run date {fresh['run_date']} (e.g. "
              f"{worst['series_id']}: newest day {worst['last_day']}); a stale_data alert is open",
              file=sys.stderr)
    drift = summary.get("drift") or {}
    if drift.get("too_short"):
        sid, n = next(iter(drift["too_short"].items()))
        print(f"note: drift checks: {_series_have(len(drift['too_short']))} fewer than {drift['needs_days']} days "
              f"of history (e.g. {sid}: {n}); their data drift is not checked yet", file=sys.stderr)
    if drift.get("trailing_reference"):
        sid, n = next(iter(drift["trailing_reference"].items()))
        print(f"note: drift checks: {_series_have(len(drift['trailing_reference']))} fewer than "
              f"{drift['seasonal_needs_days']} days of history (e.g. {sid}: {n}); until they have a year-ago "
              "reference they are checked against their previous weeks", file=sys.stderr)
    print(f"forecast table: {summary['published']}")
    print(f"quarantine:     {summary['quarantine_path']}")
    print(f"clean data:     {summary['clean_path']}")
    print(f"data docs:      {summary['data_docs']}")
    if summary.get("data_docs_page"):
        from seqcast.docs import url_for

        try:
            url = url_for(summary["data_docs_page"], args.data_dir)
            print(f"                {url} (while `seqcast docs serve --data-dir {args.data_dir}` runs)")
        except ValueError:  # a page outside the data dir's site: the path above is all there is
            pass
    if summary.get("database"):
        db = summary["database"]
        print(f"database:       {db['url']} ({db['rows']['forecasts']} forecast rows)")
    print()
    for c in summary["champions"][:10]:
        print(f"{c['series_id']}: published {c['model']} ({c['reason']})" if c["model"] is not None
              else f"{c['series_id']}: {c['reason']}")
    if len(summary["champions"]) > 10:
        print(f"... {len(summary['champions']) - 10} more series (`seqcast forecasts show`)")
    print()
    from seqcast.metrics import figure

    cols = ["series_id", "ds", "cutoff", "h", "model", "mean", "lo-80", "hi-80", "lo-95", "hi-95"]
    print(table[cols].head(10).to_string(index=False, float_format=figure))
    print(f"plots:          {summary['plot']}")
    print(f"                {summary['errors_plot']}")
    return 0


def _params(klass, **values):
    """The flow's parameters; a value its form refuses (``--horizon 400``: at most 366) is a
    usage line naming the option, not ``internal error ValidationError``."""
    from pydantic import ValidationError

    from seqcast.errors import UsageError

    try:
        return klass(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-")
        raise UsageError(f"{option}: {first['msg'][:1].lower()}{first['msg'][1:]} (got {first['input']!r})") from None


def rows_line(summary: dict) -> str:
    """Where every row went: ``rows in 620, kept 552, after as-of 68 (not yet known), …``
    (the rows after ``--as-of`` were missing from the count, 620 in and 552 kept unexplained)."""
    partly = summary.get("rows_partly_quarantined") or 0
    later = summary.get("rows_after_as_of") or 0
    return (f"rows in {summary['rows_in']}, kept {summary['rows_kept']}"
            + (f", after as-of {later} (not yet known)" if later else "")
            + f", quarantined {summary['rows_quarantined']}"
            + (f" (and {partly} with some values set aside)" if partly else "")
            + (f", exact duplicates dropped {summary['exact_duplicates_dropped']}"
               if summary.get("exact_duplicates_dropped") else "")
            + f", days imputed {summary.get('days_imputed', 0)}")


class _NoErrors:
    """A console filter: errors and tracebacks go to the log file, not the terminal."""

    def filter(self, record) -> bool:
        return record.levelno < 40 and not record.exc_info


def _quiet_console(data_dir: str) -> str:
    """Send every log record to ``<data_dir>/logs/run.log``; keep errors off the console.

    Prefect logs a failing task's traceback at each level (task, subflow, flow); a
    user error should reach the terminal as the one ``seqcast: error:`` line only.
    """
    import logging
    from pathlib import Path

    log_dir = Path(data_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "run.log"
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    for logger in [root, *(logging.getLogger(n) for n in list(logging.Logger.manager.loggerDict))]:
        for h in getattr(logger, "handlers", []):
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.addFilter(_NoErrors())
    return str(path)


def _series_have(n: int) -> str:
    return f"{n} series {'has' if n == 1 else 'have'}"
