"""SARIMA model: the model contract, cold fits equal statsmodels' plain ARIMA, warm starts."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from seqcast.errors import ModelError
from seqcast.models import get_model
from seqcast.models.sarima import SARIMA, parse_order


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Tiny SARIMA matrices: BLAS threads only add contention on a busy machine."""
    from seqcast.backtest import blas_threads

    with blas_threads(1):
        yield


def _hist(n=120, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=n)
    y = 500 + 200 * (ds.day_of_week < 5) + rng.normal(0, 20, n).cumsum() * 0.3
    return pd.DataFrame({"series_id": "rail", "ds": ds, "y": y})


def _plain(y, h=1):
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(ARIMA(y, order=(1, 0, 0), seasonal_order=(0, 1, 1, 7)).fit().forecast(h))


def test_registered_and_contract():
    hist = _hist()
    before = hist.copy()
    m = get_model("sarima", order=(1, 0, 0), seasonal_order=(0, 1, 1, 7))
    assert isinstance(m, SARIMA)
    assert m.fit(hist) is m
    fc = m.predict(5, level=[80, 95])
    assert list(fc.columns) == ["series_id", "ds", "model", "mean", "lo-80", "hi-80", "lo-95", "hi-95"]
    assert len(fc) == 5 and (fc["model"] == "sarima").all()
    assert fc["ds"].iloc[0] == hist["ds"].max() + pd.Timedelta(days=1)
    assert (fc["lo-95"] <= fc["lo-80"]).all() and (fc["hi-80"] <= fc["hi-95"]).all()
    pd.testing.assert_frame_equal(hist, before)
    assert m.clone().get_params() == m.get_params()


def test_cold_fit_equals_plain_statsmodels_arima():
    hist = _hist()
    plain = _plain(hist["y"].to_numpy(), 3)
    # statsmodels' own filter: the same numbers
    got = SARIMA((1, 0, 0), (0, 1, 1, 7), compiled_filter=False).fit(hist).predict(3)["mean"].to_numpy()
    np.testing.assert_allclose(got, plain, rtol=1e-10)
    # the compiled filter: the same log-likelihood to ~1e-15, so the optimiser stops within
    # rounding of statsmodels' point (finite-difference gradients amplify the last digits)
    got = SARIMA((1, 0, 0), (0, 1, 1, 7)).fit(hist).predict(3)["mean"].to_numpy()
    np.testing.assert_allclose(got, plain, rtol=1e-6)


def test_warm_start_resets_variance_and_matches_cold_forecast():
    y = _hist(150)["y"].to_numpy()
    m = SARIMA((1, 0, 0), (0, 1, 1, 7))
    prev = m._fit_series(y[:-1], None)
    warm = m._fit_series_warm(y, None, prev)
    cold = m._fit_series(y, None)
    f_warm = m._predict_series(warm, 1, None, ())["mean"]
    f_cold = m._predict_series(cold, 1, None, ())["mean"]
    np.testing.assert_allclose(f_warm, f_cold, rtol=1e-3)


def test_update_equals_filtering_the_longer_series_at_fixed_params():
    from statsmodels.tsa.arima.model import ARIMA

    y = _hist(130)["y"].to_numpy()
    m = SARIMA((1, 0, 0), (0, 1, 1, 7))
    state = m._fit_series(y[:120], None)
    updated = m._update_series(state, y[120:125], None)
    ref = ARIMA(y[:125], order=(1, 0, 0), seasonal_order=(0, 1, 1, 7)).filter(state.params)
    np.testing.assert_allclose(m._predict_series(updated, 2, None, ())["mean"],
                               ref.forecast(2), rtol=1e-10)


def test_known_future_regressor():
    hist = _hist()
    days = pd.date_range(hist["ds"].min(), periods=len(hist) + 3)
    exog = pd.DataFrame({"series_id": "rail", "ds": days,
                         "weekday": (days.day_of_week < 5).astype(float)})
    m = SARIMA((1, 0, 0), (0, 0, 0, 0), trend="c").fit(hist, exog=exog[exog.ds <= hist.ds.max()])
    fc = m.predict(3, exog_future=exog)
    assert fc["mean"].notna().all() and len(fc) == 3


