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


def test_reason_gives_mae_to_three_significant_digits():
    from seqcast.champion import format_mae

    # temperatures: 1.57 vs 2.58 read "MAE 2 ... (seasonal naive 3)" when rounded to units
    c = choose(recent_scores(_table({"seasonal_naive": 2.58, "sarima": 1.57}), CUTOFF),
               _available("seasonal_naive", "sarima"))
    assert c.loc[0, "reason"] == "best recent backtest MAE 1.57 over 10 forecasts; seasonal_naive 2.58"
    c = choose(recent_scores(_table({"seasonal_naive": 0.01234, "sarima": 0.02}), CUTOFF),
               _available("seasonal_naive", "sarima"))
    assert c.loc[0, "reason"] == "seasonal_naive has the best recent backtest MAE (0.0123)"
    # large errors stay whole and readable, never 2.39e+04
    c = choose(recent_scores(_table({"seasonal_naive": 30000, "naive": 23942.4}), CUTOFF),
               _available("seasonal_naive", "naive"))
    assert c.loc[0, "reason"] == "best recent backtest MAE 23,942 over 10 forecasts; seasonal_naive 30,000"
    assert [format_mae(v) for v in (1.5749, 0.012345, 12.34, 99.4, 512.6, 23942.4, 0.0, np.nan)] == [
        "1.57", "0.0123", "12.3", "99.4", "513", "23,942", "0", "n/a"]


def test_series_every_model_failed_on_is_reported_with_the_reasons():
    from seqcast.champion import no_forecast

    fc = pd.DataFrame({"series_id": ["a", "a"], "model": ["seasonal_naive", "sarima"]})
    failures = pd.DataFrame({
        "series_id": ["b", "b", "a", "b+c"],
        "model": ["seasonal_naive", "sarima", "sarima", "lstm"],
        "error": ["ModelError: seasonal_naive: series ['b'] have fewer than 7 observations",
                  "ValueError: forecast has non-finite values", "ValueError: x", "ModelError: too short"],
        "members": [("b",), ("b",), ("a",), ("b", "c")],  # lstm: a panel of b and c
    })
    out = no_forecast(["a", "b", "c"], fc, failures)
    assert out.to_dict(orient="records") == [
        {"series_id": "b", "reason": "not published: every model failed (ModelError: seasonal_naive: series "
                                     "['b'] have fewer than 7 observations; sarima: ValueError: forecast has "
                                     "non-finite values; lstm: ModelError: too short)"},
        {"series_id": "c", "reason": "not published: every model failed (lstm: ModelError: too short)"},
    ]
    assert no_forecast(["a"], fc, failures).empty


def test_a_series_id_holding_a_plus_is_its_own_series_in_the_failure_reasons():
    """``x+y`` is a real id here (e.g. a route pair), not the panel of ``x`` and ``y``
    (was: its failure was told as ``x``'s and ``y``'s too)."""
    from seqcast.champion import no_forecast

    failures = pd.DataFrame({"series_id": ["x+y", "x+x+y+y"], "model": ["sarima", "lstm"],
                             "error": ["ValueError: bad", "ModelError: too short"],
                             "members": [("x+y",), ("x", "x+y", "y")]})
    out = no_forecast(["x", "x+y", "y"], pd.DataFrame({"series_id": []}), failures)
    assert out.set_index("series_id")["reason"].to_dict() == {
        "x": "not published: every model failed (lstm: ModelError: too short)",
        "x+y": "not published: every model failed (sarima: ValueError: bad; lstm: ModelError: too short)",
        "y": "not published: every model failed (lstm: ModelError: too short)",
    }
    # a failure table without members (an older caller) counts each failure for its own id only
    plain = no_forecast(["x", "x+y"], pd.DataFrame({"series_id": []}), failures.drop(columns="members").head(1))
    assert plain["series_id"].tolist() == ["x", "x+y"] and plain["reason"].iloc[0].endswith("(no model ran)")


def test_a_candidate_left_out_for_failed_origins_is_named_in_the_reason():
    """A young series: SARIMA failed on the early origins (too little history) and was
    left out, yet the reason said "no model beat seasonal_naive" though SARIMA's MAE where
    it could forecast was lower (found on a panel whose series start on different days);
    "seasonal_naive has the best recent backtest MAE" likewise."""
    t = _table({"seasonal_naive": 5.0, "naive": 40.0, "sarima": 3.0}, failed={"sarima"})
    c = choose(recent_scores(t, CUTOFF), _available("seasonal_naive", "sarima", "naive")).iloc[0]
    assert c["model"] == "seasonal_naive"
    assert c["reason"] == ("seasonal_naive has the best recent backtest MAE (5); sarima not compared: "
                           "1 recent forecast(s) failed (MAE 3 where it could forecast)")
    t = _table({"seasonal_naive": 5.0, "naive": 4.0, "sarima": 3.0}, failed={"sarima"})
    c = choose(recent_scores(t, CUTOFF), _available("seasonal_naive", "sarima", "naive")).iloc[0]
    assert c["model"] == "naive" and c["reason"].endswith("; sarima not compared: 1 recent forecast(s) failed "
                                                         "(MAE 3 where it could forecast)")
