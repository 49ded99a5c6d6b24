"""Backtest benchmarks: seqcast vs the plain statsmodels loop, measured in the same run.

    .venv/bin/python benchmarks/backtest.py                 # all three
    .venv/bin/python benchmarks/backtest.py --only loop     # loop | long | grid
    .venv/bin/python benchmarks/backtest.py --only grid --grid-plain all

1. loop: the chapter's 92 daily refits of SARIMA (1,0,0)(0,1,1,7) on rail
   (train from 2019-01-01, t+1 for 2019-03-01..2019-05-31). Goal: >= 3x faster
   than the plain loop, MAE within 0.1 %.
   exog: the same loop with the calendar regressors of ``--day-type``: seqcast's default
   against cold fits through statsmodels' own filter, every forecast within 0.1 %.
2. long: 30 daily refits on the rail history from 2001-01-01 (~6,600 points).
   Goal: <= 150 ms per fit per core (wall x processes / fits).
3. grid: p, q, P, Q in {0,1,2}, d=0, D=1, s=7 over the loop's 92 origins.
   Goal: <= 60 s on 2 cores, winner (1,0,0)(0,1,1,7). The plain sequential grid
   takes ~10 min, so by default it is timed on a sample of configurations and
   scaled to 81 (``--grid-plain all`` times every one).

Every figure is the median of ``--rounds`` (3) rounds in which the contenders run
alternately (the order rotates each round), with BLAS pinned to 1 thread on both sides;
each round prints its times and the load average. Not run by the tests. Timings depend
on what else the machine runs: compare the ratios, which are measured side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CSV = ROOT.parent / "shared" / "data" / "cta_ridership_daily.csv"
ORDER, SEASONAL = (1, 0, 0), (0, 1, 1, 7)


class Clock:
    """Wall and CPU seconds (this process and its finished children, e.g. pool workers)."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w0, _cpu() - self.c0


def _cpu() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def load_rail() -> pd.Series:
    """The chapter's way: read, drop duplicate rows, index by day."""
    df = pd.read_csv(CSV, parse_dates=["service_date"], date_format="%m/%d/%Y")
    df = df.drop_duplicates().set_index("service_date").sort_index()
    return df["rail_boardings"].astype(float).asfreq("D")


def long_frame(rail: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"series_id": "rail", "ds": rail.index, "y": rail.to_numpy()})


def plain_loop(rail: pd.Series, train_start, days: pd.DatetimeIndex, order=ORDER,
               seasonal=SEASONAL) -> tuple[Clock, np.ndarray]:
    """The chapter's loop: a fresh statsmodels ARIMA fit per day, default settings."""
    from statsmodels.tsa.arima.model import ARIMA

    preds = []
    with Clock() as clock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for today in days.shift(-1):
            try:
                res = ARIMA(rail[train_start:today], order=order, seasonal_order=seasonal).fit()
                preds.append(float(res.forecast().iloc[0]))
            except Exception:  # noqa: BLE001 - the plain loop records NaN and goes on
                preds.append(np.nan)
    return clock, np.array(preds)


