"""One conformance suite over every registered model, statistical and neural.

Each model goes through the public contract only (``fit``/``update``/``predict``
and the capability flags of :mod:`seqcast.models.base`), as the backtester,
the nightly flow and the champion step use it. Tiny data (2 series x 200 days),
tiny networks, one epoch: this checks the contract, not accuracy.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from seqcast.backtest import rolling_origin
from seqcast.errors import ModelError
from seqcast.models import REGISTRY, build, get_model, labels_for, model_class, spec_dict
from seqcast.models.base import Forecaster

ALL = sorted(REGISTRY)
H = 3
TINY_NEURAL = dict(input_length=14, epochs=1, batch_size=64, units=4, filters=4, jit_compile=False,
                   patience=2, dilations=(1, 2), layers=2, valid_days=30)
OVERRIDES = {"conv_gru": {"input_length": 20}, "conv_lstm": {"input_length": 20}, "rnn": {"layers": 1},
             "rnn_multivariate": {"horizon": H}}  # bus is an input only: no rollout past H
# update-then-predict vs refit-then-predict: the same forecast to this relative
# tolerance where the model re-estimates little from 3 more days (statistical
# models); networks are not retrained by update, so only the dates are compared.
UPDATE_RTOL = 0.05


def make(name: str, **extra) -> Forecaster:
    klass = model_class(name)
    defaults = klass().get_params()
    params = {}
    if "epochs" in defaults:  # a Keras model
        params = {k: v for k, v in {**TINY_NEURAL, **OVERRIDES.get(name, {})}.items() if k in defaults}
        if defaults.get("horizon", 1) > H:
            params["horizon"] = H
    if "members" in defaults:  # a combination: SARIMA and a tiny network
        gru = {k: v for k, v in TINY_NEURAL.items() if k in model_class("gru")().get_params()}
        params = {"members": ["sarima", {"name": "gru", "params": {**gru, "layers": 1}}]}
    return get_model(name, **{**params, **extra})


@functools.cache
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-01", periods=200, freq="D")
    parts = []
    for sid, level in (("bus", 800.0), ("rail", 500.0)):
        y = level * np.where(ds.day_of_week < 5, 1.0, 0.55) + rng.normal(0, 10, len(ds))
        parts.append(pd.DataFrame({"series_id": sid, "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)


def exog_for(model: Forecaster) -> pd.DataFrame | None:
    """Day type for the models that need it (the multivariate networks read ``day_type``)."""
    if "known_future" not in model.get_params():
        return None
    ds = pd.date_range("2022-01-01", periods=200 + 30, freq="D")
    return pd.DataFrame({"ds": ds, "day_type": np.where(ds.day_of_week < 5, "W",
                                                        np.where(ds.day_of_week == 5, "A", "U"))})


def history(model: Forecaster, days: int = 200) -> pd.DataFrame:
    p = panel()
    p = p[p["ds"] < pd.Timestamp("2022-01-01") + pd.Timedelta(days=days)]
    return p.reset_index(drop=True) if model.supports_multivariate else p[p.series_id == "rail"].reset_index(drop=True)


@functools.cache
def fitted(name: str):
    model = make(name)
    hist = history(model)
    before = hist.copy(deep=True)
    returned = model.fit(hist, exog_for(model))
    return model, returned, hist, before, model.predict(H, exog_future=exog_for(model))


@pytest.mark.parametrize("name", ALL)
def test_fit_returns_self_and_predict_gives_h_days_per_series(name):
    model, returned, hist, before, fc = fitted(name)
    assert returned is model
    pd.testing.assert_frame_equal(hist, before)  # the input is not modified
    assert list(fc.columns[:4]) == ["series_id", "ds", "model", "mean"]
    assert (fc["model"] == model.alias).all() and np.isfinite(fc["mean"]).all()
    for sid, part in fc.groupby("series_id"):
        assert sid in set(hist["series_id"])
        expected = pd.date_range(hist["ds"].max() + pd.Timedelta(days=1), periods=H, freq="D")
        assert list(part["ds"]) == list(expected)


@pytest.mark.parametrize("name", ALL)
def test_flags_are_declared_on_the_base_class_and_params_round_trip(name):
    model = make(name)
    for flag in ("supports_update", "supports_warm_start", "supports_future_covariates",
                 "supports_multivariate", "supports_probabilistic_prediction"):
        assert hasattr(Forecaster, flag) and isinstance(getattr(model, flag), bool)
    assert model.clone().get_params() == model.get_params()
    again = build({"name": name, "params": model.get_params()})
    assert again.get_params() == model.get_params() and labels_for([again]) == [model.alias]


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_forecast(name):
    *_, fc = fitted(name)
    model = make(name)
    again = model.fit(history(model), exog_for(model)).predict(H, exog_future=exog_for(model))
    pd.testing.assert_frame_equal(again, fc, check_exact=True)


@pytest.mark.parametrize("name", ALL)
def test_save_load_where_supported(name, tmp_path):
    model, *_, fc = fitted(name)
    if not hasattr(model, "save"):
        pytest.skip(f"{name} has no save/load (refitted from data each night)")
    from seqcast.models.neural import NeuralForecaster, load_model

    load = load_model if isinstance(model, NeuralForecaster) else type(model).load
    loaded = load(model.save(tmp_path / name))
    again = loaded.predict(H, exog_future=exog_for(model))
    pd.testing.assert_frame_equal(again, fc, check_exact=True)


@pytest.mark.parametrize("name", ALL)
def test_rolling_origin_backtests_it_with_no_failed_origin(name):
    """Local models per series, multivariate/global ones on the panel: one code path.
    One fit and two updated origins (refits are the nightly tests' business: each
    training of a tiny network still costs seconds of graph building)."""
    model = make(name)
    data = panel()
    table = rolling_origin(model, data, h=2, start="2022-07-10", end="2022-07-12", refit_every=3,
                           exog=exog_for(model), n_jobs=1)
    assert table["error"].isna().all(), table["error"].dropna().head(1).tolist()
    per_origin = table.groupby(["series_id", "cutoff"]).size()
    assert len(per_origin.index.get_level_values("cutoff").unique()) == 3
    assert (per_origin == 2).all() and np.isfinite(table["mean"]).all()
    assert set(table["model"]) == {model.alias}


@pytest.mark.parametrize("name", ALL)
def test_update_then_predict_matches_refit_then_predict(name):
    model = make(name)
    if not model.supports_update:
        with pytest.raises(ModelError, match="cannot update"):
            fitted(name)[0].update(history(model))
        return
    short = make(name).fit(history(model, 197), exog_for(model))
    updated = short.update(history(model), exog_for(model)).predict(H, exog_future=exog_for(model))
    refit = fitted(name)[4]
    pd.testing.assert_frame_equal(updated[["series_id", "ds"]], refit[["series_id", "ds"]])
    if "epochs" not in model.get_params():
        np.testing.assert_allclose(updated["mean"], refit["mean"], rtol=UPDATE_RTOL)


# -- the contract seen from outside: a model written against the docs ---------------------------
class MeanOfLastWeek(Forecaster):
    """What docs/models.md shows: a model implementing only ``_fit`` and ``_predict``."""

    alias = "mean7"

    def __init__(self, window: int = 7) -> None:
        self.window = window

    def _fit(self, history, exog, init):
        self.level_ = history.groupby("series_id")["y"].apply(lambda y: y.tail(self.window).mean())

    def _predict(self, h, exog_future, level):
        return pd.concat([self._frame(sid, h, {"mean": np.full(h, v)}) for sid, v in self.level_.items()])


def test_a_model_with_only_fit_and_predict_backtests():
    t = rolling_origin(MeanOfLastWeek(), panel(), h=2, start="2022-07-10", end="2022-07-12", n_jobs=1)
    assert t["error"].isna().all() and len(t) == 2 * 3 * 2
    day = t[(t.series_id == "rail") & (t.h == 1)].iloc[0]
    rail = panel()[panel().series_id == "rail"].set_index("ds")["y"]
    assert day["mean"] == pytest.approx(rail[: day["cutoff"]].tail(7).mean())


def test_warm_start_and_update_are_refused_where_not_declared():
    m = MeanOfLastWeek().fit(panel())
    with pytest.raises(ModelError, match="cannot warm-start"):
        MeanOfLastWeek().fit(panel(), init=m)
    with pytest.raises(ModelError, match="cannot update"):
        m.update(panel())


# -- one spec, one model, everywhere ------------------------------------------------------------
def test_run_and_backtest_mean_the_same_sarima():
    import argparse

    from flows.nightly import NightlyParams
    from seqcast.commands import backtest as backtest_cmd
    from seqcast.commands import run as run_cmd
    from seqcast.models import specs_from_names

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    run_cmd.register(sub)
    backtest_cmd.register(sub)
    run_args = parser.parse_args(["run", "--models", "sarima"])
    bt_args = parser.parse_args(["backtest", "--source", "x.csv", "--model", "sarima",
                                 "--start", "2019-03-01", "--end", "2019-03-02"])
    from_run = build(specs_from_names(run_args.models)[0])
    from_backtest = backtest_cmd.build_models(bt_args)[0]
    nightly_default = build(next(m for m in NightlyParams().models if m.name == "sarima"))
    assert from_run.get_params() == from_backtest.get_params() == nightly_default.get_params()
    assert tuple(from_run.seasonal_order) == (0, 1, 1, 7)


def test_param_flags_and_models_files(tmp_path):
    import argparse

    from seqcast.commands import backtest as backtest_cmd
    from seqcast.models import load_models_file, parse_param

    assert parse_param("order=2,0,1") == ("order", [2, 0, 1])
    assert parse_param("trend=c") == ("trend", "c") and parse_param("epochs=5") == ("epochs", 5)
    parser = argparse.ArgumentParser()
    backtest_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["backtest", "--source", "x", "--start", "2019-03-01", "--end", "2019-03-02", "--model",
                              "ets", "--param", "trend=add", "--param", "damped_trend=true"])
    assert backtest_cmd.build_models(args)[0].get_params()["damped_trend"] is True
    old = parser.parse_args(["backtest", "--source", "x", "--start", "2019-03-01", "--end", "2019-03-02", "--model",
                             "sarima", "--order", "2,0,0", "--cold"])
    model = backtest_cmd.build_models(old)[0]
    assert list(model.order) == [2, 0, 0] and model.warm_start is False
    good = tmp_path / "models.yaml"
    good.write_text("- seasonal_naive\n- name: sarima\n  params: {order: [2, 0, 0]}\n")
    specs = load_models_file(good)
    assert labels_for([build(s) for s in specs]) == ["seasonal_naive", "sarima"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: sarima\n  params: {ordr: [2, 0, 0]}\n")
    with pytest.raises(ModelError, match=r"bad.yaml: model 1: sarima: .*ordr"):
        load_models_file(bad)
    with pytest.raises(ModelError, match="unknown model 'sarimax'"):
        spec_dict("sarimax") and build("sarimax")


def test_two_configurations_of_one_model_get_distinct_labels():
    models = [build("seasonal_naive"), build({"name": "seasonal_naive", "params": {"season_length": 14}}),
              build("sarima"), build({"name": "sarima", "params": {"order": [2, 0, 0]}})]
    # the default configuration keeps its bare name, so the seasonal_naive baseline still matches
    assert labels_for(models) == ["seasonal_naive", "seasonal_naive(season_length=14)",
                                  "sarima(1,0,0)(0,1,1,7)", "sarima(2,0,0)(0,1,1,7)"]
    with pytest.raises(ModelError, match="configured twice"):
        labels_for([build("naive"), build("naive")])


@pytest.mark.parametrize("spec, message", [
    ({"name": "seasonal_naive", "params": {"season_length": -3}}, "season_length must be an integer >= 1"),
    ({"name": "seasonal_naive", "params": {"season_length": 1.5}}, "season_length must be an integer"),
    ({"name": "seasonal_naive", "params": {"season_length": True}}, "season_length must be an integer"),
    ({"name": "sarima", "params": {"order": "abc"}}, "order must be 3 non-negative integers"),
    ({"name": "sarima", "params": {"order": [1, 0]}}, "order must be 3 non-negative integers"),
    ({"name": "sarima", "params": {"seasonal_order": [0, 1, 1, 1]}}, "season s >= 2"),
    ({"name": "sarima", "params": {"trend": "quadratic"}}, "trend must be"),
    ({"name": "ets", "params": {"trend": "bogus"}}, "trend must be add, mul or none"),
    ({"name": "sarima", "params": {"ordr": [1, 0, 0]}}, r"unknown hyperparameter\(s\) \['ordr'\]; known: .*\border\b"),
])
def test_bad_hyperparameters_stop_at_build_with_the_name(spec, message):
    """A value that cannot work is refused before any data is read (never silently coerced)."""
    with pytest.raises(ModelError, match=message):
        build(spec)


def test_backtest_cli_refuses_bad_params_and_mixed_flags(tmp_path, capsys):
    from seqcast.cli import main

    common = ["backtest", "--source", str(tmp_path / "never-read.csv"), "--start", "2019-03-01",
              "--end", "2019-03-02"]
    assert main([*common, "--model", "sarima", "--param", "order=1,0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["seqcast: error: sarima: order must be 3 non-negative integers, got [1, 0]"]
    models = tmp_path / "m.yaml"
    models.write_text("- sarima\n")
    assert main([*common, "--models-file", str(models), "--param", "order=2,0,0"]) == 2  # a usage error
    assert "give the models there, not with --param" in capsys.readouterr().err
    dup = tmp_path / "dup.yaml"
    dup.write_text("- sarima\n- sarima\n")
    assert main([*common, "--models-file", str(dup)]) == 1
    assert "dup.yaml: the same model is configured twice" in capsys.readouterr().err
