"""``seqcast monitor replay``: replay the nightly drift alerting over a stretch of history."""

from __future__ import annotations

import argparse

from seqcast.commands import iso_date


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="drift monitoring: replay the alerting over history")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    r = actions.add_parser(
        "replay", help="every night's drift statistics and the alerts nightly runs would have raised",
        description="Computes every night's drift statistics from --start to --end with the data up "
        "to that night only, opens and clears alerts exactly as nightly runs would have, writes them "
        "to the alerts table of --data-dir (read it with `seqcast alerts show --all`), and prints per "
        "series and kind: alerts opened, nights firing, first alert on or after --event-date.",
    )
    r.add_argument("--source", required=True, help="path or URL of the CSV/Parquet export")
    r.add_argument("--mapping", help="mapping file for tables other than the CTA export")
    r.add_argument("--start", type=iso_date, required=True, help="first night (YYYY-MM-DD)")
    r.add_argument("--end", type=iso_date, required=True, help="last night (YYYY-MM-DD)")
    r.add_argument("--data-dir", default="data", help="data dir whose alerts table receives the rows")
    r.add_argument("--profile", choices=["default", "conservative"], default="default",
                   help="drift thresholds (docs/drift.md)")
    r.add_argument("--event-date", type=iso_date, help="report the first alert on or after this day")
    r.add_argument("--holidays", help="holiday calendar COUNTRY[-SUBDIV]; default: the mapping's "
                   "(CTA: US-IL); none: only the source's holidays")
    r.add_argument("--replace", action="store_true",
                   help="drop nights already in the table from --start on before replaying")
    r.set_defaults(handler=handle_replay)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def handle_replay(args: argparse.Namespace) -> int:
    import time

    import pandas as pd

    from seqcast.alerts import replay, replay_summary
    from seqcast.calendar import parse_holidays
    from seqcast.drift import DriftConfig
    from seqcast.ingest import load_mapping
    from seqcast.pipeline import clean_source

    t0 = time.perf_counter()
    mapping = load_mapping(args.mapping)
    holidays = mapping.holidays if args.holidays is None else args.holidays
    country, subdiv = parse_holidays(holidays)
    holidays = None if country is None else f"{country}-{subdiv}" if subdiv else country
    make = DriftConfig.conservative if args.profile == "conservative" else DriftConfig
    cfg = make(holidays=holidays)
    clean = clean_source(args.source, mapping).clean
    result = replay(args.data_dir, clean, pd.Timestamp(args.start), pd.Timestamp(args.end),
                    config=cfg, run_id=f"replay-{args.profile}", replace=args.replace)
    table = replay_summary(result, args.event_date)
    years = len(result.nights) / 365.25
    table["per_year"] = (table["alerts_opened"] / years).round(2)
    table["first_alert_after_event"] = table["first_alert_after_event"].dt.strftime("%Y-%m-%d").fillna("-")
    if args.event_date is None:
        table = table.drop(columns="first_alert_after_event")
    print(f"replayed {len(result.nights)} nights {args.start} .. {args.end} "
          f"(profile {args.profile}, holidays {holidays or 'source only'}) in "
          f"{time.perf_counter() - t0:.1f}s; alerts table {result.path}")
    print(table.to_string(index=False))
    return 0
