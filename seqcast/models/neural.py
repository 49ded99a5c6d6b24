"""Keras sequence models behind the common forecaster interface.

:class:`NeuralForecaster` is the base of every Keras model (the architectures
live in ``recurrent.py``, ``convolutional.py`` and ``encoder_decoder.py``). It
turns a history into windows with :mod:`seqcast.windows`, trains with the
shared recipe of :mod:`seqcast.training`, and forecasts from the last
``input_length`` days it has seen:

- **one network per series** (univariate models, the chapter's rail-only
  setup) through :class:`~seqcast.models.base.LocalForecaster`, so the
  backtester can refit every ``k`` origins (:meth:`_fit_series`), warm-start
  from the previous weights (``warm_start=True``) and, between refits, forecast
  from the current window without retraining (:meth:`_update_series`);
- **one network over several series** (:class:`MultiSeriesForecaster`: bus and
  rail with the next day's type as inputs, or both as targets).

Horizons: a model trained for ``horizon=H`` answers ``h <= H`` directly and
``h > H`` by feeding its forecasts back (autoregressive rollout; this needs every
input series among the targets). Encoder–decoder models answer any ``h``.

Known-future features: numeric ``exog`` columns (univariate models) or the
``known_future`` columns of the history (e.g. ``day_type``, one-hot) enter the
input at step ``t`` with their value for day ``t+1``; ``predict`` then needs
them for the ``h`` days ahead in ``exog_future``.

Intervals: MC dropout. With ``dropout > 0`` (or ``recurrent_dropout > 0``),
``predict(h, level=[90])`` samples ``mc_samples`` forecasts with dropout on and
returns their 5 % / 95 % quantiles; ``mean`` is always the deterministic forecast.

Training window: ``max_history`` bounds the days a fit trains on (the last
``max_history`` days of each series, default 1095, three years; ``None``: all
of them). Scaling and
early-stopping validation (the last 15 % of the days by default) then follow
the recent regime instead of the whole history, and a fit costs the same
however long the history grows.

Hyperparameters are declared in each class's ``_defaults`` (merged along the
class hierarchy); the constructor only stores them, so ``get_params()`` and
``clone()`` work as for every other model.

>>> from seqcast.models import get_model
>>> m = get_model("rnn", input_length=14, units=8, epochs=2)
>>> m.get_params()["units"], m.kind
(8, 'seq2vec')
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from seqcast.errors import InputError, ModelError
from seqcast.models.base import LocalForecaster, check_history, optional_positive_int, positive_int

COMMON_DEFAULTS: dict[str, Any] = {
    "input_length": 56,
    "horizon": 1,
    "scaling": "standard",
    "scale": 1e6,
    "valid_days": None,
    "epochs": 300,
    "batch_size": 256,
    "optimizer": "adam",
    "learning_rate": 2e-3,
    "clipnorm": 1.0,
    "loss": "huber",
    "patience": 30,
    "seed": 42,
    "jit_compile": None,
    "mixed_precision": False,
    "dropout": 0.0,
    "mc_samples": 100,
    "warm_start": False,
    "max_history": 1095,
}
_SERIES = "y"  # the series name inside a per-series window spec
#: Recurrent cells a ``cell`` hyperparameter may name (:func:`seqcast.models.recurrent.rnn_stack`).
CELLS = ("simple", "lstm", "gru", "ln")


@dataclass
class NeuralState:
    """One trained network and what it needs to forecast.

    ``context`` holds the last ``input_length`` raw values of the input series,
    ``(L, n_inputs)``; ``known`` the known-future features of those days,
    ``(L, n_known)``.
    """

    network: Any
    spec: Any  # seqcast.windows.WindowSpec
    scaler: Any  # seqcast.windows.Scaler
    known_names: tuple[str, ...]
    context: np.ndarray
    known: np.ndarray
    last_day: np.datetime64
    data_hash: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)


class NeuralForecaster(LocalForecaster):
    """Base class of the Keras models (one network per series)."""

    alias: ClassVar[str] = "neural"
    kind: ClassVar[str] = "seq2vec"
    supports_future_covariates: ClassVar[bool] = True
    supports_probabilistic_prediction: ClassVar[bool] = True
    supports_update: ClassVar[bool] = True
    supports_warm_start: ClassVar[bool] = True
    #: XLA by default? (1.6–2.6× faster recurrent training on CPU; not for WaveNet)
    default_jit: ClassVar[bool] = True
    _defaults: ClassVar[dict[str, Any]] = COMMON_DEFAULTS

    def __init__(self, **params: Any) -> None:
        defaults = self.param_defaults()
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown parameter(s) {unknown}")
        for name, value in defaults.items():
            setattr(self, name, params.get(name, value))

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            out.update(klass.__dict__.get("_defaults", {}))
        return out

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_defaults()}

    #: whole-number hyperparameters and their least value, checked before any training
    #: (a YAML ``epochs: two`` or ``epochs: 2.7`` must not reach Keras)
    _INTS: ClassVar[dict[str, int]] = {
        "input_length": 1, "horizon": 1, "epochs": 1, "batch_size": 1, "patience": 0, "seed": 0,
        "mc_samples": 1, "units": 1, "layers": 1, "filters": 1, "kernel_size": 1,
    }

    def check_params(self) -> None:
        params = self.get_params()
        for name, least in self._INTS.items():
            if name in params:
                positive_int(self, name, params[name], minimum=least)
        for name in ("learning_rate", "dropout", "recurrent_dropout", "clipnorm"):
            v = params.get(name)
            rate = name.endswith("dropout")
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v)
                                  or v < 0 or (rate and v >= 1)):
                raise ModelError(f"{self.alias}: {name} must be a number >= 0"
                                 f"{' and < 1' if rate else ''}, got {v!r}")
        if "cell" in params and params["cell"] not in CELLS:
            raise ModelError(f"{self.alias}: unknown cell {params['cell']!r}; use one of {CELLS}")
        self._check_names(params)
        optional_positive_int(self, "valid_days", params.get("valid_days"), minimum=0)
        optional_positive_int(self, "max_history", self.max_history, minimum=self.min_history)

    def _check_names(self, params: dict[str, Any]) -> None:
        """``loss: foo``, ``scaling: log``, ``warm_start: "yes"`` failed every origin at fit
        time (``every model failed``), not as one line before any data is read."""
        from seqcast.training import LOSSES, OPTIMIZERS
        from seqcast.windows import SCALINGS

        for name, known in (("loss", LOSSES), ("optimizer", OPTIMIZERS), ("scaling", SCALINGS)):
            if name in params and params[name] not in known:
                raise ModelError(f"{self.alias}: {name} must be one of {', '.join(known)}, got {params[name]!r}")
        scale = params.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not (np.isfinite(scale) and scale > 0):
            raise ModelError(f"{self.alias}: scale must be a positive number, got {scale!r}")
        for name in ("warm_start", "mixed_precision", "jit_compile"):
            value = params.get(name, False)
            if not isinstance(value, bool) and not (name == "jit_compile" and value is None):
                raise ModelError(f"{self.alias}: {name} must be true or false, got {value!r}")

    # -- what the network sees -------------------------------------------------------
    @property
    def train_horizon(self) -> int:
        return int(self.horizon)

    @property
    def min_history(self) -> int:
        need = int(self.input_length) + self.train_horizon
        valid = need if self.valid_days is None else int(self.valid_days)
        return need + (valid if valid else 0)

    def recipe(self):
        from seqcast.training import Recipe

        return Recipe(epochs=int(self.epochs), batch_size=int(self.batch_size),
                      optimizer=self.optimizer, learning_rate=float(self.learning_rate),
                      clipnorm=self.clipnorm, loss=self.loss, patience=int(self.patience),
                      seed=int(self.seed), mixed_precision=bool(self.mixed_precision),
                      jit_compile=self.default_jit if self.jit_compile is None else bool(self.jit_compile))

    def window_spec(self, targets=(_SERIES,), inputs=None, known_future=(), splits=None):
        """The :class:`~seqcast.windows.WindowSpec` this model trains on."""
        from seqcast.windows import DEFAULT_SPLITS, WindowSpec

        return WindowSpec(input_length=int(self.input_length), h=self.train_horizon, kind=self.kind,
                          targets=tuple(targets), inputs=inputs, known_future=tuple(known_future),
                          splits=DEFAULT_SPLITS if splits is None else splits,
                          scaling=self.scaling, scale=self.scale)

    def _build(self, input_length: int, n_features: int, n_targets: int, known_dim: int):
        """Return an uncompiled ``keras.Model``; ``n_targets`` series, ``self.horizon`` steps."""
        raise NotImplementedError

    def _prepare_targets(self, y: np.ndarray) -> np.ndarray:
        """Targets as the network outputs them (e.g. cropped for strided convolutions)."""
        return y

    def _check_spec(self, spec) -> None:
        """Raise :class:`ModelError` for a spec this model cannot take."""
        if spec.kind != self.kind:
            raise ModelError(f"{self.alias}: needs {self.kind!r} windows, the spec has {spec.kind!r}")
        if spec.input_length != int(self.input_length) or spec.h != self.train_horizon:
            raise ModelError(
                f"{self.alias}: built for input_length={self.input_length}, horizon="
                f"{self.train_horizon}; the spec has input_length={spec.input_length}, h={spec.h}"
            )

    def _check_univariate(self, spec) -> None:
        if len(spec.targets) != 1 or tuple(spec.input_series) != tuple(spec.targets):
            raise ModelError(
                f"{self.alias}: a univariate model takes one target series as its only input; "
                f"the spec has inputs {list(spec.input_series)} and targets {list(spec.targets)} "
                "(use rnn_multivariate or rnn_multitask)"
            )

    # -- fitting ---------------------------------------------------------------------
    def _splits_for(self, days: np.ndarray) -> tuple:
        """Train / valid splits over ``days``: the last ``valid_days`` (default: auto) validate."""
        need = int(self.input_length) + self.train_horizon
        n = len(days)
        valid = self.valid_days
        if valid is None:
            valid = max(need, int(round(0.15 * n)))
        valid = int(valid)
        if valid and n - valid < need:
            raise ModelError(
                f"{self.alias}: {n} days leave {n - valid} for training after {valid} validation "
                f"days; needs input_length + horizon = {need}"
            )
        if not valid:
            return (("train", str(days[0]), str(days[-1])),)
        return (("train", str(days[0]), str(days[n - valid - 1])),
                ("valid", str(days[n - valid]), str(days[-1])))

    def _fit_series(self, y: np.ndarray, exog: np.ndarray | None) -> NeuralState:
        return self._fit_array(y, exog, None)

    def _fit_series_warm(self, y: np.ndarray, exog: np.ndarray | None, previous: Any) -> NeuralState:
        return self._fit_array(y, exog, previous if self.warm_start else None)

    def _fit_array(self, y, exog, previous) -> NeuralState:
        dataset = self._series_dataset(y, exog)
        return self._train_dataset(dataset, "train", "valid" if "valid" in dataset.splits else None,
                                   previous)

    def _series_dataset(self, y, exog):
        """Windows of one series ``y (n,)`` with numeric known features ``exog (n, k)``."""
        from seqcast.windows import build_windows

        y = np.asarray(y, dtype=float)
        if len(y) < self.min_history:
            raise ModelError(f"{self.alias}: {len(y)} observations, needs at least {self.min_history}")
        if not np.isfinite(y).all():
            raise ModelError(f"{self.alias}: the series has NaN or infinite values")
        days = np.datetime64("2000-01-01") + np.arange(len(y)).astype("timedelta64[D]")
        frame = pd.DataFrame({"series_id": _SERIES, "ds": days, "y": y})
        names: tuple[str, ...] = ()
        if exog is not None:
            exog = np.asarray(exog, dtype=float).reshape(len(y), -1)
            if not np.isfinite(exog).all():
                raise ModelError(f"{self.alias}: exogenous features have NaN values")
            names = tuple(f"x{j}" for j in range(exog.shape[1]))
            frame = frame.assign(**{n: exog[:, j] for j, n in enumerate(names)})
        spec = self.window_spec(known_future=names, splits=self._splits_for(days))
        return build_windows(frame, spec)

    def _update_series(self, state: NeuralState, y_new: np.ndarray, x_new: np.ndarray | None):
        """Slide the context over new observations, same weights (no retraining)."""
        y_new = np.asarray(y_new, dtype=float)
        if not len(y_new):
            return state
        y_new = y_new.reshape(len(y_new), -1)
        L = int(self.input_length)
        known = state.known
        if known.shape[1]:
            if x_new is None:
                raise ModelError(f"{self.alias}: new observations need their exogenous features")
            known = np.vstack([known, np.asarray(x_new, float).reshape(len(y_new), -1)])[-L:]
        context = np.vstack([state.context, y_new])[-L:]
        return NeuralState(state.network, state.spec, state.scaler, state.known_names, context,
                           known, state.last_day + np.timedelta64(len(y_new), "D"),
                           state.data_hash, state.metrics, state.train)

    def fit_windows(self, dataset, train: str = "train", valid: str | None = "valid",
                    series_id: Any = None) -> Self:
        """Fit on a :class:`~seqcast.windows.WindowedDataset` (e.g. read from Parquet).

        The model then forecasts from the end of the dataset's latest split.
        ``valid=None`` trains without validation (early stopping on train MAE).
        """
        spec = dataset.spec
        self._check_spec(spec)
        self._check_univariate(spec)
        sid = spec.targets[0] if series_id is None else series_id
        if valid is not None and valid not in dataset.splits:
            raise ModelError(f"{self.alias}: the dataset has no split {valid!r}")
        state = self._train_dataset(dataset, train, valid, None)
        self.states_ = {sid: state}
        self.cutoff_ = pd.Series({sid: pd.Timestamp(state.last_day)})
        return self

    def _train_dataset(self, dataset, train: str, valid: str | None, previous) -> NeuralState:

        spec = dataset.spec
        self._check_spec(spec)
        tr = dataset[train]
        x, y = tr.arrays()
        y = self._prepare_targets(y)
        val = None
        if valid is not None:
            vx, vy = dataset[valid].arrays()
            val = (vx, self._prepare_targets(vy))
        known_dim = max(len(dataset.known_names), 1)
        label = f"{self.alias}:{'+'.join(spec.targets)}"
        net, result = self._train_arrays(spec, x, y, val, tr.features.shape[1], known_dim, previous, label)
        metrics = {}
        if val is not None:
            metrics = self._valid_metrics(net, val, dataset)
        return self._state(net, dataset, metrics, result.to_dict())

    def _train_arrays(self, spec, x, y, val, n_features: int, known_dim: int, previous, label: str):
        """Build the network, start from ``previous``'s weights if given, train; ``(net, result)``."""
        from seqcast import training

        recipe = self.recipe()
        training.configure_runtime()
        with training.seeded(recipe.seed):
            training.set_precision(recipe.mixed_precision)
            net = self._build(spec.input_length, n_features, len(spec.targets), known_dim)
            if previous is not None:
                net.set_weights(previous.network.get_weights())
            result = training.fit_model(net, x, y, recipe, val, label=label)
        return _inference_mode(net), result

    @staticmethod
    def _state(net, dataset, metrics: dict, train: dict) -> NeuralState:
        """What a trained network needs to forecast one dataset's series from its last day."""
        spec = dataset.spec
        last = max(dataset.splits.values(), key=lambda s: s.ds[-1])
        L = spec.input_length
        n_in = len(spec.input_series)
        return NeuralState(net, spec, dataset.scaler, tuple(dataset.known_names),
                           np.array(last.values[-L:, :n_in], dtype=float),
                           np.array(last.known[-L:], dtype=np.float32), last.ds[-1],
                           dataset.data_hash, metrics, train)

    def _valid_metrics(self, net, valid, dataset) -> dict[str, float]:
        """Validation MAE in the data's units, overall and per target and step ahead."""
        import keras

        x, y = valid
        pred = keras.ops.convert_to_numpy(net.predict(x, batch_size=4096, verbose=0))
        pred, y = self._last_step(pred), self._last_step(np.asarray(y))
        targets = dataset.spec.targets
        n = len(y)
        pred = dataset.scaler.inverse_transform(pred.reshape(n, -1), targets)
        truth = dataset.scaler.inverse_transform(y.reshape(n, -1), targets)
        err = np.abs(pred - truth).reshape(n, -1, len(targets))
        out = {"valid_mae": float(err.mean())}
        for j, t in enumerate(targets):
            out[f"valid_mae_{t}"] = float(err[:, :, j].mean())
            for k in range(err.shape[1]):
                out[f"valid_mae_{t}_t+{k + 1}"] = float(err[:, k, j].mean())
        return out

    def _last_step(self, out: np.ndarray) -> np.ndarray:
        """Network output → ``(n, H * T)`` or ``(n, H, T)`` at the last input step."""
        return out[:, -1] if self.kind == "seq2seq" else out

    # -- forecasting -----------------------------------------------------------------
    def _predict_series(self, state: NeuralState, h: int, exog_future, level) -> dict[str, np.ndarray]:
        out = self._forecast(state, h, exog_future, level)
        return {k: v[:, 0] for k, v in out.items()}

    def _forecast(self, state: NeuralState, h: int, known_future: np.ndarray | None,
                  level: tuple[int, ...]) -> dict[str, np.ndarray]:
        """``{"mean": (h, T), "lo-90": (h, T), ...}`` in the data's units."""
        from seqcast import training

        known = self._known_ahead(state, h, known_future)
        if level and not self._has_dropout():
            raise ModelError(f"{self.alias}: intervals use MC dropout; set dropout > 0")
        for lv in level:
            if not 0 < lv < 100:
                raise ModelError(f"{self.alias}: level must be in (0, 100), got {lv}")
        with training.same_dropout_draws(state.network, int(self.seed)):  # same paths every call
            out = {"mean": self._paths(state, h, known, samples=0)[0]}
            if level:
                with training.seeded(int(self.seed)):
                    paths = self._paths(state, h, known, samples=int(self.mc_samples))
        for lv in level:
            out[f"lo-{lv}"] = np.quantile(paths, (100 - lv) / 200, axis=0)
            out[f"hi-{lv}"] = np.quantile(paths, 1 - (100 - lv) / 200, axis=0)
        return out

    def _has_dropout(self) -> bool:
        return float(self.dropout) > 0 or float(getattr(self, "recurrent_dropout", 0) or 0) > 0

    def _known_ahead(self, state: NeuralState, h: int, future) -> np.ndarray:
        """Known features of the context days and the ``h`` days ahead, ``(L + h, n_known)``."""
        n_k = state.known.shape[1]
        if not n_k:
            return np.zeros((len(state.known) + h, 0), dtype=np.float32)
        if future is None:
            raise ModelError(
                f"{self.alias}: trained with known-future features {list(state.known_names)}; "
                f"predict needs them for the {h} days ahead (exog_future)"
            )
        future = np.asarray(future, dtype=np.float32).reshape(-1, n_k)
        if len(future) < h or not np.isfinite(future[:h]).all():
            raise ModelError(f"{self.alias}: exog_future must give {h} finite rows")
        return np.vstack([state.known, future[:h]])

    def _paths(self, state: NeuralState, h: int, known: np.ndarray, samples: int) -> np.ndarray:
        """Forecast paths ``(B, h, T)`` in data units; ``samples=0``: one deterministic path."""
        spec, net = state.spec, state.network
        L, T = spec.input_length, len(spec.targets)
        B = max(samples, 1)
        training = samples > 0
        vals = np.repeat(state.context[None], B, axis=0)
        if self.kind == "encoder_decoder":
            dec = known[L : L + h] if known.shape[1] else np.zeros((h, 1), np.float32)
            x = [self._features(state, vals, known[1 : L + 1]), np.repeat(dec[None], B, axis=0)]
            return self._inverse(state, self._call(net, x, training))
        H = spec.h
        if h > H:
            missing = [s for s in spec.input_series if s not in spec.targets]
            if missing:
                raise ModelError(
                    f"{self.alias}: forecasts at most {H} step(s) ahead; rolling forward needs "
                    f"every input among the targets, and {missing} are not"
                )
        steps = []
        done = 0
        feed = [spec.targets.index(s) for s in spec.input_series] if h > H else []
        while done < h:
            x = self._features(state, vals[:, -L:], known[done + 1 : done + 1 + L])
            out = self._last_step(self._call(net, x, training)).reshape(B, H, T)
            pred = self._inverse(state, out)
            take = min(H, h - done)
            steps.append(pred[:, :take])
            done += take
            if done < h:
                vals = np.concatenate([vals, pred[:, :take][:, :, feed]], axis=1)
        return np.concatenate(steps, axis=1)

    @staticmethod
    def _call(net, x, training: bool) -> np.ndarray:
        """Run the network; the deterministic path goes through one traced predict function.

        Eager calls cost ~0.1 s each for a small RNN (a 14-step rollout: seconds),
        so only MC-dropout sampling (``training=True``, dropout on) runs eagerly.
        """
        import keras

        if isinstance(x, list):
            x = [np.asarray(a, dtype=np.float32) for a in x]
        else:
            x = np.asarray(x, dtype=np.float32)
        out = net(x, training=True) if training else net.predict_on_batch(x)
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)

    @staticmethod
    def _features(state: NeuralState, vals: np.ndarray, known_next: np.ndarray) -> np.ndarray:
        """Scaled inputs and next-day known features, ``(B, L, n_features)`` float32."""
        scaled = state.scaler.transform(vals, state.spec.input_series)
        kn = np.repeat(np.asarray(known_next, np.float32)[None], len(vals), axis=0)
        return np.concatenate([scaled, kn], axis=2).astype(np.float32)

    @staticmethod
    def _inverse(state: NeuralState, out: np.ndarray) -> np.ndarray:
        B, H, T = out.shape
        return state.scaler.inverse_transform(out.reshape(B, H * T), state.spec.targets).reshape(B, H, T)

    def lr_range_test(self, history: pd.DataFrame, series_id: Any = None, **kwargs: Any):
        """Run :func:`seqcast.training.lr_range_test` on one series of ``history``."""
        from seqcast import training
        from seqcast.windows import build_windows

        history = check_history(history, min_length=self.min_history, model=self.alias)
        sid = history["series_id"].iloc[0] if series_id is None else series_id
        part = history[history["series_id"] == sid]
        frame = part.assign(series_id=_SERIES)[["series_id", "ds", "y"]]
        days = part["ds"].to_numpy().astype("datetime64[D]")
        dataset = build_windows(frame, self.window_spec(splits=self._splits_for(days)))
        x, y = dataset["train"].arrays()
        feats = dataset["train"].features.shape[1]
        training.configure_runtime()

        def build():
            return self._build(int(self.input_length), feats, 1, 1)

        return training.lr_range_test(build, x, self._prepare_targets(y), self.recipe(), **kwargs)

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
        """Write ``path/`` with one ``.keras`` file per network and ``metadata.json``."""
        import keras

        if not hasattr(self, "states_"):
            raise ModelError(f"{self.alias}: fit the model before saving it")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        states = []
        for i, (sid, st) in enumerate(self.states_.items()):
            name = f"network-{i}.keras"
            st.network.save(path / name)
            states.append({
                "series_id": sid, "file": name, "spec": st.spec.to_dict(),
                "scaler": st.scaler.to_dict(), "known_names": list(st.known_names),
                "context": st.context.tolist(), "known": st.known.tolist(),
                "last_day": str(st.last_day), "data_hash": st.data_hash,
                "metrics": st.metrics, "train": st.train,
            })
        meta = {
            "format_version": 1, "class": f"{type(self).__module__}:{type(self).__name__}",
            "alias": self.alias, "params": self.get_params(), "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "cutoff": [[k, str(pd.Timestamp(v).date())] for k, v in self.cutoff_.items()],
            "states": states, **(extra or {}),
        }
        tmp = path / ".metadata.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1, default=_json_default), encoding="utf-8")
        os.replace(tmp, path / "metadata.json")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuralForecaster:
        """Load a model written by :meth:`save`; it forecasts exactly as the saved one did.

        Only a registered model class (:data:`seqcast.models.REGISTRY`) is built: a
        ``metadata.json`` naming anything else raises :class:`InputError` before
        that module is imported (a model folder is data, not code to run).
        """
        import importlib

        path = Path(path)
        meta_path = path / "metadata.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{meta_path}: cannot read a saved model ({exc.strerror})") from None
        except ValueError as exc:
            raise InputError(f"{meta_path}: not valid JSON ({exc})") from None
        klass = _registered_class(meta_path, meta.get("class") if isinstance(meta, dict) else None)
        if not issubclass(klass, cls):
            raise InputError(f"{meta_path}: holds a {klass.__name__}, not a {cls.__name__}")

        import keras

        from seqcast.windows import Scaler, WindowSpec

        model = klass(**meta["params"])
        importlib.import_module("seqcast.models.layers")  # custom layers register on import
        model.states_ = {}
        for st in meta["states"]:
            net = _inference_mode(keras.models.load_model(path / st["file"], compile=False))
            spec = WindowSpec.from_dict(st["spec"])
            shape = (spec.input_length, len(spec.input_series))
            model.states_[st["series_id"]] = NeuralState(
                net, spec, Scaler.from_dict(st["scaler"]), tuple(st["known_names"]),
                np.array(st["context"], dtype=float).reshape(shape),
                np.array(st["known"], dtype=np.float32).reshape(shape[0], len(st["known_names"])),
                np.datetime64(st["last_day"], "D"), st["data_hash"], st["metrics"], st["train"])
        model.cutoff_ = pd.Series({sid: pd.Timestamp(day) for sid, day in meta["cutoff"]})
        return model

    @property
    def metrics_(self) -> dict[Any, dict[str, float]]:
        """Validation metrics of each trained network."""
        return {sid: st.metrics for sid, st in self.states_.items()}


