"""The published forecast table: what data teams read from their own tools.

One Parquet file per night under ``<data_dir>/published/forecasts/``, named
``run_date=<YYYY-MM-DD>.parquet`` and written atomically (temp file + rename),
so a reader sees last night's complete table or the new complete one, never a
half-written one; re-running a night replaces that night's file.

Columns: ``series_id, ds, cutoff, h, model, mean, lo-95, lo-80, hi-80, hi-95,
run_date, run_id, data_hash, model_version, reason, created_at`` (+ ``interval_n``).
The intervals are split-conformal (:mod:`seqcast.conformal`) from the published
model's own recent backtest errors at that step; NaN where it has too few yet.

>>> from seqcast.published import read_forecasts
>>> read_forecasts("data").head()  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from seqcast.io import write_parquet_atomic
from seqcast.layout import DataDir

INTERVALS = ["lo-95", "lo-80", "hi-80", "hi-95"]
COLUMNS = [
    "series_id", "ds", "cutoff", "h", "model", "mean", *INTERVALS,
    "run_date", "run_id", "data_hash", "model_version", "reason", "created_at",
]


class ForecastSchema(pa.DataFrameModel):
    series_id: str
    ds: pd.Timestamp
    cutoff: pd.Timestamp
    h: int = pa.Field(ge=1)
    model: str
    mean: float = pa.Field(nullable=False)
    lo_95: float = pa.Field(nullable=True, alias="lo-95")
    lo_80: float = pa.Field(nullable=True, alias="lo-80")
    hi_80: float = pa.Field(nullable=True, alias="hi-80")
    hi_95: float = pa.Field(nullable=True, alias="hi-95")
    run_date: pd.Timestamp
    run_id: str
    data_hash: str
    model_version: str
    reason: str
    created_at: pd.Timestamp

    class Config:
        unique = ["series_id", "ds", "model"]

    @pa.dataframe_check(error="intervals must be ordered lo-95 <= lo-80 <= mean <= hi-80 <= hi-95")
    @classmethod
    def intervals_ordered(cls, df: pd.DataFrame) -> pd.Series:
        cols = ["lo-95", "lo-80", "mean", "hi-80", "hi-95"]
        v = df[cols].to_numpy(dtype=float)
        known = ~pd.isna(df[INTERVALS]).any(axis=1).to_numpy()
        ordered = (v[:, :-1] <= v[:, 1:] + 1e-9 * (1 + abs(v[:, 1:]))).all(axis=1)
        return pd.Series(~known | ordered, index=df.index)

    @pa.dataframe_check(error="ds must equal cutoff + h days")
    @classmethod
    def horizon_lines_up(cls, df: pd.DataFrame) -> pd.Series:
        return df["ds"] == df["cutoff"] + pd.to_timedelta(df["h"], unit="D")


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
    return write_parquet_atomic(df.reset_index(drop=True), DataDir(data_dir).forecast_file(run_date))


def read_forecasts(
    data_dir: str | Path = "data", *, run_date: date | str | None = None, latest: bool = False
) -> pd.DataFrame:
    """Read the forecast table: every night, one night, or only the latest night."""
    folder = DataDir(data_dir).forecasts
    files = sorted(folder.glob("run_date=*.parquet")) if folder.exists() else []
    if run_date is not None:
        files = [f for f in files if f.stem == f"run_date={pd.Timestamp(run_date):%Y-%m-%d}"]
    elif latest and files:
        files = files[-1:]
    if not files:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
