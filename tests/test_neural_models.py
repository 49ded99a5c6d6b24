"""Conformance suite over every registered Keras model, plus their bad-input errors.

Tiny data (200 days), tiny networks, one epoch: this checks the contract, not
accuracy (``benchmarks/chapter_table.py`` does that).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd
import pytest

from seqcast.errors import ModelError
from seqcast.models import REGISTRY, get_model, model_class
from seqcast.models.neural import MultiSeriesForecaster, NeuralForecaster, load_model

pytest.importorskip("keras")

NEURAL = sorted(n for n in REGISTRY if issubclass(model_class(n), NeuralForecaster))
# mc_samples: these networks see one input feature, so each MC-dropout sample drops it or
# not (two paths); 200 samples put both in the 5-95 % quantiles whatever the seed draws.
TINY = dict(input_length=14, epochs=1, batch_size=64, units=4, filters=4, jit_compile=False,
            dropout=0.1, patience=2, mc_samples=200, dilations=(1, 2), layers=2)
OVERRIDES = {
    "conv_gru": {"input_length": 20}, "conv_lstm": {"input_length": 20},
    "rnn_multivariate": {"horizon": 3}, "rnn": {"layers": 1},
}
H = 5


def tiny(name: str, **extra) -> NeuralForecaster:
    defaults = model_class(name).param_defaults()
    params = {k: v for k, v in {**TINY, **OVERRIDES.get(name, {})}.items() if k in defaults}
    if defaults.get("horizon") == 14 and "horizon" not in OVERRIDES.get(name, {}):
        params["horizon"] = 7
    return get_model(name, **{**params, **extra})


@functools.cache
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-01", periods=200, freq="D")
    dow = ds.day_of_week
    day_type = np.where(dow < 5, "W", np.where(dow == 5, "A", "U"))
    parts = []
    for sid, level in (("bus", 800.0), ("rail", 500.0)):
        y = level * np.where(dow < 5, 1.0, 0.55) + rng.normal(0, 10, len(ds))
        parts.append(pd.DataFrame({"series_id": sid, "ds": ds, "y": y, "day_type": day_type}))
    return pd.concat(parts, ignore_index=True)


def history_for(name: str) -> pd.DataFrame:
    f = frame()
    if issubclass(model_class(name), MultiSeriesForecaster):
        return f.copy()
    return f[f["series_id"] == "rail"][["series_id", "ds", "y"]].reset_index(drop=True)


def future_exog(h: int) -> pd.DataFrame:
    ds = pd.date_range(frame()["ds"].max() + pd.Timedelta(days=1), periods=h, freq="D")
    return pd.DataFrame({"ds": ds, "day_type": np.where(ds.day_of_week < 5, "W",
                                                        np.where(ds.day_of_week == 5, "A", "U"))})


def horizon_for(model: NeuralForecaster) -> int:
    return min(H, model.horizon) if isinstance(model, MultiSeriesForecaster) else H


def forecast(model: NeuralForecaster, **kw) -> pd.DataFrame:
    h = horizon_for(model)
    exog = future_exog(h) if isinstance(model, MultiSeriesForecaster) else None
    return model.predict(h, exog_future=exog, **kw)


@functools.cache
def fitted(name: str):
    hist = history_for(name)
    before = hist.copy(deep=True)
    model = tiny(name)
    returned = model.fit(hist)
    return model, returned, hist, before, forecast(model)


@pytest.mark.parametrize("name", NEURAL)
def test_contract(name):
    model, returned, hist, before, fc = fitted(name)
    assert returned is model
    pd.testing.assert_frame_equal(hist, before)  # the input is not modified
    assert list(fc.columns) == ["series_id", "ds", "model", "mean"]
    assert (fc["model"] == model.alias).all()
    assert np.isfinite(fc["mean"]).all()
    h = horizon_for(model)
    targets = list(model.targets) if isinstance(model, MultiSeriesForecaster) else ["rail"]
    assert sorted(fc["series_id"].unique()) == sorted(targets)
    for _, part in fc.groupby("series_id"):
        expected = pd.date_range(hist["ds"].max() + pd.Timedelta(days=1), periods=h, freq="D")
        assert list(part["ds"]) == list(expected)
    assert model.clone().get_params() == model.get_params()
    state = next(iter(model.states_.values()))
    assert state.train["device"] == "CPU" and state.train["epochs_run"] >= 1
    assert "valid_mae" in state.metrics


@pytest.mark.parametrize("name", NEURAL)
def test_save_load_reproduces_forecasts(name, tmp_path):
    model, *_, fc = fitted(name)
    model.save(tmp_path / name)
    loaded = load_model(tmp_path / name)
    assert type(loaded) is type(model)
    assert loaded.get_params() == {k: list(v) if isinstance(v, tuple) else v
                                   for k, v in model.get_params().items()}
    again = forecast(loaded)
    pd.testing.assert_frame_equal(again, fc, check_exact=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", NEURAL)
def test_same_seed_same_forecast(name):
    *_, fc = fitted(name)
    again = tiny(name).fit(history_for(name))
    pd.testing.assert_frame_equal(forecast(again), fc, check_exact=True)


@pytest.mark.parametrize("name", ["rnn", "encoder_decoder", "wavenet"])
def test_mc_dropout_intervals(name):
    model, *_ = fitted(name)
    fc = forecast(model, level=[90])
    assert list(fc.columns) == ["series_id", "ds", "model", "mean", "lo-90", "hi-90"]
    assert (fc["lo-90"] <= fc["hi-90"]).all() and (fc["hi-90"] > fc["lo-90"]).any()
    pd.testing.assert_frame_equal(fc[["mean"]], fitted(name)[4][["mean"]])


@pytest.mark.parametrize("name", ["rnn", "encoder_decoder", "wavenet"])
def test_mc_dropout_intervals_repeat_and_survive_save_load(name, tmp_path):
    """Each dropout layer's seed generator advances at every call and a loaded model's
    starts from a new default seed: intervals used to change from call to call."""
    model, *_ = fitted(name)
    first = forecast(model, level=[80])
    pd.testing.assert_frame_equal(forecast(model, level=[80]), first, check_exact=True)
    model.save(tmp_path / name)
    pd.testing.assert_frame_equal(forecast(load_model(tmp_path / name), level=[80]), first,
                                  check_exact=True)


def test_any_horizon():
    rnn, *_ = fitted("rnn")  # one step ahead: longer horizons roll forward
    assert len(rnn.predict(20)) == 20
    ed, *_ = fitted("encoder_decoder")  # trained on 7 decoder steps, asked for 30
    assert len(ed.predict(30)) == 30
    s2s, *_ = fitted("rnn_seq2seq")
    assert len(s2s.predict(16)) == 16
    mv, *_ = fitted("rnn_multivariate")  # bus is an input but not a target: no rollout
    with pytest.raises(ModelError, match="rolling forward"):
        mv.predict(4, exog_future=future_exog(4))


def test_update_slides_the_window_without_retraining():
    model, _, hist, *_ = fitted("rnn")
    state = model.states_["rail"]
    y = hist["y"].to_numpy()
    assert model._update_series(state, np.array([]), None) is state
    # the window as it was 3 days earlier, slid forward over the 3 new days
    earlier = dataclasses.replace(state, context=y[-17:-3, None],
                                  last_day=state.last_day - np.timedelta64(3, "D"))
    moved = model._update_series(earlier, y[-3:], None)
    np.testing.assert_array_equal(moved.context, state.context)
    assert moved.network is state.network and moved.last_day == state.last_day
    np.testing.assert_array_equal(model._predict_series(moved, 3, None, ())["mean"],
                                  model._predict_series(state, 3, None, ())["mean"])


def test_warm_start_begins_from_previous_weights():
    model = tiny("rnn", warm_start=True, learning_rate=0.0, epochs=1)
    y = history_for("rnn")["y"].to_numpy()
    first = model._fit_series(y[:150], None)
    warm = model._fit_series_warm(y, None, first)  # lr 0: the weights cannot move
    for a, b in zip(first.network.get_weights(), warm.network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    cold = tiny("rnn", warm_start=False, learning_rate=0.0, seed=7)._fit_series_warm(y, None, first)
    assert not all(np.array_equal(a, b) for a, b in
                   zip(first.network.get_weights(), cold.network.get_weights(), strict=True))


def test_fit_windows_from_a_parquet_dataset(tmp_path):
    from seqcast.windows import build_windows, read_dataset, write_dataset

    model = tiny("gru")
    spec = model.window_spec(targets=("rail",), splits=(("train", None, "2022-05-31"),
                                                         ("valid", "2022-06-01", None)))
    path = write_dataset(build_windows(frame(), spec), tmp_path / "w.parquet")
    model.fit_windows(read_dataset(path))
    fc = model.predict(3)
    assert fc["ds"].min() == frame()["ds"].max() + pd.Timedelta(days=1)
    assert model.states_["rail"].data_hash == read_dataset(path).data_hash
    with pytest.raises(ModelError, match="seq2seq"):
        tiny("rnn_seq2seq").fit_windows(read_dataset(path))


# -- bad input: a clear error before any training -----------------------------------------
@pytest.fixture()
def no_training(monkeypatch):
    import seqcast.training

    def boom(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(seqcast.training, "fit_model", boom)


@pytest.mark.usefixtures("no_training")
def test_bad_inputs_fail_before_training():
    rail = history_for("rnn")
    with pytest.raises(ModelError, match="fewer than 30"):
        tiny("lstm").fit(rail.head(29))  # 14 inputs + 1 ahead, for train and valid: 30 days
    nan = rail.copy()
    nan.loc[50, "y"] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        tiny("rnn").fit(nan)
    with pytest.raises(ModelError, match="lacks"):
        tiny("rnn_multitask").fit(frame()[frame()["series_id"] == "rail"])
    with pytest.raises(ModelError, match="two or more target"):
        tiny("rnn_multitask", targets=("rail",)).fit(frame())
    with pytest.raises(ModelError, match="known-future"):
        tiny("rnn_multivariate").fit(frame().drop(columns="day_type"))
    ragged = frame()
    ragged = ragged[~((ragged["series_id"] == "rail") & (ragged["ds"] > ragged["ds"].max() - pd.Timedelta(days=2)))]
    last = ragged["ds"].max()
    with pytest.raises(ModelError, match=f"rail .*{last - pd.Timedelta(days=2):%Y-%m-%d}.*bus"
                                         f"|bus .*{last:%Y-%m-%d}.*rail"):
        tiny("rnn_multivariate").fit(ragged)  # which series ends when, not just "not the same days"
    with pytest.raises(ModelError, match="kernel_size"):
        tiny("conv_gru", input_length=3, kernel_size=4).fit(rail)
    with pytest.raises(ModelError, match="cell"):
        tiny("rnn", cell="transformer").fit(rail)
    with pytest.raises(ModelError, match="lstm: unknown hyperparameter"):
        get_model("lstm", unit=3)
    with pytest.raises(ModelError, match="univariate"):
        from seqcast.windows import build_windows

        spec = tiny("rnn").window_spec(targets=("bus", "rail"), splits=(("train", None, None),))
        tiny("rnn").fit_windows(build_windows(frame(), spec), valid=None)


def test_prediction_errors():
    rnn, *_ = fitted("rnn")
    mv, *_ = fitted("rnn_multivariate")
    with pytest.raises(ModelError, match="exog_future"):
        mv.predict(1)
    with pytest.raises(ModelError, match="positive"):
        rnn.predict(0)


def test_intervals_need_dropout():
    model = tiny("linear", dropout=0.0)
    model.fit(history_for("linear"))
    with pytest.raises(ModelError, match="dropout"):
        model.predict(2, level=[90])


def test_importing_models_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, seqcast.models.neural, seqcast.models.recurrent, seqcast.models.convolutional,"
            " seqcast.models.encoder_decoder, seqcast.training\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_rolling_origin_refits_every_k_and_warm_starts():
    from seqcast.backtest import rolling_origin

    data = history_for("rnn")
    model = tiny("rnn", warm_start=True, epochs=2)
    table = rolling_origin(model, data, h=3, start="2022-07-01", end="2022-07-06", refit_every=3,
                           n_jobs=1)
    assert table["error"].isna().all(), table["error"].dropna().head()
    assert len(table) == 6 * 3 and np.isfinite(table["mean"]).all()
    assert set(table["model"]) == {"rnn"}


@pytest.mark.parametrize("name", ["rnn", "rnn_multitask"])
def test_update_takes_new_days_without_retraining(name):
    hist = history_for(name)
    last = hist["ds"].max()
    model = tiny(name).fit(hist[hist["ds"] <= last - pd.Timedelta(days=4)])
    weights = [w.copy() for w in next(iter(model.states_.values())).network.get_weights()]
    assert model.update(hist) is model
    assert (model.cutoff_ == last).all()
    state = next(iter(model.states_.values()))
    for a, b in zip(weights, state.network.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    wide = hist.pivot(index="ds", columns="series_id", values="y")
    cols = ["rail"] if state.spec.input_series == ("y",) else list(state.spec.input_series)
    np.testing.assert_array_equal(state.context, wide[cols].to_numpy()[-model.input_length:])
    assert forecast(model)["ds"].min() == last + pd.Timedelta(days=1)
    with pytest.raises(ModelError, match="day after|gaps"):
        tiny(name).fit(hist[hist["ds"] <= last - pd.Timedelta(days=9)]).update(
            hist[hist["ds"] > last - pd.Timedelta(days=3)])
