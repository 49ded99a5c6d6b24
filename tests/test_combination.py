"""``combination``: the mean of its members' forecasts, updatable, saved and loaded exactly."""

import numpy as np
import pandas as pd
import pytest

from seqcast.backtest import cached_fit
from seqcast.errors import ModelError
from seqcast.models import build

TINY_GRU = {"name": "gru", "params": {"input_length": 7, "units": 4, "epochs": 2, "valid_days": 0,
                                       "max_history": None}}


def _panel(n=90):
    ds = pd.date_range("2024-01-01", periods=n)
    rng = np.random.default_rng(1)
    rows = [pd.DataFrame({"series_id": sid, "ds": ds,
                          "y": level + 10 * (ds.day_of_week < 5) + rng.normal(0, 1, n)})
            for sid, level in (("a", 100.0), ("b", 300.0))]
    return pd.concat(rows, ignore_index=True)


def _exog(days):
    ds = pd.DatetimeIndex(days)
    return pd.DataFrame({"ds": ds, "weekend": (ds.day_of_week >= 5).astype(float)})


def test_mean_of_members_with_weights():
    hist = _panel()
    members = ["naive", "seasonal_naive"]
    comb = build({"name": "combination", "params": {"members": members, "weights": [3, 1]}})
    fc = comb.fit(hist).predict(3)
    a = build("naive").fit(hist).predict(3)["mean"].to_numpy()
    b = build("seasonal_naive").fit(hist).predict(3)["mean"].to_numpy()
    np.testing.assert_allclose(fc["mean"], 0.75 * a + 0.25 * b)
    assert set(fc["model"]) == {"combination"} and len(fc) == 6


@pytest.mark.parametrize("params", [{"members": []}, {"members": ["nope"]},
                                    {"members": ["naive", "global_gru"]},
                                    {"members": ["naive", "sarima"], "weights": [1]},
                                    {"members": ["naive", "sarima"], "weights": [1, -1]}])
def test_bad_params_are_refused_at_build(params):
    with pytest.raises(ModelError):
        build({"name": "combination", "params": params})


def test_update_save_load_forecast_as_before(tmp_path):
    hist = _panel()
    days = pd.date_range("2024-01-01", periods=120)
    comb = build({"name": "combination", "params": {"members": ["sarima", TINY_GRU]}})
    past = hist[hist["ds"] <= "2024-03-20"]
    fitted = cached_fit(comb, past, _exog(days[:80]), tmp_path, "combination")
    fitted.update(hist, _exog(days[:90]))
    want = fitted.predict(5, _exog(days[90:95]))
    again = cached_fit(comb, past, _exog(days[:80]), tmp_path, "combination")  # loaded from the cache
    assert (tmp_path / "combination").exists()
    again.update(hist, _exog(days[:90]))
    got = again.predict(5, _exog(days[90:95]))
    pd.testing.assert_frame_equal(got, want, rtol=1e-6)
    # saved after the update: the loaded one has seen the same days
    loaded = type(comb).load(fitted.save(tmp_path / "after"))
    pd.testing.assert_frame_equal(loaded.predict(5, _exog(days[90:95])), want, rtol=1e-6)


@pytest.mark.slow
def test_combination_competes_in_the_nightly(prefect_harness, tmp_path):
    """Backtested like the others (fit cache: the network member is saved, SARIMA refitted
    on load), forecast tonight, scored by the champion step."""
    from datetime import date
    from pathlib import Path

    from flows.nightly import ModelSpec, NightlyParams, nightly

    tiny = {**TINY_GRU, "params": {**TINY_GRU["params"], "jit_compile": False}}
    params = NightlyParams(
        data_dir=str(tmp_path), as_of=date(2024, 12, 31), horizon=7, backtest_days=14, monitor=False,
        models=[ModelSpec(name="seasonal_naive"),
                ModelSpec(name="combination", params={"members": ["sarima", tiny]})],
    )
    summary = nightly(params)
    rows = pd.concat([pd.read_parquet(f) for f in Path(summary["backtest_table"]).glob("*/bucket-*.parquet")])
    assert set(rows["model"]) == {"seasonal_naive", "combination"}
    assert rows["error"].isna().all(), rows["error"].dropna().unique()[:3]
    assert not summary["model_failures"], summary["model_failures"]
    assert {s["model"] for s in summary["scores"] if s["n"] > 0} == {"seasonal_naive", "combination"}
    assert any((tmp_path / "models" / "fits" / "combination").iterdir())
