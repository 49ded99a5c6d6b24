"""Rolling-origin backtests: a function you pass a model to.

:func:`rolling_origin` fits a model at each forecast origin (*cutoff*) on the
days up to and including the cutoff and forecasts the ``h`` days after it. It
returns one long table::

    series_id, cutoff, ds, h, model, y, mean [, lo-L, hi-L], error

``h`` is the step ahead (``ds = cutoff + h days``). ``error`` is ``None`` on
scored rows; a (series, cutoff, model) that could not be forecast (series too
short, fit failed or did not converge, NaN in the history, no origin in the
date range...) keeps its rows with ``mean`` NaN and the reason in ``error``, so
a failure is recorded, never silent, and never stops the other origins.

The work is cut into *units*, pure functions of (series, cutoff range, model):
:func:`plan_units` builds them and :func:`run_unit` runs one, so Prefect or
Dask can map them; :func:`rolling_origin` runs them over a process pool.

>>> import pandas as pd
>>> from seqcast.models.naive import SeasonalNaive
>>> ds = pd.date_range("2024-01-01", periods=21)
>>> data = pd.DataFrame({"series_id": "a", "ds": ds, "y": [float(i % 7) for i in range(21)]})
>>> t = rolling_origin(SeasonalNaive(7), data, h=1, start="2024-01-15", end="2024-01-16", n_jobs=1)
>>> t[["cutoff", "ds", "h", "y", "mean"]].astype(str).values.tolist()
[['2024-01-14', '2024-01-15', '1', '0.0', '0.0'], ['2024-01-15', '2024-01-16', '1', '1.0', '1.0']]
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from seqcast.errors import ModelError
from seqcast.models.base import Forecaster

KEY = ["series_id", "cutoff", "model"]
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class WorkUnit:
    """One series, a run of consecutive cutoffs, one model: everything a worker needs.

    ``y``/``ds`` hold the whole series, shape ``(n,)``; ``exog`` is ``(n, k)`` or None.
    ``cutoffs`` are positions in ``y`` of the last training day of each origin;
    ``refit[j]`` says whether origin ``j`` re-estimates (else: update the state).
    """

    series_id: Any
    ds: np.ndarray
    y: np.ndarray
    cutoffs: np.ndarray
    refit: np.ndarray
    model: Forecaster
    label: str
    h: int
    train_start: int = 0
    window: str = "expanding"
    window_length: int | None = None
    exog: np.ndarray | None = None
    level: tuple[int, ...] = ()
    error: str | None = None  # set when the unit can only report a failure

    @property
    def cost(self) -> float:
        """Rough cost: training points fitted (the Kalman filter is linear in them)."""
        if self.error or not len(self.cutoffs):
            return 0.0
        lengths = self.cutoffs - self.train_start + 1
        if self.window == "sliding" and self.window_length:
            lengths = np.minimum(lengths, self.window_length)
        return float(np.sum(np.where(self.refit, lengths, 1.0)) + 50 * len(self.cutoffs))


@dataclass
class _Rows:
    cols: dict[str, list] = field(default_factory=dict)

    def add(self, **values: Any) -> None:
        for k, v in values.items():
            self.cols.setdefault(k, []).append(v)


# -- the table ---------------------------------------------------------------------------
def empty_table(level: Iterable[int] = ()) -> pd.DataFrame:
    cols = {
        "series_id": pd.Series(dtype=object),
        "cutoff": pd.Series(dtype="datetime64[ns]"),
        "ds": pd.Series(dtype="datetime64[ns]"),
        "h": pd.Series(dtype="int64"),
        "model": pd.Series(dtype=object),
        "y": pd.Series(dtype=float),
        "mean": pd.Series(dtype=float),
    }
    for lv in level:
        cols[f"lo-{lv}"] = pd.Series(dtype=float)
        cols[f"hi-{lv}"] = pd.Series(dtype=float)
    cols["error"] = pd.Series(dtype=object)
    return pd.DataFrame(cols)


def failures(table: pd.DataFrame) -> pd.DataFrame:
    """One row per failed (series, cutoff, model) with its reason."""
    bad = table[table["error"].notna()]
    return bad.groupby(KEY, dropna=False, sort=True)["error"].first().reset_index()


# -- one unit ----------------------------------------------------------------------------
def run_unit(unit: WorkUnit) -> pd.DataFrame:
    """Run the origins of one unit; returns its part of the backtest table.

    Pure: the result depends only on ``unit``. A failure at one origin becomes
    rows with an ``error`` and the next origin refits from scratch.
    """
    rows = _Rows()
    if unit.error is not None:
        rows.add(series_id=unit.series_id, cutoff=pd.NaT, ds=pd.NaT, h=0, model=unit.label,
                 y=np.nan, mean=np.nan, error=unit.error)
        return _to_frame(rows, unit.level)
    n = len(unit.y)
    outputs: dict[int, tuple[dict, str | None]] = {}
    for j, out, err, _ in walk_origins(unit):
        outputs[j] = (out, err)
    for j, c in enumerate(unit.cutoffs):
        c = int(c)
        out, err = outputs[j]
        for k in range(min(unit.h, n - 1 - c)):
            extra = {f"{b}-{lv}": _at(out, f"{b}-{lv}", k) for lv in unit.level for b in ("lo", "hi")}
            rows.add(series_id=unit.series_id, cutoff=unit.ds[c], ds=unit.ds[c + 1 + k], h=k + 1,
                     model=unit.label, y=unit.y[c + 1 + k], mean=_at(out, "mean", k),
                     **extra, error=err)
    return _to_frame(rows, unit.level)


def walk_origins(unit: WorkUnit):
    """Yield ``(j, forecasts, error, provisional)`` for the unit's origins in order;
    an origin may come again later, and its last value counts.

    Warm-started fits a model has not checked yet (``state.checked`` False) are
    *provisional*: when a later check finds the warm chain off the cold fit
    (``state.cold_only`` turns True), the provisional origins are re-run with
    cold fits and yielded again; when a check passes, they are final.
    """
    model = unit.model
    warm = getattr(model, "supports_warm_start", False)
    state, end, pending, was_cold = None, -1, [], False
    for j in range(len(unit.cutoffs)):
        state, end, out, err = _origin(model, unit, j, state, end, warm)
        cold_now = bool(getattr(state, "cold_only", False))
        provisional = state is not None and not getattr(state, "checked", True)
        yield j, out, err, provisional
        if cold_now and not was_cold:
            st, e = None, -1
            for p in pending:
                st, e, o, er = _origin(model, unit, p, st, e, False)
                yield p, o, er, False
            pending = []
        elif provisional:
            pending.append(j)
        else:
            pending = []
        was_cold = cold_now


def _origin(model: Forecaster, unit: WorkUnit, j: int, state: Any, end: int, warm: bool):
    """Fit (or update) at origin ``j`` and forecast; returns ``(state, end, out, error)``."""
    c = int(unit.cutoffs[j])
    hh = min(unit.h, len(unit.y) - 1 - c)
    lo = unit.train_start
    if unit.window == "sliding" and unit.window_length:
        lo = max(lo, c + 1 - unit.window_length)
    try:
        if state is None or unit.refit[j] or not getattr(model, "supports_update", False):
            state = _fit(model, unit, lo, c, state if warm else None)
        else:
            x_new = None if unit.exog is None else unit.exog[end + 1 : c + 1]
            state = model._update_series(state, unit.y[end + 1 : c + 1], x_new)
        x_f = None if unit.exog is None else unit.exog[c + 1 : c + 1 + hh]
        out = model._predict_series(state, hh, x_f, unit.level)
        if not np.isfinite(np.asarray(out["mean"], dtype=float)).all():
            raise ModelError(f"{unit.label}: the forecast has NaN/inf values")
        return state, c, out, None
    except Exception as exc:  # noqa: BLE001 - every failure is recorded with its reason
        return None, -1, {}, f"{type(exc).__name__}: {exc}"[:500]


def _fit(model: Forecaster, unit: WorkUnit, lo: int, c: int, previous: Any) -> Any:
    hist = unit.y[lo : c + 1]
    if len(hist) < model.min_history:
        raise ModelError(
            f"{unit.label}: {len(hist)} observations up to the cutoff, needs {model.min_history}"
        )
    nan = int(np.isnan(hist).sum())
    if nan:
        raise ModelError(f"{unit.label}: the training window has {nan} NaN value(s)")
    x = None if unit.exog is None else unit.exog[lo : c + 1]
    if previous is not None:
        return model._fit_series_warm(hist, x, previous)
    return model._fit_series(hist, x)


def _at(out: dict, key: str, k: int) -> float:
    vals = out.get(key)
    return float(vals[k]) if vals is not None else np.nan


def _to_frame(rows: _Rows, level: tuple[int, ...]) -> pd.DataFrame:
    if not rows.cols:
        return empty_table(level)
    df = pd.DataFrame(rows.cols)
    for col in ("cutoff", "ds"):
        df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    df["h"] = df["h"].astype("int64")
    df["error"] = df["error"].astype(object)
    return df[list(empty_table(level).columns)]


# -- planning ----------------------------------------------------------------------------
def origin_cutoffs(
    start: Any, end: Any, h: int = 1, step: int = 1
) -> pd.DatetimeIndex:
    """Cutoffs whose first forecast day runs from ``start`` to ``end`` every ``step`` days.

    >>> origin_cutoffs("2019-03-01", "2019-03-03").strftime("%m-%d").tolist()
    ['02-28', '03-01', '03-02']
    """
    first = pd.Timestamp(start) - pd.Timedelta(days=1)
    last = pd.Timestamp(end) - pd.Timedelta(days=1)
    return pd.date_range(first, last, freq=f"{int(step)}D") if first <= last else pd.DatetimeIndex([])


def plan_units(
    models: Forecaster | Sequence[Forecaster],
    data: pd.DataFrame,
    *,
    h: int,
    cutoffs: Sequence[Any] | pd.DatetimeIndex,
    refit_every: int = 1,
    window: str = "expanding",
    window_length: int | None = None,
    train_start: Any = None,
    exog: pd.DataFrame | None = None,
    level: Sequence[int] = (),
    chunks: int = 1,
    labels: Sequence[str] | None = None,
    refit_anchor: Any = None,
) -> list[WorkUnit]:
    """Cut a backtest into work units (one per series, model and run of origins).

    ``refit_anchor``: re-estimate at the cutoffs a multiple of ``refit_every`` days
    from this date (calendar-anchored, see :func:`anchored_cutoffs`) instead of at
    every ``refit_every``-th origin of this run.
    """
    models = [models] if isinstance(models, Forecaster) else list(models)
    labels = list(labels) if labels is not None else _labels(models)
    _check_args(h, refit_every, window, window_length)
    cutoffs = pd.DatetimeIndex(pd.to_datetime(list(cutoffs))).sort_values().unique()
    missing = [c for c in ("series_id", "ds", "y") if c not in data.columns]
    if missing:
        raise ModelError(f"backtest data lacks column(s) {missing}")
    units: list[WorkUnit] = []
    for sid, part in data.groupby("series_id", sort=True):
        part = part.sort_values("ds")
        ds = pd.to_datetime(part["ds"]).to_numpy(dtype="datetime64[ns]")
        y = part["y"].to_numpy(dtype=float)
        problem = _series_problem(ds, cutoffs, train_start)
        for model, label in zip(models, labels, strict=True):
            base = dict(series_id=sid, ds=ds, y=y, model=model.clone(), label=label, h=int(h),
                        window=window, window_length=window_length, level=tuple(level))
            if problem:
                units.append(WorkUnit(cutoffs=np.array([], int), refit=np.array([], bool),
                                      error=problem, **base))
                continue
            pos = np.searchsorted(ds, cutoffs.to_numpy(dtype="datetime64[ns]"))
            ok = (pos < len(ds) - 1) & (ds[np.minimum(pos, len(ds) - 1)] == cutoffs.to_numpy())
            pos = pos[ok]
            if not len(pos):
                units.append(WorkUnit(cutoffs=pos, refit=np.array([], bool),
                                      error=_no_origin(cutoffs, ds), **base))
                continue
            x = _exog_matrix(exog, sid, ds, model)
            t0 = 0 if train_start is None else int(np.searchsorted(ds, np.datetime64(pd.Timestamp(train_start), "ns")))
            if refit_anchor is None:
                refit = (np.arange(len(pos)) % int(refit_every)) == 0
            else:
                days = (ds[pos] - np.datetime64(pd.Timestamp(refit_anchor), "ns")) // np.timedelta64(1, "D")
                refit = (days % int(refit_every)) == 0
            for a, b in _chunk_bounds(pos, refit, chunks, t0, window, window_length):
                units.append(WorkUnit(cutoffs=pos[a:b], refit=refit[a:b], train_start=t0,
                                      exog=x, **base))
    return units


def _labels(models: list[Forecaster]) -> list[str]:
    aliases = [m.alias for m in models]
    out = []
    for m in models:
        if aliases.count(m.alias) > 1:
            out.append(model_label(m))
        else:
            out.append(m.alias)
    return out


def model_label(model: Forecaster) -> str:
    """A unique name for a configured model, e.g. ``sarima(1,0,0)(0,1,1,7)``."""
    params = model.get_params()
    if "order" in params and "seasonal_order" in params:
        o = ",".join(map(str, params["order"]))
        s = ",".join(map(str, params["seasonal_order"]))
        return f"{model.alias}({o})({s})"
    inner = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{model.alias}({inner})" if inner else model.alias


def _check_args(h: int, refit_every: int, window: str, window_length: int | None) -> None:
    if int(h) != h or h < 1:
        raise ModelError(f"h must be a positive integer, got {h!r}")
    if int(refit_every) != refit_every or refit_every < 1:
        raise ModelError(f"refit_every must be a positive integer, got {refit_every!r}")
    if window not in ("expanding", "sliding"):
        raise ModelError(f"window must be 'expanding' or 'sliding', got {window!r}")
    if window == "sliding" and not window_length:
        raise ModelError("a sliding window needs window_length")


def _series_problem(ds: np.ndarray, cutoffs: pd.DatetimeIndex, train_start: Any) -> str | None:
    if not len(ds):
        return "the series has no rows"
    if len(np.unique(ds)) != len(ds):
        return "the series has more than one row for some day; clean it first"
    span = int((ds[-1] - ds[0]) / np.timedelta64(1, "D")) + 1
    if span != len(ds):
        return f"the series has {span - len(ds)} missing day(s); clean it first"
    if not len(cutoffs):
        return "no forecast origins in the requested date range"
    return None


def _no_origin(cutoffs: pd.DatetimeIndex, ds: np.ndarray) -> str:
    return (
        f"no origin with a known next day: cutoffs {cutoffs.min().date()}..{cutoffs.max().date()}, "
        f"data {pd.Timestamp(ds[0]).date()}..{pd.Timestamp(ds[-1]).date()}"
    )


def _exog_matrix(exog: pd.DataFrame | None, sid: Any, ds: np.ndarray, model: Forecaster):
    if exog is None or not model.supports_future_covariates:
        return None
    part = exog[exog["series_id"] == sid] if "series_id" in exog else exog
    part = part.set_index("ds").drop(columns=["series_id"], errors="ignore")
    part = part.reindex(pd.DatetimeIndex(ds))
    return part.to_numpy(dtype=float)


def _chunk_bounds(pos, refit, chunks, t0, window, window_length) -> list[tuple[int, int]]:
    """Split origins into ``chunks`` runs of similar cost, each starting at a refit."""
    n = len(pos)
    if chunks <= 1 or n < 2:
        return [(0, n)]
    lengths = pos - t0 + 1.0
    if window == "sliding" and window_length:
        lengths = np.minimum(lengths, window_length)
    cost = np.cumsum(np.where(refit, lengths, 1.0) + 50.0)
    starts = np.flatnonzero(refit)
    bounds = [0]
    for k in range(1, chunks):
        target = cost[-1] * k / chunks
        cand = starts[starts > bounds[-1]]
        if not len(cand):
            break
        pick = int(cand[np.argmin(np.abs(cost[cand - 1] - target))])
        if pick > bounds[-1]:
            bounds.append(pick)
    bounds.append(n)
    return list(zip(bounds[:-1], bounds[1:], strict=False))


# -- running -------------------------------------------------------------------------------
def rolling_origin(
    model: Forecaster | Sequence[Forecaster],
    data: pd.DataFrame,
    h: int = 1,
    start: Any = None,
    end: Any = None,
    step: int = 1,
    refit_every: int = 1,
    window: str = "expanding",
    window_length: int | None = None,
    train_start: Any = None,
    *,
    cutoffs: Sequence[Any] | None = None,
    exog: pd.DataFrame | None = None,
    level: Sequence[int] = (),
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Backtest ``model`` (or several) on every series of ``data``.

    Parameters
    ----------
    model : a Forecaster (unfitted; it is cloned) or a list of them.
    data : long frame ``series_id, ds, y``, one row per series and day, no gaps.
    h : steps ahead forecast at each origin.
    start, end : first and last day forecast one step ahead; the cutoffs run from
        ``start - 1 day`` to ``end - 1 day`` every ``step`` days. Ignored when
        ``cutoffs`` is given. Steps past the last day of data are not scored.
    refit_every : re-estimate every ``k``-th origin; in between the fitted state
        takes the new observations at fixed parameters (models with
        ``supports_update``; models without estimated state refit every origin).
    window : ``"expanding"`` (from ``train_start`` or the first day) or ``"sliding"``
        (the last ``window_length`` days).
    exog : ``series_id, ds`` + known-future features for models that take them.
    n_jobs : worker processes (default: all cores); 1 runs in this process.

    Returns
    -------
    DataFrame ``series_id, cutoff, ds, h, model, y, mean [, lo-L, hi-L], error``.
    """
    if cutoffs is None:
        cutoffs = origin_cutoffs(start, end, h=h, step=step)
    n_jobs = _n_jobs(n_jobs)
    models = [model] if isinstance(model, Forecaster) else list(model)
    n_series = max(1, data["series_id"].nunique()) if "series_id" in data else 1
    chunks = max(1, math.ceil(n_jobs / (n_series * len(models)))) if n_jobs > 1 else 1
    units = plan_units(models, data, h=h, cutoffs=cutoffs, refit_every=refit_every,
                       window=window, window_length=window_length, train_start=train_start,
                       exog=exog, level=level, chunks=chunks)
    return run_units(units, n_jobs=n_jobs, level=level)


