"""The published forecast table: what data teams read from their own tools.

A hive-partitioned Parquet dataset under ``<data_dir>/published/forecasts/``, one
partition per night (``run_date=<YYYY-MM-DD>/part-0.parquet``), each written
atomically (temp file + rename), so a reader sees last night's complete table or
the new complete one, never a half-written one; re-running a night replaces that
night's file. pandas, pyarrow datasets, DuckDB (``hive_partitioning``) and Spark
read ``run_date`` from the folder names.

Columns and Parquet types: ``series_id`` string, ``ds`` date32, ``cutoff`` date32,
``h`` int64, ``model`` string, ``mean, lo-95, lo-80, hi-80, hi-95`` double,
``run_date`` date32 (the partition), ``run_id, data_hash, model_version, reason``
string, ``created_at`` timestamp (UTC) (+ ``interval_n`` int64). The intervals are
split-conformal (:mod:`seqcast.conformal`) from the published model's own recent
backtest errors at that step; NaN where it has too few yet.

>>> from seqcast.published import read_forecasts
>>> read_forecasts("data").head()  # doctest: +SKIP
>>> import pyarrow.dataset as ds  # doctest: +SKIP
>>> ds.dataset("data/published/forecasts", partitioning="hive").to_table(
...     filter=ds.field("run_date") == "2024-12-30")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from seqcast.io import write_parquet_atomic
from seqcast.layout import DataDir

INTERVALS = ["lo-95", "lo-80", "hi-80", "hi-95"]
COLUMNS = [
    "series_id", "ds", "cutoff", "h", "model", "mean", *INTERVALS,
    "run_date", "run_id", "data_hash", "model_version", "reason", "created_at",
]


def _intervals_ordered(df: pd.DataFrame) -> pd.Series:
    cols = ["lo-95", "lo-80", "mean", "hi-80", "hi-95"]
    v = df[cols].to_numpy(dtype=float)
    known = ~pd.isna(df[INTERVALS]).any(axis=1).to_numpy()
    ordered = (v[:, :-1] <= v[:, 1:] + 1e-9 * (1 + abs(v[:, 1:]))).all(axis=1)
    return pd.Series(~known | ordered, index=df.index)


def _horizon_lines_up(df: pd.DataFrame) -> pd.Series:
    return df["ds"] == df["cutoff"] + pd.to_timedelta(df["h"], unit="D")


# The published table's contract (a schema object: see seqcast.validate.CleanSchema).
ForecastSchema = pa.DataFrameSchema(
    {
        "series_id": pa.Column(str),
        "ds": pa.Column(pd.Timestamp),
        "cutoff": pa.Column(pd.Timestamp),
        "h": pa.Column(int, pa.Check.ge(1)),
        "model": pa.Column(str),
        "mean": pa.Column(float),
        **{col: pa.Column(float, nullable=True) for col in ("lo-95", "lo-80", "hi-80", "hi-95")},
        "run_date": pa.Column(pd.Timestamp),
        "run_id": pa.Column(str),
        "data_hash": pa.Column(str),
        "model_version": pa.Column(str),
        "reason": pa.Column(str),
        "created_at": pa.Column(pd.Timestamp),
    },
    checks=[
        pa.Check(_intervals_ordered, name="intervals_ordered",
                 error="intervals must be ordered lo-95 <= lo-80 <= mean <= hi-80 <= hi-95"),
        pa.Check(_horizon_lines_up, name="horizon_lines_up", error="ds must equal cutoff + h days"),
    ],
    unique=["series_id", "ds", "model"],
    name="ForecastSchema",
)


def publish_forecasts(
    forecasts: pd.DataFrame,
    data_dir: str | Path,
    *,
    run_date: date,
    run_id: str,
    data_hash: str,
) -> Path:
    """Validate and atomically write one night's forecasts; returns the file written."""
    df = forecasts.copy()
    df["run_date"] = pd.Timestamp(run_date)
    df["run_id"] = str(run_id)
    df["data_hash"] = data_hash
    if "reason" not in df:
        df["reason"] = "configured model"
    for col in INTERVALS:
        if col not in df:
            df[col] = float("nan")
        df[col] = df[col].astype(float)
    if "model_version" not in df:
        df["model_version"] = df["model"]
    df["created_at"] = pd.Timestamp(datetime.now(UTC)).tz_localize(None).floor("s")
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[COLUMNS + extra].sort_values(["series_id", "model", "ds"], kind="stable")
    df["h"] = df["h"].astype("int64")
    ForecastSchema.validate(df, lazy=True)
    layout = DataDir(data_dir)
    path = write_parquet_atomic(to_stored(df), layout.forecast_file(run_date))
    layout.forecasts.joinpath(f"run_date={run_date.isoformat()}.parquet").unlink(missing_ok=True)  # old layout
    return path


