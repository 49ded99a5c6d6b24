"""Forecast-error metrics as plain functions over a backtest table.

The table is :func:`seqcast.backtest.rolling_origin`'s long frame
(``series_id, cutoff, ds, h, model, y, mean, error``). Every metric groups by
``by`` (default per series and model; add ``"h"`` for per-step figures) and is
computed over the *scored* rows only: rows with an ``error`` (a failed origin)
or a missing ``y`` are left out and counted in :func:`evaluate`'s ``n_failed``,
so a metric is never a silent NaN. A group with no scored row has NaN metrics
and ``n == 0`` next to its ``n_failed``.

MAPE and sMAPE are in percent; MAPE leaves out days where ``y == 0``.

>>> import pandas as pd
>>> t = pd.DataFrame({"series_id": "a", "model": "m", "h": 1, "y": [100.0, 200.0],
...                   "mean": [110.0, 190.0], "error": None})
>>> mae(t)["mae"].tolist(), mape(t)["mape"].round(2).tolist()
([10.0], [7.5])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_BY = ("series_id", "model")
METRICS = ("mae", "rmse", "mape", "smape", "mase")


def scored(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that can be scored: no error, finite ``y`` and ``mean``."""
    ok = np.isfinite(table["y"].to_numpy(float)) & np.isfinite(table["mean"].to_numpy(float))
    if "error" in table:
        ok &= table["error"].isna().to_numpy()
    return table[ok]


def _agg(table: pd.DataFrame, by: Sequence[str], name: str, values: pd.Series, how: str = "mean"):
    df = table[list(by)].assign(**{name: values})
    out = df.groupby(list(by), sort=True, dropna=False)[name].agg(how).reset_index()
    return out


def mae(table: pd.DataFrame, by: Sequence[str] = DEFAULT_BY) -> pd.DataFrame:
    """Mean absolute error per group: ``mean(|y - mean|)``."""
    t = scored(table)
    return _agg(t, by, "mae", (t["y"] - t["mean"]).abs())


def rmse(table: pd.DataFrame, by: Sequence[str] = DEFAULT_BY) -> pd.DataFrame:
    """Root mean squared error per group."""
    t = scored(table)
    out = _agg(t, by, "rmse", (t["y"] - t["mean"]) ** 2)
    out["rmse"] = np.sqrt(out["rmse"])
    return out


def mape(table: pd.DataFrame, by: Sequence[str] = DEFAULT_BY) -> pd.DataFrame:
    """Mean absolute percentage error (percent), over days with ``y != 0``."""
    t = scored(table)
    t = t[t["y"] != 0]
    return _agg(t, by, "mape", 100 * ((t["y"] - t["mean"]) / t["y"]).abs())


def smape(table: pd.DataFrame, by: Sequence[str] = DEFAULT_BY) -> pd.DataFrame:
    """Symmetric MAPE (percent, 0..200): ``200 |y - f| / (|y| + |f|)``; 0 when both are 0."""
    t = scored(table)
    den = t["y"].abs() + t["mean"].abs()
    val = (200 * (t["y"] - t["mean"]).abs() / den.where(den > 0)).fillna(0.0)
    return _agg(t, by, "smape", val)


def mase_scale(history: pd.DataFrame, season_length: int = 7, before=None) -> pd.Series:
    """Per-series in-sample MAE of the seasonal naive forecast (MASE's denominator).

    ``before``: only history strictly before this day (e.g. the first cutoff + 1).
    """
    hist = history.sort_values(["series_id", "ds"])
    if before is not None:
        hist = hist[hist["ds"] < pd.Timestamp(before)]
    diff = hist.groupby("series_id", sort=True)["y"].diff(season_length).abs()
    return diff.groupby(hist["series_id"]).mean().rename("scale")


