"""Windowed datasets: offsets, known-future alignment, splits, scaling, Parquet, tf.data."""

from __future__ import annotations

import doctest
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqcast.windows as W
from seqcast.windows import (
    WindowSpec,
    WindowSpecError,
    build_windows,
    ensure_dataset,
    read_dataset,
    read_metadata,
    to_tf_dataset,
    write_dataset,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL = (("all", None, None),)
DAY_TYPES = np.array(["A", "U", "W"])


def make_frame(n: int, series=("bus", "rail"), start="2024-01-01", seed=0) -> pd.DataFrame:
    """Long frame like the clean CTA data; day types follow weekdays, plus a few holidays."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=n, freq="D")
    dow = ds.day_of_week.to_numpy()
    day_type = np.where(dow < 5, "W", np.where(dow == 5, "A", "U"))
    day_type[rng.random(n) < 0.05] = "U"
    frames = [
        pd.DataFrame({"series_id": s, "ds": ds, "y": rng.normal(1000 * (k + 1), 50, n).round(1),
                      "day_type": day_type, "is_imputed": False})
        for k, s in enumerate(series)
    ]
    return pd.concat(frames, ignore_index=True)


def wide(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.pivot(index="ds", columns="series_id", values="y")


def onehot(frame: pd.DataFrame) -> np.ndarray:
    dt = frame.drop_duplicates("ds").set_index("ds")["day_type"]
    return (dt.to_numpy()[:, None] == DAY_TYPES).astype(np.float32)


@st.composite
def cases(draw):
    L = draw(st.integers(1, 8))
    h = draw(st.integers(1, 5))
    n = draw(st.integers(L + h, L + h + 25))
    kind = draw(st.sampled_from(W.KINDS))
    stride = draw(st.integers(1, 3))
    targets = draw(st.sampled_from([("rail",), ("bus", "rail"), ("rail", "bus")]))
    inputs = draw(st.sampled_from([None, ("bus", "rail"), ("bus",)]))
    known = draw(st.sampled_from([(), ("day_type",)]))
    spec = WindowSpec(input_length=L, h=h, kind=kind, stride=stride, targets=targets,
                      inputs=inputs, known_future=known, scaling="none", splits=ALL)
    return spec, make_frame(n, seed=draw(st.integers(0, 1000)))


# -- properties ---------------------------------------------------------------------


@FAST
@given(cases())
def test_targets_are_the_h_values_after_each_window(case):
    spec, frame = case
    w = build_windows(frame, spec)["all"]
    vals = wide(frame)
    L, h = spec.input_length, spec.h
    n_days = len(vals)
    assert w.n_windows == (n_days - L - h) // spec.stride + 1
    x = w.x[0] if spec.kind == "encoder_decoder" else w.x
    tgt = vals[list(spec.targets)].to_numpy(np.float32)
    inp = vals[list(spec.input_series)].to_numpy(np.float32)
    for i, s in enumerate(w.starts):
        assert s == i * spec.stride
        np.testing.assert_array_equal(x[i, :, : inp.shape[1]], inp[s : s + L])
        after = tgt[s + L : s + L + h]  # the h days right after the last input
        if spec.kind == "seq2vec":
            np.testing.assert_array_equal(w.y[i], after.reshape(-1))
        elif spec.kind == "encoder_decoder":
            np.testing.assert_array_equal(w.y[i], after)
        else:
            for j in range(L):
                np.testing.assert_array_equal(w.y[i, j], tgt[s + j + 1 : s + j + 1 + h].reshape(-1))
        assert w.cutoffs[i] == vals.index[s + L - 1]
        assert list(w.target_dates[i]) == list(vals.index[s + L : s + L + h].to_numpy())


@FAST
@given(cases())
def test_known_future_features_describe_the_next_day(case):
    spec, frame = case
    spec = WindowSpec(**{**spec.to_dict(), "known_future": ("day_type",)})
    w = build_windows(frame, spec)["all"]
    oh = onehot(frame)
    n_in = len(spec.input_series)
    assert w.feature_names[n_in:] == ("next:day_type=A", "next:day_type=U", "next:day_type=W")
    enc = w.x[0] if spec.kind == "encoder_decoder" else w.x
    for i, s in enumerate(w.starts):
        L = spec.input_length
        np.testing.assert_array_equal(enc[i, :, n_in:], oh[s + 1 : s + L + 1])
        # the last input step carries the first target day's type
        np.testing.assert_array_equal(enc[i, -1, n_in:], oh[s + L])
        if spec.kind == "encoder_decoder":
            np.testing.assert_array_equal(w.x[1][i], oh[s + L : s + L + spec.h])


@FAST
@given(cases(), st.integers(0, 10_000), st.sampled_from(["standard", "constant"]))
def test_no_window_or_scaler_sees_values_past_its_split_end(case, cut_seed, scaling):
    spec, frame = case
    days = frame["ds"].drop_duplicates().sort_values().to_numpy()
    need = spec.input_length + spec.h
    if len(days) < 2 * need:
        frame = make_frame(2 * need + 3)
        days = frame["ds"].drop_duplicates().sort_values().to_numpy()
    cut = need - 1 + cut_seed % (len(days) - 2 * need + 1)  # both splits keep a full window
    train_end, valid_start = (pd.Timestamp(days[cut]), pd.Timestamp(days[cut + 1]))
    splits = (("train", None, str(train_end.date())), ("valid", str(valid_start.date()), None))
    spec = WindowSpec(**{**spec.to_dict(), "splits": splits, "scaling": scaling,
                              "fit_split": None})
    ds = build_windows(frame, spec)
    tr = ds["train"]
    assert tr.target_dates.max() <= np.datetime64(train_end.date())
    assert ds["valid"].cutoffs.min() - spec.input_length + 1 >= np.datetime64(valid_start.date())
    # Poison everything after the train end: train windows and the scaler must not move.
    poisoned = frame.copy()
    poisoned.loc[poisoned["ds"] > train_end, "y"] += 1e6
    poisoned.loc[poisoned["ds"] > train_end, "day_type"] = "U"
    ds2 = build_windows(poisoned, spec)
    assert ds2.scaler == ds.scaler
    x1, x2 = tr.x, ds2["train"].x
    for a, b in zip(x1 if isinstance(x1, tuple) else (x1,), x2 if isinstance(x2, tuple) else (x2,),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(tr.y, ds2["train"].y)


@FAST
@given(cases(), st.sampled_from(["standard", "constant"]))
def test_inverse_scaling_restores_the_data(case, scaling):
    spec, frame = case
    spec = WindowSpec(**{**spec.to_dict(), "scaling": scaling, "scale": 1e3})
    ds = build_windows(frame, spec)
    w = ds["all"]
    raw = wide(frame)[list(spec.targets)].to_numpy()
    if scaling == "standard":
        np.testing.assert_allclose([ds.scaler.loc[s] for s in spec.targets], raw.mean(axis=0))
        assert abs(w.target_values.mean()) < 1e-3
    back = ds.inverse_targets(w.y)
    L, h = spec.input_length, spec.h
    for i, s in enumerate(w.starts):
        want = raw[s + 1 : s + 1 + h] if spec.kind == "seq2seq" else raw[s + L : s + L + h]
        got = back[i, 0] if spec.kind == "seq2seq" else back[i]
        np.testing.assert_allclose(got.reshape(-1), want.reshape(-1), rtol=1e-6)


@FAST
@given(cases())
def test_parquet_round_trip_is_exact(case):
    spec, frame = case
    spec = WindowSpec(**{**spec.to_dict(), "scaling": "standard",
                         "splits": (("train", None, None), ("again", None, None)),
                         "fit_split": None})
    ds = build_windows(frame, spec)
    with tempfile.TemporaryDirectory() as tmp:
        back = read_dataset(write_dataset(ds, Path(tmp) / "w.parquet"))
    assert back.spec == spec and back.scaler == ds.scaler and back.data_hash == ds.data_hash
    for name in ("train", "again"):
        a, b = ds[name], back[name]
        np.testing.assert_array_equal(a.starts, b.starts)
        np.testing.assert_array_equal(a.y, b.y)
        xa, xb = a.arrays()[0], b.arrays()[0]
        for u, v in zip(xa if isinstance(xa, tuple) else (xa,), xb if isinstance(xb, tuple) else (xb,),
                        strict=True):
            np.testing.assert_array_equal(u, v)


# -- equality with the chapter's constructions --------------------------------------------


def _keras_arrays(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def chapter_mulvar(frame: pd.DataFrame) -> pd.DataFrame:
    """The chapter's multivariate frame: bus, rail (/1e6) and the one-hot *next* day type."""
    df = wide(frame)[["bus", "rail"]] / 1e6
    nxt = frame.drop_duplicates("ds").set_index("ds")["day_type"].shift(-1)
    return pd.concat([df, pd.get_dummies(nxt, dtype=float).reindex(columns=DAY_TYPES, fill_value=0.0)], axis=1)


def test_seq2vec_equals_keras_timeseries_dataset_from_array():
    import keras

    frame = make_frame(120)
    L = 14
    rail = wide(frame)["rail"].to_numpy()
    kds = keras.utils.timeseries_dataset_from_array(
        rail, targets=rail[L:], sequence_length=L, batch_size=32, shuffle=False
    )
    kx, ky = _keras_arrays(kds)
    spec = WindowSpec(input_length=L, targets=("rail",), scaling="none", splits=ALL)
    w = build_windows(frame, spec)["all"]
    np.testing.assert_array_equal(w.x[..., 0], kx.astype(np.float32))
    np.testing.assert_array_equal(w.y[:, 0], ky.astype(np.float32))


def test_multivariate_seq2vec_equals_the_chapters_next_day_type_model():
    import keras

    frame = make_frame(150)
    L = 20
    mulvar = chapter_mulvar(frame)
    kds = keras.utils.timeseries_dataset_from_array(
        mulvar.to_numpy(), targets=mulvar["rail"][L:], sequence_length=L, batch_size=32
    )
    kx, ky = _keras_arrays(kds)
    spec = WindowSpec(input_length=L, inputs=("bus", "rail"), targets=("rail",),
                      known_future=("day_type",), splits=ALL)
    w = build_windows(frame, spec)["all"]
    np.testing.assert_allclose(w.x, kx, rtol=1e-6)
    np.testing.assert_allclose(w.y[:, 0], ky, rtol=1e-6)


def test_h_step_seq2vec_equals_the_chapters_ahead_dataset():
    import keras

    frame = make_frame(150)
    L, h = 20, 7
    mulvar = chapter_mulvar(frame)
    kds = keras.utils.timeseries_dataset_from_array(
        mulvar.to_numpy(), targets=None, sequence_length=L + h, batch_size=32
    ).map(lambda s: (s[:, :-h], s[:, -h:, 1]))  # the chapter's split_inputs_and_targets
    kx, ky = _keras_arrays(kds)
    spec = WindowSpec(input_length=L, h=h, inputs=("bus", "rail"), targets=("rail",),
                      known_future=("day_type",), splits=ALL)
    w = build_windows(frame, spec)["all"]
    np.testing.assert_allclose(w.x, kx, rtol=1e-6)
    np.testing.assert_allclose(w.y, ky, rtol=1e-6)
    enc = build_windows(frame, WindowSpec(**{**spec.to_dict(), "kind": "encoder_decoder"}))["all"]
    np.testing.assert_array_equal(enc.x[0], w.x)
    np.testing.assert_array_equal(enc.y[..., 0], w.y)


def test_seq2seq_equals_the_chapters_nested_window_dataset():
    import tensorflow as tf

    def to_windows(dataset, length):
        dataset = dataset.window(length, shift=1, drop_remainder=True)
        return dataset.flat_map(lambda window_ds: window_ds.batch(length))

    frame = make_frame(120)
    L, h = 15, 5
    mulvar = chapter_mulvar(frame)
    tds = to_windows(tf.data.Dataset.from_tensor_slices(mulvar.to_numpy()), h + 1)
    tds = to_windows(tds, L).map(lambda S: (S[:, 0], S[:, 1:, 1])).batch(32)
    tx, ty = _keras_arrays(tds)
    spec = WindowSpec(input_length=L, h=h, kind="seq2seq", inputs=("bus", "rail"),
                      targets=("rail",), known_future=("day_type",), splits=ALL)
    w = build_windows(frame, spec)["all"]
    assert w.x.shape == tx.shape and w.y.shape == ty.shape == (len(tx), L, h)
    np.testing.assert_allclose(w.x, tx, rtol=1e-6)
    np.testing.assert_allclose(w.y, ty, rtol=1e-6)


# -- tf.data ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", W.KINDS)
def test_tf_dataset_batches_equal_the_numpy_windows(kind):
    import tensorflow as tf

    spec = WindowSpec(input_length=6, h=3, kind=kind, inputs=("bus", "rail"),
                      targets=("bus", "rail"), known_future=("day_type",), stride=2,
                      scaling="standard", splits=ALL)
    w = build_windows(make_frame(60), spec)["all"]
    batches = list(to_tf_dataset(w, batch_size=7, shuffle=False))
    x, y = w.arrays()
    xs = tf.nest.map_structure(lambda *t: np.concatenate(t), *[b[0] for b in batches])
    for got, want in zip(tf.nest.flatten(xs), tf.nest.flatten(x), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert batches[0][1].shape[0] == 7 and batches[0][1].dtype == tf.float32

    shuffled = list(to_tf_dataset(w, batch_size=7, shuffle=True, seed=1))
    ys = np.concatenate([b[1] for b in shuffled])
    assert not np.array_equal(ys, y)
    order = np.lexsort(ys.reshape(len(ys), -1).T)
    np.testing.assert_array_equal(ys[order], y[np.lexsort(y.reshape(len(y), -1).T)])


# -- storage, rebuilds, errors --------------------------------------------------------------


def test_metadata_describes_the_dataset_and_rebuilds_only_on_change(tmp_path):
    frame = make_frame(100)
    spec = WindowSpec(input_length=10, h=2, kind="seq2seq", scaling="standard", name="rail-s2s",
                      splits=(("train", "2024-01-01", "2024-02-29"), ("valid", "2024-03-01", None)))
    path, rebuilt = ensure_dataset(frame, spec, tmp_path)
    assert rebuilt and path == tmp_path / "rail-s2s.parquet"
    meta = read_metadata(path)
    assert meta["spec"] == spec.to_dict() and meta["spec_key"] == spec.key
    assert meta["splits"]["train"] == {"start": "2024-01-01", "end": "2024-02-29",
                                       "n_days": 60, "n_windows": 49, "imputed_days": {"rail": 0}}
    assert meta["splits"]["valid"]["end"] == "2024-04-09"
    assert set(meta["scaler"]["loc"]) == {"rail"}
    mtime = path.stat().st_mtime_ns
    assert ensure_dataset(frame, spec, tmp_path) == (path, False)
    assert path.stat().st_mtime_ns == mtime
    # same data in another row order and dtype: still current
    assert not ensure_dataset(frame.sample(frac=1, random_state=0), spec, tmp_path)[1]
    changed = frame.copy()
    changed.loc[changed.index[-1], "y"] += 1
    assert ensure_dataset(changed, spec, tmp_path)[1]
    assert ensure_dataset(changed, WindowSpec(**{**spec.to_dict(), "h": 3}), tmp_path)[1]
    assert ensure_dataset(changed, WindowSpec(**{**spec.to_dict(), "h": 3}), tmp_path, force=True)[1]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"h": 0}, "h must be an integer >= 1"),
        ({"input_length": -3}, "input_length must be an integer >= 1"),
        ({"stride": 1.5}, "stride must be an integer"),
        ({"kind": "seq2tree"}, "kind must be one of"),
        ({"scaling": "minmax"}, "scaling must be one of"),
        ({"targets": ()}, "targets must name at least one series"),
        ({"splits": (("train", "2024-03-01", "2024-01-01"),)}, "starts after it ends"),
        ({"splits": (("train", "not a date", None),)}, "bad date"),
        ({"splits": (("a", None, None), ("a", None, None))}, "split names repeat"),
        ({"fit_split": "nope"}, "fit_split 'nope' is not one of the splits"),
        ({"known_future": ("y",)}, "known_future cannot use"),
        ({"foo": 1}, "unknown field"),
    ],
)
def test_bad_specs_fail_clearly(fields, message):
    base = {"input_length": 5, "splits": ALL}
    with pytest.raises(WindowSpecError, match=message):
        WindowSpec.from_dict({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"input_length": 60}, r"input_length \+ h = 61 days exceeds the series \(40 days\)"),
        ({"targets": ("ferry",)}, r"unknown series \['ferry'\]; the data has \['bus', 'rail'\]"),
        ({"known_future": ("holiday",)}, r"no column\(s\) \['holiday'\]"),
        ({"splits": (("all", None, None), ("short", "2024-02-01", "2024-02-05"))},
         r"split 'short' .* has 5 days of data, fewer than input_length \+ h = 6"),
        ({"splits": (("all", None, None), ("later", "2030-01-01", None))}, r"split 'later'.* 0 days"),
    ],
)
def test_specs_that_do_not_fit_the_data_fail_clearly(fields, message):
    spec = WindowSpec(**{"input_length": 5, "splits": ALL, **fields})
    with pytest.raises(WindowSpecError, match=message):
        build_windows(make_frame(40), spec)


