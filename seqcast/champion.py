"""Choosing what to publish: per series, the model with the best recent backtest MAE.

Rules, in order:

1. only rows the backtest could score *and* whose target day is known at the cutoff
   being published (no look-ahead);
2. a model with a failed origin in the recent window, or that failed to fit tonight,
   is not eligible;
3. a model must beat the baseline (``baseline``, default seasonal naive) on MAE over the same rows; if none
   does, the baseline is published;
4. if the baseline itself cannot forecast tonight, the best eligible model is published
   and the reason says so.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from seqcast import __version__

BASELINE = "seasonal_naive"


def recent_scores(table: pd.DataFrame, cutoff: pd.Timestamp, window_days: int = 28) -> pd.DataFrame:
    """MAE per ``series_id, model`` over origins in the last ``window_days`` before ``cutoff``.

    Returns ``series_id, model, mae, n, failed`` (``failed``: origins with an error).
    """
    if table is None or table.empty:
        return pd.DataFrame(columns=["series_id", "model", "mae", "n", "failed"])
    recent = table[(table["cutoff"] > cutoff - pd.Timedelta(days=window_days)) & (table["cutoff"] <= cutoff)]
    failed = recent[recent["error"].notna()] if "error" in recent else recent.iloc[:0]
    ok = recent[
        recent["error"].isna() & (recent["ds"] <= cutoff) & np.isfinite(recent["y"]) & np.isfinite(recent["mean"])
    ]
    scores = (
        ok.assign(abs_err=(ok["y"] - ok["mean"]).abs())
        .groupby(["series_id", "model"], as_index=False)
        .agg(mae=("abs_err", "mean"), n=("abs_err", "size"))
    )
    fails = failed.groupby(["series_id", "model"]).size().rename("failed").reset_index()
    out = scores.merge(fails, on=["series_id", "model"], how="outer")
    out["failed"] = out["failed"].fillna(0).astype(int)
    out["n"] = out["n"].fillna(0).astype(int)
    return out


def horizon_scores(table: pd.DataFrame, cutoff: pd.Timestamp, window_days: int = 28) -> pd.DataFrame:
    """MAE per ``series_id, model, h`` over the same rows as :func:`recent_scores`.

    Returns ``series_id, model, h, mae, n``: what the choice's overall MAE is made of.
    """
    cols = ["series_id", "model", "h", "mae", "n"]
    if table is None or table.empty:
        return pd.DataFrame(columns=cols)
    recent = table[(table["cutoff"] > cutoff - pd.Timedelta(days=window_days)) & (table["cutoff"] <= cutoff)]
    ok = recent[recent["error"].isna() & (recent["ds"] <= cutoff) & np.isfinite(recent["y"])
                & np.isfinite(recent["mean"])]
    out = (ok.assign(abs_err=(ok["y"] - ok["mean"]).abs())
           .groupby(["series_id", "model", "h"], as_index=False)
           .agg(mae=("abs_err", "mean"), n=("abs_err", "size")))
    return out[cols]


def choose(
    scores: pd.DataFrame,
    available: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    complexity: dict[str, int] | None = None,
    candidates=None,
) -> pd.DataFrame:
    """Pick one model per series.

    Parameters
    ----------
    scores : from :func:`recent_scores`.
    available : ``series_id, model`` pairs that produced a forecast tonight.
    complexity : model label -> :attr:`Forecaster.complexity`; equal MAEs go to the
        simpler model (unknown labels count as complex).
    candidates : the night's model labels; a baseline among them that has neither a
        forecast nor backtest rows for a series (too short for any origin) failed tonight,
        it was not left out of the candidates.

    Returns ``series_id, model, reason, mae, baseline_mae``.
    """
    rows = []

    def left_out(s: pd.DataFrame, chosen) -> str:
        """Candidates not compared for failed recent origins (a series younger than their
        history needs, a model that does not converge on it): said, never "no model beat"."""
        out = [f"{m} not compared: {int(r['failed'])} recent forecast(s) failed"
               + (f" (MAE {format_mae(r['mae'])} where it could forecast)" if r["n"] > 0 else "")
               for m, r in s[(s["failed"] > 0)].iterrows() if m != chosen and m != baseline]
        return "".join(f"; {o}" for o in out)

    for sid, can in available.groupby("series_id"):
        models = set(can["model"])
        s = scores[scores["series_id"] == sid].set_index("model")
        base = float(s.loc[baseline, "mae"]) if baseline in s.index and s.loc[baseline, "n"] > 0 else np.nan
        eligible = s[(s["n"] > 0) & (s["failed"] == 0) & s.index.isin(list(models))]
        rank = [(complexity or {}).get(m, 10) for m in eligible.index]
        eligible = eligible.assign(_rank=rank).sort_values(["mae", "_rank"], kind="stable")
        best = eligible.index[0] if len(eligible) else None
        if best is not None and best != baseline and baseline in models and not np.isnan(base):
            if eligible.loc[best, "mae"] < base:
                reason = (f"best recent backtest MAE {format_mae(eligible.loc[best, 'mae'])} over "
                          f"{int(eligible.loc[best, 'n'])} forecasts; {baseline} {format_mae(base)}"
                          + left_out(s, best))
                rows.append((sid, best, reason, float(eligible.loc[best, "mae"]), base))
                continue
        if baseline in models:
            if best is None and not np.isnan(base):  # scored, but with failed origins (a young series)
                reason = (f"no model has a recent backtest without failed origins: {baseline} published "
                          f"(MAE {format_mae(base)} where it could forecast)")
            elif best is None or np.isnan(base):
                reason = "no recent backtest scores yet: baseline published"
            elif best == baseline:
                reason = f"{baseline} has the best recent backtest MAE ({format_mae(base)})"
            else:
                reason = f"no model beat {baseline} (MAE {format_mae(base)}) on the recent backtest"
            if best is not None and not np.isnan(base):
                reason += left_out(s, baseline)
            rows.append((sid, baseline, reason, base, base))
        elif best is not None:
            reason = (f"{_why_no_baseline(baseline, s.index, candidates)}; best recent backtest MAE "
                      f"{format_mae(eligible.loc[best, 'mae'])} among the rest")
            rows.append((sid, best, reason, float(eligible.loc[best, "mae"]), base))
        elif models:
            pick = sorted(models)[0]
            reason = f"{_why_no_baseline(baseline, s.index, candidates)} and no model has backtest scores"
            rows.append((sid, pick, reason, np.nan, base))
    return pd.DataFrame(rows, columns=["series_id", "model", "reason", "mae", "baseline_mae"])


def _why_no_baseline(baseline: str, scored, candidates=None) -> str:
    """A configured baseline has backtest rows (its failures too) or is among ``candidates``;
    one never configured is neither: "baseline failed tonight" was said of a `--models
    naive,sarima` night, and "not among the candidates" of a one-day series the configured
    baseline could not forecast (no backtest origin either)."""
    configured = baseline in scored or (candidates is not None and baseline in set(candidates))
    return "baseline failed tonight" if configured else f"{baseline} is not among the candidates"


def format_mae(value: float) -> str:
    """An error as people read it: three significant digits, large values in full with
    thousands separators (never ``2.39e+04``), so 1.57 and 2.58 do not both read as 2 or 3.

    >>> [format_mae(v) for v in (1.5749, 2.58, 0.012345, 512.6, 23942.4, float("nan"), 1.185e200)]
    ['1.57', '2.58', '0.0123', '513', '23,942', 'n/a', '1.19e+200']
    """
    value = float(value)
    if not np.isfinite(value):
        return "n/a"
    if abs(value) >= 1e15:  # a mis-scaled series: not 201 digits in the reason column
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def no_forecast(series, forecasts: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    """The ``series`` without any forecast tonight (every model failed on them), with why.

    ``failures``: ``series_id, model, error`` and optionally ``members`` as
    :func:`seqcast.pipeline.forecast` records them: a model that learns across series fails
    on the panel (``series_id`` ``"a+b"``, ``members`` ``("a", "b")``) and counts for each
    member; without ``members`` a failure counts for its ``series_id`` only (an id may
    itself hold a ``+``: ``"a+b"`` is then not ``a`` and ``b``).
    Returns ``series_id, reason``, one row per such series, sorted.

    >>> fails = pd.DataFrame({"series_id": ["new", "new"], "model": ["seasonal_naive", "sarima"],
    ...                       "error": ["ModelError: too short", "ModelError: too short"]})
    >>> no_forecast(["new", "old"], pd.DataFrame({"series_id": ["old"]}), fails)["reason"].iloc[0]
    'not published: every model failed (seasonal_naive: ModelError: too short; sarima: ModelError: too short)'
    """
    have = set(forecasts["series_id"].astype(str)) if len(forecasts) else set()
    rows = []
    for sid in sorted({str(s) for s in series} - have):
        members = failures["members"] if "members" in failures else failures["series_id"].map(lambda f: (f,))
        mine = failures[[sid in {str(m) for m in ms} for ms in members]]
        why = "; ".join(r.error if r.model in r.error else f"{r.model}: {r.error}" for r in mine.itertuples())
        why = why or "no model ran"
        rows.append((sid, f"not published: every model failed ({why})"))
    return pd.DataFrame(rows, columns=["series_id", "reason"])


def model_version(alias: str, params: dict) -> str:
    """A stable id for a configured model: alias, a hash of its hyperparameters, seqcast version."""
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{alias}-{digest}-seqcast{__version__}"