def rounds_of(contenders: dict, rounds: int) -> dict[str, list]:
    """Run each contender ``rounds`` times, alternating them (the order rotates every round),
    so that a change in the machine's load hits every side alike. Returns name -> results."""
    names = list(contenders)
    out: dict[str, list] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            out[name].append(contenders[name]())
        print(f"#   round {r + 1}/{rounds}: " + ", ".join(f"{n} {out[n][-1][0].wall:.2f} s" for n in names)
              + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
    return out


def _median_wall(runs: list) -> float:
    return statistics.median(c.wall for c, _ in runs)


def _median_cpu(runs: list) -> float:
    return statistics.median(c.cpu for c, _ in runs)


def seqcast_loop(data: pd.DataFrame, days: pd.DatetimeIndex, train_start: str, n_jobs: int,
                 exog: pd.DataFrame | None = None, **model_kw):
    """A contender: seqcast's SARIMA backtest over ``days`` (t+1), on the whole history from
    ``train_start`` like the plain loop (``max_history=None``; ``model_kw``: other SARIMA
    hyperparameters). Returns ``(Clock, forecasts)``."""
    from seqcast.backtest import rolling_origin
    from seqcast.models.sarima import SARIMA

    def run():
        with Clock() as clock:
            table = rolling_origin(SARIMA(ORDER, SEASONAL, max_history=None, **model_kw), data, h=1,
                                   start=days[0], end=days[-1], train_start=train_start, exog=exog,
                                   n_jobs=n_jobs)
        return clock, table["mean"].to_numpy()
    return run


def bench_loop(rail: pd.Series, jobs: int, rounds: int) -> None:

    days = pd.date_range("2019-03-01", "2019-05-31")
    truth = rail[days].to_numpy()
    data = long_frame(rail)

    contenders = {"plain": lambda: plain_loop(rail, "2019-01-01", days)}
    for n_jobs in sorted({1, jobs}):
        contenders[f"seqcast n_jobs={n_jobs}"] = seqcast_loop(data, days, "2019-01-01", n_jobs)
    runs = rounds_of(contenders, rounds)
    plain_pred = runs["plain"][0][1]
    plain_mae = np.abs(plain_pred - truth).mean()
    plain_s, plain_cpu = _median_wall(runs["plain"]), _median_cpu(runs["plain"])
    for name in list(contenders)[1:]:
        pred = runs[name][0][1]
        mae = np.abs(pred - truth).mean()
        wall, cpu = _median_wall(runs[name]), _median_cpu(runs[name])
        rel = np.abs(pred - plain_pred) / np.abs(plain_pred)
        print(f"loop  92 origins, median of {rounds}: plain {plain_s:6.2f} s (cpu {plain_cpu:5.2f})  "
              f"MAE {plain_mae:,.1f} | {name} {wall:6.2f} s (cpu {cpu:5.2f})  MAE {mae:,.1f}  -> "
              f"{plain_s / wall:4.2f}x (cpu {plain_cpu / cpu:4.2f}x), MAE diff "
              f"{100 * (mae / plain_mae - 1):+.4f} %, largest forecast diff {100 * np.nanmax(rel):.4f} % "
              f"(goal >= 3x, 0.1 %)")


def bench_exog(jobs: int, rounds: int) -> None:
    """The loop with known-future calendar regressors (``--day-type``/``--calendar``):
    seqcast's default SARIMA (warm starts, compiled filter) against cold fits through
    statsmodels' own filter, forecast by forecast (the 0.1 % promise with regressors)."""
    from seqcast.calendar import known_future
    from seqcast.pipeline import clean_source

    clean = clean_source(CSV).clean
    rail = clean[clean.series_id == "rail"].reset_index(drop=True)
    exog = known_future(rail, 1, country="US")
    days = pd.date_range("2019-03-01", "2019-05-31")
    truth = rail.set_index("ds")["y"][days].to_numpy()

    runs = rounds_of({
        "cold, statsmodels filter": seqcast_loop(rail, days, "2019-01-01", 1, exog, warm_start=False,
                                                 compiled_filter=False),
        "seqcast default": seqcast_loop(rail, days, "2019-01-01", 1, exog),
    }, rounds)
    ref = runs["cold, statsmodels filter"][0][1]
    got = runs["seqcast default"][0][1]
    rel = np.abs(got - ref) / np.abs(ref)
    ref_s, got_s = _median_wall(runs["cold, statsmodels filter"]), _median_wall(runs["seqcast default"])
    print(f"exog  92 origins with the calendar, 1 process, median of {rounds}: cold statsmodels "
          f"{ref_s:5.2f} s MAE {np.abs(ref - truth).mean():,.1f} | seqcast {got_s:5.2f} s MAE "
          f"{np.abs(got - truth).mean():,.1f} -> {ref_s / got_s:4.2f}x; largest forecast diff "
          f"{100 * rel.max():.4f} % (goal 0.1 %)")


def bench_long(rail: pd.Series, jobs: int, plain_n: int, rounds: int) -> None:
    # Like with like: the plain loop fits every day since 2001, so seqcast does too
    # (``max_history=None``; the model's default would fit the last 365 days only).

    days = pd.date_range("2019-01-01", periods=30)
    n_points = len(rail["2001-01-01":days[0] - pd.Timedelta(days=1)])
    data = long_frame(rail)

    contenders = {"plain": lambda: plain_loop(rail, "2001-01-01", days[:plain_n])}
    for n_jobs in sorted({1, jobs}):
        contenders[f"seqcast n_jobs={n_jobs}"] = seqcast_loop(data, days, "2001-01-01", n_jobs)
    runs = rounds_of(contenders, rounds)
    plain_pred = runs["plain"][0][1]
    plain_per_fit = _median_wall(runs["plain"]) / plain_n
    for name in list(contenders)[1:]:
        n_jobs = int(name.rsplit("=", 1)[1])
        per_fit_core = _median_wall(runs[name]) * n_jobs / len(days)
        diff = np.abs(runs[name][0][1][:plain_n] - plain_pred)
        rel = diff / np.abs(plain_pred)
        print(f"long  {n_points:,}..{n_points + 29:,} points, median of {rounds}: plain "
              f"{1e3 * plain_per_fit:6.0f} ms/fit ({plain_n} fits) | {name} {1e3 * per_fit_core:6.0f} "
              f"ms/fit/core -> {plain_per_fit / per_fit_core:4.2f}x; forecasts vs plain: max |diff| "
              f"{diff.max():,.1f} ({100 * rel.max():.4f} %) (goal <= 150 ms)")


def bench_grid(rail: pd.Series, jobs: int, plain_configs: str, rounds: int) -> None:
    from seqcast.grid import grid_search, sarima_grid

    configs = sarima_grid(p=(0, 1, 2), q=(0, 1, 2), P=(0, 1, 2), Q=(0, 1, 2), d=0, D=1, s=7)
    days = pd.date_range("2019-03-01", "2019-05-31")
    truth = rail[days].to_numpy()
    if plain_configs == "all":
        sample = configs
    else:
        rng = np.random.default_rng(0)
        sample = [configs[i] for i in sorted(rng.choice(len(configs), int(plain_configs),
                                                        replace=False))]
    data = long_frame(rail)

    def plain():
        maes = {}
        with Clock() as clock:
            for c in sample:
                _, pred = plain_loop(rail, "2019-01-01", days, c["order"], c["seasonal_order"])
                maes[(c["order"], c["seasonal_order"])] = np.nanmean(np.abs(pred - truth))
        return clock, maes

    def ours():
        with Clock() as clock:
            ranking = grid_search(data, configs, h=1, start=days[0], end=days[-1],
                                  train_start="2019-01-01", prune=True, n_jobs=jobs)
        return clock, ranking

    runs = rounds_of({"plain (sample)": plain, f"seqcast n_jobs={jobs}": ours}, rounds)
    plain_maes = runs["plain (sample)"][0][1]
    plain_s = _median_wall(runs["plain (sample)"]) * len(configs) / len(sample)
    ours_s = _median_wall(runs[f"seqcast n_jobs={jobs}"])
    ranking = runs[f"seqcast n_jobs={jobs}"][0][1]
    best = ranking.iloc[0]
    diffs = {r.model: abs(r.mae / plain_maes[(r.order, r.seasonal_order)] - 1)
             for r in ranking.itertuples() if r.complete and (r.order, r.seasonal_order) in plain_maes}
    worst_model = max(diffs, key=diffs.get) if diffs else "-"
    worst = diffs.get(worst_model, np.nan)
    label = "all" if plain_configs == "all" else f"{len(sample)} sampled, scaled to 81"
    print(f"grid  81 configs x 92 origins, median of {rounds}: plain sequential {plain_s:6.0f} s "
          f"({label}) | seqcast n_jobs={jobs} prune=True {ours_s:6.1f} s -> {plain_s / ours_s:4.1f}x; "
          f"winner {best.model} MAE {best.mae:,.1f}; {int(ranking.pruned.sum())} pruned, "
          f"{int((ranking.n_failed_origins > 0).sum())} with failed origins; max MAE diff vs plain "
          f"on timed complete configs {100 * worst:.3f} % ({worst_model}) (goal <= 60 s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=["loop", "exog", "long", "grid"], action="append")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--long-plain", type=int, default=10, help="plain fits timed in 'long'")
    ap.add_argument("--grid-plain", default="9", help="configs timed plainly: a number or 'all'")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per benchmark, contenders "
                    "alternated; medians are printed (default 3)")
    args = ap.parse_args(argv)
    if not CSV.exists():
        print(f"skipped: {CSV} not found")
        return 0
    from seqcast.backtest import blas_threads

    rail = load_rail()
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; BLAS pinned to 1 "
          "thread for both sides")
    with blas_threads(1):
        for name in args.only or ["loop", "exog", "long", "grid"]:
            if name == "loop":
                bench_loop(rail, args.jobs, args.rounds)
            elif name == "exog":
                bench_exog(args.jobs, args.rounds)
            elif name == "long":
                bench_long(rail, args.jobs, args.long_plain, args.rounds)
            else:
                bench_grid(rail, args.jobs, args.grid_plain, args.rounds)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
