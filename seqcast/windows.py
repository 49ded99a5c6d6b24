"""Windowed datasets for sequence models: built with numpy, stored as Parquet.

A :class:`WindowSpec` says how to cut the clean long frame (``series_id, ds, y``
plus columns such as ``day_type``) into training windows; :func:`build_windows`
cuts it, :func:`write_dataset` / :func:`read_dataset` store and load it, and
:func:`to_tf_dataset` feeds it to Keras.

Layout on disk
--------------
Materialising every window is wasteful (a 56-in/14-out seq→seq dataset over 1M
points is 3.4 GB raw). The Parquet file instead stores, per split, the split's
*segment* once (one row per day: raw series values and known-future features)
plus a ``window_start`` flag marking the rows where a window's first input
falls. Windows are expanded on read as strided numpy views, so the file stays
the single source of truth and reading costs about as much as the segment.
Schema metadata (key ``seqcast.windows``) holds the spec, the data hash, the
resolved split bounds and the scaler, so a file describes itself and is rebuilt
only when its spec or its data change (:func:`ensure_dataset`).

Offsets (read this once)
------------------------
With ``input_length=L`` and ``h``, the window starting at day ``s`` has inputs
on days ``s .. s+L-1`` and targets on days ``s+L .. s+L+h-1``: the first target
is the day right *after* the last input (never the last input itself). On
``y = [10, 11, 12, 13, 14, 15]`` with ``L=3, h=2``:

========================  ===============  ===============================
kind                      window 0 x       window 0 y
========================  ===============  ===============================
``seq2vec`` (h=1)         [10, 11, 12]     [13]            (3 windows)
``seq2vec`` (h=2)         [10, 11, 12]     [13, 14]        (2 windows)
``seq2seq`` (h=2)         [10, 11, 12]     [[11, 12], [12, 13], [13, 14]]
``encoder_decoder`` (h=2) ([10, 11, 12],   [[13], [14]]
                          [[0], [0]])
========================  ===============  ===============================

A split of ``n`` days holds ``(n - L - h) // stride + 1`` windows. Keras'
``timeseries_dataset_from_array(y, targets=y[L:], sequence_length=L)`` gives
the same one-step windows (``targets=y[L-1:]`` would be the classic off-by-one).
Known-future features (e.g. the one-hot day type) enter the input at step ``t``
with their value for day ``t+1``, so the last input step carries the first
target day's type, as in the chapter's ``next_day_type`` columns.

>>> import pandas as pd
>>> frame = pd.DataFrame({"series_id": "rail", "y": [10.0, 11, 12, 13, 14, 15],
...                       "ds": pd.date_range("2024-01-01", periods=6)})
>>> spec = WindowSpec(input_length=3, h=2, targets=("rail",), scaling="none",
...                   splits=(("train", None, None),))
>>> w = build_windows(frame, spec)["train"]
>>> w.x.shape, w.y.shape
((2, 3, 1), (2, 2))
>>> w.x[0, :, 0].tolist(), w.y[0].tolist()
([10.0, 11.0, 12.0], [13.0, 14.0])
>>> s2s = build_windows(frame, WindowSpec(**{**spec.to_dict(), "kind": "seq2seq"}))["train"]
>>> s2s.y[0].tolist()
[[11.0, 12.0], [12.0, 13.0], [13.0, 14.0]]
>>> str(w.cutoffs[0]), w.target_dates[0].astype(str).tolist()
('2024-01-03', ['2024-01-04', '2024-01-05'])
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import as_strided

from seqcast.errors import SeqcastError

KINDS = ("seq2vec", "seq2seq", "encoder_decoder")
SCALINGS = ("none", "constant", "standard")
#: The chapter's CTA splits; the test split runs to the end of the data.
DEFAULT_SPLITS: tuple[tuple[str, str | None, str | None], ...] = (
    ("train", "2016-01-01", "2018-12-31"),
    ("valid", "2019-01-01", "2019-05-31"),
    ("test", "2019-06-01", None),
)


def default_splits(first: Any, last: Any, need: int = 1) -> tuple[tuple[str, str, str | None], ...]:
    """The splits ``windows build`` uses when none are given, for data on ``first..last``.

    The chapter's CTA splits (:data:`DEFAULT_SPLITS`) where the data cover their
    train and valid days and ``need`` days (input_length + h: one window) of the
    test split after them; otherwise the days in order, 70 % train, 15 % valid,
    the rest test (the chronological split of e.g. Géron's chapter and Keras'
    time-series examples), so any daily table gets a dataset.

    >>> default_splits("2022-01-01", "2022-04-10")
    (('train', '2022-01-01', '2022-03-11'), ('valid', '2022-03-12', '2022-03-26'), ('test', '2022-03-27', None))
    """
    lo, hi = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    test_start = pd.Timestamp(DEFAULT_SPLITS[2][1])
    if lo <= pd.Timestamp(DEFAULT_SPLITS[0][1]) and hi >= test_start + pd.Timedelta(days=max(need, 1) - 1):
        return DEFAULT_SPLITS
    n = (hi - lo).days + 1
    n_train, n_valid = int(n * 0.70), int(n * 0.15)
    if n_valid < 1:
        raise WindowSpecError(f"{n} days of data: too few to split into train, valid and test")
    day = pd.Timedelta(days=1)
    t_end, v_end = lo + (n_train - 1) * day, lo + (n_train + n_valid - 1) * day
    iso = lambda d: d.strftime("%Y-%m-%d")  # noqa: E731
    return (("train", iso(lo), iso(t_end)), ("valid", iso(t_end + day), iso(v_end)),
            ("test", iso(v_end + day), None))


#: Fixed one-hot categories, so the feature count never depends on which days a
#: data version happens to hold; other text columns take their sorted values.
CATEGORIES: dict[str, tuple[str, ...]] = {"day_type": ("A", "U", "W")}
FORMAT_VERSION = 1
META_KEY = b"seqcast.windows"
_RESERVED = ("series_id", "ds", "y")


class WindowSpecError(SeqcastError, ValueError):
    """A window spec cannot be built on the given data (bad field, column, or split)."""


# -- the spec ------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowSpec:
    """How to cut a clean long frame into training windows.

    Parameters
    ----------
    input_length : int
        Input steps ``L`` per window (the chapter uses 56 days).
    h : int
        Steps ahead to forecast, >= 1. ``kind="seq2vec", h=1`` is one step ahead.
    kind : {"seq2vec", "seq2seq", "encoder_decoder"}
        Target layout, see :attr:`WindowSplit.y`.
    targets : tuple of str
        ``series_id`` values to forecast (e.g. ``("rail",)`` or ``("bus", "rail")``).
    inputs : tuple of str or None
        ``series_id`` values fed as input features; ``None`` means ``targets``.
    known_future : tuple of str
        Columns of the clean frame known in advance (``"day_type"``,
        ``"is_imputed"``). Text columns are one-hot encoded (``day_type`` always
        as A, U, W; others by sorted value), numbers used as they are; they are
        never scaled.
    stride : int
        Days between consecutive window starts.
    splits : tuple of (name, start, end)
        Inclusive ISO dates; ``None`` means the data's first/last day. Every
        window of a split lies entirely inside it (inputs and targets).
    scaling : {"none", "constant", "standard"}
        ``"constant"`` divides every series by ``scale`` (the chapter's 1e6);
        ``"standard"`` subtracts each series' mean and divides by its standard
        deviation, both fitted on ``fit_split`` only.
    scale : float
        The constant divisor for ``scaling="constant"``.
    fit_split : str or None
        The split the scaler is fitted on; ``None`` means the first split.
    name : str or None
        File stem for :func:`ensure_dataset`; default :attr:`slug`.
    """

    input_length: int = 56
    h: int = 1
    kind: str = "seq2vec"
    targets: tuple[str, ...] = ("rail",)
    inputs: tuple[str, ...] | None = None
    known_future: tuple[str, ...] = ()
    stride: int = 1
    splits: tuple[tuple[str, str | None, str | None], ...] = DEFAULT_SPLITS
    scaling: str = "constant"
    scale: float = 1e6
    fit_split: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        fix = object.__setattr__
        fix(self, "targets", _names(self.targets, "targets"))
        if self.inputs is not None:
            fix(self, "inputs", _names(self.inputs, "inputs"))
        fix(self, "known_future", _names(self.known_future, "known_future", allow_empty=True))
        fix(self, "splits", _splits(self.splits))
        for attr in ("input_length", "h", "stride"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise WindowSpecError(f"window spec: {attr} must be an integer >= 1, got {value!r}")
            fix(self, attr, int(value))
        if self.kind not in KINDS:
            raise WindowSpecError(f"window spec: kind must be one of {KINDS}, got {self.kind!r}")
        if self.scaling not in SCALINGS:
            raise WindowSpecError(
                f"window spec: scaling must be one of {SCALINGS}, got {self.scaling!r}"
            )
        if not float(self.scale) > 0 or not np.isfinite(self.scale):
            raise WindowSpecError(f"window spec: scale must be a positive number, got {self.scale!r}")
        fix(self, "scale", float(self.scale))
        bad = [c for c in self.known_future if c in _RESERVED]
        if bad:
            raise WindowSpecError(f"window spec: known_future cannot use column(s) {bad}")
        names = [s[0] for s in self.splits]
        if self.fit_split is None:
            fix(self, "fit_split", names[0])
        if self.scaling != "none" and self.fit_split not in names:
            raise WindowSpecError(
                f"window spec: fit_split {self.fit_split!r} is not one of the splits {names}"
            )

    # -- derived ------------------------------------------------------------------
    @property
    def input_series(self) -> tuple[str, ...]:
        """Series fed as inputs, in feature order."""
        return self.inputs if self.inputs is not None else self.targets

    @property
    def series(self) -> tuple[str, ...]:
        """Every series the dataset stores: inputs first, then targets not among them."""
        return self.input_series + tuple(s for s in self.targets if s not in self.input_series)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``WindowSpec.from_dict(spec.to_dict()) == spec``."""
        d = asdict(self)
        d["splits"] = [list(s) for s in self.splits]
        for key in ("targets", "inputs", "known_future"):
            d[key] = None if d[key] is None else list(d[key])
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from a dict (config file, metadata); ``splits`` may be a name→[start, end] map."""
        data = dict(data)
        unknown = sorted(set(data) - set(cls.__dataclass_fields__), key=str)  # YAML's `1:` is an int key
        if unknown:
            raise WindowSpecError(f"window spec: unknown field(s) {unknown}")
        if isinstance(data.get("splits"), Mapping):
            data["splits"] = tuple((k, *v) for k, v in data["splits"].items())
        return cls(**data)

    @property
    def key(self) -> str:
        """A short hash of every field but ``name``: equal keys build equal datasets."""
        d = self.to_dict()
        d.pop("name")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def slug(self) -> str:
        """``name`` or e.g. ``seq2vec-L56-h1-rail-<key8>``: a file-safe stem."""
        if self.name:
            return self.name
        from seqcast.io import path_part

        tgt = path_part("+".join(self.targets))  # a series id may hold '/' (a file name part)
        return f"{self.kind}-L{self.input_length}-h{self.h}-{tgt}-{self.key[:8]}"


def _names(value: Any, what: str, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, list | tuple):  # `targets: 5` was "internal error TypeError"
        raise WindowSpecError(f"window spec: {what} must be a series id or a list of them, got {value!r}")
    odd = [v for v in value if not isinstance(v, str)]
    if odd:  # YAML reads 007 as 7 and 1.10 as 1.1: never a series id other than written
        raise WindowSpecError(f"window spec: {what}: series ids are text, got {odd[0]!r} (quote it in YAML: '007')")
    out = tuple(value)
    if not out and not allow_empty:
        raise WindowSpecError(f"window spec: {what} must name at least one series")
    if len(set(out)) != len(out):
        raise WindowSpecError(f"window spec: {what} has duplicates: {list(out)}")
    return out


def _splits(value: Any) -> tuple[tuple[str, str | None, str | None], ...]:
    out = []
    for item in value:
        if len(item) != 3:
            raise WindowSpecError(f"window spec: a split is (name, start, end), got {item!r}")
        name, start, end = item
        try:
            bounds = [None if b is None else pd.Timestamp(b).strftime("%Y-%m-%d") for b in (start, end)]
        except (ValueError, TypeError) as exc:
            raise WindowSpecError(f"window spec: split {name!r} has a bad date: {exc}") from None
        if None not in bounds and bounds[0] > bounds[1]:
            raise WindowSpecError(f"window spec: split {name!r} starts after it ends: {bounds}")
        out.append((str(name), bounds[0], bounds[1]))
    if not out:
        raise WindowSpecError("window spec: at least one split is needed")
    names = [s[0] for s in out]
    if len(set(names)) != len(names):
        raise WindowSpecError(f"window spec: split names repeat: {names}")
    return tuple(out)


# -- scaling ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scaler:
    """Per-series affine scaling ``(y - loc) / scale``, fitted on the train split.

    ``loc`` and ``scale`` map ``series_id`` to floats. The transforms broadcast
    over the last axis, which holds either one column per series or ``k``
    repeats of them (as in flattened ``(n, h * n_targets)`` targets).
    """

    method: str = "none"
    loc: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, method: str, values: np.ndarray, series: Sequence[str], constant: float = 1e6) -> Self:
        """Fit on ``values`` of shape ``(n_days, len(series))``."""
        k = len(series)
        if method == "none":
            loc, scale = np.zeros(k), np.ones(k)
        elif method == "constant":
            loc, scale = np.zeros(k), np.full(k, float(constant))
        else:
            loc, scale = values.mean(axis=0), values.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)  # a flat series stays finite
        return cls(method, dict(zip(series, map(float, loc), strict=True)),
                   dict(zip(series, map(float, scale), strict=True)))

    def _params(self, series: Sequence[str], width: int) -> tuple[np.ndarray, np.ndarray]:
        if width % len(series):
            raise WindowSpecError(
                f"scaler: last axis of size {width} is not a multiple of {len(series)} series"
            )
        reps = width // len(series)
        loc = np.tile([self.loc[s] for s in series], reps)
        scale = np.tile([self.scale[s] for s in series], reps)
        return loc, scale

    def transform(self, values: np.ndarray, series: Sequence[str]) -> np.ndarray:
        """Scaled copy of ``values`` (last axis: ``series``, possibly repeated)."""
        values = np.asarray(values, dtype=np.float64)
        loc, scale = self._params(series, values.shape[-1])
        return (values - loc) / scale

    def inverse_transform(self, values: np.ndarray, series: Sequence[str]) -> np.ndarray:
        """Undo :meth:`transform`: model outputs back in the data's units (float64)."""
        values = np.asarray(values, dtype=np.float64)
        loc, scale = self._params(series, values.shape[-1])
        return values * scale + loc

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["method"], dict(data["loc"]), dict(data["scale"]))


