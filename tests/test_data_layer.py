"""Ingest, validate and clean: the embedded sample, snapshots, mappings and the real CTA export."""

from __future__ import annotations

import functools
import http.server
import threading
from datetime import date

import numpy as np
import pandas as pd
import pytest

from seqcast.ingest import CTA_MAPPING, Mapping, ingest, load_mapping
from seqcast.models import get_model
from seqcast.pipeline import clean_source, run_clean, run_validate
from seqcast.sample import MISSING_DAY, sample_bytes, sample_frame, write_sample


def test_sample_is_deterministic_and_has_its_defects(tmp_path):
    assert sample_bytes() == sample_bytes()
    path = write_sample(tmp_path)
    df = pd.read_csv(path)
    assert list(df.columns) == ["service_date", "day_type", "bus", "rail_boardings", "total_rides"]
    days = pd.to_datetime(df["service_date"], format="%m/%d/%Y")
    assert days.min() == pd.Timestamp("2021-01-01") and days.max() == pd.Timestamp("2024-12-31")
    assert df.duplicated().sum() == 31  # one month, exactly duplicated
    assert pd.Timestamp(MISSING_DAY) not in set(days)
    assert (df["total_rides"] == df["bus"] + df["rail_boardings"]).all()
    assert (df.loc[days == pd.Timestamp("2024-12-25"), "day_type"] == "U").all()
    weekly = df.assign(dow=days.dt.day_of_week).groupby("dow")["rail_boardings"].mean()
    assert weekly[6] < 0.6 * weekly[2]  # weekly seasonality


def test_sample_cleans_to_one_row_per_day(tmp_path):
    out = clean_source(write_sample(tmp_path))
    r = out.report
    assert (r["rows_in"], r["exact_duplicates_dropped"], r["days"], r["days_imputed"]) == (1491, 31, 1461, 1)
    imputed = out.clean[out.clean["is_imputed"]]
    assert set(imputed["ds"]) == {pd.Timestamp(MISSING_DAY)}
    # the seasonal fill is the same weekday one week before: the past only, never the week after
    rail = out.clean[out.clean.series_id == "rail"].set_index("ds")["y"]
    day = pd.Timestamp(MISSING_DAY)
    assert rail[day] == rail[day - pd.Timedelta(days=7)]


def test_ingest_snapshot_is_content_keyed_and_idempotent(tmp_path):
    src = write_sample(tmp_path / "in")
    first = ingest(src, tmp_path / "data")
    again = ingest(src, tmp_path / "data")
    assert first.directory == again.directory and again.manifest == first.manifest
    assert first.manifest["rows"] == 1491 and first.path.read_bytes() == src.read_bytes()
    assert len(list((tmp_path / "data" / "raw").iterdir())) == 1
    src.write_bytes(src.read_bytes() + b"01/01/2025,U,1,2,3\n")
    other = ingest(src, tmp_path / "data")
    assert other.sha256 != first.sha256
    assert len(list((tmp_path / "data" / "raw").iterdir())) == 2


