"""``seqcast alerts show``: print the drift alerts table (open alerts by default)."""

from __future__ import annotations

import argparse

from seqcast.commands import iso_date


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alerts", help="read the drift alerts table")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="print the open drift alerts (or every row with --all)")
    show.add_argument("--data-dir", default="data", help="data dir of the nightly runs")
    show.add_argument("--all", action="store_true", help="every row (open and cleared), oldest first")
    show.add_argument("--as-of", type=iso_date, help="the table as it stood after that night's run (YYYY-MM-DD)")
    show.add_argument("--series", help="only this series_id")
    show.add_argument("--format", choices=["table", "csv"], default="table", help="output format")
    show.set_defaults(handler=handle_show)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def handle_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from seqcast.alerts import alerts_dir, evaluated_nights, open_alerts, read_alerts

    table = read_alerts(args.data_dir, as_of=args.as_of)
    nights = evaluated_nights(args.data_dir)
    if args.as_of is not None:
        nights = [n for n in nights if n <= pd.Timestamp(args.as_of)]
    if not nights and table.empty:
        print(f"no alerts table under {alerts_dir(args.data_dir)} (the monitor has not run yet)")
        return 1
    nights = nights or [table["run_date"].max()]  # only freshness checks so far
    df = table if args.all else open_alerts(table)
    if args.series:
        df = df[df["series_id"] == args.series]
    if args.format == "csv":
        print(df.to_csv(index=False), end="")
        return 0
    last = nights[-1]
    what = "alert rows" if args.all else "open alerts"
    print(f"{len(df)} {what} (last night evaluated: {last.date()})")
    if len(df):
        out = df.assign(
            detected_at=df["detected_at"].dt.strftime("%Y-%m-%d"),
            statistic=df["statistic"].round(3),
            threshold=df["threshold"].round(3),
        )
        cols = ["series_id", "detected_at", "kind", "statistic", "threshold", "severity", "status",
                "window", "run_id"]
        print(out[cols].to_string(index=False))
    return 0
