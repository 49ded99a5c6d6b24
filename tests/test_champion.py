"""Champion rules: best recent backtest MAE, never a failing model, never worse than the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqcast.champion import choose, model_version, recent_scores

CUTOFF = pd.Timestamp("2024-03-31")


def _table(maes: dict[str, float], failed: set[str] = frozenset(), future: bool = False) -> pd.DataFrame:
    rows = []
    for model, err in maes.items():
        for k in range(10):
            cutoff = CUTOFF - pd.Timedelta(days=1 + k)
            ds = cutoff + pd.Timedelta(days=1)
            error = "LinAlgError: boom" if model in failed and k == 3 else None
            rows.append(("a", cutoff, ds, 1, model, 100.0, np.nan if error else 100.0 + err, error))
    if future:  # a target after the cutoff being published: must not count
        rows.append(("a", CUTOFF, CUTOFF + pd.Timedelta(days=1), 1, "naive", 100.0, 100.0, None))
    return pd.DataFrame(rows, columns=["series_id", "cutoff", "ds", "h", "model", "y", "mean", "error"])


def _available(*models):
    return pd.DataFrame({"series_id": "a", "model": list(models)})


def test_best_model_that_beats_the_baseline_is_published():
    t = _table({"seasonal_naive": 10, "sarima": 5, "naive": 7})
    c = choose(recent_scores(t, CUTOFF), _available("seasonal_naive", "sarima", "naive"))
    assert c.loc[0, "model"] == "sarima" and "MAE 5" in c.loc[0, "reason"]


def test_a_model_with_a_failed_origin_is_never_published():
    t = _table({"seasonal_naive": 10, "sarima": 5, "naive": 7}, failed={"sarima"})
    c = choose(recent_scores(t, CUTOFF), _available("seasonal_naive", "sarima", "naive"))
    assert c.loc[0, "model"] == "naive"


def test_a_model_that_failed_tonight_is_never_published():
    t = _table({"seasonal_naive": 10, "sarima": 5})
    c = choose(recent_scores(t, CUTOFF), _available("seasonal_naive"))
    assert c.loc[0, "model"] == "seasonal_naive"


def test_nothing_worse_than_seasonal_naive():
    t = _table({"seasonal_naive": 10, "sarima": 12, "naive": 10})
    c = choose(recent_scores(t, CUTOFF), _available("seasonal_naive", "sarima", "naive"))
    assert c.loc[0, "model"] == "seasonal_naive"
    assert "seasonal_naive" in c.loc[0, "reason"]


def test_no_look_ahead_in_the_scores():
    scores = recent_scores(_table({"seasonal_naive": 10, "naive": 20}, future=True), CUTOFF)
    assert scores.set_index("model").loc["naive", "n"] == 10


def test_first_night_without_scores_publishes_the_baseline():
    c = choose(recent_scores(None, CUTOFF), _available("seasonal_naive", "sarima"))
    assert c.loc[0, "model"] == "seasonal_naive" and "no recent backtest" in c.loc[0, "reason"]


def test_model_version_is_stable_and_parameter_sensitive():
    assert model_version("sarima", {"order": [1, 0, 0]}) == model_version("sarima", {"order": [1, 0, 0]})
    assert model_version("sarima", {"order": [1, 0, 0]}) != model_version("sarima", {"order": [2, 0, 0]})