def test_gaps_inside_a_split_are_refused():
    frame = make_frame(40)
    frame = frame[frame["ds"] != pd.Timestamp("2024-01-20")]
    with pytest.raises(WindowSpecError, match=r"split 'all': series 'rail' has no value on 2024-01-20"):
        build_windows(frame, WindowSpec(input_length=5, splits=ALL))


def test_docstring_example():
    assert doctest.testmod(W, raise_on_error=True).attempted >= 4


def test_import_stays_light():
    code = ("import sys, seqcast.windows, seqcast.commands.windows; "
            "assert not {'tensorflow', 'keras', 'prefect'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- pipeline surfaces ------------------------------------------------------------------------


def test_cli_builds_then_reports_up_to_date(tmp_path, capsys):
    from seqcast.cli import main

    clean = tmp_path / "clean.parquet"
    make_frame(90).to_parquet(clean)
    argv = ["windows", "build", "--clean", str(clean), "--out", str(tmp_path / "w"), "--kind",
            "encoder_decoder", "--input-length", "14", "--h", "7", "--known-future", "day_type",
            "--split", "train=:2024-02-29", "--split", "valid=2024-03-01:", "--name", "ed"]
    assert main(argv) == 0
    assert "built:" in capsys.readouterr().out
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "up to date:" in out and "train 40" in out and "valid 10" in out
    ds = read_dataset(tmp_path / "w" / "ed.parquet")
    assert ds["train"].x[1].shape == (40, 7, 3)
    assert main(["windows", "build", "--clean", str(clean), "--h", "0"]) == 1
    assert "h must be an integer >= 1" in capsys.readouterr().err


def test_task_returns_dataset_paths(tmp_path):
    pytest.importorskip("prefect")
    from tasks.windows import windows_task

    clean = tmp_path / "clean.parquet"
    make_frame(90).to_parquet(clean)
    specs = [WindowSpec(input_length=7, splits=ALL).to_dict(),
             WindowSpec(input_length=7, h=3, kind="seq2seq", splits=ALL)]
    paths = windows_task.fn(str(clean), specs, str(tmp_path / "w"))
    assert [Path(p).name for p in paths] == [f"{W.specs_from(specs)[i].slug}.parquet" for i in (0, 1)]
    assert read_dataset(paths[1])["all"].y.shape == (81, 7, 3)


# -- the real CTA data ------------------------------------------------------------------------


@pytest.mark.cta
def test_cta_chapter_windows(cta_clean):
    spec = WindowSpec()  # 56 days of rail, one step ahead, /1e6, the chapter's splits
    ds = build_windows(cta_clean, spec)
    rail = cta_clean[cta_clean["series_id"] == "rail"].set_index("ds")["y"]
    train = rail["2016-01":"2018-12"].to_numpy() / 1e6
    assert ds["train"].n_windows == len(train) - 56 == 1040
    assert ds["valid"].n_windows == 151 - 56
    np.testing.assert_allclose(ds["train"].x[0, :, 0], train[:56], rtol=1e-6)
    np.testing.assert_allclose(ds["train"].y[-1, 0], train[-1], rtol=1e-6)
    assert str(ds["test"].ds[0]) == "2019-06-01"
    mv = build_windows(cta_clean, WindowSpec(inputs=("bus", "rail"), known_future=("day_type",)))
    assert mv["train"].x.shape == (1040, 56, 5)


@pytest.mark.parametrize("kind", W.KINDS)
def test_input_window_matches_the_training_window_with_the_same_cutoff(kind):
    frame = make_frame(50)
    spec = WindowSpec(input_length=8, h=3, kind=kind, inputs=("bus", "rail"), targets=("rail",),
                      known_future=("day_type",), scaling="standard", splits=ALL)
    ds = build_windows(frame, spec)
    w = ds["all"]
    i = w.n_windows - 1
    cutoff = pd.Timestamp(w.cutoffs[i])
    past = frame[frame["ds"] <= cutoff]  # forecasting time: no y after the cutoff
    known_next = frame.loc[frame["series_id"] == "rail", ["ds", "day_type"]]
    got = W.input_window(past, ds, known_next=known_next)
    want = w.x
    for g, x in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,),
                    strict=True):
        np.testing.assert_allclose(g[0], x[i], rtol=1e-6)
    with pytest.raises(WindowSpecError, match="known-future features missing"):
        W.input_window(past, ds)
    with pytest.raises(WindowSpecError, match="are not all in the data"):
        W.input_window(past, ds, cutoff=frame["ds"].min() + pd.Timedelta(days=3), known_next=known_next)