def test_ingest_from_http_url_and_parquet(tmp_path):
    src_dir = tmp_path / "srv"
    write_sample(src_dir)
    pd.read_csv(src_dir / "cta_like_daily.csv", dtype=str).to_parquet(src_dir / "sample.parquet")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(src_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        snap = ingest(f"{base}/cta_like_daily.csv", tmp_path / "data")
        assert snap.manifest["source"].startswith("http://") and snap.manifest["rows"] == 1491
        from_parquet = clean_source(f"{base}/sample.parquet")
    finally:
        server.shutdown()
    assert from_parquet.report["days"] == 1461


def test_mapping_for_a_plain_date_temp_csv(tmp_path):
    csv = tmp_path / "temps.csv"
    ds = pd.date_range("2024-01-01", periods=60)
    temps = np.round(np.sin(np.arange(60) / 9) * 8 - 2, 1)
    pd.DataFrame({"Date": ds.strftime("%Y-%m-%d"), "Temp": temps}).to_csv(csv, index=False)
    mapping = tmp_path / "temps.yaml"
    mapping.write_text('date_column: Date\ndate_format: "%Y-%m-%d"\nvalue_columns: {Temp: temp}\nnon_negative: false\n')
    out = clean_source(csv, mapping)
    assert out.report["days"] == 60 and out.report["rows_quarantined"] == 0
    assert out.clean["series_id"].unique().tolist() == ["temp"]
    assert out.clean["y"].min() < 0
    assert out.clean["day_type"].tolist()[:7] == ["W", "W", "W", "W", "W", "A", "U"]  # from the calendar
    with pytest.raises(Exception, match="unknown mapping key"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("date_column: Date\nvalue_columns: [Temp]\ncolour: red\n")
        load_mapping(bad)


def test_as_of_sets_later_rows_aside_without_quarantining(tmp_path):
    out = clean_source(write_sample(tmp_path), as_of=date(2023, 6, 30))
    assert out.report["last_day"] == "2023-06-30"
    assert out.report["rows_quarantined"] == 0 and out.report["rows_after_as_of"] > 500


def test_stages_on_disk_write_clean_parquet_and_report(tmp_path):
    snap = ingest(write_sample(tmp_path / "in"), tmp_path / "data")
    validated = run_validate(snap.directory, tmp_path / "data", as_of=date(2024, 12, 31))
    report = run_clean(validated)
    clean = pd.read_parquet(report["clean_path"])
    assert list(clean.columns) == ["series_id", "ds", "y", "day_type", "is_imputed"]
    assert len(clean) == 2 * 1461
    assert report["data_hash"] == snap.data_hash
    assert str(snap.data_hash) in report["clean_path"]  # versioned by the snapshot hash


# ----------------------------------------------------------------------------- real CTA data


@pytest.mark.cta
def test_cta_export_cleans_to_7639_days(cta_csv, cta_clean):
    out = clean_source(cta_csv)
    r = out.report
    assert r["rows_in"] == 7701
    assert r["exact_duplicates_dropped"] == 62
    assert r["days"] == 7639 and r["gaps"] == 0 and r["rows_quarantined"] == 0
    assert len(out.clean) == 2 * 7639
    raw = pd.read_csv(cta_csv).drop_duplicates()
    raw["ds"] = pd.to_datetime(raw["service_date"], format="%m/%d/%Y")
    rail = out.clean[out.clean.series_id == "rail"].set_index("ds")["y"]
    assert (rail.loc[raw["ds"]].to_numpy() == raw["rail_boardings"].to_numpy()).all()  # values unchanged


@pytest.mark.cta
@pytest.mark.parametrize(
    "series, mae, mape", [("rail", 42_143, 8.99), ("bus", 43_916, 8.29)]
)
def test_cta_seasonal_naive_figures(cta_clean, series, mae, mape):
    """One forecast per day, 2019-03-01..2019-05-31, from the value 7 days earlier."""
    history = cta_clean[cta_clean.series_id == series][["series_id", "ds", "y"]]
    preds, actuals = [], []
    for day in pd.date_range("2019-03-01", "2019-05-31"):
        fc = get_model("seasonal_naive").fit(history[history.ds < day]).predict(1)
        preds.append(fc["mean"].iloc[0])
        actuals.append(history.loc[history.ds == day, "y"].iloc[0])
    err = np.abs(np.array(preds) - np.array(actuals))
    assert len(err) == 92
    assert err.mean() == pytest.approx(mae, abs=1)
    assert 100 * (err / np.array(actuals)).mean() == pytest.approx(mape, abs=0.005)


def test_cta_mapping_is_the_default():
    assert load_mapping(None) is CTA_MAPPING
    assert isinstance(CTA_MAPPING, Mapping) and CTA_MAPPING.series_ids == ["bus", "rail"]


def test_sample_frame_rows():
    assert len(sample_frame()) == 1491
