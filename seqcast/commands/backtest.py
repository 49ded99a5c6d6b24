"""``seqcast backtest``: rolling-origin backtest (or SARIMA grid search) of one source.

    seqcast backtest --source ../shared/data/cta_ridership_daily.csv --series rail \\
        --model sarima --order 1,0,0 --seasonal-order 0,1,1,7 --train-start 2019-01-01 \\
        --start 2019-03-01 --end 2019-05-31 --h 1 --refit-every 1
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from seqcast.commands import iso_date, output_path, positive_int

if TYPE_CHECKING:  # `seqcast --help` does not import pandas
    import pandas as pd


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="rolling-origin backtest of a model (or a SARIMA grid) on a source",
        description="Fit at each origin on the days up to it, forecast the next h days, "
        "print MAE/RMSE/MAPE/sMAPE/MASE per series and model.",
    )
    p.add_argument("--source", required=True, help="CSV/Parquet source (as for `seqcast run`)")
    p.add_argument("--mapping", help="column mapping file (default: the CTA mapping)")
    p.add_argument("--series", action="append", help="series_id to backtest (repeatable; default all)")
    p.add_argument("--model", action="append", default=None,
                   help="registered model name: naive, seasonal_naive, sarima, ets, gru, ... "
                   "(the model class's defaults, as in `seqcast run --models`; default seasonal_naive); "
                   "several: repeat it or separate them by commas, e.g. --model naive,sarima")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a hyperparameter of --model, e.g. --param order=2,0,0 "
                   "--param seasonal_order=0,1,1,7 --param epochs=20 (repeatable; values read as YAML)")
    p.add_argument("--models-file", help="YAML/JSON list of {name, params}: backtest them all")
    # Older spellings of --param, kept as aliases.
    p.add_argument("--season-length", type=int, help="alias of --param season_length=N")
    p.add_argument("--order", help="alias of --param order=p,d,q")
    p.add_argument("--seasonal-order", help="alias of --param seasonal_order=P,D,Q,s")
    p.add_argument("--trend", help="alias of --param trend=T")
    p.add_argument("--calendar", action="store_true",
                   help="give models that take known-future features the calendar "
                   "(seqcast.calendar.known_future: the source's day types, holidays)")
    p.add_argument("--day-type", action="store_true", help="alias of --calendar")
    p.add_argument("--holidays", help="public-holiday calendar of the calendar features, e.g. US-IL "
                   "(implies --calendar; default: the mapping's, CTA: US-IL; none: weekday features only)")
    p.add_argument("--grid", help="SARIMA grid, e.g. p=0..2,q=0..2,P=0..2,Q=0..2,d=0,D=1,s=7")
    p.add_argument("--no-prune", action="store_true", help="grid: score every config fully")
    p.add_argument("--cold", action="store_true",
                   help="alias of --param warm_start=false (every refit from the default start)")
    p.add_argument("--start", required=True, type=iso_date, help="first day forecast one step ahead")
    p.add_argument("--end", required=True, type=iso_date, help="last day forecast one step ahead")
    p.add_argument("--train-start", type=iso_date, help="first training day (default: first day of data)")
    p.add_argument("--h", type=positive_int, default=1, help="steps ahead at each origin")
    p.add_argument("--step", type=positive_int, default=1, help="days between origins")
    p.add_argument("--refit-every", type=positive_int, default=1, help="re-estimate every k origins")
    p.add_argument("--window", choices=["expanding", "sliding"], default="expanding",
                   help="training window: from --train-start (expanding) or the last --window-length days")
    p.add_argument("--window-length", type=positive_int, help="days in a sliding window")
    p.add_argument("--by-h", action="store_true", help="metrics per horizon step too")
    p.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--output", help="also write the backtest table (.parquet or .csv)")
    p.set_defaults(handler=handle)


SHOW_FAILED = 20


def _some(ids, n: int = 5) -> str:
    ids = [str(i) for i in ids]
    return ", ".join(ids[:n]) + (f" and {len(ids) - n} more" if len(ids) > n else "")


def model_specs(args: argparse.Namespace) -> list[dict]:
    """The models to backtest: ``--models-file``, or ``--model`` with its ``--param``s."""
    from seqcast.errors import UsageError
    from seqcast.models import load_models_file, parse_param, spec_dict

    if args.models_file:
        given = [f for f, v in (("--model", args.model), ("--param", args.param), ("--order", args.order),
                                ("--seasonal-order", args.seasonal_order), ("--trend", args.trend),
                                ("--season-length", args.season_length), ("--cold", args.cold)) if v]
        if given:
            raise UsageError(f"--models-file {args.models_file}: give the models there, not with "
                             f"{', '.join(given)}")
        return load_models_file(args.models_file)
    names = model_names(args)
    params = dict(parse_param(p) for p in args.param)
    aliases = {"season_length": args.season_length, "order": args.order,
               "seasonal_order": args.seasonal_order, "trend": args.trend}
    for key, value in aliases.items():
        if value is not None:
            params.setdefault(*parse_param(f"{key}={value}"))
    if params and len(names) > 1:
        raise UsageError(f"--param (or its aliases) sets the hyperparameters of one --model, not of "
                         f"{len(names)} ({', '.join(names)}); give several models with their "
                         "parameters in a --models-file")
    if args.cold:
        from seqcast.models import get_model

        for name in names:
            if "warm_start" in get_model(name).get_params():
                params["warm_start"] = False
    return [spec_dict({"name": name, "params": dict(params)}) for name in names]


def model_names(args: argparse.Namespace) -> list[str]:
    """``--model`` given once, repeated or comma-separated, in order, each once."""
    from seqcast.errors import UsageError

    given = args.model or ["seasonal_naive"]
    names = [n.strip() for value in given for n in value.split(",")]
    if any(not n for n in names):
        raise UsageError(f"--model {','.join(given)}: an empty model name")
    return list(dict.fromkeys(names))


def build_models(args: argparse.Namespace) -> list:
    from seqcast.models import build

    return [build(spec) for spec in model_specs(args)]


def _check_usage(args: argparse.Namespace) -> None:
    """Options that contradict each other stop before any data is read (exit status 2)."""
    from seqcast.errors import UsageError

    if args.start > args.end:
        raise UsageError(f"--start {args.start} is after --end {args.end}")
    if args.train_start is not None and args.train_start >= args.start:
        raise UsageError(f"--train-start {args.train_start} must be before --start {args.start} "
                         "(the first origin trains on the days before it)")
    if args.window_length is not None and args.window != "sliding":
        raise UsageError("--window-length applies to --window sliding only")
    if args.grid is not None and not args.grid.strip():
        raise UsageError("--grid: empty; e.g. --grid p=0..2,q=0..2,P=0..2,Q=0..2,d=0,D=1,s=7")
    if args.grid and ((args.model and model_names(args) != ["sarima"]) or args.models_file):
        raise UsageError("--grid searches SARIMA orders; it takes no --model other than sarima "
                         "and no --models-file")
    if args.grid:  # its syntax before any data is read
        from seqcast.errors import ModelError
        from seqcast.grid import parse_grid

        try:
            args.grid_axes = parse_grid(args.grid)  # kept for the grid run
        except ModelError as exc:
            raise UsageError(str(exc)) from None
    output_path(args.output, (".parquet", ".csv"))


def _check_range(args: argparse.Namespace, data, outcome) -> None:
    """Say which series cleaning dropped, and where the asked range and horizon reach past
    the data (those days are not scored): nothing shrinks without a word."""
    import sys

    import pandas as pd

    from seqcast.errors import InputError
    from seqcast.pipeline import dropped_series

    for sid, reason in dropped_series(outcome.report).items():
        if not args.series or sid in args.series:
            print(f"warning: dropped series {sid}: {reason}", file=sys.stderr)
    first, last = pd.Timestamp(data["ds"].min()).date(), pd.Timestamp(data["ds"].max()).date()
    if args.start > last or args.end <= first:
        raise InputError(f"{args.source}: the data run {first}..{last}; --start {args.start} .. --end "
                         f"{args.end} has no forecast origin in them")
    spans = data.groupby("series_id")["ds"].agg(["min", "max"])
    outside = spans[(spans["max"] < pd.Timestamp(args.start) - pd.Timedelta(days=1))
                    | (spans["min"] >= pd.Timestamp(args.end))]
    for sid, row in outside.iterrows():
        print(f"note: {args.source}: series {sid} runs {row['min']:%Y-%m-%d}..{row['max']:%Y-%m-%d}, outside "
              f"--start {args.start} .. --end {args.end}: not scored", file=sys.stderr)
    if args.start <= first:
        print(f"note: {args.source}: the data start on {first}: days up to it (from --start {args.start}) "
              "have no history and are not scored", file=sys.stderr)
    if args.end > last:
        print(f"note: {args.source}: the data end on {last}: days after it (to --end {args.end}) "
              "are not scored", file=sys.stderr)
    _imputed_in_range(args, data)
    if args.h > 1 and (pd.Timestamp(args.end) + pd.Timedelta(days=args.h - 1)).date() > last:
        print(f"note: {args.source}: steps past {last} of the last origins' {args.h}-day forecasts "
              "are not scored", file=sys.stderr)


def _imputed_in_range(args: argparse.Namespace, data) -> None:
    """Imputed days are never scored: a range of them alone (a gap in the source) is one line,
    not an empty table; some of them in the range, a note with how many."""
    import sys

    import pandas as pd

    from seqcast.errors import InputError

    if "is_imputed" not in data:
        return
    lo, hi = pd.Timestamp(args.start), pd.Timestamp(args.end) + pd.Timedelta(days=args.h - 1)
    window = data[(data["ds"] >= lo) & (data["ds"] <= hi)]
    imputed = window["is_imputed"].fillna(False).astype(bool)
    if not imputed.any():
        return
    days = window.loc[imputed, "ds"]
    span = f"{days.min():%Y-%m-%d}" + (f"..{days.max():%Y-%m-%d}" if days.max() > days.min() else "")
    if imputed.all():
        raise InputError(f"{args.source}: no day from {lo:%Y-%m-%d} to {hi:%Y-%m-%d} can be scored: every "
                         f"one was missing in the source and imputed ({span}); imputed days are never "
                         "scored, choose a range with observed days")
    print(f"note: {args.source}: {int(imputed.sum())} of the {len(window)} days from {lo:%Y-%m-%d} to "
          f"{hi:%Y-%m-%d} were missing in the source and imputed ({span}"
          f"{', e.g. series ' + str(window.loc[imputed, 'series_id'].iloc[0]) if window['series_id'].nunique() > 1 else ''}"
          "): not scored", file=sys.stderr)


def handle(args: argparse.Namespace) -> int:
    import pandas as pd

    from seqcast.errors import InputError
    from seqcast.pipeline import clean_source, dropped_series_problem

    _check_usage(args)
    models = None if args.grid else build_models(args)  # a bad --param stops before reading data
    outcome = clean_source(args.source, mapping=args.mapping)
    data_all = outcome.clean
    data = data_all
    if args.series:
        problem = dropped_series_problem(outcome, args.series, args.source)
        if problem:
            raise InputError(problem)
        unknown = [s for s in dict.fromkeys(args.series) if s not in set(data_all["series_id"].astype(str))]
        if unknown:
            have = set(data_all["series_id"].astype(str))
            listed = [s for s in unknown if "," in s and all(p.strip() in have for p in s.split(","))]
            hint = (f"; --series takes one id: repeat it (--series {' --series '.join(p.strip() for p in listed[0].split(','))})"
                    if listed else "")  # an id may hold a comma: never split silently
            raise InputError(f"{args.source}: no series {', '.join(unknown)} (the file has "
                             f"{_some(data_all['series_id'].unique())}){hint}")
        data = data[data["series_id"].isin(args.series)]
    _check_range(args, data, outcome)
    exog = calendar_exog(data, args) if (args.calendar or args.day_type or args.holidays) else None
    data = data[["series_id", "ds", "y", "is_imputed"]]  # imputed days are not scored
    if args.grid:
        return _grid(args, data, exog)
    from seqcast.backtest import failures, rolling_origin
    from seqcast.metrics import evaluate

    table = rolling_origin(models, data, h=args.h, start=args.start, end=args.end, step=args.step,
                           refit_every=args.refit_every, window=args.window,
                           window_length=args.window_length, train_start=args.train_start,
                           exog=exog, n_jobs=args.jobs)
    by = ["series_id", "model"] + (["h"] if args.by_h else [])
    summary = evaluate(table, metrics=("mae", "rmse", "mape", "smape", "mase"), by=by,
                       history=data)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False, float_format=_number))
    from seqcast.metrics import mase_scales

    for note in undefined_notes(summary, mase_scales(table, data)):
        print(note)
    bad = failures(table)
    if len(bad):
        shown = f" (the first {SHOW_FAILED}; all of them: --output FILE)" if len(bad) > SHOW_FAILED else ""
        print(f"\n{len(bad)} failed origin(s){shown}:")
        print(bad.head(SHOW_FAILED).to_string(index=False))
    if args.output:
        _write(table, args.output)
    return 0


def undefined_notes(summary: pd.DataFrame, scales: pd.Series | None = None) -> list[str]:
    """One line for each metric printed as NaN for a scored series, saying why it is undefined.
    ``scales``: MASE's denominator per series (:func:`seqcast.metrics.mase_scales`): NaN when
    the history before the first origin is one season or less, 0 when it repeats itself."""
    why = {"mape": "every scored actual is 0 (a percentage of 0 is undefined)"}
    repeats = ("its history before the first origin repeats itself every season (the seasonal-naive "
               "in-sample error, MASE's scale, is 0)")
    short = ("its history before the first origin is one season (7 days) or shorter: MASE's scale, the "
             "seasonal-naive in-sample error, needs more (start later, or --train-start earlier)")
    notes = []
    for metric, reason in why.items():
        if metric not in summary:
            continue
        ids = summary.loc[(summary["n"] > 0) & summary[metric].isna(), "series_id"].unique()
        if len(ids):
            notes.append(f"{metric} NaN for {_some(ids)}: {reason}")
    if "mase" in summary:
        ids = summary.loc[(summary["n"] > 0) & summary["mase"].isna(), "series_id"].unique()
        known = scales if scales is not None else {}
        too_short = [s for s in ids if s in known and known[s] != known[s]]  # NaN
        if too_short:
            notes.append(f"mase NaN for {_some(too_short)}: {short}")
        rest = [s for s in ids if s not in too_short]
        if rest:
            notes.append(f"mase NaN for {_some(rest)}: {repeats}")
    return notes


def calendar_exog(clean, args: argparse.Namespace):
    """Known-future calendar features over the data and ``h`` days past its end."""
    from seqcast.calendar import known_future, parse_holidays
    from seqcast.ingest import load_mapping

    spec = args.holidays if args.holidays is not None else load_mapping(args.mapping).holidays
    country, subdiv = parse_holidays(spec)
    return known_future(clean, args.h, country=country, subdiv=subdiv)


def _number(v: float) -> str:
    """A metric as the tables print it: 4 significant digits below 100 (MASE 0.4349,
    MAPE 5.276), whole numbers with thousands separators above (MAE 28,847)."""
    return f"{v:,.4g}" if abs(v) < 100 else f"{v:,.0f}"


def _grid(args: argparse.Namespace, data, exog=None) -> int:
    from seqcast.grid import grid_search, sarima_grid

    if data["series_id"].nunique() != 1:
        from seqcast.errors import UsageError

        raise UsageError(f"--grid needs exactly one --series (the data has {_some(data['series_id'].unique())})")
    configs = sarima_grid(**args.grid_axes, warm_start=not args.cold)  # parsed by _check_usage
    ranking = grid_search(data, configs, h=args.h, start=args.start, end=args.end,
                          step=args.step, refit_every=args.refit_every,
                          train_start=args.train_start, window=args.window,
                          window_length=args.window_length, prune=not args.no_prune,
                          n_jobs=args.jobs, exog=exog)
    print(ranking.drop(columns=["order", "seasonal_order"]).to_string(index=False, float_format=_number))
    if args.output:
        _write(ranking.astype({"order": str, "seasonal_order": str}), args.output)
    return 0


def _write(df, path: str) -> None:
    if path.endswith(".csv"):
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    print(f"wrote {path}")
