"""SARIMA grid search scored by rolling-origin backtest MAE.

Each configuration is one work unit: its origins run in order (so every refit
is warm-started from the previous one) in a worker process. With ``prune=True``
the workers share the smallest *complete* sum of absolute errors found so far;
a configuration stops as soon as its running sum exceeds it.

Why pruning keeps the winner: every configuration is scored on the same rows,
so ranking by MAE is ranking by the sum of absolute errors (SAE). A running
SAE only grows as origins are added, so once it is above the SAE of a
configuration that finished, its final SAE is above it too and it cannot be the
(strict) minimum. The winner itself is never stopped: its running SAE never
exceeds its own total, which is at most every complete total. A configuration
with a failed origin is ranked after all complete ones (its MAE covers fewer
days), so it neither sets the bound nor wins; with pruning it stops at its first
failed origin (a non-converging over-parameterised configuration otherwise spends
the longest time of all: on CTA rail (0,0,0)(2,1,2,7) failed 82 of 92 origins in 7 s).

>>> configs = sarima_grid(p=(0, 1), q=(0,), P=(0,), Q=(1,), d=0, D=1, s=7)
>>> [c["order"] for c in configs]
[(0, 0, 0), (1, 0, 0)]
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from seqcast.backtest import (
    WorkUnit,
    _n_jobs,
    blas_threads,
    mp_context,
    origin_cutoffs,
    plan_units,
    process_pool,
    walk_origins,
)
from seqcast.errors import ModelError
from seqcast.models import model_label

_BOUND = None  # a multiprocessing.Value shared by the workers (set by _init_bound)


def sarima_grid(
    p: Sequence[int] = (0, 1, 2),
    q: Sequence[int] = (0, 1, 2),
    P: Sequence[int] = (0, 1, 2),
    Q: Sequence[int] = (0, 1, 2),
    d: int = 0,
    D: int = 1,
    s: int = 7,
    trend: str | None = None,
    warm_start: bool = True,
) -> list[dict[str, Any]]:
    """SARIMA parameter sets, fewest parameters first (they are fast and set
    a good pruning bound early).

    ``warm_start=False`` fits every origin from statsmodels' default start: about
    2x slower, but over-parameterised configurations (flat or multi-modal
    likelihoods, e.g. (2,0,2)(2,1,2,7)) then score exactly as in a plain loop; a
    warm start can settle in another optimum there.
    """
    configs = [
        {"order": (pi, d, qi), "seasonal_order": (Pi, D, Qi, s), "trend": trend,
         "warm_start": warm_start}
        for pi, qi, Pi, Qi in itertools.product(p, q, P, Q)
    ]
    return sorted(configs, key=lambda c: (sum(c["order"]) + sum(c["seasonal_order"][:3]),
                                          c["order"], c["seasonal_order"]))


def parse_grid(text: str) -> dict[str, Any]:
    """``"p=0..2,q=0..2,P=0..2,Q=0..2,d=0,D=1,s=7"`` → keyword arguments of :func:`sarima_grid`.

    >>> parse_grid("p=0..2,q=0,P=0,Q=1,d=0,D=1,s=7")["p"]
    (0, 1, 2)
    """
    example = "use e.g. p=0..2,q=0..2,P=0..2,Q=0..2,d=0,D=1,s=7"
    out: dict[str, Any] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, val = (t.strip() for t in item.partition("="))
        if key not in ("p", "q", "P", "Q", "d", "D", "s") or not val:
            raise ModelError(f"--grid: bad item {item!r}; {example}")
        if key in out:
            raise ModelError(f"--grid: {key} given twice ({text!r})")
        try:
            if ".." in val:
                lo, hi = (int(v) for v in val.split(".."))
                if lo > hi:
                    raise ModelError(f"--grid: {item!r} is an empty range (write {key}={hi}..{lo})")
                vals: Any = tuple(range(lo, hi + 1))
            elif "|" in val:
                vals = tuple(int(v) for v in val.split("|"))
            else:
                vals = (int(val),)
        except ValueError:
            raise ModelError(f"--grid: {item!r} is not a whole number, a range a..b or a list a|b; "
                             f"{example}") from None
        if key in ("p", "q", "P", "Q", "d", "D") and min(vals) < 0:
            raise ModelError(f"--grid: {item!r}: orders are 0 or more")
        if key in ("d", "D", "s") and len(vals) > 1:
            raise ModelError(f"--grid: {key} takes one value, got {item!r}")
        out[key] = vals if key in ("p", "q", "P", "Q") else vals[0]
    s = out.get("s", 7)
    if s < 2 and (max(out.get("P", (0,))) or max(out.get("Q", (0,))) or out.get("D", 1)):
        raise ModelError(f"--grid: a seasonal part (P, D, Q) needs a season s >= 2, got s={s}")
    return out


def grid_search(
    data: pd.DataFrame,
    configs: Sequence[dict[str, Any]],
    *,
    h: int = 1,
    start: Any,
    end: Any,
    step: int = 1,
    refit_every: int = 1,
    train_start: Any = None,
    window: str = "expanding",
    window_length: int | None = None,
    prune: bool = True,
    n_jobs: int | None = None,
    exog: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Backtest every SARIMA configuration on one series; rank by MAE.

    ``exog``: known-future regressors (``series_id, ds`` + columns, e.g. the calendar of
    ``seqcast backtest --calendar``/``--day-type``), used by every configuration.

    Returns one row per configuration, best first: ``model, order,
    seasonal_order, mae, n, n_failed_origins, complete, pruned, seconds, error``.
    ``pruned`` rows stopped early (their ``mae`` is over the rows scored so far,
    a lower bound of nothing; they are ranked after complete ones).
    """
    from seqcast.models.sarima import SARIMA

    if data["series_id"].nunique() != 1:
        raise ModelError("grid_search takes one series; filter data to it first")
    models = [SARIMA(**c) for c in configs]
    cutoffs = origin_cutoffs(start, end, h=h, step=step)
    units = plan_units(models, data, h=h, cutoffs=cutoffs, refit_every=refit_every,
                       window=window, window_length=window_length, train_start=train_start,
                       labels=[model_label(m) for m in models], exog=exog)
    n_jobs = min(_n_jobs(n_jobs), max(1, len(units)))
    rows = _run(units, prune, n_jobs)
    out = pd.DataFrame(rows)
    out["order"] = [tuple(c["order"]) for c in configs]
    out["seasonal_order"] = [tuple(c["seasonal_order"]) for c in configs]
    out["rank_key"] = np.where(out["complete"], 0, np.where(out["pruned"], 1, 2))
    out = out.sort_values(["rank_key", "mae"], kind="stable").drop(columns="rank_key")
    cols = ["model", "order", "seasonal_order", "mae", "n", "n_failed_origins", "complete",
            "pruned", "seconds", "error"]
    return out[cols].reset_index(drop=True)


