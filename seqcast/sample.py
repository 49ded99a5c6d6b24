"""The embedded default data: a seeded, ridership-like daily sample in the CTA export format.

Nothing is downloaded: :func:`write_sample` generates the same bytes on every
machine (fixed seed, fixed date range), so the default run and its tests are
reproducible. See ``data/README.md`` for what the sample contains.

>>> import io, pandas as pd
>>> df = pd.read_csv(io.BytesIO(sample_bytes()))
>>> list(df.columns)
['service_date', 'day_type', 'bus', 'rail_boardings', 'total_rides']
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

START, END = "2021-01-01", "2024-12-31"
SEED = 20240101
DUPLICATED_MONTH = "2022-10"  # appended a second time at the end, as in the CTA export
MISSING_DAY = "2023-03-15"  # removed: cleaning imputes it
FILENAME = "cta_like_daily.csv"


def us_holidays(years: range) -> set[pd.Timestamp]:
    """Days the sample marks as day type ``U``: the six holidays CTA runs a Sunday service on."""
    days: set[pd.Timestamp] = set()
    for y in years:
        days |= {pd.Timestamp(y, 1, 1), pd.Timestamp(y, 7, 4), pd.Timestamp(y, 12, 25)}
        may = pd.date_range(f"{y}-05-01", f"{y}-05-31")
        days.add(may[may.day_of_week == 0][-1])  # Memorial Day: last Monday of May
        sep = pd.date_range(f"{y}-09-01", f"{y}-09-30")
        days.add(sep[sep.day_of_week == 0][0])  # Labor Day: first Monday of September
        nov = pd.date_range(f"{y}-11-01", f"{y}-11-30")
        days.add(nov[nov.day_of_week == 3][3])  # Thanksgiving: fourth Thursday
    return days


def day_types(ds: pd.DatetimeIndex, holidays: set[pd.Timestamp] | None = None) -> np.ndarray:
    """CTA day types: ``W`` weekday, ``A`` Saturday, ``U`` Sunday or holiday."""
    out = np.where(ds.day_of_week < 5, "W", np.where(ds.day_of_week == 5, "A", "U"))
    if holidays:
        out[ds.isin(list(holidays))] = "U"
    return out


def sample_frame() -> pd.DataFrame:
    """The sample as a DataFrame in the export's layout (defects included)."""
    rng = np.random.default_rng(SEED)
    ds = pd.date_range(START, END, freq="D")
    kind = day_types(ds, us_holidays(range(ds[0].year, ds[-1].year + 1)))
    t = np.arange(len(ds)) / 365.25
    yearly = 1 + 0.10 * np.sin(2 * np.pi * (ds.day_of_year - 110) / 365.25)
    weekly = {"W": 1.0, "A": 0.62, "U": 0.46}
    level = np.array([weekly[k] for k in kind])
    series = {}
    for name, base, growth in (("bus", 620_000, 0.03), ("rail_boardings", 410_000, 0.05)):
        noise = rng.lognormal(mean=0.0, sigma=0.035, size=len(ds))
        series[name] = np.round(base * (1 + growth * t) * yearly * level * noise).astype(np.int64)
    df = pd.DataFrame(
        {
            "service_date": ds.strftime("%m/%d/%Y"),
            "day_type": kind,
            "bus": series["bus"],
            "rail_boardings": series["rail_boardings"],
        }
    )
    df["total_rides"] = df["bus"] + df["rail_boardings"]
    df = df[ds != pd.Timestamp(MISSING_DAY)]
    month = pd.to_datetime(df["service_date"], format="%m/%d/%Y").dt.strftime("%Y-%m")
    return pd.concat([df, df[month == DUPLICATED_MONTH]], ignore_index=True)


def sample_bytes() -> bytes:
    return sample_frame().to_csv(index=False, lineterminator="\n").encode("utf-8")


def write_sample(directory: str | Path) -> Path:
    """Write the sample CSV into ``directory`` (once) and return its path."""
    path = Path(directory) / FILENAME
    data = sample_bytes()
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def sample_sha256() -> str:
    return hashlib.sha256(sample_bytes()).hexdigest()


def sample_end() -> date:
    return pd.Timestamp(END).date()
