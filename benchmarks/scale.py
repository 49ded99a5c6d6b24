"""Scale-out benchmark: the nightly flow on a synthetic panel, on 1 and on 2 Dask workers.

    python benchmarks/scale.py                      # 1,000 series x 3 years, 1 and 2 workers
    python benchmarks/scale.py --series 200 --workers 1,2 --nights 1 --rounds 3

For each worker count, a fresh process (the flow's own process, measured) starts a
temporary Prefect server, then runs the nightly flow on a ``distributed.LocalCluster``
with seasonal naive + SARIMA(1,0,0)(0,1,1,7), h = 14 and the incremental backtest
(28 scored origins + the partly observed ones, refit weekly): night 1 from an empty
backtest table, then night 2 (the steady state: one new day). Printed per run:

- wall time of each night (Prefect's server start excluded, the Dask cluster start included);
- how it splits: data stages (ingest, validate + Great Expectations, clean), model fitting
  (CPU seconds summed over the work units, and that divided by the workers = the ideal
  wall time of the mapped stages), and the rest = Prefect orchestration, Parquet I/O,
  cluster start, load imbalance, monitor and plots;
- peak RSS of the flow's own process (``getrusage``; the server and the Dask workers are
  other processes);

and the speed-up from 1 to 2 workers (same data, same run, ratio of wall times).
``--timeline`` prints each task run's start and end (seconds from the night's start):
where the night is serial. At 200 series on 2 workers (2 December 2026, 50 s night):
data stages to 5.7 s, backtests 5.7-37.1 s (SARIMA groups two at a time, then the
seasonal naive ones), drift and forecast groups 37.4-41.4, champions 41.6-43.7, publish,
freshness, plots and monitor 43.9-46.4, then 3-5 s after the stages subflow's last task
(Prefect's flow-run heartbeat thread, which sleeps in 1-s steps, is joined at the end of
each flow run; ``seqcast run`` turns heartbeats off, a deployment run keeps them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from cores import run_units  # benchmarks/cores.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "data" / "mappings" / "long.yaml"


def child(args: argparse.Namespace) -> None:
    """One worker count, in its own process: prints one JSON line."""
    import resource

    from prefect.testing.utilities import prefect_test_harness

    from flows.nightly import ModelSpec, NightlyParams, nightly

    models = [ModelSpec(name="seasonal_naive", params={"season_length": 7}),
              ModelSpec(name="sarima", params={"order": [1, 0, 0], "seasonal_order": [0, 1, 1, 7]})]
    out = {"workers": args.workers, "nights": []}
    with prefect_test_harness(server_startup_timeout=180):
        for night in range(args.nights):
            as_of = date.fromisoformat(args.last_day) - timedelta(days=args.nights - 1 - night)
            params = NightlyParams(source=args.source, mapping=str(MAPPING), data_dir=args.data_dir,
                                   as_of=as_of, horizon=14, models=models, backtest_days=28,
                                   refit_every=7, runner="dask", workers=args.workers)
            cpu0 = _cpu_by_process()
            t0 = time.perf_counter()
            summary = nightly(params)
            wall = time.perf_counter() - t0
            cpu1 = _cpu_by_process()
            stages, timeline = _task_seconds(summary["run_id"], t_start=time.time() - wall)
            out["nights"].append({
                "as_of": as_of.isoformat(),
                "wall_s": wall,
                "series": len(summary["series"]),
                "buckets": summary["buckets"],
                "published_series": sum(c["model"] is not None for c in summary["champions"]),
                "fit_s": summary["fit_seconds"],
                "new_origins": summary["backtest_new_origins"],
                "task_s": stages,
                "timeline": timeline,
                # CPU seconds of the orchestration during the night: the share of the two
                # cores the workers do not get
                "cpu_s": {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in cpu1},
            })
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out), flush=True)


def _cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process (the flow's: Prefect's
    orchestration, the Dask scheduler's client side) and of the Prefect server it started
    (a uvicorn child). The Dask workers end with the night's cluster; their CPU is the
    fitting time and the rest of the task runs."""
    import psutil

    me = psutil.Process()
    out = {"flow process": sum(me.cpu_times()[:2]), "Prefect server": 0.0}
    for child in me.children(recursive=True):
        try:
            if "uvicorn" in " ".join(child.cmdline()):
                out["Prefect server"] += sum(child.cpu_times()[:2])
        except psutil.Error:  # ended meanwhile
            continue
    return out


