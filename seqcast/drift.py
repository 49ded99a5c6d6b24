"""Drift statistics per series and night: data drift and forecast-error drift.

Every statistic is computed for a *night* ``t`` (the as-of date of a nightly run)
from data with ``ds <= t`` only, so a replay run with ``--as-of t`` sees exactly
the value that one pass over the whole history computes for ``t``.

Kinds (``statistic > threshold`` means "firing"; larger is always worse):

``data_ks``
    Two-sample Kolmogorov–Smirnov distance ``D`` between the recent window and the
    reference window, after standardising each day type (W, A, U) by the
    reference's median and robust spread, so weekly seasonality is not drift.
    The threshold is the critical ``D`` at ``ks_alpha`` for the two sample sizes.
``data_wasserstein``
    Wasserstein-1 distance between the same standardised samples: how far, in
    reference spreads, the recent distribution moved.
``data_spread``
    Robust spread (1.4826 × median absolute value) of the recent window's
    seasonal-naive residuals, in units of their trailing spread per day type: about
    1 when nothing changed, about 2.5 when the noise became 2.5 times larger.
``level_shift``
    Two-sided CUSUM of seasonal-naive residuals ``y[t] - y[t-7]`` (same day type
    only), scaled per day type by a robust trailing spread and clipped.
``error_ratio``
    Rolling mean over ``error_window`` days of ``|y - forecast| / backtest MAE`` of
    the same series, model and horizon; fires only after ``error_consecutive_days``
    nights in a row above the threshold.

By default the reference is the same weeks one year earlier (52 weeks, so weekdays
align), widened by ``reference_margin_days`` on each side: the part of a model's
training window that shows this time of year, which keeps yearly seasonality from
reading as drift. ``reference="trailing"`` uses the ``reference_days`` days right
before the recent window instead (series without a yearly cycle).

>>> import numpy as np, pandas as pd
>>> ds = pd.date_range("2022-01-01", periods=800, freq="D")
>>> y = 100 + np.random.default_rng(0).normal(0, 1, 800)
>>> clean = pd.DataFrame({"series_id": "a", "ds": ds, "y": y, "day_type": "W"})
>>> hist = data_drift_history(clean, nights=ds[-3:])
>>> sorted(hist["kind"].unique())
['data_ks', 'data_spread', 'data_wasserstein', 'level_shift']
>>> bool(hist["firing"].any())
False
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from seqcast.errors import SeqcastError

DATA_KINDS = ("data_ks", "data_wasserstein", "data_spread", "level_shift")
ERROR_KINDS = ("error_ratio",)
KINDS = DATA_KINDS + ERROR_KINDS
HISTORY_COLUMNS = ("series_id", "night", "kind", "statistic", "threshold", "window", "firing")

_MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class DriftConfig:
    """Windows and thresholds of the drift checks (defaults documented in docs/drift.md).

    Parameters
    ----------
    recent_days
        Length of the recent window compared with the reference (days, ending at the night).
    reference
        ``"seasonal"``: the recent window shifted back ``reference_lag_days`` and widened
        by ``reference_margin_days`` on each side. ``"trailing"``: the ``reference_days``
        days right before the recent window.
    ks_alpha
        Significance level behind the KS threshold (critical distance, asymptotic).
    wasserstein_threshold
        Wasserstein-1 distance, in reference robust standard deviations, above which
        ``data_wasserstein`` fires.
    min_recent, min_reference
        Fewest usable (non-imputed) recent / reference values for a data statistic;
        a day type needs at least ``min_stratum_reference`` reference values to be used.
    season_length, cusum_k, cusum_h, cusum_clip, scale_days
        Seasonal-naive lag; CUSUM allowance and decision interval (in residual standard
        deviations); clipping of each standardised residual (robust to holidays and
        outliers); length of the trailing window that estimates the residual spread
        per day type (lagged by ``recent_days`` so a fresh change does not hide itself).
    error_window, error_ratio_threshold, error_consecutive_days
        Rolling window of the error ratio, its threshold, and how many nights in a row
        it must exceed it before ``error_ratio`` fires.
    clear_after_days
        An open alert clears after this many consecutive nights without firing.
    critical_factor
        Severity is ``critical`` when ``statistic >= critical_factor * threshold``.
    """

    recent_days: int = 28
    reference: Literal["seasonal", "trailing"] = "seasonal"
    reference_lag_days: int = 364
    reference_margin_days: int = 28
    reference_days: int = 364
    ks_alpha: float = 1e-5
    wasserstein_threshold: float = 1.15
    spread_threshold: float = 2.25
    min_recent: int = 14
    min_reference: int = 28
    min_stratum_reference: int = 6
    season_length: int = 7
    cusum_k: float = 0.5
    cusum_h: float = 10.0
    cusum_clip: float = 4.0
    scale_days: int = 364
    error_window: int = 14
    error_ratio_threshold: float = 2.0
    error_consecutive_days: int = 3
    clear_after_days: int = 7
    critical_factor: float = 1.5

    def __post_init__(self) -> None:
        if self.reference not in ("seasonal", "trailing"):
            raise SeqcastError(f"drift: reference must be 'seasonal' or 'trailing', got {self.reference!r}")
        for name in ("recent_days", "reference_days", "season_length", "scale_days",
                     "error_window", "error_consecutive_days", "clear_after_days"):
            if int(getattr(self, name)) < 1:
                raise SeqcastError(f"drift: {name} must be a positive integer")
        if not 0 < self.ks_alpha < 1:
            raise SeqcastError("drift: ks_alpha must lie in (0, 1)")

    @classmethod
    def conservative(cls, **changes: object) -> DriftConfig:
        """Stricter thresholds for noisy real series (fewer alerts, later detection; docs/drift.md)."""
        base = dict(ks_alpha=1e-7, wasserstein_threshold=2.0, spread_threshold=3.0, cusum_h=20.0)
        return cls(**{**base, **changes})

    def replace(self, **changes: object) -> DriftConfig:
        return dataclasses.replace(self, **changes)

    @property
    def lookback_days(self) -> int:
        """Data older than this many days before the first night can matter to a statistic."""
        if self.reference == "seasonal":
            data = self.reference_lag_days + self.recent_days + self.reference_margin_days
        else:
            data = self.recent_days + self.reference_days
        return max(data, self.scale_days + self.recent_days + self.season_length)


# ---------------------------------------------------------------------------------------
# Per-series arrays
# ---------------------------------------------------------------------------------------
@dataclass
class _Series:
    ds: pd.DatetimeIndex  # daily, contiguous
    y: np.ndarray  # (n,) float, NaN where missing or imputed
    stratum: np.ndarray  # (n,) int day-type code, -1 where unknown


def _series_arrays(clean: pd.DataFrame) -> dict[object, _Series]:
    missing = [c for c in ("series_id", "ds", "y") if c not in clean.columns]
    if missing:
        raise SeqcastError(f"drift: clean data lacks column(s) {missing}")
    df = clean.copy()
    df["ds"] = pd.to_datetime(df["ds"]).dt.normalize()
    if "day_type" not in df:
        df["day_type"] = np.where(df["ds"].dt.day_of_week < 5, "W", np.where(df["ds"].dt.day_of_week == 5, "A", "U"))
    codes = {"W": 0, "A": 1, "U": 2}
    out: dict[object, _Series] = {}
    for sid, part in df.sort_values(["series_id", "ds"]).groupby("series_id", sort=True):
        part = part.drop_duplicates("ds", keep="last").set_index("ds")
        idx = pd.date_range(part.index.min(), part.index.max(), freq="D")
        part = part.reindex(idx)
        y = part["y"].to_numpy(dtype=float).copy()
        if "is_imputed" in part:
            y[part["is_imputed"].fillna(False).to_numpy(dtype=bool)] = np.nan
        stratum = part["day_type"].map(codes).fillna(-1).to_numpy(dtype=int)
        out[sid] = _Series(idx, y, stratum)
    return out


def _night_positions(s: _Series, nights: pd.DatetimeIndex | None) -> np.ndarray:
    if nights is None:
        return np.arange(len(s.ds))
    pos = s.ds.get_indexer(pd.DatetimeIndex(nights).normalize())
    return pos[pos >= 0]


# ---------------------------------------------------------------------------------------
# Data drift: KS and Wasserstein on day-type standardised values
# ---------------------------------------------------------------------------------------
def _reference_slice(i: int, cfg: DriftConfig) -> tuple[int, int]:
    """Half-open positions ``[a, b)`` of the reference window for night position ``i``."""
    if cfg.reference == "seasonal":
        b = i - cfg.reference_lag_days + cfg.reference_margin_days + 1
        a = i - cfg.reference_lag_days - cfg.recent_days + 1 - cfg.reference_margin_days
    else:
        b = i - cfg.recent_days + 1
        a = b - cfg.reference_days
    return a, b


def _standardised(
    recent: np.ndarray, rs: np.ndarray, ref: np.ndarray, fs: np.ndarray, cfg: DriftConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Standardise each day type by the reference's median and robust spread; pool them."""
    zr, zf = [], []
    for code in np.unique(rs):
        f = ref[fs == code]
        if len(f) < cfg.min_stratum_reference:
            continue
        med = np.median(f)
        scale = _MAD_TO_SD * np.median(np.abs(f - med))
        if not scale > 0:
            scale = max(float(np.std(f)), 1e-9 * max(abs(med), 1.0))
        zr.append((recent[rs == code] - med) / scale)
        zf.append((f - med) / scale)
    if not zr:
        return np.empty(0), np.empty(0)
    return np.concatenate(zr), np.concatenate(zf)


