"""``seqcast windows build|info``: windowed Parquet datasets for the sequence models.

    seqcast windows build --clean data/clean/<hash>/asof-<date>/clean \\
        --out data/windows --kind seq2seq --input-length 56 --h 14 --targets rail
    seqcast windows build --source ../shared/data/cta_ridership_daily.csv --spec-file specs.json
    seqcast windows info data/windows/<name>.parquet
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os

from seqcast.commands import split_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("windows", help="build and inspect windowed datasets for neural models")
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    build = actions.add_parser(
        "build", help="build windowed Parquet datasets (skipped when spec and data are unchanged)"
    )
    src = build.add_mutually_exclusive_group(required=True)
    src.add_argument("--clean", help="clean long Parquet (series_id, ds, y, day_type, ...)")
    src.add_argument("--source", help="raw source (CSV/Parquet, path or URL) to clean in memory first")
    build.add_argument("--mapping", help="column mapping file of --source (default: the CTA mapping)")
    build.add_argument("--out", default="data/windows", help="output folder (default data/windows)")
    build.add_argument(
        "--spec-file", help="JSON or YAML: one spec or a list of specs (WindowSpec fields)"
    )
    build.add_argument("--kind", default="seq2vec", help="seq2vec | seq2seq | encoder_decoder")
    build.add_argument("--input-length", type=int, default=56, help="days of history in each input window")
    build.add_argument("--h", type=int, default=1, help="steps ahead (default 1)")
    build.add_argument(
        "--targets",
        help="comma-separated series ids (default: rail where the data has it, else the only series)",
    )
    build.add_argument("--inputs", help="comma-separated input series (default: the targets)")
    build.add_argument("--known-future", default="", help="e.g. day_type (one-hot of the next day)")
    build.add_argument("--stride", type=int, default=1, help="days between the starts of consecutive windows")
    build.add_argument(
        "--scaling", default="standard",
        help="none | constant (divide by --scale; the chapter's CTA recipe) | standard (per series, "
             "fitted on the train split: any data's units)")
    build.add_argument("--scale", type=float, default=1e6, help="divisor for constant scaling")
    build.add_argument(
        "--split", action="append", metavar="NAME=START:END", type=split_spec,
        help="repeatable; empty START/END = data bounds (default: the chapter's CTA splits where "
        "the data cover 2016-01-01..2019-05-31, else 70/15/15 %% of the days in order)",
    )
    build.add_argument("--name", help="file stem (default: derived from the spec)")
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    build.set_defaults(handler=handle_build)

    info = actions.add_parser("info", help="print what a dataset file records about itself")
    info.add_argument("path", help="a windowed dataset file written by `windows build`")
    info.set_defaults(handler=handle_info)
    p.set_defaults(handler=lambda args: p.print_help() or 2)


def _csv(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def series_list(text: str | None, frame=None) -> tuple[str, ...] | None:
    """``--targets``/``--inputs``: comma-separated series ids, or one id that holds a comma
    itself (``'Lake, Wells'``: a station's name) when the data has a series of exactly that id.

    >>> import pandas as pd
    >>> frame = pd.DataFrame({"series_id": ["Lake, Wells", "bus"]})
    >>> series_list("Lake, Wells", frame), series_list("bus,rail", frame), series_list(None)
    (('Lake, Wells',), ('bus', 'rail'), None)
    """
    if text is not None and frame is not None and "series_id" in frame and "," in text:
        if text.strip() in set(frame["series_id"].astype(str)):
            return (text.strip(),)
    return _csv(text)


def _default_targets(frame, report=None) -> tuple[str, ...]:
    """``rail`` where the data has it (the chapter's target), else the only series; the
    series cleaning dropped (``report``, the cleaning report) count as the data's."""
    from seqcast.pipeline import dropped_series
    from seqcast.windows import WindowSpecError

    if frame is None:
        return ("rail",)
    dropped = dropped_series(report or {})
    series = sorted(set(frame["series_id"].astype(str).unique()) | {str(s) for s in dropped})
    if "rail" in series:
        return ("rail",)
    if len(series) == 1:
        return (series[0],)
    shown = ", ".join(series[:10]) + (", ..." if len(series) > 10 else "")
    raise WindowSpecError(f"the data has {len(series)} series ({shown}): choose the targets with --targets")


def load_frame(args: argparse.Namespace):
    """The clean long table a ``windows build`` / ``train`` command reads: ``--clean``
    (a clean Parquet file or bucketed folder) or ``--source`` cleaned in memory with
    ``--mapping``. Returns ``(frame, dropped)``, ``dropped`` the series cleaning
    dropped and why. Raises :class:`seqcast.errors.InputError` for a missing or
    unreadable ``--clean`` path or a table without ``series_id, ds, y``."""
    from seqcast.errors import InputError

    if args.clean:
        from seqcast.partitions import read as read_clean

        path = args.clean
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file or folder")
        try:
            if os.path.isfile(path):
                import pyarrow.parquet as pq

                names = pq.read_schema(path).names
                missing = [c for c in ("series_id", "ds", "y") if c not in names]
                if missing:
                    raise InputError(f"{path}: not a clean table, missing column(s) {', '.join(missing)} "
                                     "(give the raw export with --source)")
            frame = read_clean(path)
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise InputError(f"{path}: not a clean Parquet table ({str(exc).splitlines()[0]})") from None
        return frame, {}
    from seqcast.pipeline import clean_source

    outcome = clean_source(args.source, mapping=getattr(args, "mapping", None))
    return outcome.clean, outcome.report


def check_not_dropped(args: argparse.Namespace, report: dict, series) -> None:
    """Raise InputError when a series asked for was dropped while cleaning ``--source``."""
    from seqcast.errors import InputError
    from seqcast.pipeline import dropped_series_problem

    problem = dropped_series_problem(report, series, args.source)
    if problem:
        raise InputError(problem)


def data_splits(args: argparse.Namespace, frame, need: int) -> tuple:
    """``--split`` as given, else :func:`seqcast.windows.default_splits` of the data's
    days (``need``: input_length + h, the days of one window)."""
    import pandas as pd

    from seqcast.windows import DEFAULT_SPLITS, default_splits

    if args.split:
        splits = tuple(args.split)  # (name, start, end) each, checked by split_spec
        _no_overlap(splits)
        return splits
    if frame is None or not len(frame):
        return DEFAULT_SPLITS
    ds = pd.to_datetime(frame["ds"])
    return default_splits(ds.min(), ds.max(), need)


def _no_overlap(splits) -> None:
    """Splits given on the command line must not share days: a validation window holding
    training days would score the model on what it learnt (the library allows overlaps,
    e.g. an ``all`` split beside the others)."""
    from seqcast.windows import WindowSpecError

    def lo(b):
        return b or "0000-00-00"  # ISO dates compare as text

    def hi(b):
        return b or "9999-99-99"

    for i, (a, a0, a1) in enumerate(splits):
        for b, b0, b1 in splits[i + 1:]:
            if lo(a0) <= hi(b1) and lo(b0) <= hi(a1):
                first, last = max(lo(a0), lo(b0)), min(hi(a1), hi(b1))
                shared = f"{first.replace('0000-00-00', 'start')}..{last.replace('9999-99-99', 'end')}"
                raise WindowSpecError(f"--split: {a!r} and {b!r} overlap ({shared}): a window of one "
                                      "would hold days of the other")


@contextlib.contextmanager
def naming_the_data(args: argparse.Namespace):
    """Window spec errors raised inside name the data they are about, and, where the
    default splits were too short for a window, say how to change them."""
    from seqcast.windows import WindowSpecError

    try:
        yield
    except WindowSpecError as exc:
        text = str(exc)
        if not args.split and "no full window fits" in text:
            text += " (give the splits with --split NAME=START:END, or a shorter --input-length)"
        raise WindowSpecError(f"{args.source or args.clean}: {text}") from None


def check_mapping_use(args: argparse.Namespace) -> None:
    """``--mapping`` describes a raw ``--source``; with anything else it would be ignored."""
    if getattr(args, "mapping", None) and not getattr(args, "source", None):
        from seqcast.errors import UsageError

        raise UsageError("--mapping applies to --source only (a clean table or a windows "
                         "dataset has its columns already)")


def specs_from_args(args: argparse.Namespace, frame=None, report=None) -> list:
    """The specs a ``windows build`` command line asks for; defaults that depend on the
    data (targets, splits) are read from ``frame`` (the clean long table) when given,
    ``report`` its cleaning report (the series cleaning dropped)."""
    from seqcast.errors import parse_problem
    from seqcast.windows import WindowSpec, WindowSpecError, specs_from

    if args.spec_file:
        from seqcast.strict_load import read_text

        try:
            text = read_text(args.spec_file)
        except OSError as exc:
            raise WindowSpecError(f"{args.spec_file}: cannot read the window-spec file ({exc.strerror})") from None
        except ValueError as exc:  # not UTF-8
            raise WindowSpecError(f"{args.spec_file}: the window-spec file is {exc}") from None
        try:
            if args.spec_file.endswith((".yaml", ".yml")):
                import yaml

                from seqcast.strict_load import StrictLoader

                data = yaml.load(text, Loader=StrictLoader)  # a key given twice: an error
            else:
                from seqcast.strict_load import json_loads

                data = json_loads(text)
        except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError: their own classes
            raise WindowSpecError(f"{args.spec_file}: not valid YAML/JSON ({parse_problem(exc)})") from None
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(i, dict) for i in items):
            raise WindowSpecError(f"{args.spec_file}: expected a spec object or a list of them")
        specs = []
        for n, item in enumerate(items, start=1):  # a bad field: the file and the spec named
            try:
                specs += specs_from([item])
            except WindowSpecError as exc:
                where = f"spec {n}: " if len(items) > 1 else ""
                raise WindowSpecError(f"{args.spec_file}: {where}{exc}") from None
        return specs
    splits = data_splits(args, frame, args.input_length + args.h)
    return [
        WindowSpec(
            input_length=args.input_length,
            h=args.h,
            kind=args.kind,
            targets=series_list(args.targets, frame) or _default_targets(frame, report),
            inputs=series_list(args.inputs, frame),
            known_future=_csv(args.known_future) or (),
            stride=args.stride,
            splits=splits,
            scaling=args.scaling,
            scale=args.scale,
            name=args.name,
        )
    ]


def handle_build(args: argparse.Namespace) -> int:

    from seqcast.windows import ensure_dataset, read_metadata

    check_mapping_use(args)
    specs = specs_from_args(args) if args.spec_file else None  # a bad spec file: before reading data
    frame, report = load_frame(args)
    if specs is None:
        with naming_the_data(args):
            specs = specs_from_args(args, frame, report)
    for spec in specs:
        check_not_dropped(args, report, spec.series)
    for spec in specs:
        with naming_the_data(args):
            path, rebuilt = ensure_dataset(frame, spec, args.out, force=args.force)
        splits = read_metadata(path)["splits"]
        counts = ", ".join(
            f"{k} {splits[k]['n_windows']} ({splits[k]['start']}..{splits[k]['end']})"
            for k, _, _ in spec.splits)
        imputed = "; ".join(
            f"{k}: " + ", ".join(f"{sid} {n}" for sid, n in splits[k]["imputed_days"].items() if n)
            for k, _, _ in spec.splits if any(splits[k].get("imputed_days", {}).values()))
        note = f"; days cleaning imputed, in windows as values: {imputed}" if imputed else ""
        print(f"{'built' if rebuilt else 'up to date'}: {path} (windows: {counts}){note}")
    return 0


def handle_info(args: argparse.Namespace) -> int:
    from seqcast.windows import read_metadata

    print(json.dumps(read_metadata(args.path), indent=2, sort_keys=True))
    return 0
