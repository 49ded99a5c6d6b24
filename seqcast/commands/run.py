"""``seqcast run``: run the nightly flow once."""

from __future__ import annotations

import argparse
from datetime import date


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the nightly flow once (ingest, validate, clean, forecast, publish)")
    p.add_argument("--source", help="path or http(s) URL of a CSV/Parquet export (default: embedded sample)")
    p.add_argument("--mapping", help="mapping file (YAML/JSON) for tables other than the CTA export")
    p.add_argument("--data-dir", default="data", help="data dir (default: ./data)")
    p.add_argument("--horizon", type=int, default=14, help="days to forecast (default: 14)")
    p.add_argument("--as-of", type=date.fromisoformat, help="treat YYYY-MM-DD as today (replays, backfills)")
    p.add_argument(
        "--models",
        default="seasonal_naive,naive,sarima",
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
    p.add_argument("--workers", type=int, help="threads / processes / local Dask workers (default: all cores)")
    p.add_argument("--dask-address", help="scheduler of an existing Dask cluster, e.g. tcp://host:8786")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import os

    # Nothing leaves this machine: the temporary server's telemetry would only fail.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.nightly import ModelSpec, NightlyParams, nightly
    from seqcast.errors import SeqcastError
    from seqcast.models import load_models_file, specs_from_names
    from seqcast.published import read_forecasts

    if args.models_file:
        specs = load_models_file(args.models_file)
    else:
        try:
            specs = specs_from_names(args.models)
        except SeqcastError as exc:
            raise type(exc)(f"--models: {exc}") from None
    if args.holidays is not None:  # checked before the flow starts: one clear line
        from seqcast.calendar import parse_holidays

        parse_holidays(args.holidays)

    params = NightlyParams(
        source=args.source,
        mapping=args.mapping,
        data_dir=args.data_dir,
        horizon=args.horizon,
        as_of=args.as_of,
        models=[ModelSpec(**s) for s in specs],
        holidays=args.holidays,
        runner=args.runner,
        workers=args.workers,
        dask_address=args.dask_address,
    )
    summary = nightly(params)
    table = read_forecasts(args.data_dir, run_date=summary["run_date"])
    print()
    print(f"rows in {summary['rows_in']}, kept {summary['rows_kept']}, quarantined {summary['rows_quarantined']}")
    print(f"forecast table: {summary['published']}")
    print(f"quarantine:     {summary['quarantine_path']}")
    print(f"clean data:     {summary['clean_path']}")
    print(f"data docs:      {summary['data_docs']}")
    print()
    for c in summary["champions"][:10]:
        print(f"{c['series_id']}: published {c['model']} ({c['reason']})")
    if len(summary["champions"]) > 10:
        print(f"... {len(summary['champions']) - 10} more series (`seqcast forecasts show`)")
    print()
    cols = ["series_id", "ds", "cutoff", "h", "model", "mean", "lo-80", "hi-80", "lo-95", "hi-95"]
    print(table[cols].head(10).to_string(index=False, float_format=lambda v: f"{v:,.0f}"))
    print(f"plots:          {summary['plot']}")
    print(f"                {summary['errors_plot']}")
    return 0