def _run(units: list[WorkUnit], prune: bool, n_jobs: int) -> list[dict[str, Any]]:
    import multiprocessing as mp

    if n_jobs <= 1:
        global _BOUND
        _BOUND = mp.Value("d", math.inf, lock=True) if prune else None
        with blas_threads(1):
            return [score_unit(u) for u in units]
    bound = mp_context().Value("d", math.inf, lock=True) if prune else None
    with process_pool(n_jobs, initializer=_init_bound, initargs=(bound,)) as pool:
        futures = [pool.submit(score_unit, u) for u in units]
        results = []
        for u, fut in zip(units, futures, strict=True):
            try:
                results.append(fut.result())
            except Exception as exc:  # noqa: BLE001 - one dead worker fails one config
                results.append(_row(u, np.nan, 0, 0, False, False, 0.0, f"worker failed: {exc}"))
        return results


def _init_bound(bound) -> None:
    global _BOUND
    _BOUND = bound


def score_unit(unit: WorkUnit) -> dict[str, Any]:
    """Run one configuration's origins, stopping when its SAE passes the shared bound."""
    t0 = time.perf_counter()
    if unit.error:
        return _row(unit, np.nan, 0, 0, False, False, 0.0, unit.error)
    errors: dict[int, tuple[float, int]] = {}  # origin -> (sum of |error|, steps)
    failed: dict[int, str] = {}
    provisional: set[int] = set()
    pruned, newest = False, -1
    for j, out, err, prov in walk_origins(unit):
        if err is None:
            ae = np.abs(np.asarray(out["y"], dtype=float) - np.asarray(out["mean"], dtype=float))
            errors[j] = (float(ae.sum()), len(ae))
            failed.pop(j, None)
        else:
            failed[j] = err
            errors.pop(j, None)
        if j > newest:  # a new origin; a check that passes makes the earlier ones final
            newest = j
            if not prov:
                provisional.clear()
            else:
                provisional.add(j)
        else:  # a provisional origin re-run with a cold fit
            provisional.discard(j)
        if err is not None and not prov and _BOUND is not None:
            # a final failed origin: the configuration cannot be complete, so it ranks
            # after every complete one whatever its other origins score; stop here
            pruned = True
            break
        # the bound compares final errors only, so a pruned config is provably worse
        final_sae = sum(v for k, (v, _) in errors.items() if k not in provisional)
        if _BOUND is not None and final_sae > _BOUND.value:
            pruned = True
            break
    sae = sum(v for v, _ in errors.values())
    n = sum(m for _, m in errors.values())
    complete = not pruned and not failed
    if complete and _BOUND is not None:
        with _BOUND.get_lock():
            _BOUND.value = min(_BOUND.value, sae)
    mae = sae / n if n else np.nan
    first_error = failed[min(failed)][:300] if failed else None
    return _row(unit, mae, n, len(failed), complete, pruned, time.perf_counter() - t0,
                first_error)


def _row(unit, mae, n, failed, complete, pruned, seconds, error) -> dict[str, Any]:
    return {"model": unit.label, "mae": mae, "n": n, "n_failed_origins": failed,
            "complete": complete, "pruned": pruned, "seconds": seconds, "error": error}