def mase_scales(table: pd.DataFrame, history: pd.DataFrame, season_length: int = 7) -> pd.Series:
    """MASE's denominator per scored series of a backtest ``table``: from each series'
    history up to its first scored cutoff. NaN where that history is not longer than
    one season (no in-sample seasonal-naive error at all), 0 where it repeats itself
    every season: both make MASE undefined, for different reasons."""
    t = scored(table)
    first = t.groupby("series_id")["cutoff"].min()
    return pd.Series({
        sid: mase_scale(history[history["series_id"] == sid], season_length,
                        before=cut + pd.Timedelta(days=1)).get(sid, np.nan)
        for sid, cut in first.items()
    }, dtype=float, name="scale")


def mase(
    table: pd.DataFrame,
    history: pd.DataFrame,
    season_length: int = 7,
    by: Sequence[str] = DEFAULT_BY,
) -> pd.DataFrame:
    """Mean absolute scaled error: MAE over the seasonal-naive in-sample MAE.

    The scale comes from each series' ``history`` before its first cutoff, so no
    day that is scored leaks into the denominator. Where that scale is 0 (a
    constant history, or one that repeats every ``season_length`` days) MASE is
    undefined: NaN, never ``inf``. Hyndman & Koehler (2006), "Another look at
    measures of forecast accuracy".
    """
    t = scored(table)
    scale = t["series_id"].map(mase_scales(table, history, season_length)).astype(float)
    scale = scale.where(scale > 0)  # a history that repeats itself weekly: undefined, not inf
    return _agg(t, by, "mase", (t["y"] - t["mean"]).abs() / scale)


def evaluate(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("mae", "rmse", "mape", "smape"),
    by: Sequence[str] = DEFAULT_BY,
    history: pd.DataFrame | None = None,
    season_length: int = 7,
) -> pd.DataFrame:
    """All requested metrics per group, with ``n`` scored and ``n_failed`` rows.

    ``"mase"`` needs ``history`` (the data the backtest ran on). ``n_failed_origins``
    counts failed (series, cutoff, model) triples in the group.
    """
    by = list(by)
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s) {sorted(unknown)}; known: {METRICS}")
    if "mase" in metrics and history is None:
        raise ValueError("mase needs the history the backtest ran on")
    fails = table["error"].notna() if "error" in table else pd.Series(False, index=table.index)
    base = table.assign(_failed=fails.astype(int))
    groups = base.groupby(by, sort=True, dropna=False)
    out = groups["_failed"].sum().rename("n_failed").reset_index()
    failed_origins = (
        base[fails].groupby(by, dropna=False)["cutoff"].nunique().rename("n_failed_origins")
        if fails.any() and "cutoff" in base else None
    )
    n = scored(table).groupby(by, sort=True, dropna=False).size().rename("n").reset_index()
    out = out.merge(n, on=by, how="left").fillna({"n": 0})
    out["n"] = out["n"].astype(int)
    out["n_failed_origins"] = 0
    if failed_origins is not None:
        out = out.drop(columns="n_failed_origins").merge(
            failed_origins.reset_index(), on=by, how="left").fillna({"n_failed_origins": 0})
        out["n_failed_origins"] = out["n_failed_origins"].astype(int)
    funcs = {"mae": mae, "rmse": rmse, "mape": mape, "smape": smape}
    for name in metrics:
        part = (mase(table, history, season_length, by) if name == "mase"
                else funcs[name](table, by))
        out = out.merge(part, on=by, how="left")
    cols = by + ["n", "n_failed", "n_failed_origins"] + list(metrics)
    return out[cols]


def figure(value: float, decimals: int = 0) -> str:
    """A value in the data's units for people: ``decimals`` places with thousands
    separators from 1,000 up (ridership), four significant digits below (temperatures,
    rates: -9.41 must not print as -9); ``nan`` for a missing value.

    >>> figure(20164.4), figure(0.20681), figure(-9.41), figure(1234.56, 1), figure(float("nan"))
    ('20,164', '0.2068', '-9.41', '1,234.6', 'nan')
    """
    if not np.isfinite(value):
        return "nan"
    return f"{value:,.{decimals}f}" if abs(value) >= 1000 else f"{value:.4g}"
