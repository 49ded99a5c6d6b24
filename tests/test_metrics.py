"""Metrics over a backtest table: hand-computed values, grouping, failures never silent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqcast.metrics import evaluate, mae, mape, mase, rmse, smape


def _table() -> pd.DataFrame:
    cut = pd.Timestamp("2024-01-10")
    return pd.DataFrame({
        "series_id": ["a", "a", "a", "a", "b"],
        "cutoff": [cut, cut, cut + pd.Timedelta(days=1), cut + pd.Timedelta(days=1), cut],
        "ds": pd.to_datetime(["2024-01-11", "2024-01-12", "2024-01-12", "2024-01-13", "2024-01-11"]),
        "h": [1, 2, 1, 2, 1],
        "model": "m",
        "y": [100.0, 200.0, 200.0, 50.0, 10.0],
        "mean": [110.0, 180.0, 190.0, 50.0, 0.0],
        "error": None,
    })


def test_hand_computed_values():
    t = _table()
    a = {"mae": 10.0, "rmse": np.sqrt((100 + 400 + 100 + 0) / 4),
         "mape": 100 * (0.1 + 0.1 + 0.05 + 0) / 4,
         "smape": (200 * 10 / 210 + 200 * 20 / 380 + 200 * 10 / 390 + 0) / 4}
    for fn, name in ((mae, "mae"), (rmse, "rmse"), (mape, "mape"), (smape, "smape")):
        got = fn(t).set_index("series_id")[name]
        assert got["a"] == pytest.approx(a[name]), name
    assert smape(t).set_index("series_id")["smape"]["b"] == pytest.approx(200.0)


def test_per_horizon_grouping():
    got = mae(_table(), by=("series_id", "model", "h"))
    a = got[got.series_id == "a"].set_index("h")["mae"]
    assert a[1] == pytest.approx(10.0) and a[2] == pytest.approx(10.0)
    assert list(got.columns) == ["series_id", "model", "h", "mae"]


def test_mase_uses_history_before_the_first_cutoff_only():
    ds = pd.date_range("2024-01-01", periods=14)
    hist = pd.DataFrame({"series_id": "a", "ds": ds, "y": np.arange(14, dtype=float) * 2})
    t = _table().query("series_id == 'a'")
    # seasonal diff (lag 7) of a line with slope 2 is 14 everywhere; scale = 14
    got = mase(t, hist, season_length=7).set_index("series_id")["mase"]["a"]
    assert got == pytest.approx(10.0 / 14.0)
    # values after the first cutoff (2024-01-10) must not move the scale
    hist2 = hist.copy()
    hist2.loc[hist2.ds > "2024-01-10", "y"] = 1e9
    assert mase(t, hist2, 7).set_index("series_id")["mase"]["a"] == pytest.approx(10.0 / 14.0)


def test_failed_rows_are_counted_not_silent():
    t = _table()
    t.loc[1, ["mean", "error"]] = [np.nan, "ModelError: boom"]
    out = evaluate(t).set_index("series_id")
    assert out.loc["a", "n"] == 3
    assert out.loc["a", "n_failed"] == 1 and out.loc["a", "n_failed_origins"] == 1
    assert out.loc["a", "mae"] == pytest.approx((10 + 10 + 0) / 3)
    assert out[["mae", "rmse", "mape", "smape"]].notna().all().all()


def test_group_with_only_failures_reports_zero_scored():
    t = _table()
    t.loc[4, ["mean", "error"]] = [np.nan, "too short"]
    out = evaluate(t).set_index("series_id")
    assert out.loc["b", "n"] == 0 and out.loc["b", "n_failed"] == 1
    assert np.isnan(out.loc["b", "mae"])  # explained by n == 0, n_failed == 1


def test_evaluate_arguments():
    with pytest.raises(ValueError, match="mase needs"):
        evaluate(_table(), metrics=("mase",))
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(_table(), metrics=("r2",))


def test_mase_of_a_series_that_repeats_itself_is_undefined_not_inf():
    history = pd.DataFrame({"series_id": "flat", "ds": pd.date_range("2024-01-01", periods=30), "y": 5.0})
    table = pd.DataFrame({"series_id": "flat", "model": "m", "h": 1, "cutoff": pd.Timestamp("2024-01-30"),
                          "ds": pd.Timestamp("2024-01-31"), "y": 6.0, "mean": 5.0, "error": None}, index=[0])
    assert np.isnan(mase(table, history)["mase"].iloc[0])
