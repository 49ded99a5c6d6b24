"""Nights run out of order (a replay, a backfill, two at once) share one backtest table:
whatever the order, it ends up the same, and no night loses what another scored."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

EARLY, LATE = date(2024, 12, 20), date(2024, 12, 24)
SORT = ["series_id", "model", "cutoff", "h"]


def _night(data_dir: Path, as_of: date) -> dict:
    from flows.nightly import NightlyParams, nightly, spec_for

    return nightly(NightlyParams(data_dir=str(data_dir), as_of=as_of, horizon=7, backtest_days=7,
                                 monitor=False, models=[spec_for("seasonal_naive"), spec_for("naive")]))


def _tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Every file of the nightly backtest table (``<model>/bucket-NNNN.parquet``), sorted."""
    root = data_dir / "backtests" / "nightly" / "table"
    return {str(f.relative_to(root)): pd.read_parquet(f).sort_values(SORT, ignore_index=True)
            for f in sorted(root.rglob("bucket-*.parquet"))}


@pytest.fixture(scope="module")
def both_orders(tmp_path_factory, prefect_harness):
    """The two nights in each order; the table after the first night of each is one night's own."""
    out = {}
    for name, order in (("early_then_late", (EARLY, LATE)), ("late_then_early", (LATE, EARLY))):
        data = tmp_path_factory.mktemp(name)
        _night(data, order[0])
        alone = _tables(data)
        _night(data, order[1])
        out[name] = (alone, _tables(data))
    return out


def test_both_orders_give_the_same_table(both_orders):
    early_alone, forward = both_orders["early_then_late"]
    late_alone, backward = both_orders["late_then_early"]
    assert sorted(forward) == sorted(backward) == [
        "naive/bucket-0001.parquet", "naive/bucket-0041.parquet",
        "seasonal_naive/bucket-0001.parquet", "seasonal_naive/bucket-0041.parquet"]
    for name in forward:
        pd.testing.assert_frame_equal(forward[name], backward[name], check_exact=True)
        # One series and model per file; origins 12-05 (the refit day before the early night's
        # first, 12-06) .. 12-23, each with its steps observed by 12-24: 13 x 7 + 6+5+4+3+2+1.
        assert len(forward[name]) == 112
        assert forward[name]["error"].isna().all()


def test_an_older_night_keeps_what_a_later_one_scored(both_orders):
    early_alone, _ = both_orders["early_then_late"]
    late_alone, backward = both_orders["late_then_early"]
    for name, table in backward.items():
        late, early = late_alone[name], early_alone[name]
        # the later night's rows are all kept as they were, those after the early night's as_of too
        kept = table.merge(late, on=SORT, suffixes=("", "_late"))
        assert len(kept) == len(late)
        pd.testing.assert_frame_equal(kept[["ds", "y", "mean"]], kept[["ds_late", "y_late", "mean_late"]]
                                      .set_axis(["ds", "y", "mean"], axis=1), check_exact=True)
        after = table[table["cutoff"] > pd.Timestamp(EARLY)].reset_index(drop=True)
        pd.testing.assert_frame_equal(after, late[late["cutoff"] > pd.Timestamp(EARLY)]
                                      .reset_index(drop=True), check_exact=True)
        # every row the early night scored is there too (with more steps where it saw fewer)
        seen = early.merge(table, on=SORT, suffixes=("", "_now"))
        assert len(seen) == len(early) and (seen["mean"] == seen["mean_now"]).all()
        # and the table is exactly the later night's plus the early night's older origins
        extra = early[~early["cutoff"].isin(late["cutoff"])]
        expected = pd.concat([late, extra]).sort_values(SORT, ignore_index=True)
        pd.testing.assert_frame_equal(table, expected, check_exact=True)


