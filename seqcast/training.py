"""The training recipe every neural model shares.

- **Loss**: Huber (``delta=1`` on scaled values), as in the chapter.
- **Optimizer**: Adam with gradient clipping (``clipnorm=1``) by default. The
  chapter's SGD(momentum=0.9) settings stall under Keras 3 on some seeds (a
  SimpleRNN(32) at lr 0.05 stuck at MAE ~122k on CTA rail); Adam at ``lr=2e-3``
  with batch 256 converged on every seed we tried (see ``benchmarks/chapter_table.py``).
  ``optimizer="sgd"`` keeps the chapter's recipe available.
- **Early stopping** on validation MAE (training MAE without a validation
  split) with the best weights restored at the end, whether or not it stopped early.
- **Determinism**: :func:`seed_everything` seeds Python, numpy and the backend
  and, on TensorFlow, turns on op determinism (one intra-op thread, the fastest
  setting on small CPU models, keeps reductions in order only when it was set
  before TensorFlow started), so the same seed gives the same weights.
  :func:`seeded` does that for one training and also keeps it to itself: Keras
  draws each layer's initializer and dropout seed from Python's global
  ``random`` stream, which other threads share (Prefect's event websocket draws
  from it for every keepalive ping), and the TensorFlow seed and op counter
  are process-wide; inside ``seeded`` those draws come from a stream of the
  block's own seed, and trainings in threads of one process take turns.
- **Speed on CPU**: batch 256 and ``jit_compile=True`` (XLA) for recurrent
  models: 2–5× and 1.6–2.6× more windows/s than batch 32 without XLA.
- **Progress**: :func:`progress_hook` installs a callback that receives one
  event per epoch (the CLI draws a bar from it; the train task updates a Prefect
  progress artifact), without the models knowing who is listening.
- **Backends**: TensorFlow (the default) or JAX (``KERAS_BACKEND=jax``), the
  same code: models use ``keras.layers``/``keras.ops`` only and training feeds
  numpy arrays, so no ``tf.data`` is needed. Under JAX, training always runs
  jitted (JAX without ``jit`` dispatches op by op: 3–4× slower on the small
  networks here), whatever ``jit_compile`` says; ``jit_compile`` chooses XLA on
  TensorFlow only. A ``.keras`` file saved under one backend loads under the other.
- **GPU**: nothing to change. Keras picks cuDNN kernels for LSTM/GRU when their
  settings allow it (tanh/sigmoid activations, ``recurrent_dropout=0``,
  ``unroll=False``, ``use_bias=True``, GRU ``reset_after=True``: the models here
  keep those defaults); ``mixed_precision=True`` sets the ``mixed_float16``
  policy on a GPU (output layers stay float32); :func:`training_device` records
  where a model was trained.

>>> import numpy as np
>>> r = Recipe(epochs=3, patience=2)
>>> r.monitor(has_valid=True)
'val_mae'
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from seqcast.errors import ModelError

ProgressFn = Callable[[dict[str, Any]], None]
_PROGRESS: contextvars.ContextVar[ProgressFn | None] = contextvars.ContextVar(
    "seqcast_progress", default=None
)
_RUNTIME_CONFIGURED = False
# One seeded training at a time per process (the backend's global seed and op counter are
# shared by threads); re-entrant so a seeded block may call code that seeds again.
_SEEDED_LOCK = threading.RLock()
_SEED_STREAM = threading.local()  # .rng: random.Random of the current seeded block, per thread
_SEED_SOURCE_INSTALLED = False


@dataclass(frozen=True)
class Recipe:
    """Training settings (the neural models build one from their hyperparameters)."""

    epochs: int = 300
    batch_size: int = 256
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    momentum: float = 0.9
    clipnorm: float | None = 1.0
    loss: str = "huber"
    patience: int = 30
    seed: int = 42
    jit_compile: bool = True
    mixed_precision: bool = False
    shuffle: bool = True

    def monitor(self, has_valid: bool) -> str:
        return "val_mae" if has_valid else "mae"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What one training run reports (stored in a saved model's metadata)."""

    epochs_run: int
    best_epoch: int
    best: dict[str, float]
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    windows_per_s: float = 0.0
    device: str = "CPU"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- runtime ------------------------------------------------------------------------------