def ks_critical_distance(n: int, m: int, alpha: float) -> float:
    """Asymptotic critical KS distance for samples of sizes ``n`` and ``m`` at level ``alpha``.

    >>> round(ks_critical_distance(28, 84, 1e-4), 3)
    0.486
    """
    c = np.sqrt(-0.5 * np.log(alpha / 2.0))
    return float(c * np.sqrt((n + m) / (n * m)))


def _distribution_stats(
    s: _Series, positions: np.ndarray, cfg: DriftConfig, e: np.ndarray, scale: np.ndarray
) -> list[tuple]:
    from scipy import stats

    with np.errstate(invalid="ignore", divide="ignore"):
        ze = np.abs(e) / scale
    rows = []
    for i in positions:
        a, b = _reference_slice(int(i), cfg)
        lo = i - cfg.recent_days + 1
        if a < 0 or lo < 0:
            continue
        recent, rs = s.y[lo : i + 1], s.stratum[lo : i + 1]
        ref, fs = s.y[a:b], s.stratum[a:b]
        ok_r, ok_f = np.isfinite(recent) & (rs >= 0), np.isfinite(ref) & (fs >= 0)
        zr, zf = _standardised(recent[ok_r], rs[ok_r], ref[ok_f], fs[ok_f], cfg)
        if len(zr) < cfg.min_recent or len(zf) < cfg.min_reference:
            continue
        window = f"{s.ds[lo].date()}/{s.ds[i].date()}"
        d = float(stats.ks_2samp(zr, zf, method="asymp").statistic)
        w = float(stats.wasserstein_distance(zr, zf))
        night = s.ds[i]
        rows.append((night, "data_ks", d, ks_critical_distance(len(zr), len(zf), cfg.ks_alpha), window))
        rows.append((night, "data_wasserstein", w, float(cfg.wasserstein_threshold), window))
        zr = ze[lo : i + 1]
        zr = zr[np.isfinite(zr)]
        if len(zr) >= cfg.min_recent // 2:
            spread = _MAD_TO_SD * float(np.median(zr))
            rows.append((night, "data_spread", spread, float(cfg.spread_threshold), window))
    return rows


