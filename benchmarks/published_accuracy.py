"""What seqcast *publishes*, scored: replay the nightly flow night by night and
compare the published forecasts with what happened.

    .venv/bin/python benchmarks/published_accuracy.py                     # 2019-03-01..05-31
    .venv/bin/python benchmarks/published_accuracy.py --start 2019-03-01 --end 2019-03-14 \
        --neural global_gru --epochs 100

Each night is the real nightly flow (``flows.backfill``: ``as_of`` = that day, the
data after it unseen), on the CTA export with its mapping (calendar: US-IL), with
the default candidates (seasonal naive, naive, SARIMA with calendar regressors)
plus the neural candidates a user would configure (``--neural``: per-series or global networks,
retrained every ``--refit-every`` nights, forecasting from each night's window in
between). Then, per series, over every night replayed:

- h=1 MAE and the mean MAE over h=1..14 of the *published* forecasts;
- the champion mix (which model was published, in nights);
- the empirical coverage of the published 80 % and 95 % conformal intervals;
- in the same run, the chapter's SARIMA loop (refit daily on rail/bus from
  2019-01-01, t+1) and seasonal naive, over the same days;
- the five worst h=1 days per series, their share of the absolute error, and the
  MAE over the other days (``--score-only --data-dir D`` prints it all again for a
  replay already in ``D``, without replaying).

Goals (issue 12): rail h=1 MAE <= 22,000, bus <= 24,000; coverage within 5 points
of nominal; the replay <= 45 minutes on the 2-core machine. Not run by the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CSV = ROOT.parent / "shared" / "data" / "cta_ridership_daily.csv"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=date.fromisoformat, default=date(2019, 3, 1))
    ap.add_argument("--end", type=date.fromisoformat, default=date(2019, 5, 31))
    ap.add_argument("--neural", default="gru",
                    help="comma-separated neural candidates ('' for none); default gru: one "
                    "network per series, its class defaults (the last 3 years, one step ahead "
                    "rolled forward, the calendar as known-future inputs)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epoch budget of each network fit (default: the model's, with early stopping)")
    ap.add_argument("--refit-every", type=int, default=7)
    ap.add_argument("--backtest-days", type=int, default=28)
    ap.add_argument("--data-dir", default=None, help="default: a fresh temporary folder")
    ap.add_argument("--score-from", type=date.fromisoformat, default=None,
                    help="score the nights published in --data-dir from this day (default --start): "
                    "to resume an interrupted replay with a later --start")
    ap.add_argument("--score-only", action="store_true",
                    help="score what --data-dir already holds, without replaying")
    args = ap.parse_args(argv)
    if args.score_only and not args.data_dir:
        ap.error("--score-only needs --data-dir (a replay's folder)")
    if not CSV.exists():
        print(f"skipped: {CSV} is absent (this benchmark replays the real CTA export)")
        return 0
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="seqcast-replay-"))

    from flows.backfill import BackfillParams, backfill
    from flows.nightly import ModelSpec, NightlyParams
    from seqcast.published import read_forecasts

    models = list(NightlyParams().models)
    for name in filter(None, (n.strip() for n in args.neural.split(","))):
        models.append(ModelSpec(name=name, params={} if args.epochs is None else {"epochs": args.epochs}))
    verb = "scoring the replay" if args.score_only else "replaying"
    print(f"{verb} {args.start}..{args.end} in {data_dir} with "
          f"{', '.join(m.name for m in models)}; load average {os.getloadavg()}")
    t0 = time.perf_counter()
    if not args.score_only:
        backfill(BackfillParams(source=str(CSV), start=args.start, end=args.end, data_dir=str(data_dir),
                                models=models, refit_every=args.refit_every,
                                backtest_days=args.backtest_days, monitor=False))
    wall = time.perf_counter() - t0
    first = args.score_from or args.start
    published = read_forecasts(data_dir)  # every night
    published = published[(published["run_date"] >= pd.Timestamp(first))
                          & (published["run_date"] <= pd.Timestamp(args.end))]
    actual = _actuals()
    scored = published.merge(actual, on=["series_id", "ds"], how="inner")
    print()
    print(_report(scored, first, args.end, actual))
    print()
    print(_largest_errors(scored))
    if args.score_only:
        return 0
    print(f"\nreplay of {(args.end - args.start).days + 1} nights: {wall / 60:.1f} min "
          f"({wall / ((args.end - args.start).days + 1):.1f} s a night); "
          f"load average {os.getloadavg()}")
    return 0


def _actuals() -> pd.DataFrame:
    from seqcast.pipeline import clean_source

    clean = clean_source(str(CSV)).clean
    return clean[["series_id", "ds", "y"]]


def _report(scored: pd.DataFrame, start: date, end: date, actual: pd.DataFrame) -> str:
    lines = []
    rows = []
    for sid, part in scored.groupby("series_id"):
        err = (part["y"] - part["mean"]).abs()
        by_h = err.groupby(part["h"]).mean()
        h1 = part[part["h"] == 1]
        mix = h1["model"].value_counts().to_dict()
        cov = {lv: float(((part["y"] >= part[f"lo-{lv}"]) & (part["y"] <= part[f"hi-{lv}"]))
                         [part[f"lo-{lv}"].notna()].mean()) for lv in (80, 95)}
        loop = _chapter_loop(actual, sid, start, end)
        rows.append({
            "series": sid, "nights": int(len(h1)), "h=1 MAE": by_h.get(1, np.nan),
            "MAE h=1..14": float(by_h.loc[1:14].mean()), "80% cover": cov[80], "95% cover": cov[95],
            "SARIMA loop h=1": loop["sarima"], "seasonal naive h=1": loop["seasonal_naive"],
            "champions (nights)": ", ".join(f"{m} {n}" for m, n in mix.items()),
        })
    df = pd.DataFrame(rows)
    fmt = {"h=1 MAE": "{:,.0f}", "MAE h=1..14": "{:,.0f}", "80% cover": "{:.1%}",
           "95% cover": "{:.1%}", "SARIMA loop h=1": "{:,.0f}", "seasonal naive h=1": "{:,.0f}"}
    for col, f in fmt.items():
        df[col] = df[col].map(f.format)
    lines.append(df.to_string(index=False))
    return "\n".join(lines)


def _largest_errors(scored: pd.DataFrame, n: int = 5) -> str:
    """Where the published h=1 error goes: the ``n`` worst days per series and their share.

    MAE is a mean, so a few days nothing in the data announces (a snowstorm, an event) can
    decide it; the MAE over the other days and the median say what a typical night gets.
    """
    lines = []
    for sid, part in scored[scored["h"] == 1].groupby("series_id"):
        err = (part["mean"] - part["y"]).set_axis(part["ds"])
        worst = err.abs().sort_values(ascending=False).head(n)
        rest = err.abs().drop(worst.index)
        lines.append(f"{sid}: h=1 MAE {err.abs().mean():,.0f}, median {err.abs().median():,.0f}; the {n} "
                     f"worst days hold {worst.sum() / err.abs().sum():.1%} of the absolute error, the other "
                     f"{len(rest)} days' MAE {rest.mean():,.0f}")
        for day in worst.index:
            row = part[part["ds"] == day].iloc[0]
            lines.append(f"  {day:%Y-%m-%d %a}  actual {row['y']:>9,.0f}  published {row['mean']:>9,.0f}"
                         f"  ({row['model']})  error {err[day]:+,.0f}")
    return "\n".join(lines)


def _chapter_loop(actual: pd.DataFrame, sid: str, start: date, end: date) -> dict[str, float]:
    """The chapter's SARIMA loop and seasonal naive over the same days, t+1 (same run)."""
    from seqcast.backtest import rolling_origin
    from seqcast.metrics import evaluate
    from seqcast.models import build

    data = actual[actual["series_id"] == sid]
    sarima = rolling_origin(build({"name": "sarima", "params": {"warm_start": False}}), data, h=1,
                            start=start, end=end, train_start="2019-01-01", n_jobs=1)
    naive = rolling_origin(build("seasonal_naive"), data, h=1, start=start, end=end, n_jobs=1)
    return {"sarima": float(evaluate(sarima)["mae"].iloc[0]),
            "seasonal_naive": float(evaluate(naive)["mae"].iloc[0])}


if __name__ == "__main__":
    sys.exit(main())