def test_default_splits_follow_the_data():
    # the chapter's splits where the data cover them, else 70/15/15 % of the days in order
    from seqcast.windows import DEFAULT_SPLITS, default_splits

    assert default_splits("2001-01-01", "2021-11-30") == DEFAULT_SPLITS
    splits = default_splits("2024-01-01", "2024-04-09")  # 100 days
    assert splits == (("train", "2024-01-01", "2024-03-10"), ("valid", "2024-03-11", "2024-03-25"),
                      ("test", "2024-03-26", None))


def test_cli_defaults_fit_data_outside_the_chapters_years(tmp_path, capsys):
    # before: the fixed 2016-2018 train split failed every file from other years, and the
    # target defaulted to 'rail' whatever the file held
    from seqcast.cli import main

    clean = tmp_path / "clean.parquet"
    make_frame(200, series=("temp",)).to_parquet(clean)
    assert main(["windows", "build", "--clean", str(clean), "--out", str(tmp_path / "w"),
                 "--input-length", "14"]) == 0
    out = capsys.readouterr().out
    # 200 days: train 140 (126 windows of 14 + 1), valid 30 (16), test 30 (16)
    assert "train 126 (2024-01-01..2024-05-19)" in out and "valid 16 (2024-05-20..2024-06-18)" in out
    assert "temp" in out
    ds = read_dataset(next((tmp_path / "w").glob("*.parquet")))
    assert ds.spec.targets == ("temp",) and ds.spec.scaling == "standard"
    # several series, none of them rail: say which, do not guess
    make_frame(200, series=("a", "b")).to_parquet(clean)
    assert main(["windows", "build", "--clean", str(clean), "--out", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"seqcast: error: {clean}: the data has 2 series (a, b): choose the targets with --targets"


def test_cli_bad_clean_path_is_one_line(tmp_path, capsys):
    from seqcast.cli import main

    for path, expected in [(tmp_path / "nope", "no such file or folder"),
                           (tmp_path / "bad.parquet", "not a clean Parquet table")]:
        if path.suffix:
            path.write_text("x")
        assert main(["windows", "build", "--clean", str(path), "--out", str(tmp_path / "w")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"seqcast: error: {path}: {expected}")
    pd.DataFrame({"day": [1]}).to_parquet(tmp_path / "other.parquet")
    assert main(["windows", "build", "--clean", str(tmp_path / "other.parquet")]) == 1
    assert "missing column(s) series_id, ds, y" in capsys.readouterr().err


def test_cli_source_with_a_mapping(tmp_path, capsys):
    # windows build and train read any daily table through its mapping file
    from pathlib import Path

    from seqcast.cli import main

    days = pd.date_range("2023-01-01", periods=150)
    src = tmp_path / "temps.csv"
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"),
                  "Temp": (15 + 10 * np.sin(np.arange(150) / 9)).round(1)}).to_csv(src, index=False)
    mapping = Path(__file__).resolve().parents[1] / "data" / "mappings" / "date_temp.yaml"
    assert main(["windows", "build", "--source", str(src), "--mapping", str(mapping),
                 "--out", str(tmp_path / "w"), "--input-length", "7"]) == 0
    assert "-temp-" in capsys.readouterr().out


def test_imputed_days_are_counted_per_split_and_series(tmp_path, capsys):
    # a value cleaning filled enters the windows like a real one: the dataset says how many
    from seqcast.cli import main

    frame = make_frame(200, series=("bus", "rail"))
    frame["is_imputed"] = False
    day = pd.Timestamp("2024-01-01")
    frame.loc[(frame.series_id == "rail") & frame.ds.isin([day + pd.Timedelta(days=d) for d in (10, 11)]),
              "is_imputed"] = True
    frame.loc[(frame.series_id == "bus") & (frame.ds == day + pd.Timedelta(days=150)), "is_imputed"] = True
    spec = WindowSpec(input_length=7, targets=("bus", "rail"),
                      splits=(("train", None, "2024-04-30"), ("valid", "2024-05-01", None)))
    ds = build_windows(frame, spec)
    assert ds.imputed_days == {"train": {"bus": 0, "rail": 2}, "valid": {"bus": 1, "rail": 0}}
    path = write_dataset(ds, tmp_path / "d.parquet")
    assert read_dataset(path).imputed_days == ds.imputed_days
    assert read_metadata(path)["splits"]["train"]["imputed_days"] == {"bus": 0, "rail": 2}
    # the same values without a flag hash differently (a rebuild picks the flag up) ...
    assert build_windows(frame.assign(is_imputed=False), spec).data_hash != ds.data_hash
    # ... and a table without the column keeps the hash it always had
    assert build_windows(frame.drop(columns="is_imputed"), spec).data_hash == \
        build_windows(frame.assign(is_imputed=False), spec).data_hash
    clean = tmp_path / "clean.parquet"
    frame.to_parquet(clean)
    assert main(["windows", "build", "--clean", str(clean), "--out", str(tmp_path / "w"), "--targets",
                 "bus,rail", "--input-length", "7", "--split", "train=:2024-04-30",
                 "--split", "valid=2024-05-01:"]) == 0
    assert "days cleaning imputed, in windows as values: train: rail 2; valid: bus 1" in capsys.readouterr().out


def test_cli_errors_name_the_data_and_say_what_to_do(tmp_path, capsys):
    # found by a new user trying the commands (helper 15): each was a traceback, a split
    # the tool invented, or a line that did not say which file
    from seqcast.cli import main
    from seqcast.windows import DEFAULT_SPLITS, default_splits

    def err(argv, rc=1):
        assert main(argv) == rc
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("seqcast: error: "), lines
        return lines[0]

    for path, expected in [("nope.parquet", "no such file"), (".", "a folder, not a windows dataset"),
                           ("x.csv", "not a Parquet file")]:
        if path == "x.csv":
            (tmp_path / path).write_text("a,b\n1,2\n")
        assert expected in err(["windows", "info", str(tmp_path / path)])
    clean = tmp_path / "clean.parquet"
    make_frame(6, series=("temp",)).to_parquet(clean)
    assert err(["windows", "build", "--clean", str(clean)]) == \
        f"seqcast: error: {clean}: 6 days of data: too few to split into train, valid and test"
    make_frame(300, series=("temp",)).to_parquet(clean)
    line = err(["windows", "build", "--clean", str(clean), "--out", str(tmp_path / "w")])
    assert line.startswith(f"seqcast: error: {clean}: split 'valid'") and "--split NAME=START:END" in line
    line = err(["windows", "build", "--clean", str(clean), "--split", "train=:2024-03-31",
                "--split", "valid=2024-03-01:"])
    assert "--split: 'train' and 'valid' overlap (2024-03-01..2024-03-31)" in line
    # a --split that does not parse is a usage error (exit 2) before any data is read
    for split, expected in [("garbage", "expected NAME=START:END"), ("train=abc:", "'abc' is not a date"),
                            ("train=2024-05-01:2024-04-01", "starts after it ends"),
                            ("=2024-01-01:", "expected NAME=START:END")]:
        with pytest.raises(SystemExit) as usage:
            main(["windows", "build", "--clean", str(tmp_path / "missing.parquet"), "--split", split])
        assert usage.value.code == 2
        assert expected in capsys.readouterr().err
    # series covering different days: say which covers which, not "clean the data first"
    two = make_frame(300, series=("a", "b"))
    two[~((two["series_id"] == "b") & (two["ds"] < "2024-02-01"))].to_parquet(clean)
    line = err(["windows", "build", "--clean", str(clean), "--targets", "a,b", "--input-length", "7"])
    assert "series 'b' has no value on 2024-01-01 (the series cover a 2024-01-01..2024-10-26, b 2024-02-01.." in line
    assert "--mapping applies to --source only" in err(
        ["windows", "build", "--clean", str(clean), "--mapping", "m.yaml"], rc=2)
    # data ending inside the chapter's test split: not the chapter's splits, whose test
    # split would hold no window
    assert default_splits("2015-01-01", "2019-06-10", need=57) != DEFAULT_SPLITS
    assert default_splits("2015-01-01", "2019-07-31", need=57) == DEFAULT_SPLITS
