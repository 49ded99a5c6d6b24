"""The synthetic panel: shape, determinism, and the features it promises."""

from __future__ import annotations

import doctest
import time

import numpy as np
import pandas as pd
import pytest

import seqcast.synthetic as S
from seqcast.synthetic import synthetic_panel, write_panel_csv


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return synthetic_panel(200, seed=7)


def _spans(panel: pd.DataFrame) -> pd.DataFrame:
    ds = pd.to_datetime(panel["date"], format="%Y-%m-%d")
    g = ds.groupby(panel["series"]).agg(["min", "max", "size"])
    g["span"] = (g["max"] - g["min"]).dt.days + 1
    return g


def test_shape_and_types(panel):
    assert list(panel.columns) == ["date", "series", "value"]
    assert panel["series"].nunique() == 200
    assert panel["series"].iloc[0] == "s0001" and panel["series"].iloc[-1] == "s0200"
    assert panel["date"].min() == "2022-01-01" and panel["date"].max() == "2024-12-31"
    assert panel["value"].dtype == np.int64 and (panel["value"] >= 0).all()
    assert not panel.duplicated(["series", "date"]).any()
    assert panel.equals(panel.sort_values(["series", "date"]))
    assert len(panel) <= 200 * 1096


def test_same_seed_same_frame_other_seed_other_frame():
    a = synthetic_panel(50, seed=3)
    assert a.equals(synthetic_panel(50, seed=3))
    assert not a.equals(synthetic_panel(50, seed=4))


def test_short_series_start_late_and_end_on_the_last_day(panel):
    spans = _spans(panel)
    short = spans[spans["span"] < 1096]
    assert len(short) == 20  # 10 %
    assert short["span"].between(90, 365).all()
    assert (spans["max"] == pd.Timestamp("2024-12-31")).all()


def test_gaps_are_interior_and_short(panel):
    spans = _spans(panel)
    missing = spans["span"] - spans["size"]
    assert (missing > 0).sum() == 10  # 5 %
    assert missing.between(0, 5).all()
    assert spans.loc[missing > 0, "min"].notna().all()
    none = synthetic_panel(20, seed=7, gap_fraction=0.0, short_fraction=0.0)
    assert len(none) == 20 * 1096


def test_levels_differ_by_orders_of_magnitude(panel):
    median = panel.groupby("series")["value"].median()
    assert median.min() >= 50 and median.max() <= 150_000
    assert median.max() / median.min() > 100


def test_weekly_pattern_is_detectable(panel):
    ds = pd.to_datetime(panel["date"], format="%Y-%m-%d")
    rel = panel["value"] / panel.groupby("series")["value"].transform("median")
    by_dow = rel.groupby(ds.dt.day_of_week).mean()
    assert by_dow[[0, 1, 2, 3, 4]].min() > by_dow[5] > by_dow[6]
    assert by_dow[6] < 0.85 * by_dow[2]
    # Christmas is a Sunday-type day even on a weekday (2024-12-25 is a Wednesday)
    xmas = rel[panel["date"] == "2024-12-25"].mean()
    assert xmas < rel[panel["date"] == "2024-12-18"].mean()


def test_yearly_and_trend_vary_by_series(panel):
    full = panel[panel.groupby("series")["date"].transform("size") == 1096]
    year = full["date"].str[:4]
    growth = full.groupby(["series", year])["value"].mean().unstack()
    ratio = growth["2024"] / growth["2022"]
    assert ratio.min() < 0.97 and ratio.max() > 1.03


def test_thousand_series_three_years_is_fast():
    t = time.perf_counter()
    df = synthetic_panel(1000)
    assert time.perf_counter() - t < 2.0
    assert 1_000_000 < len(df) <= 1000 * 1096


def test_write_panel_csv_round_trips(tmp_path):
    path = write_panel_csv(tmp_path / "sub" / "panel.csv", n_series=5, seed=2)
    pd.testing.assert_frame_equal(pd.read_csv(path), synthetic_panel(5, seed=2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_series"):
        synthetic_panel(0)
    with pytest.raises(ValueError, match="two days"):
        synthetic_panel(1, start="2024-01-01", end="2024-01-01")


def test_docstring_examples():
    assert doctest.testmod(S, raise_on_error=True).attempted >= 5
