"""What a Prefect task run costs, and what grouping buckets into fewer task runs saves.

    python benchmarks/task_runs.py                 # 64 buckets x 5 kinds, 2 Dask workers
    python benchmarks/task_runs.py --buckets 64 --kinds 5 --workers 2 --rounds 3

The nightly flow used to submit one task run per bucket of series and stage (64 buckets x
backtest per model, forecast, champions, drift = 320 task runs at 1,000 series); it now
submits one per *group* of buckets (``tasks_per_worker`` groups a worker, 8 at 2 workers:
40 task runs). This benchmark isolates the orchestration: the same trivial per-bucket
work (a small dict in, a small dict out) submitted both ways to a ``DaskTaskRunner``
against a temporary Prefect server, in the same process:

- *plain*: one task run per bucket and kind (``kinds x buckets`` task runs);
- *grouped*: one task run per group of buckets and kind, the bucket loop inside.

Contenders alternate, median of ``--rounds`` rounds each; one BLAS thread everywhere
(nothing here uses BLAS); the load average is printed before and after. Prints the
wall time of each, seconds per task run, and the ratio plain / grouped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from seqcast.partitions import _split_by_size  # noqa: E402
from tasks.panel import task_runner  # noqa: E402


def _work(bucket: int, payload: dict) -> dict:
    """Stand-in for a bucket's work: returns a small summary, as the real tasks do."""
    return {"bucket": bucket, "rows": len(payload["spec"]), "fit_s": 0.0}


@task(cache_policy=NO_CACHE)
def one_bucket(bucket: int, payload: dict) -> dict:
    return _work(bucket, payload)


@task(cache_policy=NO_CACHE)
def bucket_group(buckets: list[int], payload: dict) -> list[dict]:
    return [_work(b, payload) for b in buckets]


def _run(grouped: bool, buckets: int, kinds: int, workers: int, per_worker: int) -> tuple[float, int]:
    ids = list(range(buckets))
    groups = _split_by_size(ids, [1] * buckets, per_worker * workers)
    payload = {"spec": {"name": "sarima", "params": {"order": [1, 0, 0]}}, "path": "/x" * 40}

    @flow(task_runner=task_runner("dask", workers))
    def night() -> tuple[float, int]:
        t0 = time.perf_counter()  # the cluster is up: time the task runs only
        if grouped:
            futures = [bucket_group.submit(g, payload) for _ in range(kinds) for g in groups]
        else:
            futures = [one_bucket.submit(b, payload) for _ in range(kinds) for b in ids]
        done = [f.result() for f in futures]
        return time.perf_counter() - t0, len(done)

    return night()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buckets", type=int, default=64)
    ap.add_argument("--kinds", type=int, default=5, help="task kinds a night maps over the buckets")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--per-worker", type=int, default=4, help="groups per worker (tasks_per_worker)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    print(f"load average before: {os.getloadavg()}", flush=True)
    times: dict[str, list[float]] = {"plain": [], "grouped": []}
    runs: dict[str, int] = {}
    with prefect_test_harness(server_startup_timeout=180):
        _run(True, 4, 1, args.workers, 1)  # warm up: imports, server tables
        for r in range(args.rounds):
            order = ("plain", "grouped") if r % 2 == 0 else ("grouped", "plain")
            for name in order:
                wall, n = _run(name == "grouped", args.buckets, args.kinds, args.workers, args.per_worker)
                times[name].append(wall)
                runs[name] = n
                print(f"round {r + 1} {name:8s} {n:4d} task runs  {wall:6.1f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.buckets} buckets x {args.kinds} kinds on {args.workers} Dask workers, "
          f"median of {args.rounds} (alternated), OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}:")
    for k in ("plain", "grouped"):
        print(f"  {k:8s} {runs[k]:4d} task runs  {med[k]:6.1f} s  ({med[k] / runs[k]:.3f} s a task run)")
    print(f"  ratio plain / grouped: {med['plain'] / med['grouped']:.2f}x")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