# -- windows of one split -------------------------------------------------------------


@dataclass(eq=False)
class WindowSplit:
    """The windows of one split, stored as its segment plus window starts.

    Attributes
    ----------
    name : str
        Split name (``"train"``...).
    ds : ndarray of datetime64[D], shape (n_days,)
        The split's days, consecutive.
    values : ndarray of float64, shape (n_days, len(spec.series))
        Raw (unscaled) series values, columns in ``spec.series`` order.
    known : ndarray of float32, shape (n_days, n_known)
        Known-future features of each day itself (not shifted).
    starts : ndarray of int64, shape (n_windows,)
        Row of each window's first input day: ``0, stride, 2*stride, ...``.
    """

    name: str
    ds: np.ndarray
    values: np.ndarray
    known: np.ndarray
    starts: np.ndarray
    spec: WindowSpec
    scaler: Scaler
    known_names: tuple[str, ...] = ()

    @property
    def n_windows(self) -> int:
        return len(self.starts)

    def __len__(self) -> int:
        return self.n_windows

    @cached_property
    def features(self) -> np.ndarray:
        """Scaled input features per day, float32 ``(n_days, n_features)``.

        Row ``t`` holds the input series on day ``t`` and the known-future
        features of day ``t+1`` (zeros on the last day, which no input reaches).
        """
        spec = self.spec
        n_in = len(spec.input_series)
        scaled = self.scaler.transform(self.values[:, :n_in], spec.input_series)
        nxt = np.zeros_like(self.known)
        nxt[:-1] = self.known[1:]
        return np.ascontiguousarray(np.hstack([scaled, nxt]), dtype=np.float32)

    @cached_property
    def target_values(self) -> np.ndarray:
        """Scaled target series per day, float32 ``(n_days, n_targets)``."""
        cols = [self.spec.series.index(s) for s in self.spec.targets]
        scaled = self.scaler.transform(self.values[:, cols], self.spec.targets)
        return np.ascontiguousarray(scaled, dtype=np.float32)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.spec.input_series + tuple(f"next:{k}" for k in self.known_names)

    @property
    def x(self) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Model inputs, float32, read-only strided views (``np.array(x)`` copies).

        ``(n_windows, L, n_features)``; for ``encoder_decoder`` a pair
        ``(encoder (n_windows, L, n_features), decoder (n_windows, h, d))``
        where the decoder inputs are zeros (``d=1``) or, with known-future
        features, those of the ``h`` target days (``d=n_known``).
        """
        spec = self.spec
        enc = _view(self.features, self._first, self.n_windows, spec.stride, (spec.input_length,))
        if spec.kind != "encoder_decoder":
            return enc
        if self.known.shape[1]:
            dec = _view(self.known, self._first + spec.input_length, self.n_windows, spec.stride,
                        (spec.h,))
        else:
            dec = np.zeros((self.n_windows, spec.h, 1), dtype=np.float32)
        return enc, dec

    @property
    def y(self) -> np.ndarray:
        """Scaled targets, float32 read-only views; ``T = len(spec.targets)``.

        - ``seq2vec``: ``(n_windows, h * T)``, step-major (``t+1`` for every
          target, then ``t+2``...): ``(n, 1)`` one step ahead on one series;
        - ``seq2seq``: ``(n_windows, L, h * T)``: at input step ``j`` the ``h``
          values after day ``j``;
        - ``encoder_decoder``: ``(n_windows, h, T)``.
        """
        spec, tv, n = self.spec, self.target_values, self.n_windows
        L, h, T = spec.input_length, spec.h, tv.shape[1]
        if spec.kind == "seq2seq":
            return _view(self._ahead_rows, self._first, n, spec.stride, (L,))
        y = _view(tv, self._first + L, n, spec.stride, (h,))
        return y if spec.kind == "encoder_decoder" else y.reshape(n, h * T)

    @cached_property
    def _ahead_rows(self) -> np.ndarray:
        """Row ``t``: the ``h`` scaled targets after day ``t``, ``(n_days - h, h * T)``.

        Materialised once (``h`` times the segment) so each seq→seq window is one
        contiguous block: copies and tensor conversions run at memcpy speed.
        """
        tv, h = self.target_values, self.spec.h
        rows = _view(tv, 1, len(tv) - h, 1, (h,))
        return np.ascontiguousarray(rows.reshape(len(tv) - h, h * tv.shape[1]))

    @property
    def cutoffs(self) -> np.ndarray:
        """Last input day of each window, datetime64[D] ``(n_windows,)``."""
        return self.ds[self.starts + self.spec.input_length - 1]

    @property
    def target_dates(self) -> np.ndarray:
        """Days of the ``h`` targets after each cutoff, datetime64[D] ``(n_windows, h)``."""
        return self.cutoffs[:, None] + np.arange(1, self.spec.h + 1).astype("timedelta64[D]")

    @property
    def _first(self) -> int:
        return int(self.starts[0]) if len(self.starts) else 0

    def arrays(self) -> tuple[Any, np.ndarray]:
        """``(x, y)`` as writable contiguous copies (for ``model.fit(x, y)``)."""
        x = self.x
        x = tuple(np.array(a) for a in x) if isinstance(x, tuple) else np.array(x)
        return x, np.array(self.y)


def _view(a: np.ndarray, first: int, n: int, step: int, inner: tuple[int, ...]) -> np.ndarray:
    """Read-only windows over rows of ``a`` (shape ``(n_days, k)``), no copy.

    ``out[i, j1, j2, ..., c] = a[first + i*step + j1 + j2 + ..., c]``: one inner
    axis per entry of ``inner``, each advancing one row.
    """
    a = np.ascontiguousarray(a)
    s0, s1 = a.strides
    base = a[first:] if first < len(a) else a[:0]
    need = (n - 1) * step + sum(i - 1 for i in inner) + 1 if n else 0
    if need > len(base):  # pragma: no cover - guarded by the builder
        raise WindowSpecError(f"windows run past the segment ({need} > {len(base)} rows)")
    shape = (n, *inner, a.shape[1])
    strides = (s0 * step, *([s0] * len(inner)), s1)
    return as_strided(base, shape=shape, strides=strides, writeable=False)


# -- a whole dataset ------------------------------------------------------------------


@dataclass(eq=False)
class WindowedDataset:
    """Every split of one spec on one data version, with its scaler.

    ``ds["train"].x``, ``ds["train"].y`` give numpy arrays; :func:`to_tf_dataset`
    gives a ``tf.data.Dataset``; :meth:`inverse_targets` maps predictions back.
    """

    spec: WindowSpec
    splits: dict[str, WindowSplit]
    scaler: Scaler
    data_hash: str
    known_names: tuple[str, ...] = ()
    path: Path | None = None
    #: per split, days per series whose value cleaning imputed (the clean table's
    #: ``is_imputed``); None where the data did not say
    imputed_days: dict[str, dict[str, int]] | None = None

    def __getitem__(self, name: str) -> WindowSplit:
        try:
            return self.splits[name]
        except KeyError:
            raise KeyError(f"no split {name!r}; have {list(self.splits)}") from None

    def inverse_targets(self, y: np.ndarray) -> np.ndarray:
        """Scaled targets or predictions (any kind's ``y`` layout) → data units."""
        return self.scaler.inverse_transform(y, self.spec.targets)

    @property
    def metadata(self) -> dict[str, Any]:
        """What the Parquet file records about itself."""
        return {
            "format_version": FORMAT_VERSION,
            "spec": self.spec.to_dict(),
            "spec_key": self.spec.key,
            "data_hash": self.data_hash,
            "scaler": self.scaler.to_dict(),
            "series": list(self.spec.series),
            "known_names": list(self.known_names),
            "splits": {
                name: {"start": str(s.ds[0]), "end": str(s.ds[-1]), "n_days": len(s.ds),
                       "n_windows": s.n_windows,
                       **({"imputed_days": self.imputed_days[name]} if self.imputed_days else {})}
                for name, s in self.splits.items()
            },
        }


def build_windows(frame: pd.DataFrame, spec: WindowSpec) -> WindowedDataset:
    """Cut a clean long frame into the windows of every split of ``spec``.

    Parameters
    ----------
    frame : DataFrame
        Long format ``series_id, ds, y`` (+ the ``known_future`` columns), one
        row per series and day, daily without gaps over each split.
    spec : WindowSpec

    Raises
    ------
    WindowSpecError
        Unknown series or column, a split without one full window (also when
        ``input_length + h`` exceeds the series), or gaps inside a split.
    """
    return _build(spec, _Wide.of(frame, spec))


def _build(spec: WindowSpec, wide: _Wide) -> WindowedDataset:
    ds, values, known = wide.days, wide.values, wide.known
    need = spec.input_length + spec.h
    if len(ds) < need:
        raise WindowSpecError(
            f"window spec: input_length + h = {need} days exceeds the series ({len(ds)} days)"
        )
    parts = {}
    imputed: dict[str, dict[str, int]] = {}
    for name, (lo, hi) in _resolve_splits(spec, ds).items():
        rows = slice(lo, hi + 1)
        seg = values[rows]
        if np.isnan(seg).any():
            col, day = _first_nan(seg, ds[rows], spec.series)
            have = ~np.isnan(values)
            spans = [f"{sid} {ds[np.argmax(have[:, j])]}..{ds[len(ds) - 1 - np.argmax(have[::-1, j])]}"
                     for j, sid in enumerate(spec.series) if have[:, j].any()]
            raise WindowSpecError(
                f"split {name!r}: series {col!r} has no value on {day} (the series cover "
                f"{', '.join(spans)}): give splits within the days every series covers, or clean "
                "the data first (gaps)"
            )
        parts[name] = (ds[rows], seg, known[rows])
        if wide.imputed is not None:
            imputed[name] = {s: int(n) for s, n in zip(spec.series, wide.imputed[rows].sum(axis=0), strict=True)}
    if spec.scaling != "none":
        scaler = Scaler.fit(spec.scaling, parts[spec.fit_split][1], spec.series, spec.scale)
    else:
        scaler = Scaler.fit("none", values[:0], spec.series)
    splits = {}
    for name, (d, seg, kn) in parts.items():
        n_windows = (len(d) - need) // spec.stride + 1
        starts = np.arange(n_windows, dtype=np.int64) * spec.stride
        splits[name] = WindowSplit(name, d, seg, kn, starts, spec, scaler, wide.known_names)
    return WindowedDataset(spec, splits, scaler, wide.digest, wide.known_names,
                           imputed_days=imputed if wide.imputed is not None else None)


@dataclass(frozen=True, eq=False)
class _Wide:
    """The data a spec reads, one row per day: ``values (n, n_series)`` (NaN where
    absent) and one-hot/numeric ``known (n, n_known)``."""

    days: np.ndarray
    values: np.ndarray
    known: np.ndarray
    known_names: tuple[str, ...]
    imputed: np.ndarray | None = None  # (n, n_series) bool: cleaning imputed the value

    @cached_property
    def digest(self) -> str:
        # Hashing the day-indexed arrays makes the hash independent of row order.
        h = hashlib.sha256(str(self.days[0] if len(self.days) else "").encode())
        for part in (self.values, self.known, "|".join(self.known_names).encode()):
            h.update(part if isinstance(part, bytes) else np.ascontiguousarray(part).tobytes())
        if self.imputed is not None and self.imputed.any():  # (no imputed day: the hash as before)
            h.update(np.packbits(self.imputed).tobytes())
        return h.hexdigest()[:16]

    @classmethod
    def of(cls, frame: pd.DataFrame, spec: WindowSpec) -> _Wide:
        missing = [c for c in (*_RESERVED, *spec.known_future) if c not in frame.columns]
        if missing:
            raise WindowSpecError(f"window spec: the data has no column(s) {missing}")
        codes = pd.Index(list(spec.series)).get_indexer(frame["series_id"])
        absent = [s for j, s in enumerate(spec.series) if not (codes == j).any()]
        if absent:
            have = sorted(map(str, pd.unique(frame["series_id"])))
            raise WindowSpecError(f"window spec: unknown series {absent}; the data has {have}")
        keep = codes >= 0
        codes = codes[keep].astype(np.int64)
        day = pd.to_datetime(frame["ds"]).to_numpy()[keep].astype("datetime64[D]")
        first = day.min()
        row = (day - first).astype(np.int64)
        n, k = int(row.max()) + 1, len(spec.series)
        flat = row * k + codes
        if np.bincount(flat, minlength=n * k).max() > 1:
            raise WindowSpecError("window spec: the data has more than one row per series and day")
        values = np.full((n, k), np.nan)
        values.reshape(-1)[flat] = frame["y"].to_numpy(dtype=np.float64, na_value=np.nan)[keep]
        blocks, names = [], []
        for col in spec.known_future:
            block, col_names = _known_block(frame[col][keep], col, flat, n, k)
            blocks.append(block)
            names.extend(col_names)
        known = np.hstack(blocks) if blocks else np.zeros((n, 0))
        # A missing known-future value makes the day unusable, like a missing y.
        values[np.isnan(known).any(axis=1)] = np.nan
        days = first + np.arange(n).astype("timedelta64[D]")
        imputed = None
        if "is_imputed" in frame.columns:
            imputed = np.zeros(n * k, dtype=bool)
            imputed[flat] = frame["is_imputed"].fillna(False).to_numpy(dtype=bool)[keep]
            imputed = imputed.reshape(n, k)
        return cls(days, values, known.astype(np.float32), tuple(names), imputed)


def _known_block(
    col_values: pd.Series, col: str, flat: np.ndarray, n: int, k: int
) -> tuple[np.ndarray, list[str]]:
    """One known-future column per day ``(n, 1)`` or one-hot ``(n, n_categories)``."""
    numeric = pd.api.types.is_numeric_dtype(col_values) or pd.api.types.is_bool_dtype(col_values)
    if numeric:
        num, names = col_values.to_numpy(dtype=np.float64, na_value=np.nan), [col]
    else:
        seen = sorted(map(str, pd.unique(col_values.dropna())))
        cats = list(CATEGORIES.get(col, seen))
        if set(seen) - set(cats):
            raise WindowSpecError(f"known-future column {col!r} has value(s) "
                                  f"{sorted(set(seen) - set(cats))} outside its categories {cats}")
        c = pd.Index(cats).get_indexer(col_values.astype("string"))
        num, names = np.where(c < 0, np.nan, c.astype(np.float64)), [f"{col}={v}" for v in cats]
    per = np.full((n, k), np.nan)
    per.reshape(-1)[flat] = num
    lo, hi = np.nanmin(per, axis=1, initial=np.inf), np.nanmax(per, axis=1, initial=-np.inf)
    if (np.isfinite(lo) & (lo != hi)).any():
        raise WindowSpecError(f"known-future column {col!r} differs between series on a day")
    day = np.where(np.isfinite(lo), lo, np.nan)
    if numeric:
        return day[:, None], names
    onehot = (day[:, None] == np.arange(len(names))).astype(np.float64)
    onehot[np.isnan(day)] = np.nan
    return onehot, names


def _resolve_splits(spec: WindowSpec, ds: np.ndarray) -> dict[str, tuple[int, int]]:
    """Row bounds ``(first, last)`` of each split, clipped to the data; errors if too short."""
    out = {}
    need = spec.input_length + spec.h
    for name, start, end in spec.splits:
        lo_day = ds[0] if start is None else max(np.datetime64(start, "D"), ds[0])
        hi_day = ds[-1] if end is None else min(np.datetime64(end, "D"), ds[-1])
        n = int((hi_day - lo_day).astype(int)) + 1 if hi_day >= lo_day else 0
        if n < need:
            raise WindowSpecError(
                f"split {name!r} ({start or 'start'}..{end or 'end'}) has {max(n, 0)} days of data, "
                f"fewer than input_length + h = {need}: no full window fits"
            )
        lo = int((lo_day - ds[0]).astype(int))
        out[name] = (lo, lo + n - 1)
    return out


def _first_nan(seg: np.ndarray, days: np.ndarray, series: Sequence[str]) -> tuple[str, str]:
    row, col = np.argwhere(np.isnan(seg))[0]
    return series[col], str(days[row])


def data_hash(frame: pd.DataFrame, spec: WindowSpec) -> str:
    """Hash (16 hex digits) of the values ``spec`` reads from ``frame``, whatever the row order."""
    return _Wide.of(frame, spec).digest


# -- Parquet --------------------------------------------------------------------------


def write_dataset(dataset: WindowedDataset, path: str | os.PathLike[str]) -> Path:
    """Write ``dataset`` to one Parquet file (atomically); returns the path.

    One row per split and day: ``split, ds, y:<series>..., known:<name>...,
    window_start``; the metadata of :attr:`WindowedDataset.metadata` sits in
    the schema under ``seqcast.windows``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = list(dataset.splits.values())
    n_rows = [len(p.ds) for p in parts]
    flags = []
    for p in parts:
        f = np.zeros(len(p.ds), dtype=bool)
        f[p.starts] = True
        flags.append(f)
    cols: dict[str, Any] = {
        "split": pa.DictionaryArray.from_arrays(
            np.repeat(np.arange(len(parts), dtype=np.int32), n_rows), [p.name for p in parts]
        ),
        "ds": pa.array(np.concatenate([p.ds for p in parts]), type=pa.date32()),
    }
    values = np.concatenate([p.values for p in parts])
    for j, s in enumerate(dataset.spec.series):
        cols[f"y:{s}"] = values[:, j]
    known = np.concatenate([p.known for p in parts])
    for j, k in enumerate(dataset.known_names):
        cols[f"known:{k}"] = known[:, j]
    cols["window_start"] = np.concatenate(flags)
    table = pa.table(cols)
    meta = json.dumps(dataset.metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata({META_KEY: meta})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    dataset.path = path
    return path


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata a dataset file records (spec, data hash, splits, scaler)."""
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise WindowSpecError(f"{path}: no such file")
    if os.path.isdir(path):
        raise WindowSpecError(f"{path}: a folder, not a windows dataset file (seqcast windows build writes one)")
    try:
        meta = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise WindowSpecError(f"{path}: not a Parquet file ({str(exc).splitlines()[0]})") from None
    if META_KEY not in meta:
        raise WindowSpecError(f"{path}: not a seqcast windows dataset (no {META_KEY.decode()} metadata)")
    return json.loads(meta[META_KEY])


def read_dataset(path: str | os.PathLike[str]) -> WindowedDataset:
    """Load a file written by :func:`write_dataset`; windows expand lazily as views."""
    import pyarrow.parquet as pq

    meta = read_metadata(path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise WindowSpecError(f"{path}: format version {meta.get('format_version')} is not supported")
    spec = WindowSpec.from_dict(meta["spec"])
    scaler = Scaler.from_dict(meta["scaler"])
    known_names = tuple(meta["known_names"])
    table = pq.read_table(path)
    ds = table.column("ds").to_numpy().astype("datetime64[D]")
    values = np.column_stack([table.column(f"y:{s}").to_numpy() for s in spec.series])
    known = np.zeros((len(ds), len(known_names)), dtype=np.float32)
    for j, k in enumerate(known_names):
        known[:, j] = table.column(f"known:{k}").to_numpy()
    flags = table.column("window_start").to_numpy()
    splits, row = {}, 0
    for name, _, _ in spec.splits:  # rows follow the spec's order; the JSON keys are sorted
        info = meta["splits"][name]
        rows = slice(row, row + info["n_days"])
        starts = np.flatnonzero(flags[rows]).astype(np.int64)
        expected = np.arange(info["n_windows"], dtype=np.int64) * spec.stride
        if not np.array_equal(starts, expected):
            raise WindowSpecError(f"{path}: split {name!r} window starts do not match its spec")
        splits[name] = WindowSplit(name, ds[rows], values[rows], known[rows], starts, spec, scaler,
                                   known_names)
        row += info["n_days"]
    imputed = {name: meta["splits"][name]["imputed_days"] for name, _, _ in spec.splits
               if "imputed_days" in meta["splits"][name]}
    return WindowedDataset(spec, splits, scaler, meta["data_hash"], known_names, Path(path),
                           imputed_days=imputed or None)


def is_current(path: str | os.PathLike[str], spec: WindowSpec, data_digest: str) -> bool:
    """Whether the file at ``path`` was built from ``spec`` on data hashing to ``data_digest``."""
    try:
        meta = read_metadata(path)
    except (OSError, WindowSpecError, ValueError):
        return False
    return (meta.get("format_version") == FORMAT_VERSION and meta.get("spec_key") == spec.key
            and meta.get("data_hash") == data_digest)


def ensure_dataset(
    frame: pd.DataFrame, spec: WindowSpec, out_dir: str | os.PathLike[str], *, force: bool = False
) -> tuple[Path, bool]:
    """Build and write ``spec`` into ``out_dir/<spec.slug>.parquet`` unless current.

    Returns ``(path, rebuilt)``; ``rebuilt`` is False when the file already
    records the same spec key and data hash.
    """
    path = Path(out_dir) / f"{spec.slug}.parquet"
    wide = _Wide.of(frame, spec)
    if not force and is_current(path, spec, wide.digest):
        return path, False
    return write_dataset(_build(spec, wide), path), True


# -- tf.data --------------------------------------------------------------------------


def to_tf_dataset(
    split: WindowSplit,
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    seed: int | None = None,
    prefetch: bool = True,
    drop_remainder: bool = False,
):
    """A shuffled, batched, prefetched ``tf.data.Dataset`` of ``(x, y)`` batches.

    Only window starts are shuffled (once per pass over the data, reproducibly
    from ``seed``); each batch gathers its windows from the segment in one
    ``tf.gather``, so the pipeline never materialises the whole window set. Batches
    have the shapes of :attr:`WindowSplit.x` / :attr:`WindowSplit.y` with
    ``batch`` in place of ``n_windows``; ``encoder_decoder`` yields
    ``((encoder, decoder), y)``. Unshuffled, the batches equal ``x``/``y`` in order.
    """
    import tensorflow as tf

    spec = split.spec
    L, h = spec.input_length, spec.h
    feats = tf.constant(split.features)
    tv = tf.constant(split.target_values)
    ahead_rows = tf.constant(split._ahead_rows if spec.kind == "seq2seq" else np.zeros((0, 0)))
    known = tf.constant(split.known)
    n_t, n_k = split.target_values.shape[1], split.known.shape[1]
    steps = tf.range(L, dtype=tf.int64)
    ahead = tf.range(h, dtype=tf.int64)

    def windows(starts):
        x = tf.gather(feats, starts[:, None] + steps)  # (B, L, F)
        if spec.kind == "seq2seq":
            return x, tf.gather(ahead_rows, starts[:, None] + steps)  # (B, L, h*T)
        t_idx = starts[:, None] + L + ahead  # (B, h)
        y = tf.gather(tv, t_idx)  # (B, h, T)
        if spec.kind == "seq2vec":
            return x, tf.reshape(y, (-1, h * n_t))
        if n_k:
            dec = tf.gather(known, t_idx)
        else:
            dec = tf.zeros((tf.shape(starts)[0], h, 1), dtype=tf.float32)
        return (x, dec), y

    starts = tf.constant(split.starts)
    n_full = split.n_windows // batch_size
    rest = 0 if drop_remainder else split.n_windows - n_full * batch_size

    def batches_of(perm):
        # One slice per batch, not per window: tf.data's per-element shuffle and
        # batch cost ~30 us a window, more than the gather itself.
        data = tf.data.Dataset.from_tensor_slices(tf.reshape(perm[: n_full * batch_size],
                                                             (n_full, batch_size)))
        return data.concatenate(tf.data.Dataset.from_tensors(perm[n_full * batch_size:])) if rest else data

    if shuffle:
        def epoch(r):
            seed2 = tf.stack([r, tf.constant(0, tf.int64)])
            return batches_of(tf.random.experimental.stateless_shuffle(starts, seed=seed2))

        # Dataset.random draws a fresh seed at each pass (epoch), reproducibly from ``seed``.
        data = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        data = data.flat_map(epoch)
    else:
        data = batches_of(starts)
    data = data.map(windows, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return data.prefetch(tf.data.AUTOTUNE) if prefetch else data


def input_window(
    frame: pd.DataFrame,
    dataset: WindowedDataset,
    cutoff: Any = None,
    known_next: pd.DataFrame | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Model inputs for forecasting the ``h`` days after ``cutoff``, scaled like ``dataset``.

    ``cutoff`` defaults to the last day of ``frame``. Known-future features of
    days past the data (at least ``cutoff + 1``; ``cutoff + 1 .. cutoff + h``
    for ``encoder_decoder``) come from ``known_next``: rows ``ds`` + the
    ``known_future`` columns. Returns ``(1, L, n_features)``, or
    ``((1, L, n_features), (1, h, d))`` for ``encoder_decoder``.
    """
    spec = dataset.spec
    frame = frame[frame["series_id"].isin(spec.series)]
    last = pd.Timestamp(frame["ds"].max() if cutoff is None else cutoff)
    ahead = spec.h if spec.kind == "encoder_decoder" else 1
    lo, hi = last - pd.Timedelta(days=spec.input_length - 1), last + pd.Timedelta(days=ahead)
    part = frame.loc[(frame["ds"] >= lo) & (frame["ds"] <= last),
                     ["series_id", "ds", "y", *spec.known_future]]
    if known_next is not None and spec.known_future:
        extra = known_next[(known_next["ds"] > last) & (known_next["ds"] <= hi)]
        extra = extra.merge(pd.DataFrame({"series_id": list(spec.series)}), how="cross")
        part = pd.concat([part, extra.assign(y=np.nan)[part.columns]], ignore_index=True)
    wide = _Wide.of(part, spec)
    ds, values, known, names = wide.days, wide.values, wide.known, wide.known_names
    if names != dataset.known_names:
        raise WindowSpecError(f"known-future features {names} differ from the dataset's "
                              f"{dataset.known_names}")
    L = spec.input_length
    if len(ds) < L or ds[0] != np.datetime64(lo.date()) or np.isnan(values[:L]).any():
        raise WindowSpecError(f"input_window: the {L} days up to {last.date()} are not all in the data")
    if spec.known_future and (len(ds) < L + ahead or np.isnan(known[L: L + ahead]).any()):
        raise WindowSpecError(f"input_window: known-future features missing after {last.date()}; "
                              "pass them in known_next")
    n_in = len(spec.input_series)
    x = dataset.scaler.transform(values[:L, :n_in], spec.input_series)
    x = np.hstack([x, known[1 : L + 1]])[None].astype(np.float32)
    if spec.kind != "encoder_decoder":
        return x
    dec = known[L : L + spec.h] if spec.known_future else np.zeros((spec.h, 1))
    return x, dec[None].astype(np.float32)


def specs_from(items: Iterable[WindowSpec | Mapping[str, Any]]) -> list[WindowSpec]:
    """Specs from specs or dicts (config files, flow parameters)."""
    return [s if isinstance(s, WindowSpec) else WindowSpec.from_dict(s) for s in items]