def run_units(units: list[WorkUnit], n_jobs: int | None = None, level: Sequence[int] = ()) -> pd.DataFrame:
    """Run work units (in parallel when ``n_jobs > 1``) and stack their tables."""
    n_jobs = _n_jobs(n_jobs)
    order = sorted(range(len(units)), key=lambda i: -units[i].cost)  # longest first
    busy = [i for i in order if units[i].cost > 0]
    results: dict[int, pd.DataFrame] = {}
    if n_jobs > 1 and len(busy) > 1:
        results = _run_in_pool(units, busy, min(n_jobs, len(busy)))
    with blas_threads(1):
        for i in order:
            if i not in results:  # sequential run, or a unit whose worker failed
                try:
                    results[i] = run_unit(units[i])
                except Exception as exc:  # noqa: BLE001 - run_unit records model errors itself
                    results[i] = _unit_failure(units[i], exc)
    frames = [results[i] for i in range(len(units)) if len(results[i])]
    if not frames:
        return empty_table(level)
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["series_id", "model", "cutoff", "h"], kind="stable", ignore_index=True)


def _run_in_pool(units: list[WorkUnit], busy: list[int], workers: int) -> dict[int, pd.DataFrame]:
    """Units run in worker processes; those whose worker could not start or died
    are left out, for the caller to run in this process."""
    import logging
    from concurrent.futures.process import BrokenProcessPool

    results: dict[int, pd.DataFrame] = {}
    try:
        with process_pool(workers) as pool:
            futures = {i: pool.submit(run_unit, units[i]) for i in busy}
            for i, fut in futures.items():
                try:
                    results[i] = fut.result()
                except BrokenProcessPool:
                    continue
    except (BrokenProcessPool, RuntimeError, OSError) as exc:
        # e.g. forkserver/spawn from a script without a __main__ guard
        logging.getLogger(__name__).warning(
            "process pool failed (%s); running %d unit(s) in this process",
            exc, len(busy) - len(results))
    return results