def test_too_short_and_nan_history_raise_model_error():
    m = SARIMA((1, 0, 0), (0, 1, 1, 7))
    with pytest.raises(ModelError, match="at least"):
        m._fit_series(np.arange(5.0), None)
    y = _hist()["y"].to_numpy().copy()
    y[10] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        m._fit_series(y, None)


def test_parse_order():
    assert parse_order("1,0,0", 3) == (1, 0, 0)
    with pytest.raises(ModelError):
        parse_order("1,0", 3)
    with pytest.raises(ModelError):
        parse_order("a,b,c", 3)


def test_a_saved_fit_updates_and_forecasts_to_the_last_digit(tmp_path):
    """The nightly's fit cache: a loaded SARIMA (with calendar regressors, two series, an
    integer series id) takes new days and forecasts with intervals exactly as the fit."""
    a, b = _hist(150, seed=1), _hist(150, seed=2).assign(series_id=7)
    hist = pd.concat([a, b], ignore_index=True)
    days = pd.date_range("2023-01-01", periods=170)
    exog = pd.DataFrame({"ds": days, "holiday": (days.day == 4).astype(float),
                         "saturday": (days.day_of_week == 5).astype(float)})
    model = SARIMA()
    fit_part = hist[hist["ds"] <= "2023-05-01"]
    fitted = model.fit(fit_part, exog)
    assert fitted.saveable
    loaded = SARIMA.load(fitted.save(tmp_path / "fit"))
    for m in (fitted, loaded):
        m.update(hist, exog)
    future = exog[exog["ds"] > hist["ds"].max()]
    pd.testing.assert_frame_equal(loaded.predict(7, future, level=[80, 95]),
                                  fitted.predict(7, future, level=[80, 95]), check_exact=True)
    pd.testing.assert_series_equal(loaded.cutoff_, fitted.cutoff_, check_index_type=False)


