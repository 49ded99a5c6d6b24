"""Split-conformal prediction intervals from a model's own backtest.

The method of statsforecast's and mlforecast's ``ConformalIntervals``: the
*scores* of a model on a series at step ``h`` are its absolute backtest errors
``|y - mean|`` at that step; the interval at level ``L`` percent is
``mean ± q``, with ``q`` the ``ceil((n + 1) L / 100)``-th smallest of the ``n``
scores (the finite-sample conformal quantile: coverage at least ``L`` percent
when scores are exchangeable). No model assumption, any model gets intervals.

No look-ahead: a forecast made at cutoff ``C`` uses only scores whose actual
day ``ds`` is in ``(C - window_days, C]``, i.e. errors the pipeline could have
seen at ``C``. With daily origins that is ``window_days`` scores per step.

Where ``ceil((n + 1) L / 100) > n`` the quantile is infinite in theory; the
interval then uses the largest score (a finite, somewhat too narrow interval)
and ``interval_capped`` says so. Where a step has fewer than ``min_scores``
scores, the scores of steps ``1..h`` of the same series and model are pooled
(``interval_pooled``); with still too few the interval is NaN: no interval
rather than a made-up one.

Adaptive conformal inference (``gamma > 0``; Gibbs & Candès, "Adaptive Conformal
Inference Under Distribution Shift", NeurIPS 2021, eq. 2): errors are not exchangeable
across seasons (on CTA 2019 the fixed-level 80 % intervals covered 94 % of March's days
and 64 % of April's), so the level of each series, model and step is corrected by what
the intervals of the same kind missed: ``alpha <- alpha + gamma (alpha_nominal - miss)``
after each outcome, replayed from the backtest table over the last ``adapt_days``
origins (no state kept between nights: the same table gives the same intervals). Long-run
coverage then tends to the nominal level whatever the shift. ``alpha <= 0`` gives the
largest score (capped), ``alpha >= 1`` a zero-width interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

KEY = ["series_id", "model"]


def conformal_intervals(
    forecasts: pd.DataFrame,
    table: pd.DataFrame,
    *,
    levels: Sequence[float] = (80, 95),
    window_days: int = 56,
    min_scores: int = 5,
    gamma: float = 0.0,
    adapt_days: int = 120,
) -> pd.DataFrame:
    """Add conformal ``lo-L``/``hi-L`` columns to ``forecasts``.

    Parameters
    ----------
    forecasts : ``series_id, ds, cutoff, model, mean`` (+ ``h``, computed from
        ``ds - cutoff`` in days when absent); e.g. tonight's forecasts, or a
        backtest table to check coverage on.
    table : the backtest long table ``series_id, cutoff, ds, h, model, y, mean,
        error``; rows with an ``error`` or a non-finite ``y``/``mean`` are ignored.
    levels : interval levels in percent, each in ``(0, 100)``.
    window_days : scores come from actual days in ``(cutoff - window_days, cutoff]``.
    min_scores : fewest scores an interval is built from (see the module doc).
    gamma : step of adaptive conformal inference (0: plain split conformal; the nightly
        uses 0.01, measured in ``docs/models.md``).
    adapt_days : origins the adaptive levels are replayed over (with ``gamma > 0``).

    Returns
    -------
    A copy of ``forecasts`` (same rows and order) with ``lo-L, hi-L`` per level
    (``lo-95 <= lo-80 <= mean <= hi-80 <= hi-95``; replacing any such columns),
    ``interval_n`` (scores used, or available when too few), ``interval_pooled``
    and ``interval_capped`` (bools).

    Raises
    ------
    ValueError : missing columns, a level outside ``(0, 100)``, a non-positive
        ``window_days``/``min_scores``/``adapt_days``, or ``gamma`` outside ``[0, 1)``.

    Examples
    --------
    >>> cut = pd.date_range("2024-01-01", periods=10)
    >>> table = pd.DataFrame({"series_id": "a", "cutoff": cut, "ds": cut + pd.Timedelta(days=1),
    ...                       "h": 1, "model": "m", "y": 100.0 + np.arange(1, 11), "mean": 100.0,
    ...                       "error": None})
    >>> fc = pd.DataFrame({"series_id": ["a"], "ds": [pd.Timestamp("2024-01-12")],
    ...                    "cutoff": [pd.Timestamp("2024-01-11")], "model": ["m"], "mean": [50.0]})
    >>> out = conformal_intervals(fc, table)
    >>> out[["lo-95", "lo-80", "hi-80", "hi-95", "interval_n", "interval_capped"]].values.tolist()
    [[40.0, 41.0, 59.0, 60.0, 10, True]]
    """
    levels = _check(forecasts, table, levels, window_days, min_scores)
    if not 0 <= gamma < 1 or adapt_days < 1:
        raise ValueError("conformal_intervals: gamma must be in [0, 1) and adapt_days positive")
    fc = forecasts.copy()
    if "h" not in fc:
        fc["h"] = (pd.to_datetime(fc["ds"]) - pd.to_datetime(fc["cutoff"])) // pd.Timedelta(days=1)
    scores = {key: part for key, part in _scores(table).groupby(KEY, sort=False)}
    qs = np.full((len(fc), len(levels)), np.nan)
    n_used = np.zeros(len(fc), dtype=np.int64)
    pooled = np.zeros(len(fc), dtype=bool)
    capped = np.zeros(len(fc), dtype=bool)
    width = pd.Timedelta(days=int(window_days))
    steps_fc = fc["h"].to_numpy()
    groups = fc.groupby(["series_id", "model", "cutoff"], sort=False, dropna=True).indices
    for (sid, model, cutoff), idx in groups.items():
        part = scores.get((sid, model))
        if part is None:
            continue
        ds = part["ds"].to_numpy(dtype="datetime64[ns]")
        end = pd.Timestamp(cutoff).as_unit("ns")
        lo, hi = np.searchsorted(ds, [(end - width).to_datetime64(), end.to_datetime64()],
                                 side="right")
        steps, score = part["h"].to_numpy()[lo:hi], part["score"].to_numpy()[lo:hi]
        alphas = (_aci_alphas(part, end, sorted(set(steps_fc[idx].tolist())), levels, window_days,
                              min_scores, gamma, adapt_days) if gamma > 0 else {})
        for i in idx:
            s = score[steps == steps_fc[i]]
            if len(s) < min_scores:
                s, pooled[i] = score[steps <= steps_fc[i]], True
            n_used[i] = len(s)
            if len(s) >= min_scores:
                eff = [100 * (1 - a) for a in alphas.get(steps_fc[i], [1 - lv / 100 for lv in levels])]
                qs[i], capped[i] = _conformal_quantiles(np.sort(s), eff)
                qs[i] = np.maximum.accumulate(qs[i])  # a wider level never gives a narrower interval
    mean = fc["mean"].to_numpy(dtype=float)
    for j, level in enumerate(levels):
        fc[f"lo-{_name(level)}"] = mean - qs[:, j]
        fc[f"hi-{_name(level)}"] = mean + qs[:, j]
    fc["interval_n"] = n_used
    fc["interval_pooled"] = pooled
    fc["interval_capped"] = capped
    return fc


def coverage(df: pd.DataFrame, levels: Sequence[float] = (80, 95)) -> pd.Series:
    """Share of ``y`` inside ``[lo-L, hi-L]`` for each level ``L``.

    Rows where ``y`` or the interval is NaN are left out of that level's share
    (NaN when none is left). Returns a Series indexed by level, named ``coverage``.

    >>> df = pd.DataFrame({"y": [1.0, 5.0], "lo-80": [0.0, 0.0], "hi-80": [2.0, 2.0]})
    >>> coverage(df, [80]).tolist()
    [0.5]
    """
    out = {}
    y = df["y"].to_numpy(dtype=float)
    for level in levels:
        lo = df[f"lo-{_name(level)}"].to_numpy(dtype=float)
        hi = df[f"hi-{_name(level)}"].to_numpy(dtype=float)
        ok = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
        out[level] = float(np.mean((lo[ok] <= y[ok]) & (y[ok] <= hi[ok]))) if ok.any() else np.nan
    return pd.Series(out, name="coverage", dtype=float)


def _scores(table: pd.DataFrame) -> pd.DataFrame:
    """``series_id, model, h, ds, score`` of the usable rows, sorted by day within each key."""
    y, mean = table["y"].to_numpy(dtype=float), table["mean"].to_numpy(dtype=float)
    ok = np.isfinite(y) & np.isfinite(mean) & table["ds"].notna().to_numpy()
    if "error" in table:
        ok &= table["error"].isna().to_numpy()
    out = table.loc[ok, ["series_id", "model", "h", "ds"]].copy()
    out["ds"] = pd.to_datetime(out["ds"])
    out["score"] = np.abs(y[ok] - mean[ok])
    return out.sort_values([*KEY, "ds"], kind="stable")


def _conformal_quantiles(sorted_scores: np.ndarray, levels: list[float]) -> tuple[np.ndarray, bool]:
    """``q`` per level from ascending scores ``(n,)``, and whether any was capped at the max.

    A level at or below 0 gives ``q = 0``; one at or above 100 the largest score (capped).
    """
    n = len(sorted_scores)
    # round() guards against 57 * 0.95 landing a hair above an integer
    k = np.array([math.ceil(round((n + 1) * level / 100, 9)) for level in levels])
    q = sorted_scores[np.clip(k, 1, n) - 1]
    return np.where(k < 1, 0.0, q), bool((k > n).any())


def _aci_alphas(part: pd.DataFrame, end: pd.Timestamp, steps: list[int], levels: list[float],
                window_days: int, min_scores: int, gamma: float, adapt_days: int) -> dict[int, list[float]]:
    """Adapted miss rates per step at cutoff ``end``, replayed over the last ``adapt_days`` origins.

    ``part``: one series' and model's scores (``h, ds, score``), sorted by ``ds``. For
    each origin ``c`` in ``(end - adapt_days, end]`` and step ``h``: the outcomes now
    known (the interval issued at ``c - h``, whose day is ``c``) update ``alpha``, then
    the interval of ``c`` is built from the step's scores with ``ds`` in ``(c - window_days, c]``
    at level ``1 - alpha``, as :func:`conformal_intervals` builds it. Returns
    ``{h: [alpha per level]}`` for the forecast at ``end``.

    The windows are sorted at once (``sliding_window_view``); the replay itself is
    sequential (each ``alpha`` depends on the previous outcomes) and runs on Python
    floats with the same arithmetic as :func:`_conformal_quantiles` (50 ms a series
    with numpy calls per origin, 1,000 series a night).
    """
    from numpy.lib.stride_tricks import sliding_window_view

    day = np.timedelta64(1, "D")
    end64 = end.to_datetime64().astype("datetime64[D]")
    first = end64 - (adapt_days + window_days + max(steps)) * day
    nominal = [1 - lv / 100 for lv in levels]
    h_all = part["h"].to_numpy()
    ds_all = part["ds"].to_numpy().astype("datetime64[D]")
    score_all = part["score"].to_numpy(dtype=float)
    out = {}
    for h in steps:
        ds, score = ds_all[h_all == h], score_all[h_all == h]
        keep = (ds > first) & (ds <= end64)
        grid = np.full(int((end64 - first) / day) + 1, np.nan)
        grid[((ds[keep] - first) / day).astype(int)] = score[keep]
        # grid[j]: the score of the step-h forecast whose day is first + j (origin first + j - h)
        t_end = len(grid) - 1
        t0 = t_end - adapt_days + 1
        # row i: the scores of the days (t - window_days, t] for origin t = t0 + i, ascending, NaN last
        padded = np.concatenate([np.full(window_days - 1, np.nan), grid])
        views = sliding_window_view(padded[t0:t_end + window_days - 1], window_days)
        windows = np.sort(views, axis=1)
        counts = np.isfinite(views).sum(axis=1).tolist()
        values = grid.tolist()
        alphas = list(nominal)
        issued: dict[int, list[float]] = {}  # origin index -> q per level
        for i, t in enumerate(range(t0, t_end + 1)):
            q_then = issued.pop(t - h, None)
            g = values[t]
            if q_then is not None and g == g:  # an outcome known now (not NaN)
                alphas = [a + gamma * (nm - float(g > q)) for a, nm, q in zip(alphas, nominal, q_then, strict=True)]
            if t == t_end:
                break
            n = counts[i]
            if n >= min_scores:
                qs, top = [], -math.inf
                for a in alphas:
                    k = math.ceil(round((n + 1) * (100 * (1 - a)) / 100, 9))
                    q = 0.0 if k < 1 else float(windows[i, min(k, n) - 1])
                    top = max(top, q)
                    qs.append(top)
                issued[t] = qs
        out[h] = [float(a) for a in alphas]
    return out


def _name(level: float) -> str:
    return str(int(level)) if float(level).is_integer() else str(level)


def _check(forecasts, table, levels, window_days, min_scores) -> list[float]:
    need = {"forecasts": (forecasts, ["series_id", "ds", "cutoff", "model", "mean"]),
            "table": (table, ["series_id", "ds", "h", "model", "y", "mean"])}
    for what, (df, cols) in need.items():
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"conformal_intervals: {what} lacks column(s) {missing}")
    bad = [lv for lv in levels if not 0 < lv < 100]
    if bad:
        raise ValueError(f"conformal_intervals: levels must be in (0, 100), got {bad}")
    if window_days < 1 or min_scores < 1:
        raise ValueError("conformal_intervals: window_days and min_scores must be positive")
    return sorted(float(lv) for lv in levels)
