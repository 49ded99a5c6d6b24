"""A seeded synthetic daily panel: thousands of count series for tests and benchmarks.

:func:`synthetic_panel` returns a *long* table ``date, series, value`` in the shape a
source file has (``date`` is an ISO ``YYYY-MM-DD`` string, as ingest reads it), so it
can be written as CSV with :func:`write_panel_csv` and run through ingest -> validate ->
clean with a long-format mapping (``data/mappings/long.yaml``).

Each series is ``level x weekly x yearly x trend x noise``, rounded to a count:

- ``level``: log-normal across series, clipped to ``levels`` (default 100 .. 100,000);
- ``weekly``: CTA-style day types (:func:`seqcast.sample.day_types`): weekday ``W`` 1.0,
  Saturday ``A`` 0.5 .. 0.9, Sunday or holiday ``U`` 0.6 .. 0.95 of Saturday;
- ``yearly``: a sine wave, amplitude 2 .. 15 %, random phase;
- ``trend``: ``exp(slope * years)``, slope ~ N(0, 3 %) a year;
- ``noise``: log-normal, sigma ``noise`` x 0.5 .. 1.5 per series.

Defects a real panel has: ``short_fraction`` of the series start late (``short_days``
days of history, ending on ``end``), and ``gap_fraction`` of the series miss one run of
``gap_days`` consecutive days inside their range (short enough for cleaning to fill
with the default ``max_gap_days``). Rows are sorted by series, then date; ids are
``s0001``, ``s0002``, ... (zero-padded to at least four digits, so they sort as numbers).
The same arguments give the same frame on every machine.

>>> df = synthetic_panel(3, start="2024-01-01", end="2024-03-31", seed=1)
>>> list(df.columns), df["series"].unique().tolist()
(['date', 'series', 'value'], ['s0001', 's0002', 's0003'])
>>> df["date"].iloc[0], bool((df["value"] >= 0).all()), str(df["value"].dtype)
('2024-01-01', True, 'int64')
>>> synthetic_panel(3, start="2024-01-01", end="2024-03-31", seed=1).equals(df)
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from seqcast.sample import day_types, us_holidays

COLUMNS = ["date", "series", "value"]


def synthetic_panel(
    n_series: int,
    start: str = "2022-01-01",
    end: str = "2024-12-31",
    seed: int = 0,
    *,
    levels: tuple[float, float] = (100.0, 100_000.0),
    noise: float = 0.05,
    short_fraction: float = 0.1,
    short_days: tuple[int, int] = (90, 365),
    gap_fraction: float = 0.05,
    gap_days: tuple[int, int] = (1, 5),
) -> pd.DataFrame:
    """A long panel ``date, series, value`` of ``n_series`` daily count series.

    Parameters
    ----------
    n_series
        How many series (ids ``s0001`` ..).
    start, end
        The first and last day (inclusive) of the full-length series.
    seed
        Seed of the one ``numpy`` generator every random draw comes from.
    levels
        Bounds of the per-series level (log-normal, clipped).
    noise
        Typical sigma of the multiplicative log-normal noise.
    short_fraction, short_days
        Share of series that start late, and the range of their lengths in days.
    gap_fraction, gap_days
        Share of series with one interior run of missing days, and the range of its length.

    Returns
    -------
    DataFrame
        ``date`` (str, ``YYYY-MM-DD``), ``series`` (str), ``value`` (int64, >= 0); one row
        per series and day present, sorted by ``series`` then ``date``.
    """
    if n_series < 1:
        raise ValueError(f"n_series must be at least 1, got {n_series}")
    ds = pd.date_range(start, end, freq="D")
    n_days = len(ds)
    if n_days < 2:
        raise ValueError(f"need at least two days between {start} and {end}")
    rng = np.random.default_rng(seed)
    values = _values(rng, ds, n_series, levels, noise)  # (n_series, n_days)
    present = _present(rng, n_series, n_days, short_fraction, short_days, gap_fraction, gap_days)

    rows, cols = np.nonzero(present)  # row-major: sorted by series, then day
    width = max(4, len(str(n_series)))
    ids = np.array([f"s{i:0{width}d}" for i in range(1, n_series + 1)], dtype=object)
    dates = np.asarray(ds.strftime("%Y-%m-%d"), dtype=object)
    return pd.DataFrame({"date": dates[cols], "series": ids[rows], "value": values[rows, cols]})


def _values(
    rng: np.random.Generator, ds: pd.DatetimeIndex, n: int, levels: tuple[float, float], noise: float
) -> np.ndarray:
    """The ``(n, n_days)`` int64 matrix of counts, every day filled."""
    lo, hi = np.log(levels[0]), np.log(levels[1])
    level = np.exp(np.clip(rng.normal((lo + hi) / 2, (hi - lo) / 5, n), lo, hi))
    saturday = rng.uniform(0.5, 0.9, n)
    sunday = saturday * rng.uniform(0.6, 0.95, n)
    amplitude = rng.uniform(0.02, 0.15, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    slope = rng.normal(0, 0.03, n)
    sigma = noise * rng.uniform(0.5, 1.5, n)

    kind = day_types(ds, us_holidays(range(ds[0].year, ds[-1].year + 1)))
    weekly = np.where(kind == "W", 1.0, np.where(kind == "A", saturday[:, None], sunday[:, None]))
    t = np.arange(len(ds)) / 365.25
    yearly = 1 + amplitude[:, None] * np.sin(2 * np.pi * ds.day_of_year.to_numpy() / 365.25 + phase[:, None])
    trend = np.exp(slope[:, None] * t)
    shocks = np.exp(sigma[:, None] * rng.standard_normal((n, len(ds))))
    return np.rint(level[:, None] * weekly * yearly * trend * shocks).astype(np.int64)


def _present(
    rng: np.random.Generator,
    n: int,
    n_days: int,
    short_fraction: float,
    short_days: tuple[int, int],
    gap_fraction: float,
    gap_days: tuple[int, int],
) -> np.ndarray:
    """The ``(n, n_days)`` bool mask of the days each series has."""
    first = np.zeros(n, dtype=np.int64)
    short = rng.choice(n, size=int(round(short_fraction * n)), replace=False)
    lengths = rng.integers(short_days[0], short_days[1], size=len(short), endpoint=True)
    first[short] = np.maximum(n_days - np.minimum(lengths, n_days), 0)
    day = np.arange(n_days)
    present = day[None, :] >= first[:, None]

    gapped = rng.choice(n, size=int(round(gap_fraction * n)), replace=False)
    g = rng.integers(gap_days[0], gap_days[1], size=len(gapped), endpoint=True)
    # the gap starts after the series' first day and ends before its last: only interior
    # days are missing, so cleaning sees a gap rather than a shorter series
    room = n_days - 1 - first[gapped] - g
    ok = room >= 1
    gapped, g, room = gapped[ok], g[ok], room[ok]
    gap_start = first[gapped] + 1 + np.floor(rng.uniform(0, 1, len(gapped)) * room).astype(np.int64)
    offset = day[None, :] - gap_start[:, None]
    present[gapped] &= ~((offset >= 0) & (offset < g[:, None]))
    return present


def write_panel_csv(path: str | Path, **kw) -> Path:
    """Write :func:`synthetic_panel` (``kw`` are its arguments) as a CSV file; return its path.

    >>> import tempfile, pandas as pd
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = write_panel_csv(f"{tmp}/panel.csv", n_series=2, start="2024-01-01", end="2024-01-31")
    ...     pd.read_csv(p).columns.tolist()
    ['date', 'series', 'value']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_panel(**kw).to_csv(path, index=False, lineterminator="\n")
    return path