def test_a_backfill_then_the_latest_night_again_is_the_same_as_running_in_order(tmp_path_factory,
                                                                              prefect_harness):
    """Nights run out of order end up as if run in order once the latest night runs again:
    a night backfilled after a later one cannot score its origins' days after its own
    as-of; the latest night (re-run, or the next scheduled one) scores them from the
    store and, with the history the backfill added, publishes what the nights run in
    order publish. Its first run, with less history before it, published other intervals."""
    far = date(2024, 12, 10)  # a week earlier than LATE's first origin: origins LATE never made
    in_order, backfilled = tmp_path_factory.mktemp("in_order"), tmp_path_factory.mktemp("backfilled")
    _night(in_order, far)
    _night(in_order, LATE)
    _night(backfilled, LATE)
    first_run = _published(backfilled, LATE)
    _night(backfilled, far)
    partial = _tables(backfilled)
    _night(backfilled, LATE)
    ours, theirs = _tables(backfilled), _tables(in_order)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        pd.testing.assert_frame_equal(ours[name], theirs[name], check_exact=True)
        # before the re-run, the backfilled origin 12-04's day 12-11 (after far's as-of) was not scored yet
        assert len(partial[name]) == len(theirs[name]) - 1
    forward, again = _published(in_order, LATE), _published(backfilled, LATE)
    assert len(forward) == 2 * 7 and forward[["lo-95", "hi-95"]].notna().all().all()
    pd.testing.assert_frame_equal(again, forward, check_exact=True)
    assert (first_run["mean"] == forward["mean"]).all()  # the same fits; the intervals saw less history
    cols = ["lo-80", "hi-80", "lo-95", "hi-95"]
    assert not first_run[cols].equals(forward[cols])


def _published(data_dir: Path, night: date) -> pd.DataFrame:
    from seqcast.published import read_forecasts

    table = read_forecasts(data_dir, run_date=night)
    return table.drop(columns=["run_id", "created_at"]).sort_values(["series_id", "ds"], ignore_index=True)


def test_a_bucket_file_written_meanwhile_is_merged_not_overwritten(tmp_path):
    """Two nights at once: each merges into the file as it is when it writes (under its lock),
    not as it was when that night read it, and the other series of the bucket stay."""
    from seqcast.backtest import rolling_origin
    from seqcast.models.naive import SeasonalNaive
    from tasks.panel import _write_buckets

    ds = pd.date_range("2024-01-01", periods=60)
    data = pd.concat([pd.DataFrame({"series_id": s, "ds": ds, "y": [float(i % 7 + k) for i in range(60)]})
                      for k, s in enumerate(["a", "b"])], ignore_index=True)
    kw = dict(h=3, start="2024-02-15", end="2024-02-25", n_jobs=1)
    late = rolling_origin(SeasonalNaive(7), data, **kw)
    early = rolling_origin(SeasonalNaive(7), data[data["ds"] <= "2024-02-20"], **kw)
    early = early[early["series_id"] == "a"]  # this night had series a only
    _write_buckets(late, tmp_path, 3, force=True)  # the other night finished first
    _write_buckets(early, tmp_path, 3, force=True)
    written = pd.read_parquet(tmp_path / "bucket-0003.parquet")
    pd.testing.assert_frame_equal(written, late.sort_values(SORT, ignore_index=True), check_exact=True)
    assert not list(tmp_path.glob("*.parquet.*")) and (tmp_path / ".bucket-0003.lock").exists()


def test_a_partly_observed_origin_is_scored_from_its_stored_forecast(tmp_path_factory, prefect_harness):
    """Night after night, an origin is fitted once: its whole forecast is stored, and its
    later steps are scored from it as they are observed; the table is the one a night
    run from an empty table gives, to the last digit."""
    from flows.nightly import NightlyParams, nightly, spec_for
    from seqcast.backtest import anchored_cutoffs

    def night(data_dir: Path, as_of: date) -> dict:
        return nightly(NightlyParams(data_dir=str(data_dir), as_of=as_of, horizon=7, backtest_days=7,
                                     monitor=False, models=[spec_for("seasonal_naive"), spec_for("sarima")]))

    nightly_dir, fresh_dir = tmp_path_factory.mktemp("night_by_night"), tmp_path_factory.mktemp("fresh")
    night(nightly_dir, EARLY)
    second = night(nightly_dir, date(2024, 12, 21))
    # per series and model: the new origin (12-20, the last day: tonight's forecast) and the run back to its refit day, nothing else
    run = len(anchored_cutoffs([pd.Timestamp("2024-12-20")], 7))
    assert second["backtest_new_origins"] == 2 * 2 * run
    fresh = night(fresh_dir, date(2024, 12, 21))
    assert fresh["backtest_new_origins"] > second["backtest_new_origins"]
    ours, theirs = _tables(nightly_dir), _tables(fresh_dir)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        common = theirs[name][["series_id", "model", "cutoff"]].drop_duplicates()
        mine = ours[name].merge(common, on=["series_id", "model", "cutoff"]).sort_values(SORT, ignore_index=True)
        pd.testing.assert_frame_equal(mine, theirs[name], check_exact=True)
    # the store keeps every origin's 7 steps, observed or not
    store = nightly_dir / "backtests" / "nightly" / "forecasts"
    stored = pd.concat([pd.read_parquet(f) for f in store.rglob("bucket-*.parquet")])
    assert (stored.groupby(["series_id", "model", "cutoff"])["h"].nunique() == 7).all()
    assert pd.Timestamp("2024-12-20") in set(stored["cutoff"]) and "y" not in stored