def _unit_failure(unit: WorkUnit, exc: BaseException) -> pd.DataFrame:
    rows = _Rows()
    for c in unit.cutoffs:
        hh = min(unit.h, len(unit.y) - 1 - int(c))
        for k in range(hh):
            rows.add(series_id=unit.series_id, cutoff=unit.ds[c], ds=unit.ds[c + 1 + k], h=k + 1,
                     model=unit.label, y=unit.y[c + 1 + k], mean=np.nan,
                     error=f"worker failed: {type(exc).__name__}: {exc}"[:500])
    return _to_frame(rows, unit.level)


def _n_jobs(n_jobs: int | None) -> int:
    if n_jobs is None or n_jobs <= 0:
        return max(1, os.cpu_count() or 1)
    return int(n_jobs)


# -- process pool ----------------------------------------------------------------------------
def process_pool(workers: int, initializer=None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A process pool whose workers use one BLAS thread each.

    ``fork`` when this process runs a single thread (fast start, inherits the
    imports), else ``forkserver`` (forking a threaded process, e.g. inside a
    Prefect task runner, can deadlock on locks held by other threads).
    """
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp_context(),
        initializer=_init_worker,
        initargs=(initializer, initargs),
    )


def mp_context():
    """The multiprocessing context :func:`process_pool` uses (see there)."""
    import multiprocessing as mp

    methods = mp.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return mp.get_context("fork")
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _init_worker(initializer=None, initargs: tuple = ()) -> None:
    for var in BLAS_ENV:
        os.environ[var] = "1"
    set_blas_threads(1)
    if initializer is not None:
        initializer(*initargs)


def _openblas_libs() -> list:
    import ctypes

    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower()})
    except OSError:
        return []
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    found.append((get, put))
                    break
            else:
                continue
            break
    return found


def set_blas_threads(n: int) -> list[int]:
    """Set the thread count of every OpenBLAS copy already loaded (numpy's and
    scipy's each bundle one; they read ``OPENBLAS_NUM_THREADS`` only when they
    load). Returns the previous counts."""
    import ctypes

    libs = _openblas_libs()
    before = [int(get()) for get, _ in libs]
    for _, put in libs:
        put(ctypes.c_int(int(n)))
    return before


@contextmanager
def blas_threads(n: int = 1):
    """Run a block with ``n`` BLAS threads, then restore the previous counts.

    Small SARIMA matrices gain nothing from BLAS threads and lose a lot when the
    cores are busy (measured here: a 10-origin loop went from 2 s to 5 s).
    """
    import ctypes

    libs = _openblas_libs()
    before = [int(get()) for get, _ in libs]
    env = {var: os.environ.get(var) for var in BLAS_ENV}
    for _, put in libs:
        put(ctypes.c_int(int(n)))
    # A BLAS first loaded inside the block (statsmodels pulls in scipy's lazily)
    # reads its thread count from the environment, and keeps it afterwards.
    os.environ.update({var: str(n) for var in BLAS_ENV})
    try:
        yield
    finally:
        for (_, put), old in zip(libs, before, strict=True):
            put(ctypes.c_int(old))
        for var, old in env.items():
            if old is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = old


# -- incremental backtests -----------------------------------------------------------------
def incremental_origins(
    existing: pd.DataFrame | None,
    data: pd.DataFrame,
    *,
    models: Sequence[str],
    h: int,
    start: Any,
    end: Any = None,
    step: int = 1,
) -> pd.DatetimeIndex:
    """Cutoffs from ``start`` to ``end`` (default: the last day with a known next
    day) that some (series, model) has not scored yet.

    An origin counts as scored when it has ``h`` rows without error; origins that
    failed, or whose later steps were not observed yet, are run again.
    """
    last = pd.to_datetime(data["ds"]).max()
    end = last if end is None else min(pd.Timestamp(end), last)
    wanted = origin_cutoffs(start, end, h=h, step=step)
    if existing is None or existing.empty or not len(wanted):
        return wanted
    ok = existing[existing["error"].isna() & existing["model"].isin(list(models))]
    counts = ok.groupby(KEY, sort=False).size()
    done = counts[counts >= h].reset_index().groupby("cutoff")["model"].size()
    need = data["series_id"].nunique() * len(set(models))
    complete = pd.DatetimeIndex(done[done >= need].index)
    return wanted.difference(complete)


def anchored_cutoffs(cutoffs: Sequence[Any], refit_every: int, anchor: Any = "1970-01-01") -> pd.DatetimeIndex:
    """``cutoffs`` extended back to the latest refit day at or before the first one.

    With refits on calendar days (every ``refit_every`` days from ``anchor``) and cold
    starts, an origin's forecast depends only on the data, not on which other origins
    a run happened to include: an incremental backtest that re-runs the last origins
    gives the numbers a full run gives.

    >>> anchored_cutoffs(pd.to_datetime(["1970-01-10", "1970-01-11"]), 7).day.tolist()
    [8, 9, 10, 11]
    """
    cutoffs = pd.DatetimeIndex(pd.to_datetime(list(cutoffs))).sort_values().unique()
    if not len(cutoffs) or refit_every <= 1:
        return cutoffs
    back = (cutoffs[0] - pd.Timestamp(anchor)).days % int(refit_every)
    lead = pd.date_range(cutoffs[0] - pd.Timedelta(days=back), cutoffs[0], freq="D")
    return lead.union(cutoffs)


def merge_tables(existing: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """``existing`` with the (series, cutoff, model) groups of ``new`` replaced."""
    if existing is None or existing.empty:
        return new.reset_index(drop=True)
    keys = pd.MultiIndex.from_frame(new[KEY].drop_duplicates())
    keep = ~pd.MultiIndex.from_frame(existing[KEY]).isin(keys)
    out = pd.concat([existing[keep], new], ignore_index=True)
    return out.sort_values(["series_id", "model", "cutoff", "h"], kind="stable", ignore_index=True)
