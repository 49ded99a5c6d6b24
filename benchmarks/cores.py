"""What two processes get from this machine: the ceiling for any 1 -> 2 worker speed-up.

    python benchmarks/cores.py                 # 3 rounds, both workloads
    python benchmarks/cores.py --rounds 5 --units 40

``benchmarks/scale.py`` compares a nightly run on 1 and on 2 Dask workers. Before reading
its ratio against a goal (issue 18 asks for >= 1.85x at 200 series), this measures what the
machine itself gives two CPU-bound processes, with no seqcast scheduling, Prefect or Dask in
the way. Two workloads, each run as the same fixed set of work units:

- ``sarima``: the nightly's own unit of work, seqcast's default ``sarima`` (1,0,0)(0,1,1,7)
  fit and 14-day forecast on a 365-day synthetic series (one BLAS thread, as the workers run);
- ``python``: a pure-Python integer loop (no memory traffic, no BLAS): the upper bound.

Each round runs ``--units`` units in **one** process, then the same units split over **two**
processes started together (or the other order, alternated round by round); both sides are
fresh ``python -c`` processes with ``OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1``,
and the wall time covers only the work (the imports are done before the clock starts:
each process waits on a start line after importing). Printed: per round the two wall times,
then the median ratio, the load average, and the CPU steal time (``/proc/stat``, the share of
time the hypervisor gave the vCPUs to someone else) over the whole run.

On a 2-vCPU virtual machine the ratio is below 2 whenever the two vCPUs do not get two
physical cores' worth (a shared host, steal, boost clocks that drop when both cores run):
the nightly's 1 -> 2 worker speed-up cannot exceed it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}

# Each worker imports, builds its inputs, prints "ready", waits for a line on stdin, works,
# then prints its own wall time of the work.
_WORKER = r"""
import sys, time
import numpy as np
kind, units = sys.argv[1], int(sys.argv[2])
if kind == "sarima":
    import pandas as pd
    from seqcast.models import build
    rng = np.random.default_rng(0)
    days = pd.date_range("2023-01-01", periods=365, freq="D")
    week = np.tile([1.0, 1.0, 1.0, 1.0, 0.9, 0.6, 0.5], 53)[:365]
    frames = [pd.DataFrame({"series_id": f"s{i}", "ds": days,
                            "y": 1000 * week * rng.lognormal(0, 0.05, 365)})
              for i in range(units)]
    def work(i):
        build("sarima").fit(frames[i]).predict(14)
    work(0)  # first-call costs (statsmodels' compiled filters) outside the clock
else:
    def work(i):
        s = 0
        for k in range(6_000_000):
            s += k * k % 7
print("ready", flush=True)
sys.stdin.readline()
t = time.perf_counter()
for i in range(units):
    work(i)
print(time.perf_counter() - t, flush=True)
"""


def _steal() -> tuple[int, int]:
    """(steal, total) jiffies summed over all CPUs, from /proc/stat; (0, 0) where absent."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0, 0
    values = [int(v) for v in fields]
    return (values[7] if len(values) > 7 else 0), sum(values)


def run_units(kind: str, shares: list[int]) -> float:
    """Wall seconds for ``len(shares)`` processes doing ``shares[i]`` units each, together."""
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, kind, str(n)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for n in shares]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    t = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        p.stdout.readline()
        p.wait()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="rounds per workload (default 3)")
    ap.add_argument("--units", type=int, default=24,
                    help="work units per round, split evenly over 2 processes (default 24)")
    ap.add_argument("--kinds", default="python,sarima", help="workloads (default python,sarima)")
    args = ap.parse_args()
    half = args.units // 2
    print(f"# {os.cpu_count()} CPUs, {args.units} units a side, BLAS 1 thread a process; "
          f"load average at the start {os.getloadavg()[0]:.2f}")
    steal0 = _steal()
    for kind in args.kinds.split(","):
        one, two = [], []
        for r in range(args.rounds):
            order = ("one", "two") if r % 2 == 0 else ("two", "one")
            for side in order:
                if side == "one":
                    one.append(run_units(kind, [2 * half]))
                else:
                    two.append(run_units(kind, [half, half]))
            print(f"  {kind:6s} round {r + 1}: 1 process {one[-1]:6.2f} s, 2 processes "
                  f"{two[-1]:6.2f} s = {one[-1] / two[-1]:.2f}x  (load {os.getloadavg()[0]:.2f})",
                  flush=True)
        m1, m2 = statistics.median(one), statistics.median(two)
        print(f"{kind:6s} median: 1 process {m1:.2f} s, 2 processes {m2:.2f} s = "
              f"{m1 / m2:.2f}x (ideal 2.00x)")
    steal1 = _steal()
    total = steal1[1] - steal0[1]
    share = (steal1[0] - steal0[0]) / total if total else float("nan")
    print(f"# CPU steal over the run {100 * share:.1f} %; "
          f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
