"""The published table as other tools read it: typed Parquet, real hive partitions (issue 14)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest

from seqcast.published import publish_forecasts, read_forecasts


def _night(cutoff: str, offset: float) -> pd.DataFrame:
    c = pd.Timestamp(cutoff)
    rows = []
    for sid in ("bus", "rail"):
        for h in (1, 2, 3):
            mean = 100.0 * h + offset + (sid == "rail")
            rows.append({"series_id": sid, "ds": c + pd.Timedelta(days=h), "cutoff": c, "h": h,
                         "model": "seasonal_naive", "mean": mean, "lo-95": mean - 2, "lo-80": mean - 1,
                         "hi-80": mean + 1, "hi-95": mean + 2, "reason": "test"})
    return pd.DataFrame(rows)


@pytest.fixture()
def two_nights(tmp_path):
    publish_forecasts(_night("2024-12-29", 0.0), tmp_path, run_date=date(2024, 12, 30), run_id="r1", data_hash="a")
    publish_forecasts(_night("2024-12-30", 10.0), tmp_path, run_date=date(2024, 12, 31), run_id="r2", data_hash="b")
    # a re-run of the second night replaces it
    publish_forecasts(_night("2024-12-30", 20.0), tmp_path, run_date=date(2024, 12, 31), run_id="r3", data_hash="b")
    return tmp_path


def test_days_are_date32_and_created_at_is_utc(two_nights):
    path = two_nights / "published" / "forecasts" / "run_date=2024-12-31" / "part-0.parquet"
    schema = pq.read_schema(path)
    assert str(schema.field("ds").type) == "date32[day]" and str(schema.field("cutoff").type) == "date32[day]"
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert "run_date" not in schema.names  # the partition column lives in the folder name
    assert str(schema.field("mean").type) == "double" and str(schema.field("h").type) == "int64"


def test_pyarrow_dataset_reads_the_partition_and_filters_on_it(two_nights):
    folder = two_nights / "published" / "forecasts"
    table = pq.read_table(folder, filters=[("run_date", "=", "2024-12-30")])
    assert table.num_rows == 6 and set(table.column("run_id").to_pylist()) == {"r1"}
    typed = pds.dataset(folder, format="parquet",
                        partitioning=pds.partitioning(pa_schema_run_date(), flavor="hive"))
    got = typed.to_table(filter=pds.field("run_date") == date(2024, 12, 31)).to_pandas()
    assert len(got) == 6 and set(got["run_id"]) == {"r3"}  # the re-run replaced the night


def pa_schema_run_date():
    import pyarrow as pa

    return pa.schema([("run_date", pa.date32())])


def test_pandas_reads_the_folder(two_nights):
    df = pd.read_parquet(two_nights / "published" / "forecasts")
    assert len(df) == 12 and sorted(df["run_date"].astype(str).unique()) == ["2024-12-30", "2024-12-31"]


def test_duckdb_latest_forecast_of_every_series(two_nights):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is a dev dependency (pip install -e '.[dev]')")
    folder = two_nights / "published" / "forecasts"
    latest = duckdb.sql(
        f"SELECT series_id, ds, mean, run_date FROM read_parquet('{folder}/*/*.parquet', hive_partitioning = true) "
        "QUALIFY run_date = max(run_date) OVER (PARTITION BY series_id) ORDER BY series_id, ds"
    ).df()
    assert len(latest) == 6 and (latest["run_date"].astype(str) == "2024-12-31").all()
    assert latest["mean"].tolist() == [120.0, 220.0, 320.0, 121.0, 221.0, 321.0]


def test_read_forecasts_gives_the_library_types(two_nights):
    df = read_forecasts(two_nights)
    assert len(df) == 12
    for col in ("ds", "cutoff", "run_date", "created_at"):
        assert str(df[col].dtype) == "datetime64[ns]", col
    latest = read_forecasts(two_nights, latest=True)
    assert (latest["run_id"] == "r3").all() and np.allclose(latest["mean"], _night("2024-12-30", 20.0)["mean"])
    assert len(read_forecasts(two_nights, run_date="2024-12-30")) == 6


def test_files_of_the_earlier_layout_still_read(tmp_path):
    path = publish_forecasts(_night("2024-12-29", 0.0), tmp_path, run_date=date(2024, 12, 30), run_id="r1",
                             data_hash="a")
    old = read_forecasts(tmp_path)
    legacy = old.copy()
    legacy_path = tmp_path / "published" / "forecasts" / "run_date=2024-12-29.parquet"
    legacy.assign(run_date=pd.Timestamp("2024-12-29")).to_parquet(legacy_path)
    both = read_forecasts(tmp_path)
    assert sorted(both["run_date"].dt.strftime("%Y-%m-%d").unique()) == ["2024-12-29", "2024-12-30"]
    # publishing a night over an old-layout file of that night replaces it
    publish_forecasts(_night("2024-12-28", 5.0), tmp_path, run_date=date(2024, 12, 29), run_id="r0", data_hash="z")
    assert not legacy_path.exists() and path.exists()
    assert set(read_forecasts(tmp_path, run_date="2024-12-29")["run_id"]) == {"r0"}