def configure_runtime(threads: int | None = 1) -> None:
    """One intra-op thread on the TensorFlow backend (call before the first op; later calls no-op).

    ``SEQCAST_TF_THREADS`` overrides ``threads``; 0 or ``None`` keeps TensorFlow's default.
    """
    global _RUNTIME_CONFIGURED
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if _RUNTIME_CONFIGURED:
        return
    _RUNTIME_CONFIGURED = True
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    threads = int(os.environ.get("SEQCAST_TF_THREADS", threads or 0))
    if threads:
        with contextlib.suppress(RuntimeError):  # the runtime already started: keep its setting
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(threads, 2))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the Keras backend (same seed → same weights, same training).

    JAX on CPU is deterministic once seeded; TensorFlow needs op determinism on.
    """
    import keras

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        # One intra-op thread keeps reductions in order only if this process had not
        # started TensorFlow with more threads before (a test suite, a notebook): op
        # determinism makes the same seed give the same weights either way.
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _install_seed_source() -> None:
    """Route Keras's default-seed draws through this thread's seeded stream, when it has one.

    Keras 3 (``keras.src.random.seed_generator.make_default_seed``, also reached as
    ``keras.src.backend.random.make_default_seed`` by the initializers) returns
    ``random.randint(1, 1e9)`` from Python's global stream for every initializer
    and ``SeedGenerator`` built without a seed. Outside a :func:`seeded` block the
    original runs, unchanged.
    """
    global _SEED_SOURCE_INSTALLED
    if _SEED_SOURCE_INSTALLED:
        return
    from keras.src import backend
    from keras.src.random import seed_generator

    original = seed_generator.make_default_seed

    def make_default_seed() -> int:
        rng = getattr(_SEED_STREAM, "rng", None)
        return original() if rng is None else rng.randint(1, int(1e9))

    seed_generator.make_default_seed = make_default_seed
    backend.random.make_default_seed = make_default_seed
    _SEED_SOURCE_INSTALLED = True


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed everything and keep the block's randomness to itself (build and train inside it).

    The same seed gives the same weights, training and MC-dropout paths whatever
    other threads do meanwhile: layers built in the block draw their seeds from
    ``random.Random(seed)`` rather than Python's shared stream, and blocks in
    other threads of the process wait (the backend's seed is process-wide).
    Nested blocks in one thread are allowed; the inner one reseeds.
    """
    with _SEEDED_LOCK:
        _install_seed_source()
        previous = getattr(_SEED_STREAM, "rng", None)
        seed_everything(seed)
        _SEED_STREAM.rng = random.Random(int(seed))
        try:
            yield
        finally:
            _SEED_STREAM.rng = previous


@contextlib.contextmanager
def same_dropout_draws(network, seed: int) -> Iterator[None]:
    """Start the network's dropout layers from draws fixed by ``seed``; put them back on exit.

    Each dropout layer draws from a ``keras.random.SeedGenerator`` whose state (a
    non-trainable variable) advances at every call and starts, in a loaded model,
    from a new default seed: without this a second ``predict(level=...)`` of one
    fitted model, or the same model loaded again, sampled other MC-dropout paths
    and gave other intervals. Inside, generator ``i`` (in the order of
    ``network.non_trainable_variables``) starts at ``[random.Random(seed) draw i, 0]``.
    """
    states = [v for v in network.non_trainable_variables
              if v.path.rsplit("/", 1)[-1] == "seed_generator_state"]
    saved = [np.array(v.numpy()) for v in states]
    rng = random.Random(int(seed))
    for v in states:
        v.assign(np.array([rng.randint(1, int(1e9)), 0], dtype=saved[0].dtype))
    try:
        yield
    finally:
        for v, value in zip(states, saved, strict=True):
            v.assign(value)


