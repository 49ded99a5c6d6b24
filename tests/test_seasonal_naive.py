"""SeasonalNaive with a holiday flag: a holiday is not copied into a normal week."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqcast.calendar import panel_exog
from seqcast.errors import ModelError
from seqcast.models.naive import SeasonalNaive

WEEK = {0: 400.0, 1: 410.0, 2: 420.0, 3: 430.0, 4: 390.0, 5: 250.0, 6: 180.0}


def weekly(end: str = "2021-11-30", weeks: int = 10) -> pd.DataFrame:
    ds = pd.date_range(end=end, periods=7 * weeks)
    y = np.array([WEEK[d] for d in ds.day_of_week]) + np.arange(len(ds)) * 0.1
    y[ds == "2021-11-25"] = 136.0  # Thanksgiving, a Thursday
    return pd.DataFrame({"series_id": "bus", "ds": ds, "y": y, "day_type": "W"})


def test_holiday_is_not_copied_into_the_next_week():
    hist = weekly()
    x = panel_exog(hist, 14, country="US", subdiv="IL")
    fc = SeasonalNaive(7).fit(hist, exog=x).predict(14, exog_future=x).set_index("ds")["mean"]
    y = hist.set_index("ds")["y"]
    assert fc["2021-12-02"] == y["2021-11-18"]  # the last normal Thursday, not 136
    assert fc["2021-12-09"] == y["2021-11-18"]  # two weeks ahead too
    assert fc["2021-12-01"] == y["2021-11-24"]  # other days: plain seasonal naive
    plain = SeasonalNaive(7).fit(hist).predict(14).set_index("ds")["mean"]
    differs = fc.index[fc != plain]
    assert differs.strftime("%m-%d").tolist() == ["12-02", "12-09"]


def test_holiday_target_gets_the_plain_value():
    hist = weekly(end="2021-12-20")
    x = panel_exog(hist, 7, country="US", subdiv="IL")  # 2021-12-24 is Christmas (observed)
    fc = SeasonalNaive(7).fit(hist, exog=x).predict(7, exog_future=x).set_index("ds")["mean"]
    assert fc["2021-12-24"] == hist.set_index("ds")["y"]["2021-12-17"]


def test_without_exog_it_is_the_plain_seasonal_naive():
    hist = weekly()
    y = hist["y"].to_numpy()
    for model in (SeasonalNaive(7), SeasonalNaive(7, skip_holidays=False)):
        x = panel_exog(hist, 10, country="US") if not model.skip_holidays else None
        fc = model.fit(hist, exog=x).predict(10, exog_future=x)["mean"].to_numpy()
        np.testing.assert_array_equal(fc, y[-7:][np.arange(10) % 7])


def test_exog_reads_the_holiday_column_by_name():
    hist = weekly()
    x = panel_exog(hist, 3)
    x["temperature"] = 12.5  # another feature, after `holiday`: ignored
    plain = SeasonalNaive(7).fit(hist, exog=panel_exog(hist, 3)).predict(3, exog_future=panel_exog(hist, 3))
    extra = SeasonalNaive(7).fit(hist, exog=x).predict(3, exog_future=x)
    assert plain["mean"].tolist() == extra["mean"].tolist()
    bad = x.assign(holiday=2.0)
    with pytest.raises(ModelError, match="must be 0 or 1"):
        SeasonalNaive(7).fit(hist, exog=bad)
    no_flag = x.drop(columns="holiday")  # no holiday column: the plain seasonal naive
    assert (SeasonalNaive(7).fit(hist, exog=no_flag).predict(3)["mean"].tolist()
            == SeasonalNaive(7).fit(hist).predict(3)["mean"].tolist())


def test_clone_keeps_skip_holidays():
    assert SeasonalNaive(7, skip_holidays=False).clone().get_params() == {
        "season_length": 7, "skip_holidays": False}


@pytest.mark.cta
def test_cta_bus_thursday_after_thanksgiving(cta_csv):
    raw = pd.read_csv(cta_csv).drop_duplicates()
    hist = pd.DataFrame({"series_id": "bus", "ds": pd.to_datetime(raw["service_date"], format="%m/%d/%Y"),
                         "y": raw["bus"].astype(float), "day_type": raw["day_type"]})
    hist = hist[hist.ds >= "2021-01-01"].sort_values("ds")
    x = panel_exog(hist, 7, country="US", subdiv="IL")
    fc = SeasonalNaive(7).fit(hist, exog=x).predict(7, exog_future=x).set_index("ds")["mean"]
    assert 380_000 < fc["2021-12-02"] < 460_000  # not Thanksgiving's 136,680