# ---------------------------------------------------------------------------------------
# Level shift: CUSUM of seasonal-naive residuals
# ---------------------------------------------------------------------------------------
def seasonal_naive_residuals(s_y: np.ndarray, stratum: np.ndarray, season_length: int = 7) -> np.ndarray:
    """``y[t] - y[t-m]`` where both days exist and share a day type, else NaN; shape ``(n,)``.

    >>> seasonal_naive_residuals(np.arange(10.0), np.zeros(10, int), 7).tolist()[6:]
    [nan, 7.0, 7.0, 7.0]
    """
    e = np.full(len(s_y), np.nan)
    m = int(season_length)
    if len(s_y) > m:
        same = stratum[m:] == stratum[:-m]
        e[m:] = np.where(same, s_y[m:] - s_y[:-m], np.nan)
    return e


def _residual_scale(e: np.ndarray, stratum: np.ndarray, cfg: DriftConfig) -> np.ndarray:
    """Robust spread of the residuals per day type over a trailing, lagged window; ``(n,)``."""
    scale = np.full(len(e), np.nan)
    absd = pd.Series(np.abs(e))
    for code in np.unique(stratum[stratum >= 0]):
        mask = stratum == code
        part = absd.where(mask)
        med = part.rolling(cfg.scale_days, min_periods=max(8, cfg.scale_days // 20)).median()
        med = med.shift(cfg.recent_days).to_numpy()
        scale[mask] = _MAD_TO_SD * med[mask]
    return scale


def cusum_statistic(s: _Series, cfg: DriftConfig, e: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Two-sided CUSUM ``max(S+, S-)`` of clipped, standardised seasonal-naive residuals; ``(n,)``.

    ``S+[t] = max(0, S+[t-1] + z[t] - k)`` and ``S-[t] = max(0, S-[t-1] - z[t] - k)``;
    a day without a usable residual leaves both sums unchanged.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.clip(e / scale, -cfg.cusum_clip, cfg.cusum_clip)
    usable = np.isfinite(z) & (scale > 0)
    out = np.full(len(z), np.nan)
    hi = lo = 0.0
    started = False
    k = cfg.cusum_k
    for t in range(len(z)):
        if usable[t]:
            started = True
            hi = max(0.0, hi + z[t] - k)
            lo = max(0.0, lo - z[t] - k)
        if started:
            out[t] = max(hi, lo)
    return out


def data_drift_history(
    clean: pd.DataFrame,
    config: DriftConfig | None = None,
    nights: pd.DatetimeIndex | list | None = None,
) -> pd.DataFrame:
    """Data-drift statistics per series and night.

    Parameters
    ----------
    clean
        Long frame ``series_id, ds, y`` (+ ``day_type``, ``is_imputed``); imputed values
        are not used. Values after a night never reach that night's statistics.
    nights
        Nights to report (default: every day of each series where a statistic exists).

    Returns
    -------
    Long frame ``series_id, night, kind, statistic, threshold, window, firing``.
    """
    cfg = config or DriftConfig()
    frames = []
    for sid, s in _series_arrays(clean).items():
        positions = _night_positions(s, None if nights is None else pd.DatetimeIndex(nights))
        e = seasonal_naive_residuals(s.y, s.stratum, cfg.season_length)
        scale = _residual_scale(e, s.stratum, cfg)
        rows = _distribution_stats(s, positions, cfg, e, scale)
        cus = cusum_statistic(s, cfg, e, scale)
        for i in positions:
            if np.isfinite(cus[i]):
                lo = max(0, i - cfg.recent_days + 1)
                rows.append((s.ds[i], "level_shift", float(cus[i]), float(cfg.cusum_h),
                             f"{s.ds[lo].date()}/{s.ds[i].date()}"))
        if rows:
            frame = pd.DataFrame(rows, columns=["night", "kind", "statistic", "threshold", "window"])
            frame.insert(0, "series_id", sid)
            frames.append(frame)
    return _finish(frames)


def _finish(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})
        out["night"] = pd.Series(dtype="datetime64[ns]")
        out["firing"] = pd.Series(dtype=bool)
        return out
    out = pd.concat(frames, ignore_index=True)
    if "firing" not in out:
        out["firing"] = out["statistic"] > out["threshold"]
    out["night"] = pd.to_datetime(out["night"])
    return out.sort_values(["series_id", "kind", "night"], kind="stable").reset_index(drop=True)[
        list(HISTORY_COLUMNS)
    ]


# ---------------------------------------------------------------------------------------
# Forecast-error drift
# ---------------------------------------------------------------------------------------
def backtest_mae(backtest: pd.DataFrame, min_count: int = 7) -> pd.DataFrame:
    """Backtest MAE per ``series_id, model, h`` as known on each day.

    From a long ``series_id, cutoff, ds, h, model, y, mean`` table: the mean absolute
    error of the rows with ``ds`` up to each day (an expanding mean, so a night never
    uses a backtest error scored after it). Returns ``series_id, model, h, ds,
    backtest_mae`` with one row per day that changed it, from the day ``min_count``
    rows exist; without a ``ds`` column, one MAE per key (``ds`` = NaT).
    """
    need = ["series_id", "h", "model", "y", "mean"]
    missing = [c for c in need if c not in backtest.columns]
    if missing:
        raise SeqcastError(f"drift: backtest table lacks column(s) {missing}")
    cols = ["series_id", "model", "h"] + (["ds"] if "ds" in backtest else [])
    bt = backtest[cols].copy()
    bt["h"] = bt["h"].astype(int)
    bt["err"] = (backtest["y"].astype(float) - backtest["mean"].astype(float)).abs()
    bt = bt[bt["err"].notna()]
    key = ["series_id", "model", "h"]
    if "ds" not in bt:
        g = bt.groupby(key)["err"].agg(["sum", "count"]).reset_index()
        g = g[g["count"] >= min_count]
        return g.assign(ds=pd.NaT, backtest_mae=g["sum"] / g["count"])[[*key, "ds", "backtest_mae"]]
    bt["ds"] = pd.to_datetime(bt["ds"]).dt.normalize()
    daily = bt.groupby([*key, "ds"], sort=True)["err"].agg(["sum", "count"]).reset_index()
    cum = daily.groupby(key, sort=False)[["sum", "count"]].cumsum()
    daily["backtest_mae"] = cum["sum"] / cum["count"]
    daily = daily[cum["count"] >= min_count]
    return daily[[*key, "ds", "backtest_mae"]].reset_index(drop=True)


def scored_forecasts(
    forecasts: pd.DataFrame, actuals: pd.DataFrame, backtest: pd.DataFrame
) -> pd.DataFrame:
    """Published forecasts joined with actuals (on ``series_id, ds``) and the backtest MAE.

    Each forecast is compared with the backtest MAE of its series, model and horizon
    as known on its target day (:func:`backtest_mae`). Returns ``series_id, ds, cutoff,
    h, model, mean, y, abs_error, backtest_mae, ratio``; rows without an actual yet or
    without a backtest MAE for their model and horizon are dropped.
    """
    f = forecasts[["series_id", "ds", "cutoff", "h", "model", "mean"]].copy()
    f["ds"] = pd.to_datetime(f["ds"]).dt.normalize().astype("datetime64[ns]")
    f["cutoff"] = pd.to_datetime(f["cutoff"]).dt.normalize()
    f["h"] = f["h"].astype(int)
    f = f[f["cutoff"] < f["ds"]]
    a = actuals[["series_id", "ds", "y"]].copy()
    a["ds"] = pd.to_datetime(a["ds"]).dt.normalize().astype("datetime64[ns]")
    if "is_imputed" in actuals:
        a = a[~actuals["is_imputed"].fillna(False).astype(bool).to_numpy()]
    out = f.merge(a, on=["series_id", "ds"], how="inner")
    base = backtest_mae(backtest)
    key = ["series_id", "model", "h"]
    if base["ds"].isna().all():
        out = out.merge(base.drop(columns="ds"), on=key, how="inner")
    else:
        base["ds"] = base["ds"].astype("datetime64[ns]")
        out = pd.merge_asof(out.sort_values("ds", kind="stable"), base.sort_values("ds", kind="stable"),
                            on="ds", by=key, direction="backward")
        out = out[out["backtest_mae"].notna()]
    out = out[out["backtest_mae"] > 0]
    out["abs_error"] = (out["y"].astype(float) - out["mean"].astype(float)).abs()
    out["ratio"] = out["abs_error"] / out["backtest_mae"]
    return out.sort_values(["series_id", "ds", "cutoff"], kind="stable").reset_index(drop=True)


def error_drift_history(
    forecasts: pd.DataFrame,
    actuals: pd.DataFrame,
    backtest: pd.DataFrame,
    config: DriftConfig | None = None,
    nights: pd.DatetimeIndex | list | None = None,
) -> pd.DataFrame:
    """Forecast-error drift per series and night (kind ``error_ratio``).

    The statistic at night ``t`` is the mean, over the days ``(t - error_window, t]``,
    of each day's mean ``|y - forecast| / backtest MAE`` (same series, model and
    horizon); it needs at least half the window scored. ``firing`` is true only when
    the statistic exceeded the threshold on ``error_consecutive_days`` nights in a row.
    """
    cfg = config or DriftConfig()
    scored = scored_forecasts(forecasts, actuals, backtest)
    frames = []
    for sid, part in scored.groupby("series_id", sort=True):
        daily = part.groupby("ds")["ratio"].median()
        idx = pd.date_range(daily.index.min(), daily.index.max(), freq="D")
        daily = daily.reindex(idx)
        stat = daily.rolling(cfg.error_window, min_periods=max(1, cfg.error_window // 2)).median()
        above = (stat > cfg.error_ratio_threshold).astype(float).where(stat.notna())
        firing = above.rolling(cfg.error_consecutive_days, min_periods=cfg.error_consecutive_days).min() == 1
        frame = pd.DataFrame({"night": idx, "statistic": stat.to_numpy(), "firing": firing.to_numpy()})
        frame = frame[frame["statistic"].notna()]
        if nights is not None:
            frame = frame[frame["night"].isin(pd.DatetimeIndex(nights).normalize())]
        start = frame["night"] - pd.Timedelta(days=cfg.error_window - 1)
        frame = frame.assign(
            series_id=sid,
            kind="error_ratio",
            threshold=float(cfg.error_ratio_threshold),
            window=[f"{a.date()}/{b.date()}" for a, b in zip(start, frame["night"], strict=True)],
        )
        frames.append(frame)
    return _finish(frames)


def drift_history(
    clean: pd.DataFrame,
    forecasts: pd.DataFrame | None = None,
    backtest: pd.DataFrame | None = None,
    config: DriftConfig | None = None,
    nights: pd.DatetimeIndex | list | None = None,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """All drift statistics per series and night; ``as_of`` drops every input after that day.

    Forecast-error drift is included when both ``forecasts`` and ``backtest`` are given.
    """
    cfg = config or DriftConfig()
    if as_of is not None:
        as_of = pd.Timestamp(as_of).normalize()
        clean = clean[pd.to_datetime(clean["ds"]) <= as_of]
        if forecasts is not None:
            forecasts = forecasts[pd.to_datetime(forecasts["cutoff"]) < as_of]
    parts = [data_drift_history(clean, cfg, nights)]
    if forecasts is not None and backtest is not None and len(forecasts) and len(backtest):
        parts.append(error_drift_history(forecasts, clean, backtest, cfg, nights))
    parts = [p for p in parts if len(p)]
    if not parts:
        return _finish([])
    return _finish(parts)


def plot_drift_history(history: pd.DataFrame, path: str | Path, title: str = "Drift statistics") -> Path:
    """Save a PNG: one panel per kind, each series' statistic over the nights and its threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in KINDS if k in set(history["kind"])] or ["(no statistics)"]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(10, 2.3 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        part = history[history["kind"] == kind]
        for sid, g in part.groupby("series_id", sort=True):
            line = ax.plot(g["night"], g["statistic"], lw=1, label=str(sid))[0]
            ax.plot(g["night"], g["threshold"], ls="--", lw=1, color=line.get_color(), alpha=0.7)
            fired = g[g["firing"].astype(bool)]
            ax.scatter(fired["night"], fired["statistic"], s=8, color="red", zorder=3)
        ax.set_ylabel(kind, fontsize=8)
        if len(part):
            ax.legend(fontsize=7, loc="upper left")
    axes[0, 0].set_title(f"{title} (dashed: threshold; red: firing)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def synthetic_series(
    seed: int = 0,
    start: str = "2021-01-01",
    days: int = 1096,
    *,
    series_id: str = "rail",
    level: float = 1000.0,
    yearly: float = 0.08,
    noise: float = 0.04,
    change: Literal["level", "variance", "seasonality"] | None = None,
    change_at: str | None = None,
    size: float | None = None,
) -> pd.DataFrame:
    """A seeded ridership-like clean frame (``series_id, ds, y, day_type, is_imputed``).

    Multiplicative weekly (Saturday 0.6, Sunday/holiday 0.45 of a weekday), yearly
    (``yearly`` amplitude) and noise (``noise`` relative sd) components; Jan 1, Jul 4 and
    Dec 25 are holidays (day type U). From ``change_at`` on, an optional known change:
    ``level`` multiplies the series by ``1 - size`` (default 0.15), ``variance`` multiplies
    the noise sd by ``size`` (default 2.5), ``seasonality`` multiplies weekend and holiday
    days by ``1 - size`` (default 0.3).

    >>> synthetic_series(days=3)[["ds", "day_type"]].astype(str).values.tolist()
    [['2021-01-01', 'U'], ['2021-01-02', 'A'], ['2021-01-03', 'U']]
    """
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=days, freq="D")
    dow = ds.day_of_week.to_numpy()
    holiday = (((ds.month == 1) & (ds.day == 1)) | ((ds.month == 7) & (ds.day == 4))
               | ((ds.month == 12) & (ds.day == 25)))
    day_type = np.where(holiday | (dow == 6), "U", np.where(dow == 5, "A", "W"))
    weekly = np.select([day_type == "W", day_type == "A"], [1.0, 0.6], 0.45)
    season = 1 + yearly * np.cos(2 * np.pi * (ds.day_of_year.to_numpy() - 200) / 365.25)
    eps = rng.normal(0.0, noise, days)
    after = np.zeros(days, bool) if change_at is None else ds >= pd.Timestamp(change_at)
    if change == "variance":
        eps = np.where(after, eps * (2.5 if size is None else size), eps)
    y = level * weekly * season * (1 + eps)
    if change == "level":
        y = np.where(after, y * (1 - (0.15 if size is None else size)), y)
    elif change == "seasonality":
        y = np.where(after & (day_type != "W"), y * (1 - (0.3 if size is None else size)), y)
    return pd.DataFrame({"series_id": series_id, "ds": ds, "y": y, "day_type": day_type,
                         "is_imputed": False})


def synthetic_forecasts(
    clean: pd.DataFrame,
    first_cutoff: str,
    last_cutoff: str | None = None,
    h: int = 14,
    season_length: int = 7,
    bias_from: str | None = None,
    bias: float = 0.0,
) -> pd.DataFrame:
    """Seasonal-naive forecasts ``series_id, ds, cutoff, h, model, mean`` published every night.

    Vectorised over cutoffs (one series); forecasts with ``cutoff >= bias_from`` are
    multiplied by ``1 + bias`` to simulate a model gone wrong.
    """
    y = clean["y"].to_numpy(dtype=float)
    ds = pd.DatetimeIndex(clean["ds"])
    first = ds.get_loc(pd.Timestamp(first_cutoff))
    last = len(ds) - 1 if last_cutoff is None else ds.get_loc(pd.Timestamp(last_cutoff))
    cut = np.arange(max(first, season_length - 1), last + 1)
    steps = np.arange(1, h + 1)
    src = cut[:, None] + steps[None, :] - season_length * np.ceil(steps / season_length).astype(int)
    out = pd.DataFrame({
        "series_id": clean["series_id"].iloc[0],
        "cutoff": np.repeat(ds[cut], h),
        "h": np.tile(steps, len(cut)),
        "model": "seasonal_naive",
        "mean": y[src].ravel(),
    })
    out["ds"] = out["cutoff"] + pd.to_timedelta(out["h"], unit="D")
    if bias_from is not None:
        out.loc[out["cutoff"] >= pd.Timestamp(bias_from), "mean"] *= 1 + bias
    return out[["series_id", "ds", "cutoff", "h", "model", "mean"]]