def _task_seconds(run_id: str, t_start: float) -> tuple[dict[str, float], list]:
    """Seconds per kind of task (summed over its runs) in the night's stages flow, and
    each task run's ``[name, start, end]`` in seconds from ``t_start`` (epoch seconds)."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    async def read():
        async with get_client() as client:
            children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id])))
            ids = [run_id, *(c.id for c in children)]
            runs, offset = [], 0
            while True:  # the API pages at 200
                page = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200, offset=offset)
                runs += page
                offset += len(page)
                if len(page) < 200:
                    return runs

    totals: dict[str, float] = {}
    timeline = []
    for tr in asyncio.run(read()):
        if tr.start_time and tr.end_time:
            timeline.append([tr.name, tr.start_time.timestamp() - t_start, tr.end_time.timestamp() - t_start])
        # "backtest sarima buckets 0-7" / "... bucket 7" -> backtest; "validate-3f2" -> validate
        grouped = " bucket " in tr.name or " buckets " in tr.name or tr.name.endswith(" all series")
        kind = tr.name.split(" ")[0] if grouped else tr.name.rsplit("-", 1)[0]
        totals[kind] = totals.get(kind, 0.0) + tr.total_run_time.total_seconds()
    return totals, sorted(timeline, key=lambda r: r[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--years", type=int, default=3)
    ap.add_argument("--workers", default="1,2", help="comma-separated Dask worker counts")
    ap.add_argument("--nights", type=int, default=2, help="consecutive nights (1st: empty backtest)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of every worker count, the order alternating each round; medians printed")
    ap.add_argument("--ceiling-units", type=int, default=160,
                    help="after each round, the machine's own 1 -> 2 process ratio on this many "
                    "SARIMA fits (benchmarks/cores.py; 0: skip)")
    ap.add_argument("--timeline", action="store_true",
                    help="print each task run's start and end (s from the night's start)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--last-day", default="2024-12-31", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.workers = int(args.workers)
        child(args)
        return

    from seqcast.synthetic import write_panel_csv

    work = Path(tempfile.mkdtemp(prefix="seqcast-scale-"))
    start = f"{2024 - args.years + 1}-01-01"
    t0 = time.perf_counter()
    source = write_panel_csv(work / "panel.csv", n_series=args.series, start=start, end="2024-12-31",
                             seed=args.seed)
    print(f"panel: {args.series} series {start}..2024-12-31, {source.stat().st_size / 1e6:.1f} MB CSV "
          f"({time.perf_counter() - t0:.1f} s to generate); work dir {work}", flush=True)
    counts = [int(x) for x in args.workers.split(",")]
    walls: dict[int, list[list[float]]] = {w: [] for w in counts}
    ceiling: dict[str, list[float]] = {"one": [], "two": []}
    for r in range(args.rounds):
        order = counts if r % 2 == 0 else counts[::-1]  # alternate: neither side always runs first
        for w in order:
            tag = f"{w}-{r}"
            env = {**os.environ, "PREFECT_HOME": str(work / f"prefect-{tag}"),
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
                   "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            cmd = [sys.executable, __file__, "--child", "--workers", str(w), "--source", str(source),
                   "--data-dir", str(work / f"data-{tag}"), "--nights", str(args.nights)]
            print(f"\n== {w} Dask worker(s), round {r + 1}/{args.rounds}; load average "
                  f"{os.getloadavg()[0]:.1f} ==", flush=True)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(proc.stdout[-3000:], proc.stderr[-5000:])
                raise SystemExit(f"run with {w} worker(s) failed")
            res = json.loads(line[len("RESULT "):])
            walls[w].append([n["wall_s"] for n in res["nights"]])
            _report(res, args.timeline)
        if args.ceiling_units:
            half = args.ceiling_units // 2
            sides = [("one", [2 * half]), ("two", [half, half])]
            for side, shares in (sides if r % 2 == 0 else sides[::-1]):
                ceiling[side].append(run_units("sarima", shares))
            print(f"machine ceiling, round {r + 1}: {2 * half} SARIMA fits in 1 process "
                  f"{ceiling['one'][-1]:.2f} s, in 2 processes {ceiling['two'][-1]:.2f} s = "
                  f"{ceiling['one'][-1] / ceiling['two'][-1]:.2f}x", flush=True)
    print(f"\n# load average at the end {os.getloadavg()[0]:.1f}")
    if len(counts) >= 2:
        a, b = counts[0], counts[-1]
        print(f"speed-up {a} -> {b} workers (ratio of median wall times over {args.rounds} round(s), same data):")
        for night in range(args.nights):
            ta = statistics.median(x[night] for x in walls[a])
            tb = statistics.median(x[night] for x in walls[b])
            print(f"  night {night + 1}: {ta:.0f} s -> {tb:.0f} s = {ta / tb:.2f}x "
                  f"(rounds: {[round(x[night]) for x in walls[a]]} vs {[round(x[night]) for x in walls[b]]})")
        if ceiling["one"] and (a, b) == (1, 2):
            c = statistics.median(ceiling["one"]) / statistics.median(ceiling["two"])
            print(f"  the machine's own 1 -> 2 process ratio on the nightly's unit of work (SARIMA fits, "
                  f"no Prefect, no Dask; median of {len(ceiling['one'])}): {c:.2f}x (benchmarks/cores.py); "
                  f"no scheduling can exceed it")


def _report(res: dict, timeline: bool = False) -> None:
    w = res["workers"]
    for n in res["nights"]:
        fit = n["fit_s"]["forecast"] + n["fit_s"]["backtest"]
        data = sum(v for k, v in n["task_s"].items() if k in ("ingest", "validate", "clean", "embedded"))
        other = n["wall_s"] - data - fit / w
        print(f"night {n['as_of']}: {n['wall_s']:.0f} s wall ({n['wall_s'] / 60:.1f} min) for "
              f"{n['series']} series in {n['buckets']} buckets, {n['published_series']} published, "
              f"{n['new_origins']} (series, origin) scored")
        print(f"  data stages {data:.0f} s | model fitting {fit:.0f} CPU-s "
              f"(forecast {n['fit_s']['forecast']:.0f}, backtest {n['fit_s']['backtest']:.0f}) "
              f"= {fit / w:.0f} s on {w} worker(s) | rest (Prefect, I/O, imbalance, monitor, plots) "
              f"{other:.0f} s ({other / n['wall_s']:.0%})")
        cpu = n.get("cpu_s") or {}
        if cpu:
            print("  CPU during the night: " + ", ".join(
                f"{k} {v:.0f} s ({v / n['wall_s']:.0%} of a core)" for k, v in cpu.items()))
        tasks = ", ".join(f"{k} {v:.0f}" for k, v in sorted(n["task_s"].items(), key=lambda kv: -kv[1]))
        print(f"  task seconds by kind: {tasks}")
        for name, t0, t1 in n["timeline"] if timeline else []:
            print(f"    {t0:6.1f} .. {t1:6.1f}  {name}")
    print(f"peak RSS of the flow's own process: {res['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
