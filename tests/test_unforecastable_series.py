"""A series every model fails on is reported, and the rest of the panel is published;
a night where no series has a forecast stops with one error and publishes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqcast.errors import ModelError
from seqcast.published import read_published_file

LONG_YAML = Path(__file__).resolve().parents[1] / "data" / "mappings" / "long.yaml"
AS_OF = date(2024, 6, 30)
MODELS = ("seasonal_naive", "sarima")
SHORT_REASON = ("not published: every model failed (ModelError: seasonal_naive: series ['{sid}'] have "
                "fewer than 7 observations; ModelError: sarima: series ['{sid}'] have fewer than 16 "
                "observations)")


def _panel(path: Path, series: dict[str, int]) -> Path:
    """A long CSV: each series ``n`` days up to AS_OF, the same value every same weekday
    (so seasonal naive is exact and stays the champion)."""
    frames = []
    for k, (sid, n) in enumerate(series.items()):
        ds = pd.date_range(end=pd.Timestamp(AS_OF), periods=n)
        y = 100.0 * (k + 1) + 10.0 * ds.day_of_week.to_numpy()
        frames.append(pd.DataFrame({"date": ds.strftime("%Y-%m-%d"), "series": sid, "value": y}))
    pd.concat(frames).to_csv(path, index=False, lineterminator="\n")
    return path


def _params(source: Path, data_dir: Path):
    from flows.nightly import NightlyParams, spec_for

    return NightlyParams(source=str(source), mapping=str(LONG_YAML), data_dir=str(data_dir), as_of=AS_OF,
                         horizon=7, backtest_days=7, monitor=False, models=[spec_for(m) for m in MODELS])


@pytest.fixture(scope="module")
def night(tmp_path_factory, prefect_harness):
    """Two healthy series of 120 days and one of 4 (each in its own bucket of series)."""
    from flows.nightly import nightly
    from seqcast.partitions import bucket_of

    assert len({bucket_of(s) for s in ("north", "south", "new")}) == 3
    tmp = tmp_path_factory.mktemp("unforecastable")
    source = _panel(tmp / "panel.csv", {"north": 120, "south": 120, "new": 4})
    summary = nightly(_params(source, tmp / "data"))
    return tmp, source, summary


def test_the_healthy_series_are_published(night):
    _, source, summary = night
    table = read_published_file(summary["published"])
    assert sorted(table["series_id"].unique()) == ["north", "south"] and len(table) == 2 * 7
    assert (table["model"] == "seasonal_naive").all()
    # seasonal naive: the value of the same weekday a week earlier
    raw = pd.read_csv(source, parse_dates=["date"])
    week_before = table.assign(date=table["ds"] - pd.Timedelta(days=7)).merge(
        raw, left_on=["series_id", "date"], right_on=["series", "date"])
    assert len(week_before) == 14
    np.testing.assert_array_equal(week_before["mean"], week_before["value"])
    assert (table["cutoff"] == pd.Timestamp(AS_OF)).all() and table["h"].tolist()[:7] == list(range(1, 8))


def test_the_short_series_is_reported_with_the_reasons(night):
    _, _, summary = night
    reason = SHORT_REASON.format(sid="new")
    assert summary["not_published"] == [{"series_id": "new", "reason": reason}]
    champions = {c["series_id"]: c for c in summary["champions"]}
    assert sorted(champions) == ["new", "north", "south"]
    assert champions["new"]["model"] is None and champions["new"]["reason"] == reason
    assert {champions[s]["model"] for s in ("north", "south")} == {"seasonal_naive"}
    # (sarima may fail on the exactly periodic series too: they still have seasonal naive)
    assert {f["model"] for f in summary["model_failures"] if f["series_id"] == "new"} == set(MODELS)
    from flows.nightly import _champions_markdown

    assert f"| new | not published | {reason} |" in _champions_markdown(summary)


def test_champions_files_are_typed_even_when_empty(night):
    _, _, summary = night
    stage = Path(summary["clean_path"]).parent
    failed = pd.Series([f["series_id"] for f in summary["model_failures"]]).value_counts()
    fitted = {s: len(MODELS) - failed.get(s, 0) for s in ("north", "south")}
    expected = {"candidates": {s: 7 * n for s, n in fitted.items()}, "champions": dict.fromkeys(fitted, 7)}
    for folder, rows in expected.items():
        files = {f.name: pd.read_parquet(f) for f in sorted((stage / folder).glob("bucket-*.parquet"))}
        # north in bucket 2, new in 5, south in 52
        assert {name: len(df) for name, df in files.items()} == {
            "bucket-0002.parquet": rows["north"], "bucket-0005.parquet": 0,
            "bucket-0052.parquet": rows["south"]}
        dtypes = [df.dtypes.astype(str).to_dict() for df in files.values()]
        assert dtypes[1] == dtypes[0] == dtypes[2]


def test_no_forecast_at_all_is_one_error_and_publishes_nothing(night):
    from flows.nightly import nightly

    tmp, _, summary = night
    published = Path(summary["published"]).parent
    before = {p.name: p.read_bytes() for p in published.iterdir()}
    source = _panel(tmp / "short.csv", {"new": 4, "newer": 3})
    with pytest.raises(ModelError) as info:
        nightly(_params(source, tmp / "data"))
    assert str(info.value) == (
        "no forecast to publish: every model failed on every one of the 2 series, nothing was published. "
        + "; ".join(f"{s}: " + SHORT_REASON.format(sid=s).removeprefix("not published: ")
                    for s in ("new", "newer")))
    assert {p.name: p.read_bytes() for p in published.iterdir()} == before


def test_a_model_naming_series_the_data_lacks_is_refused_before_the_backtest():
    """`--models rnn_multitask` on data without bus and rail ran the night, logged a failure
    per series and published without it; now one line names the model and the way out.
    A series dropped tonight (quarantined) is known: that model alone fails tonight."""
    from flows.nightly import _check_model_series

    multitask = {"name": "rnn_multitask", "params": {}}
    with pytest.raises(ModelError, match=r"^model rnn_multitask: needs series \['bus', 'rail'\]; the data has "
                       r"no \['rail'\] \(its series: a, b, bus\); name yours in its params \(inputs, targets\)"):
        _check_model_series([({"name": "seasonal_naive", "params": {}}, "seasonal_naive"),
                             (multitask, "rnn_multitask")], {"a", "b", "bus"})
    _check_model_series([(multitask, "rnn_multitask")], {"bus", "rail"})
    _check_model_series([({"name": "rnn_multitask", "params": {"inputs": ["a", "b"], "targets": ["a", "b"]}}, "rnn_multitask")], {"a", "b"})
    _check_model_series([({"name": "sarima", "params": {}}, "sarima")], {"a"})  # per-series models name none


def test_a_series_that_stopped_early_says_so_in_its_reason(tmp_path, prefect_harness):
    """A series whose data end 40 days before the others' has no backtest origin in the recent
    window: it was published with "no recent backtest scores yet: baseline published", as if it
    were new; its reason now says where its data end (its stale_data alert says the rest)."""
    from flows.nightly import NightlyParams, nightly, spec_for

    _panel(tmp_path / "panel.csv", {"north": 120})
    ds = pd.date_range(end=pd.Timestamp(AS_OF) - pd.Timedelta(days=40), periods=80)
    old = pd.DataFrame({"date": ds.strftime("%Y-%m-%d"), "series": "old", "value": 50.0 + ds.day_of_week})
    old.to_csv(tmp_path / "panel.csv", mode="a", header=False, index=False, lineterminator="\n")
    summary = nightly(NightlyParams(source=str(tmp_path / "panel.csv"), mapping=str(LONG_YAML),
                                    data_dir=str(tmp_path / "data"), as_of=AS_OF, horizon=7, backtest_days=7,
                                    monitor=False, models=[spec_for("seasonal_naive")]))
    champions = {c["series_id"]: c for c in summary["champions"]}
    assert champions["old"]["model"] == "seasonal_naive"
    assert champions["old"]["reason"] == ("its data end on 2024-05-21, 40 days before the night's last day "
                                          "2024-06-30: no recent backtest scores, baseline published")
    table = read_published_file(summary["published"])
    assert set(table.loc[table["series_id"] == "old", "reason"]) == {champions["old"]["reason"]}
