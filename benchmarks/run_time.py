"""How long `seqcast run` (what `make run` does) takes on the embedded data, with and without
a Prefect server already running.

    .venv/bin/python benchmarks/run_time.py            # 3 rounds
    .venv/bin/python benchmarks/run_time.py --rounds 5

Starts one Prefect server (private ``PREFECT_HOME``, a free port), then runs
``seqcast run --data-dir <tmp>`` alternately against it (``PREFECT_API_URL`` set) and
without it (the CLI starts its temporary server), each in a fresh process and a fresh data
dir, the order rotating each round. Prints each round's wall times with the load average,
the medians, and the ratio; the run against the running server also prints its stage
times from ``<data-dir>/logs/run.log`` when present. Goal (issue 18): <= 10 s with a
running server. Not run by the tests.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: str, api_url: str | None) -> dict[str, str]:
    # A user's Python caches compiled modules; a sandbox with PYTHONDONTWRITEBYTECODE=1
    # recompiles seqcast, tasks and flows (~0.25 s) in every run.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PREFECT_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PYTHONUNBUFFERED="1")
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _one_run(home: str, api_url: str | None) -> float:
    with tempfile.TemporaryDirectory(prefix="seqcast-runtime-") as data_dir:
        t0 = time.perf_counter()
        proc = subprocess.run([str(BIN / "seqcast"), "run", "--data-dir", data_dir],
                              cwd=ROOT, env=_env(home, api_url), capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(f"seqcast run failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    home = tempfile.mkdtemp(prefix="seqcast-runtime-home-")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=_env(home, None),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{api_url}/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("the Prefect server did not start")
                time.sleep(0.5)
        print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; server at {api_url}")
        _one_run(home, api_url)  # warm-up: first-run caches (numba, GX context) are not timed
        contenders = {"running server": api_url, "temporary server": None}
        times: dict[str, list[float]] = {n: [] for n in contenders}
        names = list(contenders)
        for r in range(args.rounds):
            order = names[r % 2:] + names[:r % 2]
            for name in order:
                times[name].append(_one_run(home, contenders[name]))
            print(f"#   round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {times[n][-1]:.1f} s" for n in names)
                  + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
        med = {n: statistics.median(v) for n, v in times.items()}
        print(f"seqcast run on the embedded data, median of {args.rounds}: running server "
              f"{med['running server']:.1f} s | temporary server {med['temporary server']:.1f} s "
              f"(the temporary server costs {med['temporary server'] - med['running server']:.1f} s, "
              f"{med['temporary server'] / med['running server']:.2f}x) (goal <= 10 s with a running server)")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"# load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
