"""Long-format sources (one row per series and day) through ingest -> validate -> clean."""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqcast.clean import CleanPolicy, clean
from seqcast.errors import CleaningError, InputError
from seqcast.ingest import CTA_MAPPING, Mapping, ingest, load_mapping, read_table
from seqcast.pipeline import clean_source, run_clean, run_validate
from seqcast.sample import sample_frame
from seqcast.synthetic import synthetic_panel, write_panel_csv
from seqcast.validate import CleanSchema, validate

LONG_YAML = Path(__file__).resolve().parents[1] / "data" / "mappings" / "long.yaml"
TODAY = date(2025, 1, 1)
N = 40


@pytest.fixture(scope="module")
def mapping() -> Mapping:
    return load_mapping(LONG_YAML)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(N, seed=11)


def _spans(panel: pd.DataFrame) -> pd.DataFrame:
    ds = pd.to_datetime(panel["date"])
    g = ds.groupby(panel["series"]).agg(["min", "max", "size"])
    g["span"] = (g["max"] - g["min"]).dt.days + 1
    return g


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False, lineterminator="\n")
    return path


def _drop_run(panel: pd.DataFrame, series: str, first: str, days: int) -> pd.DataFrame:
    gone = pd.date_range(first, periods=days).strftime("%Y-%m-%d")
    return panel[~((panel["series"] == series) & panel["date"].isin(gone))]


def test_long_mapping_file(mapping):
    assert mapping.is_long and mapping.series_ids == []
    assert mapping.required_columns == ["date", "series", "value"]
    assert not CTA_MAPPING.is_long


def test_synthetic_panel_cleans_per_series(tmp_path, mapping, panel):
    out = clean_source(write_panel_csv(tmp_path / "p.csv", n_series=N, seed=11), mapping, today=TODAY)
    spans = _spans(panel)
    r = out.report
    assert r["series"] == [f"s{i:04d}" for i in range(1, N + 1)] and r["series_quarantined"] == []
    assert (r["rows_in"], r["rows_kept"], r["rows_quarantined"]) == (len(panel), len(panel), 0)
    assert (r["days"], r["first_day"], r["last_day"]) == (1096, "2022-01-01", "2024-12-31")
    assert len(out.clean) == spans["span"].sum()
    assert r["days_imputed"] == out.clean["is_imputed"].sum() == (spans["span"] - spans["size"]).sum() > 0
    assert r["gaps"] == int((spans["span"] > spans["size"]).sum())
    CleanSchema.validate(out.clean, lazy=True)
    assert list(out.clean.columns) == ["series_id", "ds", "y", "day_type", "is_imputed"]
    assert out.clean.equals(out.clean.sort_values(["series_id", "ds"]).reset_index(drop=True))
    # the observed values come through unchanged
    observed = out.clean[~out.clean["is_imputed"]]
    assert observed["y"].to_numpy().tolist() == panel["value"].astype(float).tolist()
    # every report key of the wide path is there
    wide = clean_source(_write(_as_wide(panel.head(300)), tmp_path / "w.csv"), _wide_mapping(), today=TODAY)
    assert set(wide.report) <= set(r)


def test_short_series_keep_their_own_first_day(tmp_path, mapping, panel):
    out = clean_source(_write(panel, tmp_path / "p.csv"), mapping, today=TODAY)
    spans = _spans(panel)
    short = spans[spans["span"] < 1096]
    assert len(short) == 4
    first = out.clean.groupby("series_id")["ds"].min()
    assert (first[short.index] == short["min"]).all()
    assert (first[short.index] > pd.Timestamp("2022-01-01")).all()


@pytest.mark.parametrize("fill", ["seasonal", "linear"])
def test_gap_filling_matches_the_wide_path(tmp_path, mapping, panel, fill):
    gapped = _spans(panel).query("span > size").index[0]
    one = panel[panel["series"] == gapped]
    policy = CleanPolicy(fill=fill)
    long = clean_source(_write(one, tmp_path / "l.csv"), mapping, today=TODAY, policy=policy).clean
    wide = clean_source(_write(_as_wide(one), tmp_path / "w.csv"), _wide_mapping(), today=TODAY, policy=policy).clean
    pd.testing.assert_frame_equal(long, wide.assign(series_id=gapped))
    assert 1 <= long["is_imputed"].sum() <= 5


