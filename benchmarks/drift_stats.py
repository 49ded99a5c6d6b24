"""The drift statistics behind the monitor's plot: seqcast's KS distance and median against
scipy's ``ks_2samp`` and ``np.median`` (the plain way), in the same run.

    .venv/bin/python benchmarks/drift_stats.py            # 3 rounds
    .venv/bin/python benchmarks/drift_stats.py --rounds 5

The night's statistics of the drift plot (182 nights x 2 series on the embedded data,
``seqcast run``'s first night) call a KS distance once and a median ~20 times a night on
samples of 28 and 84 values. Here: the same samples through both ways, alternated, median
of ``--rounds`` rounds, one BLAS thread on both sides, load average printed; and a check
that both give the same numbers. Not run by the tests.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the same BLAS threads on both sides

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from seqcast.drift import _median, ks_distance  # noqa: E402

NIGHTS, MEDIANS = 364, 20  # 182 nights x 2 series; medians a night


def _samples(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=28), rng.normal(0.2, 1.1, size=84)) for _ in range(NIGHTS)]


def plain(samples) -> float:
    total = 0.0
    for a, b in samples:
        total += stats.ks_2samp(a, b, method="asymp").statistic
        for _ in range(MEDIANS // 2):
            total += np.median(a) + np.median(b)
    return total


def seqcast_way(samples) -> float:
    total = 0.0
    for a, b in samples:
        total += ks_distance(a, b)
        for _ in range(MEDIANS // 2):
            total += _median(a) + _median(b)
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    samples = _samples()
    assert plain(samples) == seqcast_way(samples), "the two ways disagree"
    print(f"# {os.cpu_count()} cores, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"load average {os.getloadavg()[0]:.1f}; {NIGHTS} nights, a KS distance and {MEDIANS} medians each")
    contenders = {"scipy ks_2samp + np.median": plain, "seqcast ks_distance + _median": seqcast_way}
    times: dict[str, list[float]] = {n: [] for n in contenders}
    names = list(contenders)
    for r in range(args.rounds):
        for name in names[r % 2:] + names[:r % 2]:  # alternated
            t0 = time.perf_counter()
            contenders[name](samples)
            times[name].append(time.perf_counter() - t0)
        print(f"#   round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.3f} s" for n in names)
              + f"; load average {os.getloadavg()[0]:.1f}")
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f"median of {args.rounds}: " + " | ".join(f"{n} {med[n]:.3f} s" for n in names)
          + f" | ratio {med[names[0]] / med[names[1]]:.1f}x (same numbers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