class MultiSeriesForecaster(NeuralForecaster):
    """One network over several series of the history (``inputs`` → ``targets``).

    ``known_future`` columns come from the history itself (the clean frame has
    ``day_type``) or from ``exog`` (``ds`` + those columns); ``predict`` needs them
    for the days ahead in ``exog_future``. Every series must end on the same day.
    ``supports_multivariate``: the backtester hands these models the whole panel
    at each origin (:func:`seqcast.backtest.rolling_origin`), and between refits
    slides their window over the new days (``update``) without retraining.
    """

    supports_update: ClassVar[bool] = True
    supports_warm_start: ClassVar[bool] = False
    supports_multivariate: ClassVar[bool] = True
    _defaults: ClassVar[dict[str, Any]] = {
        "inputs": ("bus", "rail"), "targets": ("rail",), "known_future": ("day_type",),
    }

    def _check_univariate(self, spec) -> None:
        return None

    def _fit_series(self, y, exog):
        raise ModelError(f"{self.alias}: trains on several series at once; not per series")

    def _fit(self, history: pd.DataFrame, exog: pd.DataFrame | None, init=None) -> None:
        from seqcast.windows import WindowSpecError, build_windows

        series = tuple(dict.fromkeys((*self.inputs, *self.targets)))
        have = set(history["series_id"].unique())
        missing = [s for s in series if s not in have]
        if missing:
            raise ModelError(f"{self.alias}: needs series {list(series)}; the history lacks {missing}")
        frame = history[history["series_id"].isin(series)]
        if self.max_history is not None:
            frame = frame[frame["ds"] > frame["ds"].max() - pd.Timedelta(days=int(self.max_history))]
        if exog is not None:
            frame = frame.merge(exog.drop(columns=["series_id"], errors="ignore").drop_duplicates("ds"),
                                on="ds", how="left", suffixes=("_hist", ""))
        absent = [c for c in self.known_future if c not in frame.columns]
        if absent:
            raise ModelError(f"{self.alias}: known-future column(s) {absent} are not in the history")
        ends = frame.groupby("series_id")["ds"].max()
        starts = frame.groupby("series_id")["ds"].min()
        if ends.nunique() > 1 or starts.nunique() > 1:
            spans = ", ".join(f"{sid} {starts[sid]:%Y-%m-%d}..{ends[sid]:%Y-%m-%d}" for sid in series)
            raise ModelError(f"{self.alias}: the series must cover the same days (the history has {spans}); "
                             "per-series candidates still forecast each")
        days = np.sort(frame["ds"].unique()).astype("datetime64[D]")
        spec = self.window_spec(targets=self.targets, inputs=self.inputs,
                                known_future=self.known_future, splits=self._splits_for(days))
        try:
            dataset = build_windows(frame, spec)
        except WindowSpecError as exc:
            raise ModelError(f"{self.alias}: {exc}") from None
        self.states_ = {"+".join(self.targets): self._train_dataset(
            dataset, "train", "valid" if "valid" in dataset.splits else None, None)}

    def fit_windows(self, dataset, train: str = "train", valid: str | None = "valid",
                    series_id: Any = None) -> Self:
        spec = dataset.spec
        self._check_spec(spec)
        state = self._train_dataset(dataset, train, valid, None)
        self.states_ = {"+".join(spec.targets): state}
        self.cutoff_ = pd.Series({t: pd.Timestamp(state.last_day) for t in spec.targets})
        return self

    def _update(self, history: pd.DataFrame, exog: pd.DataFrame | None) -> None:
        """Slide the window over the days after the cutoff (inputs and known features), no retraining."""
        ((key, state),) = self.states_.items()
        spec = state.spec
        frame = history[history["series_id"].isin(spec.input_series)]
        if exog is not None:
            frame = frame.merge(exog.drop(columns=["series_id"], errors="ignore").drop_duplicates("ds"),
                                on="ds", how="left", suffixes=("_hist", ""))
        start = pd.Timestamp(state.last_day) + pd.Timedelta(days=1)
        new = frame[frame["ds"] >= start]
        if new.empty:
            return
        wide = new.pivot(index="ds", columns="series_id", values="y").reindex(
            columns=list(spec.input_series))
        days = pd.date_range(start, periods=len(wide), freq="D")
        if not wide.index.equals(days) or wide.isna().to_numpy().any():
            raise ModelError(f"{self.alias}: the new days must follow {start.date() - pd.Timedelta(days=1)} "
                             f"without gaps, for every input series {list(spec.input_series)}")
        known = None
        if state.known_names:
            first = new[new["series_id"] == spec.input_series[0]]
            known = self._known_matrix(state, len(days), first[["ds", *spec.known_future]])
        self.states_[key] = self._update_series(state, wide.to_numpy(dtype=float), known)
        self.cutoff_ = pd.Series({t: days[-1] for t in spec.targets})

    def _predict(self, h: int, exog_future: pd.DataFrame | None, level: tuple[int, ...]) -> pd.DataFrame:
        (state,) = self.states_.values()
        future = None
        if state.known_names:
            future = self._known_matrix(state, h, exog_future)
        out = self._forecast(state, h, future, level)
        return pd.concat([self._frame(t, h, {k: v[:, j] for k, v in out.items()})
                          for j, t in enumerate(state.spec.targets)], ignore_index=True)

    def _known_matrix(self, state: NeuralState, h: int, exog_future: pd.DataFrame | None) -> np.ndarray:
        """``exog_future`` rows for the ``h`` days ahead, encoded like the training features."""
        if exog_future is None:
            raise ModelError(f"{self.alias}: predict needs exog_future with {list(state.spec.known_future)}")
        start = pd.Timestamp(state.last_day) + pd.Timedelta(days=1)
        days = pd.date_range(start, periods=h, freq="D")
        fut = exog_future.drop(columns=["series_id"], errors="ignore").drop_duplicates("ds")
        fut = fut.assign(ds=pd.to_datetime(fut["ds"])).set_index("ds").reindex(days)
        cols = []
        for name in state.known_names:
            col, eq, cat = name.partition("=")
            if col not in fut.columns:
                raise ModelError(f"{self.alias}: exog_future lacks column {col!r}")
            if fut[col].isna().any():
                raise ModelError(f"{self.alias}: exog_future has no {col!r} for some of the {h} days")
            cols.append((fut[col].astype(str) == cat).to_numpy(float) if eq else fut[col].to_numpy(float))
        return np.column_stack(cols).astype(np.float32)


def _inference_mode(net):
    """Forecast without XLA, the same way in the trained and in a loaded network.

    A network compiled with ``jit_compile=True`` would predict through XLA,
    a loaded one (uncompiled) without it: the last bits of the forecasts could
    differ. One path for both keeps save → load → predict exact. Under JAX that
    one path is ``jax.jit`` (JAX without it runs op by op, seconds per forecast).
    """
    import keras

    net.jit_compile = keras.backend.backend() == "jax"
    net.predict_function = None
    return net


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _registered_class(meta_path: Path, stored: Any) -> type[NeuralForecaster]:
    """The registered neural model class ``stored`` (``"module:Class"``) names; never imports
    a module the registry does not list."""
    from seqcast.models import REGISTRY, model_class

    names = [n for n, target in REGISTRY.items() if target == stored]
    klass = model_class(names[0]) if names else None
    if klass is None or not issubclass(klass, NeuralForecaster):
        raise InputError(f"{meta_path}: class {stored!r} is not a registered seqcast neural model; "
                         "refusing to load it")
    return klass


def load_model(path: str | os.PathLike[str]) -> NeuralForecaster:
    """Load a neural model saved with :meth:`NeuralForecaster.save`."""
    return NeuralForecaster.load(path)