def test_the_cta_sample_as_a_long_table_cleans_like_the_wide_one(tmp_path):
    """Duplicated month, a missing day, derived day types: the same clean frame either way."""
    wide = sample_frame()
    long = wide.melt(id_vars=["service_date", "day_type"], value_vars=["bus", "rail_boardings"],
                     var_name="series", value_name="value")
    long["series"] = long["series"].replace({"rail_boardings": "rail"})
    m = Mapping(date_column="service_date", date_format="%m/%d/%Y", series_column="series",
                value_column="value", day_type_column="day_type")
    got = clean_source(_write(long, tmp_path / "long.csv"), m, today=TODAY)
    want = clean_source(_write(wide, tmp_path / "wide.csv"), CTA_MAPPING, today=TODAY)
    pd.testing.assert_frame_equal(got.clean, want.clean)
    assert got.report["exact_duplicates_dropped"] == 2 * want.report["exact_duplicates_dropped"]
    assert got.report["days_imputed"] == 2 * want.report["days_imputed"]


def test_a_too_long_gap_quarantines_just_that_series(tmp_path, mapping, panel):
    broken = _drop_run(panel, "s0007", "2023-05-02", 12)
    out = clean_source(_write(broken, tmp_path / "p.csv"), mapping, today=TODAY)
    r = out.report
    assert r["series_quarantined"] == ["s0007"] and "s0007" not in r["series"] and len(r["series"]) == N - 1
    assert "s0007" not in set(out.clean["series_id"])
    rows = (broken["series"] == "s0007").sum()
    assert len(out.quarantine) == r["rows_quarantined"] == rows
    reason = ("series s0007: gap of 12 missing day(s) from 2023-05-02 to 2023-05-13 "
              "exceeds the limit of 7")
    assert out.quarantine["reason"].str.startswith(reason).all()
    assert set(out.quarantine["stage"]) == {"clean"}
    assert (out.quarantine["series"] == "s0007").all()  # the raw cells joined on the line
    assert r["rows_kept"] + r["rows_quarantined"] + r["exact_duplicates_dropped"] == r["rows_in"]
    # a longer limit keeps it
    relaxed = clean_source(tmp_path / "p.csv", mapping, today=TODAY, policy=CleanPolicy(max_gap_days=12))
    assert relaxed.report["series_quarantined"] == [] and relaxed.report["rows_quarantined"] == 0


def test_fill_none_quarantines_every_series_with_a_gap(tmp_path, mapping, panel):
    out = clean_source(_write(panel, tmp_path / "p.csv"), mapping, today=TODAY, policy=CleanPolicy(fill="none"))
    gapped = _spans(panel).query("span > size").index.tolist()
    assert out.report["series_quarantined"] == gapped and len(gapped) == 2
    assert not out.clean["is_imputed"].any()
    assert out.quarantine["reason"].str.contains("exceeds the limit of 0", regex=False).all()


def test_no_surviving_series_is_an_error(tmp_path, mapping):
    one = synthetic_panel(2, seed=1, gap_fraction=0, short_fraction=0)
    for sid in ("s0001", "s0002"):
        one = _drop_run(one, sid, "2023-01-10", 9)
    with pytest.raises(CleaningError, match="no series survives.*series s0001: gap of 9"):
        clean_source(_write(one, tmp_path / "p.csv"), mapping, today=TODAY)


