"""``max_history``: a model trains on the last N days of each series only."""

import numpy as np
import pandas as pd
import pytest

from seqcast.errors import ModelError
from seqcast.models import build, get_model


def _panel(n=120):
    ds = pd.date_range("2024-01-01", periods=n)
    rng = np.random.default_rng(0)
    y = 100 + 10 * (ds.day_of_week < 5) + np.cumsum(rng.normal(0, 1, n))
    return pd.DataFrame({"series_id": "a", "ds": ds, "y": y})


def test_sarima_max_history_fits_the_last_days_only():
    hist = _panel()
    bounded = get_model("sarima", max_history=60).fit(hist).predict(3)
    recent = get_model("sarima", max_history=None).fit(hist.tail(60)).predict(3)
    pd.testing.assert_frame_equal(bounded, recent)
    whole = get_model("sarima", max_history=None).fit(hist).predict(3)
    assert not np.allclose(whole["mean"], bounded["mean"])


def test_sarima_max_history_then_update_keeps_every_new_day():
    hist = _panel()
    m = get_model("sarima", max_history=60).fit(hist.iloc[:110]).update(hist)
    assert m.cutoff_["a"] == hist["ds"].iloc[-1]
    assert len(m.predict(2)) == 2


@pytest.mark.parametrize("name,value", [("sarima", 0), ("sarima", 5), ("gru", 10), ("sarima", 1.5)])
def test_max_history_below_what_the_model_needs_is_refused(name, value):
    with pytest.raises(ModelError, match="max_history"):
        build({"name": name, "params": {"max_history": value}})


def test_defaults():
    assert get_model("sarima").get_params()["max_history"] == 365
    assert get_model("gru").get_params()["max_history"] == 1095
    assert get_model("global_gru").get_params()["horizon"] == 1
