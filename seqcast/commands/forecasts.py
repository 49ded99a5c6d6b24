"""``seqcast forecasts show``: print the published forecast table."""

from __future__ import annotations

import argparse

from seqcast.commands import iso_date, output_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forecasts", help="read the published forecast table")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser("show", help="print the forecasts (latest night by default)")
    show.add_argument("--data-dir", default="data", help="data dir of the nightly runs")
    show.add_argument("--run-date", type=iso_date, help="one night (YYYY-MM-DD)")
    show.add_argument("--all", action="store_true", help="every night, not only the latest")
    show.add_argument("--series", help="only this series_id")
    show.add_argument("--format", choices=["table", "csv", "json", "parquet"], default=None,
                      help="table (for reading), csv, json (records, ISO dates) or parquet (to --output, "
                      "or to stdout when it is not a terminal); default: from the --output suffix "
                      "(.csv, .json, .parquet, else table)")
    show.add_argument("--output", help="write to this file instead of stdout (.txt for --format table, "
                      ".csv, .json or .parquet for the others)")
    show.set_defaults(handler=handle_show)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def handle_show(args: argparse.Namespace) -> int:
    import os

    from seqcast.errors import InputError, UsageError
    from seqcast.metrics import figure
    from seqcast.published import read_forecasts, stray_warning

    if args.run_date and args.all:
        raise UsageError("--run-date and --all: give one (a night, or every night)")
    if args.format is None:  # the --output suffix says which (x.csv: csv), else a table
        ext = (args.output or "").lower().rsplit(".", 1)[-1] if "." in os.path.basename(args.output or "") else ""
        if ext and ext not in ("csv", "json", "parquet", "txt"):  # was: "x.json.gz: … must end .txt"
            raise UsageError(f"--output {args.output}: .{ext} is not a format forecasts show writes: end the "
                             "name .csv, .json, .parquet or .txt (a table)")
        args.format = ext if ext in ("csv", "json", "parquet") else "table"
    suffix = {"table": (".txt",), "csv": (".csv",), "json": (".json",), "parquet": (".parquet",)}[args.format]
    output_path(args.output, suffix)
    df = read_forecasts(args.data_dir, run_date=args.run_date, latest=not args.all)
    where = f"{args.data_dir}/published/forecasts"
    stray = stray_warning(args.data_dir)
    if stray:  # seqcast reads part-0 only; every other reader of the table would count them
        import sys

        print(stray, file=sys.stderr)
    if df.empty:
        night = f" for run date {args.run_date}" if args.run_date else ""
        raise InputError(f"{where}: no published forecasts{night} (run `seqcast run` first)")
    if args.series:
        known = sorted(df["series_id"].astype(str).unique())
        df = df[df["series_id"] == args.series]
        if df.empty:
            some = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
            raise InputError(f"{where}: no series {args.series!r} in the published forecasts (series: {some})")
    if args.format == "parquet":
        return _parquet(df, args.output)
    if "created_at" in df and df["created_at"].dt.tz is None:  # read back naive UTC: say UTC in text
        df = df.assign(created_at=df["created_at"].dt.tz_localize("UTC"))
    if args.format == "csv":
        _emit(df.to_csv(index=False), args.output)
    elif args.format == "json":
        _emit(_json(df), args.output)
    else:
        cols = ["series_id", "ds", "cutoff", "h", "model", "mean", "lo-80", "hi-80", "lo-95", "hi-95",
                "run_date", "data_hash"]
        cols = [c for c in cols if c in df]  # tables published before intervals lack them
        _emit(df[cols].to_string(index=False, float_format=lambda v: figure(v, 1)) + "\n", args.output)
    return 0


def _json(df) -> str:
    """Records with every number as stored: pandas' ``to_json`` keeps 10 significant
    digits (961.1483301234623 came back 961.1483301235), Python's float repr round-trips."""
    import json

    days = {c: df[c].dt.strftime("%Y-%m-%d") for c in ("ds", "cutoff", "run_date")
            if c in df and hasattr(df[c], "dt")}  # days as days, not midnight timestamps
    if "created_at" in df and hasattr(df["created_at"], "dt"):
        days["created_at"] = df["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23) + "Z"
    out = df.assign(**days).astype(object)
    records = out.where(out.notna(), None).to_dict(orient="records")  # NaN: null, as JSON has no NaN
    return json.dumps(records, indent=1, allow_nan=False, default=str) + "\n"


def _emit(text: str, output: str | None) -> None:
    if output:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
    else:
        print(text, end="")


def _parquet(df, output: str | None) -> int:
    import io
    import sys

    from seqcast.errors import InputError
    from seqcast.published import to_stored

    table = to_stored(df).assign(run_date=df["run_date"].dt.date.to_numpy())  # typed as published
    if output:
        table.to_parquet(output, index=False)
        return 0
    if sys.stdout.isatty():
        raise InputError("--format parquet writes binary: give --output FILE or redirect stdout")
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.flush()
    return 0