def test_malformed_rows_are_quarantined_with_reasons(tmp_path, mapping):
    df = synthetic_panel(3, start="2024-01-01", end="2024-03-31", seed=4, gap_fraction=0, short_fraction=0)
    df = df.astype({"value": str})
    bad = {
        ("s0001", "2024-01-10"): ("2024-13-40", None, None),
        ("s0001", "2024-01-20"): (None, None, "n/a"),
        ("s0002", "2024-02-03"): (None, None, "-5"),
        ("s0002", "2024-02-04"): (None, "  ", None),
        ("s0003", "2024-03-01"): (None, None, ""),
    }
    for (sid, day), (new_date, new_series, new_value) in bad.items():
        at = df.index[(df["series"] == sid) & (df["date"] == day)][0]
        for col, v in (("date", new_date), ("series", new_series), ("value", new_value)):
            if v is not None:
                df.loc[at, col] = v
    extra = pd.DataFrame(
        {
            "date": ["2026-06-01", "2024-02-10", "2024-02-11", "2024-02-11"],
            "series": ["s0003", "s0001", "s0002", "s0002"],
            "value": ["10", df.loc[(df.series == "s0001") & (df.date == "2024-02-10"), "value"].iloc[0], "1", "2"],
        }
    )
    out = clean_source(_write(pd.concat([df, extra]), tmp_path / "p.csv"), mapping, today=TODAY)
    reasons = out.quarantine.set_index("line")["reason"]
    found = " | ".join(reasons)
    for fragment in (
        "date: cannot parse '2024-13-40' as %Y-%m-%d",
        "value: 'n/a' is not a number",
        "value: negative value",
        "series: empty series id",
        "value: missing value",
        "date after 2025-01-01",
        "conflicting duplicate: series s0002: 2024-02-11 appears with different values",
    ):
        assert fragment in found, (fragment, reasons.tolist())
    r = out.report
    assert len(reasons) == r["rows_quarantined"] == 5 + 1 + 3  # 5 bad cells, 1 future, 3 rows of a conflicting day
    assert r["exact_duplicates_dropped"] == 1
    assert r["series_quarantined"] == [] and r["series"] == ["s0001", "s0002", "s0003"]
    assert r["rows_kept"] + r["rows_quarantined"] + r["exact_duplicates_dropped"] == r["rows_in"]
    # the quarantined days are imputed (each a one-day gap), the future one is not there
    imputed = out.clean[out.clean["is_imputed"]]
    assert len(imputed) == 6 and out.clean["ds"].max() == pd.Timestamp("2024-03-31")
    assert out.quarantine["stage"].isin(["validate", "clean"]).all()
    assert {"date", "series", "value"} <= set(out.quarantine.columns)


def test_as_of_sets_later_rows_aside(tmp_path, mapping, panel):
    out = clean_source(_write(panel, tmp_path / "p.csv"), mapping, as_of=date(2024, 6, 30))
    r = out.report
    assert r["last_day"] == "2024-06-30" and r["rows_quarantined"] == 0
    assert r["rows_after_as_of"] == (panel["date"] > "2024-06-30").sum()
    # series that only start after as_of do not exist yet
    late = _spans(panel).query("min > '2024-06-30'").index.tolist()
    assert late and set(r["series"]) == set(panel["series"]) - set(late)


def test_stages_on_disk_keep_the_gap_quarantine(tmp_path, panel):
    src = _write(_drop_run(panel, "s0003", "2024-11-01", 10), tmp_path / "p.csv")
    snap = ingest(src, tmp_path / "data")
    validated = run_validate(snap.directory, tmp_path / "data", mapping=LONG_YAML, as_of=date(2024, 12, 31))
    report = run_clean(validated, mapping=LONG_YAML)
    assert report["series_quarantined"] == ["s0003"]
    from seqcast import partitions

    clean = partitions.read(report["clean_path"])
    assert clean["series_id"].nunique() == N - 1
    quarantine = pd.read_parquet(report["quarantine_path"])
    assert len(quarantine) == report["rows_quarantined"] == (panel["series"] == "s0003").sum() - 10
    assert (quarantine["series"] == "s0003").all()