def test_fits_without_the_compiled_state_are_refitted_not_cached(tmp_path):
    from seqcast.backtest import cached_fit
    from seqcast.errors import InputError

    trend = cached_fit(SARIMA(trend="t"), _hist(), None, tmp_path, "sarima-t")
    assert not trend.saveable and not any(tmp_path.rglob("metadata.json"))
    with pytest.raises(ModelError, match="cannot be saved|only fits"):
        trend.save(tmp_path / "x")
    plain = cached_fit(SARIMA(), _hist(), None, tmp_path, "sarima")
    again = cached_fit(SARIMA(), _hist(), None, tmp_path, "sarima")  # loaded from the cache
    assert len(list(tmp_path.rglob("metadata.json"))) == 1
    pd.testing.assert_frame_equal(again.predict(3), plain.predict(3), check_exact=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata.json").write_text("{}")
    with pytest.raises(InputError, match="cannot read a saved sarima"):
        SARIMA.load(tmp_path / "bad")


def test_saved_fits_not_used_for_keep_days_are_pruned_and_refitted_alike(tmp_path):
    """The nightly prunes its fit cache (seqcast.backtest.prune_fit_cache): an entry
    unused for ``keep_days`` goes, one loaded since stays (a load renews it), and a
    pruned fit needed again is fitted again with the same forecast."""
    import os
    import time

    from seqcast.backtest import cached_fit, prune_fit_cache

    hist = _hist()
    old, recent = hist.iloc[:-30], hist
    first = cached_fit(SARIMA(), old, None, tmp_path, "sarima")
    cached_fit(SARIMA(), recent, None, tmp_path, "sarima")
    entries = sorted(p.parent for p in tmp_path.rglob("metadata.json"))
    assert len(entries) == 2
    month_ago = time.time() - 40 * 86400
    for entry in entries:
        os.utime(entry / "metadata.json", (month_ago, month_ago))
    (tmp_path / "sarima" / ".abc.tmp").mkdir()  # an interrupted save, as old
    os.utime(tmp_path / "sarima" / ".abc.tmp", (month_ago, month_ago))
    cached_fit(SARIMA(), recent, None, tmp_path, "sarima")  # loaded tonight: renewed
    assert prune_fit_cache(tmp_path, keep_days=30) == 2
    left = [p.parent for p in tmp_path.rglob("metadata.json")]
    assert len(left) == 1 and not (tmp_path / "sarima" / ".abc.tmp").exists()
    assert prune_fit_cache(tmp_path, keep_days=30) == 0 and prune_fit_cache(tmp_path / "none", 30) == 0
    again = cached_fit(SARIMA(), old, None, tmp_path, "sarima")  # pruned: fitted again, cached again
    pd.testing.assert_frame_equal(again.predict(3), first.predict(3), check_exact=True)
    assert len(list(tmp_path.rglob("metadata.json"))) == 2


@pytest.mark.parametrize("scale", [1e-9, 1e-3])
def test_a_series_of_tiny_values_fits_like_the_same_series_scaled_up(tmp_path, scale):
    """A rate around 0.01 or a series in units of 1e-9: statsmodels' optimizer never
    converged on it (every origin failed, seasonal naive published without a word about
    SARIMA); the model now sees it scaled by a power of ten and divides its forecasts back."""
    days = pd.date_range("2023-01-01", periods=150)
    base = 1 + 0.1 * np.sin(2 * np.pi * np.arange(150) / 7) + np.random.default_rng(0).normal(0, 0.01, 150)
    small = pd.DataFrame({"series_id": "a", "ds": days, "y": base * scale})
    unit = small.assign(y=base)
    fitted = SARIMA().fit(small.iloc[:-10])
    assert fitted.states_["a"].scale > 1
    loaded = SARIMA.load(fitted.save(tmp_path / "fit"))  # the scale travels with a saved fit
    ref = SARIMA().fit(unit.iloc[:-10])
    for m in (fitted, loaded, ref):
        m.update(unit if m is ref else small)
    want = ref.predict(7, level=[80])
    for m in (fitted, loaded):
        got = m.predict(7, level=[80])
        for col in ("mean", "lo-80", "hi-80"):
            np.testing.assert_allclose(got[col].to_numpy() / scale, want[col].to_numpy(), rtol=1e-6)


def test_a_series_near_the_float_limit_fails_with_a_reason_not_console_warnings():
    """A series in units of 1e200 (a mis-scaled export): its spread overflowed in np.std and
    np.var, and `seqcast run` printed "RuntimeWarning: overflow encountered in square" 44
    times on the console; the model fails that series with its reason, silently otherwise."""
    huge = _hist().assign(y=lambda d: d["y"] * 1e200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelError, match="non-finite parameters"):
            SARIMA().fit(huge)


@pytest.mark.parametrize("name, y", [
    ("all zeros", np.zeros(120)),
    ("constant", np.full(120, 50.0)),
    ("exact week", np.tile([1.0, 2, 3, 4, 5, 6, 7], 18)[:120]),
])
def test_a_noiseless_series_fits_and_forecasts_its_continuation(name, y):
    """A closed store's zeros, a constant, an exact weekly pattern: no noise, a flat
    likelihood, and the optimizer never reported convergence, so SARIMA failed at every
    origin. Every parameter value forecasts the same continuation, which is kept."""
    hist = pd.DataFrame({"series_id": "s", "ds": pd.date_range("2023-01-01", periods=120), "y": y})
    fc = SARIMA().fit(hist).predict(14, level=[80])
    expected = np.r_[y[-7:], y[-7:]]  # the last week repeated
    np.testing.assert_allclose(fc["mean"].to_numpy(), expected, atol=1e-6)
    assert np.isfinite(fc[["lo-80", "hi-80"]].to_numpy()).all()