def training_device() -> str:
    """``"GPU:0 (<name>)"`` when the backend sees a GPU, else ``"CPU"`` (TensorFlow or JAX)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            try:
                name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
            except (RuntimeError, ValueError):  # pragma: no cover - GPU only
                name = ""
            return f"GPU:0 ({name})" if name else "GPU:0"
    elif backend == "jax":
        import jax

        # jax.devices() lists the default platform's devices: GPUs when jaxlib has CUDA.
        device = jax.devices()[0]
        if device.platform == "gpu":  # pragma: no cover - GPU only
            name = getattr(device, "device_kind", "")
            return f"GPU:{device.id} ({name})" if name else f"GPU:{device.id}"
    return "CPU"


def set_precision(mixed: bool) -> str:
    """``mixed_float16`` when asked for and a GPU is present, else ``float32``; returns the policy."""
    import keras

    policy = "mixed_float16" if mixed and training_device() != "CPU" else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


# -- progress ------------------------------------------------------------------------------
@contextlib.contextmanager
def progress_hook(fn: ProgressFn) -> Iterator[None]:
    """Send one event per epoch to ``fn`` while the block runs.

    Events are dicts: ``{"label", "epoch", "epochs", "logs", "stopped"}``
    (``epoch`` counts from 1; ``stopped`` is True on the last event of a run).
    """
    token = _PROGRESS.set(fn)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def _progress_callback(label: str, epochs: int):
    import keras

    fn = _PROGRESS.get()

    class _Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if fn is not None:
                fn({"label": label, "epoch": epoch + 1, "epochs": epochs,
                    "logs": {k: float(v) for k, v in (logs or {}).items()}, "stopped": False})

        def on_train_end(self, logs=None):
            if fn is not None:
                fn({"label": label, "epoch": len(self.model.history.epoch) if getattr(
                    self.model, "history", None) else epochs, "epochs": epochs, "logs": {},
                    "stopped": True})

    return _Progress()


# -- compile and fit -------------------------------------------------------------------------
#: the names ``optimizer`` and ``loss`` take (checked by the models before any data is read)
OPTIMIZERS = ("adam", "adamw", "sgd")
LOSSES = ("huber", "mae", "mse")


def make_optimizer(recipe: Recipe, learning_rate: float | None = None):
    import keras

    lr = recipe.learning_rate if learning_rate is None else learning_rate
    clip = {"clipnorm": recipe.clipnorm} if recipe.clipnorm else {}
    if recipe.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=lr, **clip)
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=recipe.momentum, **clip)
    if recipe.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, **clip)
    raise ModelError(f"unknown optimizer {recipe.optimizer!r}; use adam, adamw or sgd")


def make_loss(name: str):
    import keras

    losses = {"huber": keras.losses.Huber, "mse": keras.losses.MeanSquaredError,
              "mae": keras.losses.MeanAbsoluteError}
    if name not in losses:
        raise ModelError(f"unknown loss {name!r}; use one of {sorted(losses)}")
    return losses[name]()


# Keras falls back to jit_compile=False for layers XLA cannot compile (a recurrent layer on
# TensorFlow's CPU path) and warns on every fit; the fallback is the intended behaviour.
warnings.filterwarnings("ignore", message=r"Model doesn't support `jit_compile=True`", category=UserWarning)


def compile_model(model, recipe: Recipe, *, jit_compile: bool | None = None, learning_rate=None):
    """Compile with the recipe's loss, optimizer and MAE metric.

    ``jit_compile`` (default: the recipe's) picks XLA on TensorFlow; under JAX
    training is always jitted (see the module notes).
    """
    import keras

    jit = recipe.jit_compile if jit_compile is None else jit_compile
    if keras.backend.backend() == "jax":
        jit = True
    model.compile(loss=make_loss(recipe.loss), optimizer=make_optimizer(recipe, learning_rate),
                  metrics=["mae"], jit_compile=bool(jit))
    return model


def fit_model(
    model,
    x: Any,
    y: np.ndarray,
    recipe: Recipe,
    valid: tuple[Any, np.ndarray] | None = None,
    *,
    label: str = "model",
    jit_compile: bool | None = None,
    verbose: int = 0,
) -> TrainResult:
    """Compile ``model`` with the recipe and train it; best weights are restored at the end.

    ``x``: ``(n_windows, L, n_features)`` (or a tuple of arrays); ``y`` as the
    model's output. Returns epochs run, the best epoch and its metrics, the
    history, wall time, windows/s and the device.
    """
    import keras

    compile_model(model, recipe, jit_compile=jit_compile)
    monitor = recipe.monitor(valid is not None)
    stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=recipe.patience,
                                         restore_best_weights=True, mode="min")
    n = len(y)
    t0 = time.perf_counter()
    hist = model.fit(x, y, batch_size=recipe.batch_size, epochs=recipe.epochs,
                     validation_data=valid, shuffle=recipe.shuffle, verbose=verbose,
                     callbacks=[stop, _progress_callback(label, recipe.epochs)])
    seconds = time.perf_counter() - t0
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    scores = history.get(monitor, [math.nan])
    best = int(np.nanargmin(scores)) if len(scores) else 0
    return TrainResult(
        epochs_run=len(scores),
        best_epoch=best + 1,
        best={k: vals[best] for k, vals in history.items() if len(vals) > best},
        history=history,
        seconds=seconds,
        windows_per_s=n * len(scores) / seconds if seconds > 0 else 0.0,
        device=training_device(),
    )


# -- learning-rate range test ----------------------------------------------------------------
@dataclass
class LRRangeResult:
    """Loss per learning rate of an exponential sweep, and the suggested rate."""

    learning_rates: list[float]
    losses: list[float]
    suggested: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lr_range_test(
    build: Callable[[], Any],
    x: Any,
    y: np.ndarray,
    recipe: Recipe,
    *,
    min_lr: float = 1e-5,
    max_lr: float = 1.0,
    steps: int = 100,
) -> LRRangeResult:
    """Exponential learning-rate sweep (the course's ``lr = 1e-5 * 10**(step/…)``).

    Trains a fresh ``build()`` network for ``steps`` batches while the rate
    grows geometrically from ``min_lr`` to ``max_lr``; stops once the loss
    explodes (> 4× the best). Suggests one tenth of the rate at the lowest
    smoothed loss, a conservative rule that stays below the divergence edge.
    """
    if steps < 5:
        raise ModelError("lr_range_test: steps must be >= 5")
    with seeded(recipe.seed):
        return _lr_sweep(build, x, y, recipe, min_lr, max_lr, steps)


def _lr_sweep(build, x, y, recipe: Recipe, min_lr: float, max_lr: float, steps: int) -> LRRangeResult:
    import keras

    model = compile_model(build(), recipe, jit_compile=False, learning_rate=min_lr)
    factor = (max_lr / min_lr) ** (1.0 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []

    class _Sweep(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            step = len(lrs)
            lr = min_lr * factor**step
            # JAX trains on a loop-local copy of the variables, written back once per
            # epoch: write it back now so the new rate reaches the next step.
            sync = getattr(self.model, "jax_state_sync", None)
            if sync is not None:
                sync()
            self.model.optimizer.learning_rate.assign(lr)
            lrs.append(lr)

        def on_train_batch_end(self, batch, logs=None):
            loss = float((logs or {}).get("loss", math.nan))
            losses.append(loss)
            finite = [v for v in losses if math.isfinite(v)]
            if len(lrs) >= steps or not math.isfinite(loss) or (
                finite and loss > 4 * min(finite) and len(losses) > 10
            ):
                self.model.stop_training = True

    per_epoch = max(1, math.ceil(len(y) / recipe.batch_size))
    epochs = math.ceil(steps / per_epoch)
    model.fit(x, y, batch_size=recipe.batch_size, epochs=epochs, verbose=0, callbacks=[_Sweep()])
    lrs, losses = lrs[: len(losses)], losses[: len(lrs)]
    arr = np.asarray(losses, dtype=float)
    arr = np.where(np.isfinite(arr), arr, np.nan)
    smooth = _ema(arr, 0.9)
    best = int(np.nanargmin(smooth)) if np.isfinite(smooth).any() else 0
    return LRRangeResult(lrs, [float(v) for v in arr], float(lrs[best] / 10.0))


def _ema(values: np.ndarray, beta: float) -> np.ndarray:
    out = np.empty_like(values)
    avg = math.nan
    for i, v in enumerate(values):
        if math.isfinite(v):
            avg = v if not math.isfinite(avg) else beta * avg + (1 - beta) * v
        out[i] = avg
    return out

