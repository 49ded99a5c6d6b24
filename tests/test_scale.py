"""Scale-out: the nightly flow on a synthetic panel, on Prefect's process pool and on Dask.

Both runs must publish the same tables (after sorting), byte for byte: the work units
are pure functions of their inputs, so where they ran must not matter.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from seqcast.partitions import read as read_dataset
from seqcast.published import read_forecasts
from seqcast.synthetic import synthetic_panel

ROOT = Path(__file__).resolve().parents[1]
LONG_MAPPING = ROOT / "data" / "mappings" / "long.yaml"
RUN_VARYING = ["run_id", "created_at"]  # differ between any two runs, by design


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    df = df.drop(columns=[c for c in RUN_VARYING if c in df.columns])
    return df.sort_values(keys, kind="stable", ignore_index=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, prefect_harness):
    from flows.nightly import ModelSpec, NightlyParams, nightly

    root = tmp_path_factory.mktemp("scale")
    panel = synthetic_panel(20, start="2023-01-01", end="2024-06-30", seed=7)
    # A series too short for any model: recorded as failed, the other 20 still publish.
    tiny = pd.DataFrame({"date": ["2024-06-27", "2024-06-28", "2024-06-29", "2024-06-30"],
                         "series": "tiny", "value": [5, 6, 7, 8]})
    source = root / "panel.csv"
    pd.concat([panel, tiny], ignore_index=True).to_csv(source, index=False)
    models = [ModelSpec(name="seasonal_naive", params={"season_length": 7}),
              ModelSpec(name="sarima", params={"order": [1, 0, 0], "seasonal_order": [0, 1, 1, 7]})]
    out = {}
    # one task run per bucket on the process pool, groups of buckets on Dask: same tables
    for runner, per_worker in (("process", 64), ("dask", 4)):
        data = root / runner
        params = NightlyParams(source=str(source), mapping=str(LONG_MAPPING), data_dir=str(data),
                               as_of=date(2024, 6, 30), horizon=7, models=models, backtest_days=7,
                               refit_every=7, runner=runner, workers=2, tasks_per_worker=per_worker)
        out[runner] = (data, nightly(params))
    return out


def test_process_pool_and_dask_publish_identical_tables(runs):
    (d1, s1), (d2, s2) = runs["process"], runs["dask"]
    assert "process runner" in s1["runner"] and "dask runner" in s2["runner"]
    assert s1["bucket_groups"] == s1["buckets"] == s2["buckets"] > s2["bucket_groups"] == 8
    pub1, pub2 = read_forecasts(d1), read_forecasts(d2)
    assert pub1["series_id"].nunique() == 20
    keys = ["series_id", "model", "ds"]
    pd.testing.assert_frame_equal(_sorted(pub1, keys), _sorted(pub2, keys), check_exact=True)
    bt1, bt2 = read_dataset(s1["backtest_table"]), read_dataset(s2["backtest_table"])
    scored = bt1[bt1["error"].isna()]
    # cutoffs from 13 days before the last day to the day before it (the last 7 with all 7
    # steps known, the 7 after them partly known so far), extended back to a refit day
    n_origins = scored.groupby(["series_id", "model"])["cutoff"].nunique()
    assert n_origins.eq(n_origins.iloc[0]).all() and 14 <= n_origins.iloc[0] < 14 + 7
    assert scored["series_id"].nunique() == 20 and set(bt1["series_id"]) == set(bt2["series_id"])
    keys = ["series_id", "model", "cutoff", "h"]
    pd.testing.assert_frame_equal(_sorted(bt1, keys), _sorted(bt2, keys), check_exact=True)
    # byte for byte: the same Parquet bytes once sorted (pandas and pyarrow are the same here)
    b1 = _sorted(bt1, keys).to_parquet(index=False)
    b2 = _sorted(bt2, keys).to_parquet(index=False)
    assert b1 == b2
    for name in ("candidates", "champions"):
        c1 = read_dataset(Path(s1["clean_path"]).with_name(name))
        c2 = read_dataset(Path(s2["clean_path"]).with_name(name))
        pd.testing.assert_frame_equal(_sorted(c1, ["series_id", "model", "ds"]),
                                      _sorted(c2, ["series_id", "model", "ds"]), check_exact=True)
    a1 = pd.read_parquet(d1 / "published" / "alerts")
    a2 = pd.read_parquet(d2 / "published" / "alerts")
    pd.testing.assert_frame_equal(_sorted(a1, ["series_id", "kind", "detected_at"]).drop(columns="run_id", errors="ignore"),
                                  _sorted(a2, ["series_id", "kind", "detected_at"]).drop(columns="run_id", errors="ignore"))


def test_clean_data_is_bucketed_by_series(runs):
    from seqcast.partitions import bucket_of, buckets_of, manifest, series_in

    _, s = runs["dask"]
    clean = Path(s["clean_path"])
    assert clean.is_dir() and (clean / "_dataset.json").exists()
    ids = series_in(clean)
    assert len(ids) == 21 and "tiny" in ids
    assert s["buckets"] == len(buckets_of(clean)) > 1
    for b in buckets_of(clean):
        part = pd.read_parquet(clean / f"bucket-{b:04d}.parquet")
        assert {bucket_of(x) for x in part["series_id"]} == {b}
    assert manifest(clean)["rows"] == len(read_dataset(clean))


def test_a_failing_series_is_recorded_and_the_rest_publish(runs):
    data, s = runs["dask"]
    failed = {(f["series_id"], f["model"]) for f in s["model_failures"]}
    assert ("tiny", "seasonal_naive") in failed and ("tiny", "sarima") in failed
    published = read_forecasts(data)
    assert "tiny" not in set(published["series_id"])
    assert published["series_id"].nunique() == 20
    bt = read_dataset(s["backtest_table"])
    assert bt.loc[bt["series_id"] == "tiny", "error"].notna().all()
    assert bt.loc[bt["series_id"] != "tiny", "error"].isna().all()


def test_rerunning_the_night_on_dask_changes_nothing(runs, prefect_harness):
    from flows.nightly import NightlyParams, nightly

    data, first = runs["dask"]
    before = read_dataset(first["backtest_table"])
    again = nightly(NightlyParams(**{**_params_of(first, data), "runner": "dask", "workers": 2}))
    # origins not fully observed yet are scored again (same data: same numbers), nothing doubles
    assert again["backtest_new_origins"] > 0
    after = read_dataset(again["backtest_table"])
    pd.testing.assert_frame_equal(before, after)
    assert len(list((data / "published" / "forecasts").rglob("*.parquet"))) == 1


def _params_of(summary: dict, data: Path) -> dict:
    from flows.nightly import ModelSpec

    return {
        "source": summary["source"], "mapping": str(LONG_MAPPING), "data_dir": str(data),
        "as_of": date(2024, 6, 30), "horizon": 7, "backtest_days": 7, "refit_every": 7,
        "models": [ModelSpec(name="seasonal_naive", params={"season_length": 7}),
                   ModelSpec(name="sarima", params={"order": [1, 0, 0], "seasonal_order": [0, 1, 1, 7]})],
    }


def test_backtest_flow_units_on_dask_match_threads(runs, tmp_path, prefect_harness):
    """The standalone backtest flow maps (bucket x model) units too; same table on any runner."""
    from flows.backtest import BacktestParams, backtest

    _, s = runs["dask"]
    tables = {}
    for runner in ("thread", "dask"):
        params = BacktestParams(
            source=s["source"], mapping=str(LONG_MAPPING), data_dir=str(tmp_path / runner),
            series=["s0003", "s0011", "s0017"], start=date(2024, 6, 1), end=date(2024, 6, 14), h=3,
            refit_every=7, runner=runner, workers=2,
            models=[{"name": "sarima", "params": {"order": [1, 0, 0], "seasonal_order": [0, 1, 1, 7]}}],
        )
        result = backtest(params)
        tables[runner] = read_dataset(result["table_path"])
        assert set(pd.read_parquet(result["summary_path"])["series_id"]) == {"s0003", "s0011", "s0017"}
    keys = ["series_id", "model", "cutoff", "h"]
    assert len(tables["thread"]) == 3 * 14 * 3 and tables["thread"]["error"].isna().all()
    pd.testing.assert_frame_equal(_sorted(tables["thread"], keys), _sorted(tables["dask"], keys),
                                  check_exact=True)


@pytest.mark.parametrize("sizes, n", [([15] * 64, 8), ([5, 5, 1, 1, 5, 5], 3), ([1] * 9 + [100], 3),
                                      ([3], 8), ([2, 9, 4, 4, 1, 7, 3], 2), ([], 4), ([1, 2], 1)])
def test_buckets_are_grouped_in_order_into_at_most_n_balanced_groups(sizes, n):
    from seqcast.partitions import _split_by_size

    buckets = [3 * i + 1 for i in range(len(sizes))]  # ids need not be consecutive
    groups = _split_by_size(buckets, sizes, n)
    assert [b for g in groups for b in g] == buckets  # every bucket once, in order
    assert all(groups) and len(groups) == min(n, len(buckets))
    if sizes == [15] * 64:
        assert [len(g) for g in groups] == [8] * 8
    if len(groups) > 1:
        size = {b: s for b, s in zip(buckets, sizes, strict=True)}
        totals = [sum(size[b] for b in g) for g in groups]
        # no group is larger than the average by more than its largest bucket
        assert max(totals) <= sum(sizes) / len(groups) + max(sizes)
