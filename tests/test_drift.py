"""Drift statistics: known changes are detected within the documented delays, a stationary
series raises nothing over two years of nights, and no statistic looks ahead."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqcast.alerts import transitions
from seqcast.drift import (
    DATA_KINDS,
    DriftConfig,
    data_drift_history,
    drift_history,
    error_drift_history,
    ks_critical_distance,
    synthetic_forecasts,
    synthetic_series,
)
from seqcast.errors import SeqcastError

CHANGE_AT = pd.Timestamp("2023-06-14")
# Delays stated in docs/drift.md (days from the change to the first alert), default profile.
DOCUMENTED_DELAY = {("level", 0.15): 28, ("level", 0.3): 7}


def _backtest(clean: pd.DataFrame, last_cutoff: str = "2021-12-31") -> pd.DataFrame:
    """Seasonal-naive backtest table (cutoffs 2021-01-15 .. ``last_cutoff``)."""
    parts = []
    for _, s in clean.groupby("series_id"):
        parts.append(synthetic_forecasts(s.reset_index(drop=True), "2021-01-15", last_cutoff))
    bt = pd.concat(parts, ignore_index=True)
    return bt.merge(clean[["series_id", "ds", "y"]], on=["series_id", "ds"])


def _published(clean: pd.DataFrame, **kw) -> pd.DataFrame:
    return pd.concat(
        [synthetic_forecasts(s.reset_index(drop=True), "2022-01-01", **kw)
         for _, s in clean.groupby("series_id")],
        ignore_index=True,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stationary_two_years_of_nights_raise_no_alert(seed):
    """Weekly + yearly seasonality, holidays, 2 simulated years of nightly runs (2022-2023)."""
    # data from 2020-11 so that the first night (2022-01-01) already has its year-ago reference
    kw = dict(start="2020-11-01", days=1156)
    clean = pd.concat([
        synthetic_series(seed, series_id="rail", **kw),
        synthetic_series(seed + 100, series_id="bus", level=700.0, yearly=0.12, noise=0.05, **kw),
    ], ignore_index=True)
    nights = pd.date_range("2022-01-01", "2023-12-31")
    t0 = time.perf_counter()
    # the backtest table keeps growing through the two years, as the nightly one does
    hist = drift_history(clean, _published(clean), _backtest(clean, "2023-12-30"), nights=nights)
    elapsed = time.perf_counter() - t0
    # every kind is evaluated on (nearly) every night for both series
    counts = hist.groupby(["series_id", "kind"]).size()
    assert set(hist["kind"]) == {*DATA_KINDS, "error_ratio"}
    assert counts.min() >= 700, counts  # the first nights wait for the detrending weeks
    rows = transitions(hist, nights, set())
    assert rows.empty, rows
    assert not hist["firing"].any()
    assert elapsed < 10, f"{len(nights)} nights x 2 series took {elapsed:.1f}s"


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [0.15, 0.3])
def test_level_shift_detected_within_documented_delay(size, seed):
    clean = synthetic_series(seed, change="level", size=size, change_at=str(CHANGE_AT.date()))
    nights = pd.date_range(CHANGE_AT - pd.Timedelta(days=60), CHANGE_AT + pd.Timedelta(days=35))
    hist = data_drift_history(clean, nights=nights)
    rows = transitions(hist, nights, set())
    opened = rows[rows["status"] == "open"]
    assert not (opened["detected_at"] < CHANGE_AT).any(), opened
    assert len(opened), f"level -{size} not detected within 35 days"
    delay = (opened["detected_at"].min() - CHANGE_AT).days
    assert 0 <= delay <= DOCUMENTED_DELAY[("level", size)], (size, seed, delay, opened)


def test_holidays_and_their_neighbours_are_not_drift():
    """A stationary series whose holiday weeks drop 40 % (Christmas week, Thanksgiving
    week of a calendar): no alert with the calendar; the same weeks are excluded."""
    clean = synthetic_series(11, start="2021-01-01", days=1096)
    ds = clean["ds"]
    xmas = (ds.dt.month == 12) & (ds.dt.day.between(22, 31)) | (ds.dt.month == 1) & (ds.dt.day <= 3)
    thanks = (ds.dt.month == 11) & ds.dt.day.between(22, 28) & (ds.dt.day_of_week == 3)
    thanks_week = ds.isin(pd.DatetimeIndex(ds[thanks]).repeat(7) + pd.to_timedelta(
        np.tile(np.arange(-3, 4), int(thanks.sum())), unit="D"))
    clean.loc[xmas | thanks_week, "y"] *= 0.6
    clean.loc[thanks, "day_type"] = "U"  # the source runs a Sunday service, as CTA does
    nights = pd.date_range("2022-11-10", "2023-01-25")
    cfg = DriftConfig(holidays="US")
    hist = data_drift_history(clean, cfg, nights)
    assert set(hist["kind"]) == set(DATA_KINDS)
    assert transitions(hist, nights, set(), cfg).empty
    # without holiday handling the same weeks do fire
    loud = DriftConfig(holiday_window=0, persist_nights=1)
    assert data_drift_history(clean, loud, nights)["firing"].any()


def test_forecast_error_drift_fires_after_consecutive_days_and_only_then():
    clean = synthetic_series(3)
    backtest = _backtest(clean)
    bias_from = "2023-03-01"
    fc = _published(clean, bias_from=bias_from, bias=0.15)
    cfg = DriftConfig()
    hist = error_drift_history(fc, clean, backtest, cfg)
    above = hist["statistic"] > cfg.error_ratio_threshold
    # firing needs error_consecutive_days nights in a row above the threshold
    run = above.astype(int).groupby((~above).cumsum()).cumsum()
    assert (hist["firing"] == (run >= cfg.error_consecutive_days)).all()
    first = hist.loc[hist["firing"], "night"].min()
    assert first >= pd.Timestamp(bias_from)
    assert (first - pd.Timestamp(bias_from)).days <= 28
    # an unbiased model stays quiet on the same data
    quiet = error_drift_history(_published(clean), clean, backtest, cfg)
    assert not quiet["firing"].any()


def test_error_drift_uses_backtest_of_same_model_and_horizon():
    ds = pd.date_range("2024-01-01", periods=30)
    actuals = pd.DataFrame({"series_id": "a", "ds": ds, "y": 10.0})
    fc = pd.DataFrame({"series_id": "a", "ds": ds[11:], "cutoff": ds[10:-1], "h": 1,
                       "model": "m", "mean": 12.0})
    # backtest of model m, h=1, scored on Jan 2..11: MAE 1 (known from Jan 8, the 7th row)
    bt = pd.DataFrame({"series_id": "a", "cutoff": ds[:10], "ds": ds[1:11], "h": [1] * 10,
                       "model": "m", "y": 10.0, "mean": 11.0})
    cfg = DriftConfig(error_window=4, error_consecutive_days=2, error_ratio_threshold=1.5)
    hist = error_drift_history(fc, actuals, bt, cfg)
    assert np.allclose(hist["statistic"], 2.0)  # |10-12| / MAE 1
    assert hist["firing"].iloc[0] == np.False_ and hist["firing"].iloc[1:].all()
    assert error_drift_history(fc, actuals, bt.assign(model="other")).empty
    assert error_drift_history(fc, actuals, bt.assign(h=2)).empty
    # a backtest scored later than a forecast's day is not used for it (no look-ahead)
    later = bt.assign(ds=bt["ds"] + pd.Timedelta(days=25))
    assert error_drift_history(fc, actuals, later).empty


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=st.integers(min_value=0, max_value=100), junk=st.floats(0.0, 5.0))
def test_no_statistic_looks_ahead(offset, junk):
    clean = synthetic_series(5, days=900)  # ends 2023-06-19
    fc, bt = _published(clean), _backtest(clean, "2023-06-01")
    night = pd.Timestamp("2023-03-01") + pd.Timedelta(days=offset)
    full = drift_history(clean, fc, bt, nights=[night])
    # change everything after the night (data, forecasts' values, backtest errors):
    # the night's statistics must not move
    later = clean["ds"] > night
    altered = clean.assign(y=np.where(later, clean["y"] * (1 + junk) + 500, clean["y"]))
    fc_altered = fc.assign(mean=np.where(fc["cutoff"] >= night, fc["mean"] * 3, fc["mean"]))
    bt_altered = bt.assign(mean=np.where(bt["ds"] > night, bt["mean"] + 1e4, bt["mean"]))
    same = drift_history(altered, fc_altered, bt_altered, nights=[night])
    truncated = drift_history(clean[~later], fc[fc["cutoff"] < night], bt, nights=[night])
    assert len(full) == len(DATA_KINDS) + 1
    pd.testing.assert_frame_equal(full, same)
    pd.testing.assert_frame_equal(full, truncated)


def test_day_types_are_strata_so_weekly_pattern_is_not_drift():
    """A series whose weekend level differs wildly from weekdays is not drifting."""
    clean = synthetic_series(7, yearly=0.0)
    clean.loc[clean["day_type"] != "W", "y"] *= 0.2
    hist = data_drift_history(clean, nights=pd.date_range("2022-06-01", "2022-12-31"))
    assert not hist["firing"].any()


def test_imputed_days_are_ignored():
    clean = synthetic_series(8)
    nights = pd.date_range("2023-05-01", "2023-06-30")
    base = data_drift_history(clean, nights=nights)
    imputed = clean["ds"].between("2023-05-10", "2023-05-20")
    dirty = clean.assign(y=np.where(imputed, 0.0, clean["y"]), is_imputed=imputed)
    hist = data_drift_history(dirty, nights=nights)
    assert not hist["firing"].any()
    assert not base["firing"].any()


def test_config_is_validated_and_documented_defaults():
    cfg = DriftConfig()
    assert (cfg.recent_days, cfg.ks_alpha, cfg.wasserstein_threshold, cfg.level_threshold) == (28, 1e-12, 3.0, 4.8)
    assert (cfg.spread_threshold, cfg.error_ratio_threshold, cfg.error_consecutive_days) == (3.6, 2.0, 3)
    assert (cfg.persist_nights, cfg.holiday_window, cfg.detrend_days) == (2, 3, 56)
    assert cfg.lookback_days >= cfg.reference_lag_days + cfg.recent_days
    with pytest.raises(SeqcastError, match="reference"):
        DriftConfig(reference="yearly")
    with pytest.raises(SeqcastError, match="recent_days"):
        DriftConfig(recent_days=0)
    assert abs(ks_critical_distance(28, 84, 1e-4) - 0.486) < 1e-3


def test_trailing_reference_mode_runs():
    clean = synthetic_series(9, yearly=0.0, days=500, change="level", change_at="2022-04-01")
    nights = pd.date_range("2022-03-01", "2022-04-30")
    hist = data_drift_history(clean, DriftConfig(reference="trailing", reference_days=182), nights)
    fired = hist[hist["firing"]]
    assert len(fired) and fired["night"].min() >= pd.Timestamp("2022-04-01")


def test_plot_of_many_series_draws_the_alerting_and_nearest_ones(tmp_path):
    from seqcast.drift import plot_drift_history, shown_series

    nights = pd.date_range("2024-01-01", periods=5)
    rows = []
    for i in range(40):
        for k, night in enumerate(nights):
            rows.append({"series_id": f"s{i:02d}", "night": night, "kind": "level_shift",
                         "statistic": i / 40 + 0.01 * k, "threshold": 1.0})
    history = pd.DataFrame(rows)
    alerts = pd.DataFrame({"series_id": ["s03"], "kind": ["level_shift"], "status": ["open"],
                           "detected_at": [nights[2]]})
    shown = shown_series(history, alerts, 5)
    assert shown == ["s03", "s39", "s38", "s37", "s36"]  # the alert first, then nearest the threshold
    assert shown_series(history.head(10), None, 5) == ["s00", "s01"]  # few series: all of them
    png = plot_drift_history(history, tmp_path / "d.png", alerts=alerts, max_series=5)
    assert png.exists() and png.stat().st_size > 1000


def test_ks_distance_and_median_are_scipy_s_and_numpy_s():
    """The monitor's own KS distance (no p-value) and small-array median give exactly what
    scipy.stats.ks_2samp(...).statistic and np.median give, ties and NaN included."""
    from scipy import stats

    from seqcast.drift import _median, ks_distance

    rng = np.random.default_rng(7)
    for n, m in [(1, 1), (3, 5), (28, 84), (50, 50)]:
        for _ in range(20):
            a = rng.normal(size=n).round(1)  # rounded: ties within and across the samples
            b = rng.normal(0.3, 1.2, size=m).round(1)
            assert ks_distance(a, b) == stats.ks_2samp(a, b, method="asymp").statistic
            assert _median(a) == np.median(a) and _median(b) == np.median(b)
    assert np.isnan(_median([1.0, np.nan, 2.0])) and np.isnan(_median([]))


@pytest.mark.parametrize("seed", [40, 41, 42])
def test_a_series_in_its_first_year_is_checked_against_its_trailing_weeks(seed):
    """Under a year of history there are no year-ago weeks: the 56 days before the recent
    window stand in (they were no check at all before 475 days). A 30 % drop in a
    150-day-old series fires within days; a stationary seasonal series in its first 480
    days (seeds not used to choose the fallback's window and threshold) fires nothing."""
    new = synthetic_series(seed, series_id="rail", start="2022-01-01", days=200, change="level",
                           change_at="2022-06-01", size=0.3)
    hist = data_drift_history(new)
    fired = hist[hist["firing"]]
    first = fired.groupby("kind")["night"].min()
    assert first["level_shift"] <= pd.Timestamp("2022-06-08"), first
    assert fired["window"].str.contains("trailing: under a year of history").all()
    assert not hist.loc[hist["night"] < pd.Timestamp("2022-06-01"), "firing"].any()

    calm = pd.concat([
        synthetic_series(seed, series_id="rail", start="2022-01-01", days=480),
        synthetic_series(seed + 100, series_id="bus", level=700.0, yearly=0.12, noise=0.05,
                         start="2022-01-01", days=480),
    ], ignore_index=True)
    hist = data_drift_history(calm)
    assert hist["night"].min() <= pd.Timestamp("2022-03-26")  # checked from 12 weeks on (28 + 56 days)
    assert not hist["firing"].any(), hist[hist["firing"]]


@pytest.mark.parametrize("before, after", [(100.0, 200.0), (0.0, 5.0), (100.0, 99.0)])
def test_a_step_out_of_a_constant_series_is_a_level_shift(before, after):
    """A constant (or all-zero) reference has no day-to-day noise to measure a move in: the
    level check was skipped and a closed store reopening, or a sensor stuck then moving,
    raised nothing. 0.1 % of the reference level stands in for the noise unit."""
    ds = pd.date_range("2022-01-01", periods=300, freq="D")
    y = np.r_[np.full(290, before), np.full(10, after)]
    hist = data_drift_history(pd.DataFrame({"series_id": "s", "ds": ds, "y": y}))
    level = hist[hist["kind"] == "level_shift"]
    assert not level.loc[level["night"] < ds[290], "firing"].any()  # constant: quiet
    assert level.loc[level["night"] >= ds[290], "firing"].any()
    assert level.loc[level["firing"], "night"].min() <= ds[295]