@pytest.mark.parametrize(
    "text, message",
    [
        ("value_columns: {value: v}\nseries_column: series\nvalue_column: value\n", "not both"),
        ("series_column: series\n", "needs both series_column and value_column ('value_column' is missing)"),
        ("value_column: value\n", "('series_column' is missing)"),
        ("", "mapping needs 'value_columns' (wide) or 'series_column' and 'value_column' (long)"),
        ("series_column: series\nvalue_column: value\ntotal_column: total\n", "total_column is for wide tables"),
        ("series_column: date\nvalue_column: value\n", "named for more than one role"),
        ("value_columns: []\n", "value_columns is empty"),
    ],
)
def test_bad_mapping_combinations(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text("date_column: date\n" + text)
    with pytest.raises(InputError, match="m.yaml: ") as info:
        load_mapping(path)
    assert message in str(info.value)


def test_direct_construction_checks_too():
    with pytest.raises(InputError, match="not both"):
        Mapping(date_column="d", value_columns={"a": "a"}, series_column="s", value_column="v")
    with pytest.raises(InputError, match="mapping needs"):
        Mapping(date_column="d")


def test_missing_series_column_is_structural(mapping):
    with pytest.raises(InputError, match="missing required column\\(s\\) 'series'"):
        read_table(b"date,value\n2024-01-01,1\n", mapping, "x.csv")


def test_validate_gives_a_long_typed_frame(mapping):
    data = b"date,series,value\n2024-01-01, a ,1\n2024-01-02,a,\"1,200\"\n"
    with_thousands = dataclasses.replace(mapping, thousands=",")
    v = validate(read_table(data, with_thousands, "x.csv"), with_thousands, today=TODAY).valid
    assert list(v.columns) == ["line", "ds", "day_type", "series_id", "y"]
    assert v["series_id"].tolist() == ["a", "a"] and v["y"].tolist() == [1.0, 1200.0]
    # without a thousands separator in the mapping, "1,200" is not reinterpreted
    checked = validate(read_table(data, mapping, "x.csv"), mapping, today=TODAY)
    assert checked.valid["y"].tolist() == [1.0]
    assert "'1,200' is not a number" in checked.quarantine["reason"].iloc[0]


def test_clean_on_a_typed_long_frame_without_gaps_imputes_nothing(mapping):
    ds = pd.date_range("2024-01-01", periods=10)
    valid = pd.DataFrame({"line": np.arange(2, 12), "ds": ds, "day_type": "W", "series_id": "x", "y": np.arange(10.0)})
    out = clean(valid, mapping)
    assert not out.clean["is_imputed"].any() and out.report["gaps"] == 0 and out.quarantine.empty


def test_quality_suite_reads_the_long_parsed_frame(tmp_path, mapping):
    from seqcast.quality import check_raw

    raw = read_table(b"date,series,value\n2024-01-01,a,1\n2024-01-01,b,2\n2024-01-01,b,2\n", mapping, "x.csv")
    report = check_raw(validate(raw, mapping, today=TODAY).parsed, mapping, tmp_path / "data", TODAY)
    assert not report.success
    assert report.failed == ["expect_compound_columns_to_be_unique(series_id, ds): 2 unexpected"]


def test_the_checkpoint_in_a_child_process_reports_what_it_reports_in_process(tmp_path, mapping):
    """The nightly runs the checkpoint in a child process (seqcast.quality.check_raw_file):
    the same report as in process; a child that fails raises with its last error line."""
    from seqcast.quality import check_raw, check_raw_file

    raw = read_table(b"date,series,value\n2024-01-01,a,1\n2024-01-01,b,2\n2024-01-01,b,2\n", mapping, "x.csv")
    parsed = tmp_path / "parsed.parquet"
    validate(raw, mapping, today=TODAY).parsed.to_parquet(parsed)
    here = check_raw(pd.read_parquet(parsed), mapping, tmp_path / "a", TODAY)
    child = check_raw_file(parsed, LONG_YAML, tmp_path / "b", TODAY, in_process=False)
    assert (child.success, child.evaluated, child.failed) == (here.success, here.evaluated, here.failed)
    assert child.results == here.results and child.results
    assert child.data_docs.name == "index.html" and child.data_docs.exists()
    assert child.validation_page is not None and child.validation_page.exists()
    with pytest.raises(RuntimeError, match="checkpoint exited 1: .*nothing.parquet"):
        check_raw_file(tmp_path / "nothing.parquet", LONG_YAML, tmp_path / "c", TODAY, in_process=False)
    # here (great_expectations is imported by now): the same report, no child
    assert check_raw_file(parsed, LONG_YAML, tmp_path / "d", TODAY).failed == here.failed


@pytest.mark.slow
def test_thousand_series_three_years_clean_in_seconds(tmp_path, mapping):
    path = write_panel_csv(tmp_path / "big.csv", n_series=1000)
    t = time.perf_counter()
    out = clean_source(path, mapping, today=TODAY)
    elapsed = time.perf_counter() - t
    assert len(out.report["series"]) == 1000 and len(out.clean) > 1_000_000
    assert elapsed < 20, f"{elapsed:.1f} s"


# ----------------------------------------------------------------------------- helpers


def _wide_mapping() -> Mapping:
    return Mapping(date_column="date", value_columns={"value": "value"})


def _as_wide(panel: pd.DataFrame) -> pd.DataFrame:
    """One series as a wide ``date,value`` table (for the wide path to compare with)."""
    first = panel["series"].iloc[0]
    return panel[panel["series"] == first][["date", "value"]]