def test_tonight_s_forecast_is_the_backtest_origin_of_tonight(tmp_path_factory, prefect_harness):
    """The night's candidates are the forecasts its backtest's last origin made (kept in the
    store), not a second fit; they equal what fitting the models again gives, and a
    stored forecast that is missing a step is fitted again."""
    from flows.nightly import NightlyParams, _holidays, nightly, spec_for
    from seqcast import pipeline
    from seqcast.partitions import read as read_clean
    from seqcast.published import read_forecasts
    from tasks.panel import ANCHOR, known_exog

    data_dir = tmp_path_factory.mktemp("tonight")
    specs = [spec_for("seasonal_naive"), spec_for("sarima")]
    params = NightlyParams(data_dir=str(data_dir), as_of=date(2024, 12, 21), horizon=7, backtest_days=7,
                           monitor=False, models=specs)
    summary = nightly(params)
    exog = known_exog(read_clean(summary["clean_path"]), 7, _holidays(params))  # the mapping's calendar
    last = pd.Timestamp(summary["last_day"])
    store = data_dir / "backtests" / "nightly" / "forecasts"
    stored = pd.concat([pd.read_parquet(f) for f in store.rglob("bucket-*.parquet")], ignore_index=True)
    tonight = stored[stored["cutoff"] == last]
    assert len(tonight) == 2 * 2 * 7  # 2 series x 2 models x 7 steps
    published = read_forecasts(data_dir, latest=True)
    mine = published[["series_id", "model", "ds", "h", "mean"]].merge(
        tonight[["series_id", "model", "ds", "h", "mean"]], on=["series_id", "model", "ds", "h"],
        suffixes=("", "_stored"))
    assert len(mine) == len(published) == 2 * 7
    assert (mine["mean"] == mine["mean_stored"]).all()
    # the same forecasts as fitting again, from the cached fit of the refit day
    clean = read_clean(summary["clean_path"])
    dumped = [s.model_dump() for s in specs]
    fitted, failures = pipeline.forecast(clean, dumped, 7, exog=exog,
                                         fit_cache=str(data_dir / "models" / "fits"), refit_every=7,
                                         anchor=ANCHOR)
    assert failures.empty
    both = fitted.merge(tonight, on=["series_id", "model", "ds", "h"], suffixes=("", "_stored"))
    assert len(both) == len(fitted) == 2 * 2 * 7
    assert (both["cutoff"] == both["cutoff_stored"]).all()
    assert both["mean"].to_numpy() == pytest.approx(both["mean_stored"].to_numpy(), rel=1e-9)
    # taken from the store when whole; a forecast missing a step is fitted again
    sentinel = tonight.assign(mean=tonight["mean"] + 1000.0)
    gapped = sentinel[~((sentinel["series_id"] == sentinel["series_id"].iloc[0])
                        & (sentinel["model"] == "sarima") & (sentinel["h"] == 7))]
    again, _ = pipeline.forecast(clean, dumped, 7, exog=exog,
                                 fit_cache=str(data_dir / "models" / "fits"), refit_every=7, anchor=ANCHOR,
                                 stored=gapped)
    again = again.merge(fitted, on=["series_id", "model", "ds", "h"], suffixes=("", "_fit"))
    refitted = (again["series_id"] == sentinel["series_id"].iloc[0]) & (again["model"] == "sarima")
    assert again.loc[refitted, "mean"].to_numpy() == pytest.approx(again.loc[refitted, "mean_fit"].to_numpy(),
                                                                   rel=1e-9)
    assert (again.loc[~refitted, "mean"] - again.loc[~refitted, "mean_fit"]).to_numpy() == pytest.approx(1000.0)
