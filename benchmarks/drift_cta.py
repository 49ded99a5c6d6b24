"""Drift alerting replayed over the CTA export: false alerts 2016-2019 and the Covid detection.

Every night from 2016-01-01 to 2020-04-30 through ``seqcast.alerts.replay`` (the nightly
monitor's own code, no look-ahead), both profiles, beside the figures before issue 15.

    nice .venv/bin/python benchmarks/drift_cta.py [--source ../shared/data/cta_ridership_daily.csv]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from seqcast.alerts import read_alerts, replay
from seqcast.drift import DriftConfig
from seqcast.pipeline import clean_source

DEFAULT_SOURCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cta_ridership_daily.csv"
# Measured before issue 15 (same nights, data_drift_history + transitions, no calendar).
BEFORE = {
    "default": {"bus": 13.75, "rail": 9.5, "first": {"rail": "2020-03-13", "bus": "2020-03-16"}},
    "conservative": {"bus": 5.0, "rail": 2.75, "first": {"rail": "2020-03-17", "bus": "2020-03-19"}},
}
START, END, EVENT = "2016-01-01", "2020-04-30", pd.Timestamp("2020-03-13")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=str(DEFAULT_SOURCE))
    ap.add_argument("--holidays", default="US-IL", help="calendar ('none': the source's holidays only)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    clean = clean_source(args.source).clean
    holidays = None if args.holidays.lower() == "none" else args.holidays
    print(f"CTA drift replay {START} .. {END}, holidays {holidays or 'source only'}")
    print("| profile | series | alerts/yr 2016-19 before | now | by kind (2016-19) | first alert >= 2020-03-13 before | now |")
    print("|---|---|---|---|---|---|---|")
    for name, make in (("default", DriftConfig), ("conservative", DriftConfig.conservative)):
        with tempfile.TemporaryDirectory() as tmp:
            replay(tmp, clean, START, END, config=make(holidays=holidays), run_id=name)
            table = read_alerts(tmp)
        opened = table[table["status"] == "open"]
        pre = opened[opened["detected_at"] <= "2019-12-31"]
        for sid in ("bus", "rail"):
            mine = pre[pre["series_id"] == sid]
            kinds = ", ".join(f"{k} {n / 4:g}" for k, n in mine["kind"].value_counts().sort_index().items())
            after = opened[(opened["series_id"] == sid) & (opened["detected_at"] >= EVENT)]["detected_at"]
            first = after.min().date() if len(after) else "-"
            print(f"| {name} | {sid} | {BEFORE[name][sid]:g} | {len(mine) / 4:g} | {kinds or '-'} | "
                  f"{BEFORE[name]['first'][sid]} | {first} |")
        print(f"| {name} | all | {(BEFORE[name]['bus'] + BEFORE[name]['rail']) / 2:g} | "
              f"{len(pre) / 8:g} | per series-year | | |")
    load = os.getloadavg()
    print(f"\nwall {time.perf_counter() - t0:.1f}s, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} cpus)")


if __name__ == "__main__":
    main()