def to_stored(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as stored: days as dates (Parquet date32), ``created_at`` in UTC, no partition column."""
    out = df.drop(columns="run_date").reset_index(drop=True)
    for col in ("ds", "cutoff"):
        out[col] = pd.to_datetime(out[col]).dt.date
    out["created_at"] = pd.to_datetime(out["created_at"]).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
    return out


def read_published_file(path: str | Path, series: Sequence[Any] | None = None) -> pd.DataFrame:
    """One night's file as a frame of :data:`COLUMNS` (``run_date`` from its folder name).

    Days come back as ``datetime64[ns]`` and ``created_at`` as naive UTC, the types the
    library computes with; files of the earlier one-file-per-night layout read the same.
    ``series``: only the rows of these ``series_id`` (filtered while reading).
    """
    path = Path(path)
    df = pd.read_parquet(path, filters=None if series is None else [("series_id", "in", list(series))])
    name = path.parent.name if path.name.startswith("part-") else path.stem
    if "run_date" not in df:
        df.insert(COLUMNS.index("run_date"), "run_date", pd.Timestamp(name.removeprefix("run_date=")))
    for col in ("ds", "cutoff", "run_date"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    created = pd.to_datetime(df["created_at"])
    if created.dt.tz is not None:
        created = created.dt.tz_convert("UTC").dt.tz_localize(None)
    df["created_at"] = created.astype("datetime64[ns]")
    return df[COLUMNS + [c for c in df.columns if c not in COLUMNS]]


_NIGHT = re.compile(r"run_date=\d{4}-\d{2}-\d{2}")


def stray_files(data_dir: str | Path = "data") -> list[Path]:
    """Parquet files in a night's folder other than its ``part-0.parquet`` (a Finder or
    Explorer copy ``part-0 copy.parquet``, ``part-0 (1).parquet``): seqcast reads only
    ``part-0``, but DuckDB's ``*/*.parquet``, ``pd.read_parquet`` of the folder and Spark
    read every file, each row of that night twice. Temp files (``.…tmp``) and ``_…`` are
    skipped by those readers too."""
    folder = DataDir(data_dir).forecasts
    if not folder.exists():
        return []
    return sorted(f for f in folder.glob("run_date=*/*.parquet")
                  if f.name != "part-0.parquet" and not f.name.startswith((".", "_")))


def stray_warning(data_dir: str | Path = "data") -> str | None:
    """The console line for :func:`stray_files`, or None."""
    stray = stray_files(data_dir)
    if not stray:
        return None
    more = f" and {len(stray) - 1} more" if len(stray) > 1 else ""
    return (f"warning: {stray[0]}{more} is not a night's table (part-0.parquet): DuckDB, pandas and Spark "
            "read it as more rows of that night; move it out of the forecast table")


def read_forecasts(
    data_dir: str | Path = "data", *, run_date: date | str | None = None, latest: bool = False,
    since: date | str | None = None, series: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Read the forecast table: every night, one night, only the latest night, or the
    nights from ``since`` on; ``series``: only these ``series_id``."""
    folder = DataDir(data_dir).forecasts
    nights: dict[str, Path] = {}
    if folder.exists():
        for f in sorted(folder.glob("run_date=*.parquet")):  # the earlier layout
            nights[f.stem] = f
        for f in sorted(folder.glob("run_date=*/part-0.parquet")):
            nights[f.parent.name] = f
    stray = sorted(k for k in nights if not _NIGHT.fullmatch(k))
    if stray and run_date is None:  # a Finder copy (`run_date=2024-12-17 copy`) was internal error DateParseError
        from seqcast.errors import InputError

        raise InputError(f"{folder}: {', '.join(map(repr, stray))} is not a night's folder (run_date=YYYY-MM-DD); "
                         "move it out of the forecast table")
    files = [nights[k] for k in sorted(nights)]
    if run_date is not None:
        files = [f for k, f in sorted(nights.items()) if k == f"run_date={pd.Timestamp(run_date):%Y-%m-%d}"]
    elif latest and files:
        files = files[-1:]
    elif since is not None:
        files = [f for k, f in sorted(nights.items()) if k >= f"run_date={pd.Timestamp(since):%Y-%m-%d}"]
    if not files:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat([read_published_file(f, series) for f in files], ignore_index=True)
