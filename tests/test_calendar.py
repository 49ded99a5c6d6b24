"""Calendar features: day types from the source on history days, the calendar beyond it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqcast.calendar import calendar_features, panel_exog

FLAGS = ["saturday", "sunday_holiday", "holiday"]


def cta_like(start: str = "2020-11-01", end: str = "2021-11-30") -> pd.DataFrame:
    """Two series with CTA's day types: U on Sundays and its six Sunday-service holidays only."""
    ds = pd.date_range(start, end)
    sunday_service = pd.to_datetime(["2020-11-26", "2020-12-25", "2021-01-01", "2021-05-31",
                                      "2021-07-05", "2021-09-06", "2021-11-25"])
    dt = np.where(ds.day_of_week < 5, "W", np.where(ds.day_of_week == 5, "A", "U"))
    dt[ds.isin(sunday_service)] = "U"
    dt[ds == "2021-07-03"] = "A"  # a Saturday holiday CTA keeps as a Saturday
    return pd.concat([pd.DataFrame({"series_id": sid, "ds": ds, "y": 1.0, "day_type": dt})
                      for sid in ("bus", "rail")], ignore_index=True)


def test_day_type_is_respected_on_history_days():
    hist = cta_like()
    x = panel_exog(hist, 0, country="US", subdiv="IL").set_index(["series_id", "ds"])
    bus = x.loc["bus"]
    src = hist[hist.series_id == "bus"].set_index("ds")["day_type"]
    assert (bus["saturday"] == (src == "A")).all()
    assert (bus["sunday_holiday"] == (src == "U")).all()
    # the legal calendar still shows in `holiday`: MLK day is a weekday for CTA but a holiday
    assert bus.loc["2021-01-18", ["sunday_holiday", "holiday"]].tolist() == [0.0, 1.0]
    assert bus.loc["2021-07-03", ["saturday", "sunday_holiday"]].tolist() == [1.0, 0.0]


def test_future_days_derive_from_the_calendar():
    hist = cta_like()
    x = panel_exog(hist, 40, country="US", subdiv="IL")
    assert list(x.columns) == ["series_id", "ds", *FLAGS]
    assert len(x) == len(hist) + 2 * 40
    fut = x[(x.series_id == "rail") & (x.ds > "2021-11-30")].set_index("ds")
    assert fut.index[0] == pd.Timestamp("2021-12-01") and len(fut) == 40
    assert fut.loc["2021-12-25", ["sunday_holiday", "holiday", "saturday"]].tolist() == [1, 1, 0]
    assert fut.loc["2021-12-24", ["sunday_holiday", "holiday"]].tolist() == [1.0, 1.0]  # observed
    assert fut.loc["2021-12-04", "saturday"] == 1.0 and fut.loc["2021-12-05", "sunday_holiday"] == 1.0
    assert fut.loc["2021-12-02"].tolist() == ["rail", 0.0, 0.0, 0.0]
    # MLK 2022: the source ran weekday service on MLK 2021, so it stays a weekday ahead
    far = panel_exog(hist, 60, country="US", subdiv="IL").set_index(["series_id", "ds"])
    assert far.loc[("bus", "2022-01-17"), ["sunday_holiday", "holiday"]].tolist() == [0.0, 1.0]


def test_thanksgiving_and_christmas_without_any_day_type():
    days = pd.date_range("2021-11-20", "2021-12-31")
    f = calendar_features(days, country="US", subdiv="IL").set_index("ds")
    for d in ("2021-11-25", "2021-12-25"):
        assert f.loc[d, "sunday_holiday"] == 1.0 and f.loc[d, "holiday"] == 1.0
    assert f.loc["2021-12-25", "saturday"] == 0.0  # a Sunday-like Saturday is not a Saturday


def test_no_country_means_no_holidays():
    hist = cta_like()
    x = panel_exog(hist.drop(columns="day_type"), 40)
    assert (x["holiday"] == 0).all()
    assert (x["sunday_holiday"] == (x["ds"].dt.day_of_week == 6)).all()
    assert (x["saturday"] == (x["ds"].dt.day_of_week == 5)).all()


@pytest.mark.parametrize("country", [None, "US"])
def test_columns_are_float_without_nan(country):
    x = panel_exog(cta_like(), 14, country=country, subdiv="IL", holiday_window=2)
    feats = ["saturday", "sunday_holiday", "near_holiday", "holiday"]
    assert list(x.columns) == ["series_id", "ds", *feats]  # holiday last: SeasonalNaive's flag
    assert all(x[c].dtype == np.float64 for c in feats)
    assert not x[feats].isna().any().any()
    assert set(np.unique(x[feats].to_numpy())) <= {0.0, 1.0}


def test_near_holiday_window():
    days = pd.date_range("2021-11-20", "2021-11-30")
    f = calendar_features(days, country="US", holiday_window=2).set_index("ds")
    near = f.index[f["near_holiday"] == 1].strftime("%m-%d").tolist()
    assert near == ["11-23", "11-24", "11-26", "11-27"]
    assert "near_holiday" not in calendar_features(days, country="US").columns


def test_day_type_aligned_by_position_or_by_day():
    days = pd.date_range("2021-11-22", periods=4)
    by_pos = calendar_features(days, day_type=pd.Series(["W", "W", "W", None]), country="US")
    by_day = calendar_features(days, day_type=pd.Series(["W"] * 3, index=days[:3]), country="US")
    pd.testing.assert_frame_equal(by_pos, by_day)
    assert by_pos["sunday_holiday"].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_bad_inputs_raise():
    days = pd.date_range("2021-11-22", periods=3)
    with pytest.raises(ValueError, match="unknown day types"):
        calendar_features(days, day_type=pd.Series(["W", "X", "W"]))
    with pytest.raises(ValueError, match="length of ds"):
        calendar_features(days, day_type=pd.Series(["W"]))
    with pytest.raises(ValueError, match="no calendar"):
        calendar_features(days, country="XX")
    with pytest.raises(ValueError, match="non-negative"):
        panel_exog(cta_like(), -1)


def test_unknown_holiday_calendars_are_one_clear_error():
    from seqcast.calendar import parse_holidays
    from seqcast.errors import InputError

    assert parse_holidays("us-il") == ("US", "IL") and parse_holidays("none") == (None, None)
    with pytest.raises(InputError, match="unknown country 'XX'"):
        parse_holidays("XX")
    with pytest.raises(InputError, match="no subdivision 'ZZ'"):
        parse_holidays("US-ZZ")


def test_without_a_country_calendar_the_source_day_type_is_not_used():
    """Future holidays are unknown without a calendar: past ones must not be flagged either,
    or the backtest scores forecasts that knew more than tonight's forecast can."""
    from seqcast.calendar import known_future

    days = pd.date_range("2021-11-22", periods=7)
    hist = pd.DataFrame({"series_id": "bus", "ds": days, "y": 1.0,
                         "day_type": ["W", "W", "W", "U", "W", "A", "U"]})  # 11-25 Thanksgiving
    off = known_future(hist, 7)
    assert off["holiday"].eq(0).all() and off["sunday_holiday"].tolist() == [
        float(d.day_of_week == 6) for d in off["ds"]]
    on = known_future(hist, 7, country="US", subdiv="IL")
    assert on.loc[on["ds"] == "2021-11-25", "holiday"].item() == 1.0
