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
    from seqcast.errors import InputError

    table = read_alerts(args.data_dir, as_of=args.as_of)
    every_night = evaluated_nights(args.data_dir)
    nights = every_night
    if args.as_of is not None:
        nights = [n for n in nights if n <= pd.Timestamp(args.as_of)]
    if not nights and table.empty:
        if args.as_of is not None and (every_night or not read_alerts(args.data_dir).empty):
            first = min(every_night) if every_night else read_alerts(args.data_dir)["run_date"].min()
            raise InputError(f"{alerts_dir(args.data_dir)}: no night evaluated on or before {args.as_of} "
                             f"(the first was {pd.Timestamp(first).date()})")
        raise InputError(f"{alerts_dir(args.data_dir)}: no alerts table (the monitor has not run yet: "
                         "run `seqcast run` first)")
    nights = nights or [table["run_date"].max()]  # only freshness checks so far
    df = table if args.all else open_alerts(table)
    if args.series:
        from seqcast.published import read_forecasts

        known = set(table["series_id"].astype(str)) | set(
            read_forecasts(args.data_dir, latest=True)["series_id"].astype(str))
        if args.series not in known:
            some = ", ".join(sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
            raise InputError(f"{args.data_dir}: no series {args.series!r} in the alerts or the published "
                             f"forecasts (series: {some})")
        df = df[df["series_id"] == args.series]
    if args.format == "csv":
        print(df.to_csv(index=False), end="")
        return 0
    last = nights[-1]
    what = ("alert row" if args.all else "open alert") + ("" if len(df) == 1 else "s")
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
