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
    season_length
        Lag of the weekly changes ``v[t] - v[t-7]`` behind ``data_spread`` and the noise
        unit of ``level_shift``.
    detrend_days
        The seasonal reference follows the level: per day type it is moved by the change
        of the median over the ``detrend_days`` before the recent window against the same
        days a year earlier (0: no move, the plain year-ago reference).
    holidays, holiday_window
        Holidays and the ``holiday_window`` days either side leave both windows. Always:
        the source's holidays (day type U on a non-Sunday), known from their own day on.
        With a calendar (``"US-IL"``): its holidays, known in advance; those the source
        runs as weekdays leave only their own day.
    level_days, level_threshold
        ``level_shift`` is the median of the last ``level_days`` usable recent values
        minus their reference median, in day-to-day noise units.
    clip
        Standardised values are clipped to ``±clip`` before the Wasserstein distance, so
        one extreme day (a storm, a parade) moves it by at most ``clip / recent_days``.
    persist_nights
        A data statistic fires only after exceeding its threshold this many nights in a row.
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
    ks_alpha: float = 1e-12
    wasserstein_threshold: float = 3.0
    spread_threshold: float = 3.6
    min_recent: int = 14
    min_reference: int = 28
    min_stratum_reference: int = 6
    season_length: int = 7
    detrend_days: int = 56
    holidays: str | None = None
    holiday_window: int = 3
    level_days: int = 5
    level_threshold: float = 4.8
    clip: float = 4.0
    persist_nights: int = 2
    error_window: int = 14
    error_ratio_threshold: float = 2.0
    error_consecutive_days: int = 3
    clear_after_days: int = 7
    critical_factor: float = 1.5

    def __post_init__(self) -> None:
        if self.reference not in ("seasonal", "trailing"):
            raise SeqcastError(f"drift: reference must be 'seasonal' or 'trailing', got {self.reference!r}")
        for name in ("recent_days", "reference_days", "season_length", "level_days",
                     "error_window", "error_consecutive_days", "clear_after_days", "persist_nights"):
            if int(getattr(self, name)) < 1:
                raise SeqcastError(f"drift: {name} must be a positive integer")
        for name in ("detrend_days", "holiday_window"):
            if int(getattr(self, name)) < 0:
                raise SeqcastError(f"drift: {name} must be 0 or more")
        if not 0 < self.ks_alpha < 1:
            raise SeqcastError("drift: ks_alpha must lie in (0, 1)")

    @classmethod
    def conservative(cls, **changes: object) -> DriftConfig:
        """Stricter thresholds for noisy real series (fewer alerts, later detection; docs/drift.md)."""
        base = dict(ks_alpha=1e-15, wasserstein_threshold=3.5, spread_threshold=4.5,
                    level_threshold=6.0, persist_nights=3)
        return cls(**{**base, **changes})

    def replace(self, **changes: object) -> DriftConfig:
        return dataclasses.replace(self, **changes)

    @property
    def first_check_days(self) -> int:
        """Days of history a series needs before any data statistic exists: the recent
        window and, without the year-ago weeks, twice its length before it (84 by default)."""
        if self.reference == "seasonal":
            return 3 * self.recent_days
        return self.recent_days + self.reference_days

    @property
    def lookback_days(self) -> int:
        """Data older than this many days before the first night can matter to a statistic."""
        if self.reference == "seasonal":
            data = self.reference_lag_days + self.recent_days + max(self.reference_margin_days, self.detrend_days)
        else:
            data = self.recent_days + self.reference_days
        return data + self.persist_nights - 1


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
# Calendar: holidays and their neighbours, as known on each night
# ---------------------------------------------------------------------------------------
def _holiday_masks(s: _Series, cfg: DriftConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(usable, next_gap)``: days usable on any night at or after them, and for each day
    the days until the next source holiday (large when none).

    A source holiday is a non-Sunday day of type U; it is known from its own day on, so a
    day ``w`` days before it leaves the compared windows only on nights that have seen
    it. Holidays of ``cfg.holidays`` (a calendar, known in advance) exclude their
    neighbours on every night.
    """
    n, w = len(s.ds), int(cfg.holiday_window)
    hol = (s.stratum == 2) & (s.ds.day_of_week.to_numpy() != 6)
    pos = np.flatnonzero(hol)
    idx = np.arange(n)
    prev = np.searchsorted(pos, idx, side="right") - 1
    after = (prev >= 0) & (idx - pos[np.clip(prev, 0, None)] <= w) if len(pos) else np.zeros(n, bool)
    nxt = np.searchsorted(pos, idx, side="left")
    gap = np.where(nxt < len(pos), pos[np.clip(nxt, 0, max(len(pos) - 1, 0))] - idx, n + w + 1) if len(pos) \
        else np.full(n, n + w + 1)
    usable = np.isfinite(s.y) & (s.stratum >= 0) & ~after
    if cfg.holidays:
        from seqcast.calendar import _holiday_names, _near, _weekday_holidays, parse_holidays

        country, subdiv = parse_holidays(cfg.holidays)
        pad = pd.Timedelta(days=w)
        names = _holiday_names(country, subdiv, s.ds.min() - pad, s.ds.max() + pad)
        # holidays the source runs as weekdays (Columbus Day on CTA) leave only their own day
        letters = np.array(["W", "A", "U", None], dtype=object)[np.where(s.stratum >= 0, s.stratum, 3)]
        weekday_like = set(_weekday_holidays(s.ds, letters, pd.Series(s.ds).map(names).to_numpy(dtype=object)))
        major = sorted(d for d, n in names.items() if n not in weekday_like)
        usable &= ~_near(s.ds, major, w) & ~s.ds.isin(list(names))
    return usable, gap


def _usable_on(usable: np.ndarray, gap: np.ndarray, a: int, b: int, i: int, w: int) -> np.ndarray:
    """Usable days among positions ``[a, b)`` as known on the night at position ``i``."""
    ok = usable[a:b] & ~(gap[a:b] <= w)
    tail = max(a, i - w + 1)
    if tail < b:  # the last w days: only holidays seen by night i exclude them
        j = np.arange(tail, b)
        ok[tail - a:] = usable[tail:b] & ~((gap[tail:b] <= w) & (j + gap[tail:b] <= i))
    return ok


# ---------------------------------------------------------------------------------------
# Data drift: recent window against a level-following reference, per day type
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


def _level_offsets(v: np.ndarray, st: np.ndarray, ok: np.ndarray, i: int, cfg: DriftConfig) -> dict:
    """Per day type, how far the level moved in a year: the median of the ``detrend_days``
    before the recent window minus the median of the same days a year earlier (log scale)."""
    if cfg.reference != "seasonal" or cfg.detrend_days == 0:
        return {}
    b = i - cfg.recent_days + 1
    a = b - cfg.detrend_days
    a0, b0 = a - cfg.reference_lag_days, b - cfg.reference_lag_days
    if a0 < 0:
        return {}
    out = {}
    for code in (0, 1, 2):
        now = v[a:b][ok[a:b] & (st[a:b] == code)]
        then = v[a0:b0][ok[a0:b0] & (st[a0:b0] == code)]
        if len(now) >= cfg.min_stratum_reference and len(then) >= cfg.min_stratum_reference:
            out[code] = _median(now) - _median(then)
    if out:  # a day type too thin to measure follows the others
        pooled = _median(list(out.values()))
        out = {code: out.get(code, pooled) for code in (0, 1, 2)}
    return out


def _standardised(
    recent: np.ndarray, rs: np.ndarray, ref: np.ndarray, fs: np.ndarray, cfg: DriftConfig,
    offsets: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise each day type by the (level-shifted) reference's median and robust spread.

    Returns the pooled standardised recent and reference values and, aligned with
    ``recent``, each recent value minus its reference median (NaN for an unused day type).
    """
    zr, zf = [], []
    z_all = np.full(len(recent), np.nan)  # recent values minus their reference median
    for code in np.unique(rs):
        f = ref[fs == code]
        if len(f) < cfg.min_stratum_reference:
            continue
        f = f + (offsets or {}).get(code, 0.0)
        med = _median(f)
        scale = _MAD_TO_SD * _median(np.abs(f - med))
        if not scale > 0:
            scale = max(float(np.std(f)), 1e-9 * max(abs(med), 1.0))
        z_all[rs == code] = recent[rs == code] - med
        zr.append((recent[rs == code] - med) / scale)
        zf.append((f - med) / scale)
    if not zr:
        return np.empty(0), np.empty(0), z_all
    return np.concatenate(zr), np.concatenate(zf), z_all


def _median(x) -> float:
    """``np.median`` of a small 1-d array (NaN in: NaN out) without its dispatch overhead:
    ~40 µs a call, and a night's statistics took 20 of them (a third of the 182-night
    history the drift plot draws)."""
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    if n == 0 or np.isnan(x[-1]):
        return float("nan")
    mid = n // 2
    return float(x[mid]) if n % 2 else float(0.5 * (x[mid - 1] + x[mid]))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance ``sup_x |F_a(x) - F_b(x)|`` of 1-d samples.

    The statistic of ``scipy.stats.ks_2samp``, computed as scipy computes it (both
    empirical CDFs at every pooled value, ``searchsorted(side="right")``); without the
    p-value the monitor does not use (it compares with :func:`ks_critical_distance`),
    which was 60 % of the call.

    >>> round(ks_distance(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])), 6)
    0.333333
    """
    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    pooled = np.concatenate([a, b])
    diff = np.searchsorted(a, pooled, side="right") / len(a) - np.searchsorted(b, pooled, side="right") / len(b)
    return float(np.max(np.abs(diff)))


def ks_critical_distance(n: int, m: int, alpha: float) -> float:
    """Asymptotic critical KS distance for samples of sizes ``n`` and ``m`` at level ``alpha``.

    >>> round(ks_critical_distance(28, 84, 1e-4), 3)
    0.486
    """
    c = np.sqrt(-0.5 * np.log(alpha / 2.0))
    return float(c * np.sqrt((n + m) / (n * m)))


def _weekly_change_spread(v: np.ndarray, st: np.ndarray, ok: np.ndarray, m: int) -> float:
    """Robust spread of ``v[t] - v[t-m]`` over the days where both are usable and share a day type."""
    if len(v) <= m:
        return float("nan")
    both = ok[m:] & ok[:-m] & (st[m:] == st[:-m])
    d = (v[m:] - v[:-m])[both]
    if len(d) < 4:
        return float("nan")
    return _MAD_TO_SD * _median(np.abs(d - _median(d)))


def _night_stats(s: _Series, v: np.ndarray, i: int, cfg: DriftConfig, usable, gap) -> list[tuple]:
    """The four data statistics of the night at position ``i`` (empty when data are too few)."""
    from scipy import stats

    a, b = _reference_slice(i, cfg)
    lo = i - cfg.recent_days + 1
    first = min(a, lo - cfg.detrend_days - (cfg.reference_lag_days if cfg.reference == "seasonal" else 0))
    note = ""
    if (first < 0 or a < 0) and cfg.reference == "seasonal":
        # under a year of history (a new series): the 2 x recent_days days right before
        # the recent window until the year-ago weeks exist. Short, so a yearly cycle
        # barely moves inside it (364 trailing days raised data_ks on 6 of 6 synthetic
        # seasonal series in their first year; 56 days on none). Its median still moves with
        # the year (12 % yearly swings: level_shift up to 5.7 on 2 of 40 synthetic series),
        # so level_shift needs 1.25 x its threshold (6.0, the conservative profile's).
        days = min(2 * cfg.recent_days, lo)
        if days < 2 * cfg.recent_days:
            return []
        cfg = dataclasses.replace(cfg, reference="trailing", reference_days=days,
                                  level_threshold=1.25 * cfg.level_threshold)
        a, b = _reference_slice(i, cfg)
        first, note = a, " (trailing: under a year of history)"
    if first < 0 or a < 0:
        return []
    ok = np.zeros(len(v), bool)  # usable days as known tonight, from `first` to the night
    ok[first:i + 1] = _usable_on(usable, gap, first, i + 1, i, cfg.holiday_window)
    recent, rs, r_ok = v[lo:i + 1], s.stratum[lo:i + 1], ok[lo:i + 1]
    ref, fs, f_ok = v[a:b], s.stratum[a:b], ok[a:b]
    offsets = _level_offsets(v, s.stratum, ok, i, cfg)
    zr, zf, dev = _standardised(recent[r_ok], rs[r_ok], ref[f_ok], fs[f_ok], cfg, offsets)
    if len(zr) < cfg.min_recent or len(zf) < cfg.min_reference:
        return []
    # one extreme day (a storm, a parade) moves the distance by at most clip/len(zr)
    zr, zf = np.clip(zr, -cfg.clip, cfg.clip), np.clip(zf, -cfg.clip, cfg.clip)
    ref_window = f"{s.ds[a].date()}/{s.ds[b - 1].date()}{note}"
    if offsets:
        shift = _median(list(offsets.values()))
        ref_window += f" {'+' if shift >= 0 else ''}{shift:.3f}"
    window = f"{s.ds[lo].date()}/{s.ds[i].date()} vs {ref_window}"
    night = s.ds[i]
    rows = [
        (night, "data_ks", ks_distance(zr, zf),
         ks_critical_distance(len(zr), len(zf), cfg.ks_alpha), window),
        (night, "data_wasserstein", float(stats.wasserstein_distance(zr, zf)),
         float(cfg.wasserstein_threshold), window),
    ]
    m = cfg.season_length
    now = _weekly_change_spread(v[lo - m:i + 1], s.stratum[lo - m:i + 1], ok[lo - m:i + 1], m)
    then = _weekly_change_spread(ref, fs, f_ok, m)
    if np.isfinite(now) and then > 0:
        rows.append((night, "data_spread", now / then, float(cfg.spread_threshold), window))
    if np.isfinite(now) and then >= 0:
        # level: the last few usable days against the reference median, in day-to-day noise
        # units (the spread of weekly changes / sqrt 2: yearly movement inside the reference
        # window does not widen it). A noiseless reference (a constant or all-zero series)
        # has no such unit: 0.1 % of its level stands in (0.001 on the log scale of a
        # positive series), so any step out of it is a shift.
        if then > 0:
            noise = then / np.sqrt(2.0)
        else:
            noise = 1e-3 if _logged(s.y) else 1e-3 * max(abs(_median(ref[f_ok])), 1.0)
        last = dev[np.isfinite(dev)][-cfg.level_days:]
        if len(last) >= (cfg.level_days + 1) // 2:
            stat = abs(_median(last)) / noise
            rows.append((night, "level_shift", stat, float(cfg.level_threshold),
                         f"last {len(last)} usable days to {s.ds[i].date()} vs {ref_window}"))
    return rows


def _logged(y: np.ndarray) -> bool:
    """Whether the statistics see ``y`` on the log scale: a positive series (ridership moves by ratios)."""
    finite = y[np.isfinite(y)]
    return bool(len(finite) and finite.min() > 0)


def _transformed(y: np.ndarray) -> np.ndarray:
    """Log values when the series is positive (:func:`_logged`), else the values."""
    return np.log(y) if _logged(y) else y


def _persistent(frame: pd.DataFrame, k: int) -> pd.Series:
    """True where the statistic exceeded its threshold on the last ``k`` nights in a row
    (``frame`` sorted by kind and night; a night without a statistic breaks the run)."""
    above = frame["statistic"] > frame["threshold"]
    if k <= 1:
        return above
    gaps = frame.groupby("kind")["night"].diff().dt.days
    run = above.astype(int).groupby((~above | (gaps != 1)).cumsum()).cumsum()
    return run >= k


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
    Long frame ``series_id, night, kind, statistic, threshold, window, firing``;
    ``firing`` is true once the statistic exceeded its threshold on
    ``persist_nights`` nights in a row.
    """
    cfg = config or DriftConfig()
    frames = []
    k = max(1, int(cfg.persist_nights))
    for sid, s in _series_arrays(clean).items():
        positions = _night_positions(s, None if nights is None else pd.DatetimeIndex(nights))
        if len(positions) == 0:
            continue
        # the k-1 nights before the first reported one decide whether it is persistent
        wanted = np.unique(np.concatenate([positions[:, None] - np.arange(k)[None, :]]).ravel())
        wanted = wanted[wanted >= 0]
        v = _transformed(s.y)
        usable, gap = _holiday_masks(s, cfg)
        rows = [r for i in wanted for r in _night_stats(s, v, int(i), cfg, usable, gap)]
        if not rows:
            continue
        frame = pd.DataFrame(rows, columns=["night", "kind", "statistic", "threshold", "window"])
        frame = frame.sort_values(["kind", "night"], kind="stable").reset_index(drop=True)
        frame["firing"] = _persistent(frame, k)
        frame = frame[frame["night"].isin(s.ds[positions])]
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


def shown_series(history: pd.DataFrame, alerts: pd.DataFrame | None, max_series: int) -> list:
    """The series a drift plot draws when there are more than ``max_series``: those with an
    alert in ``alerts`` first, then those whose statistic came nearest to (or furthest
    over) their threshold, by the largest ``statistic / threshold`` over the nights."""
    ids = pd.unique(history["series_id"])
    if len(ids) <= max_series:
        return list(ids)
    alerted = [] if alerts is None or not len(alerts) else list(pd.unique(alerts["series_id"]))
    ratio = (history["statistic"] / history["threshold"].where(history["threshold"] > 0))
    nearest = ratio.groupby(history["series_id"]).max().sort_values(ascending=False, kind="stable")
    present, first = set(ids), set(alerted)
    order = [sid for sid in alerted if sid in present] + [sid for sid in nearest.index if sid not in first]
    return order[:max_series]


def plot_drift_history(
    history: pd.DataFrame, path: str | Path, title: str = "Drift statistics",
    alerts: pd.DataFrame | None = None, max_series: int = 12, n_series: int | None = None,
) -> Path:
    """Save a PNG: one panel per kind, each series' statistic over the nights and its threshold.

    Only the nights that opened (red triangle) or cleared (green circle) an alert of the
    alerts table ``alerts`` are marked, not every night above the threshold. With more than
    ``max_series`` series, only those :func:`shown_series` picks are drawn (a thousand
    lines are unreadable, and their legend took most of the monitor's time at 1,000
    series); the title says how many of how many (``n_series``: the total, when
    ``history`` already holds only the chosen ones).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_all = max(history["series_id"].nunique(), n_series or 0)
    keep = shown_series(history, alerts, max_series)
    if len(keep) < n_all:
        history = history[history["series_id"].isin(keep)]
        title = f"{title}: {len(keep)} of {n_all:,} series (alerts first, then nearest their threshold)"
    kinds = [k for k in KINDS if k in set(history["kind"])] or ["(no statistics)"]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(10, 2.3 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        part = history[history["kind"] == kind]
        for sid, g in part.groupby("series_id", sort=True):
            line = ax.plot(g["night"], g["statistic"], lw=1, label=str(sid))[0]
            ax.plot(g["night"], g["threshold"], ls="--", lw=1, color=line.get_color(), alpha=0.7)
            if alerts is not None and len(alerts):
                a = alerts[(alerts["series_id"].astype(str) == str(sid)) & (alerts["kind"] == kind)]
                marks = g.set_index("night")["statistic"]
                for status, style in (("open", dict(marker="^", color="red")),
                                      ("cleared", dict(marker="o", color="green"))):
                    at = pd.DatetimeIndex(a.loc[a["status"] == status, "detected_at"])
                    at = at[at.isin(marks.index)]
                    ax.scatter(at, marks.loc[at], s=30, zorder=3, **style)
        ax.set_ylabel(kind, fontsize=8)
        if len(part):
            ax.legend(fontsize=7, loc="upper left")
    axes[0, 0].set_title(f"{title} (dashed: threshold; red: alert opened; green: cleared)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


#: The columns that make a Parquet file under ``<data_dir>/backtests`` a backtest table.
BACKTEST_COLUMNS = frozenset({"series_id", "h", "model", "y", "mean"})


def load_backtest(backtest_path: str | Path | None, data_dir: str | Path,
                  bucket: int | None = None) -> pd.DataFrame | None:
    """The backtest table: a Parquet file or folder; default every table under ``<data_dir>/backtests``
    that has the backtest columns. ``None`` when there is none (error drift is then skipped).
    ``bucket``: only the files of that bucket of series (``bucket-NNNN.parquet``).

    Raises :class:`~seqcast.errors.SeqcastError` when a given ``backtest_path`` does not exist.
    """
    from seqcast.layout import DataDir

    root = Path(backtest_path) if backtest_path else DataDir(data_dir).backtests
    if not root.exists():
        if backtest_path:
            raise SeqcastError(f"monitor: backtest table {backtest_path} does not exist")
        return None
    pattern = "*.parquet" if bucket is None else f"bucket-{bucket:04d}.parquet"
    files = [root] if root.is_file() else sorted(root.rglob(pattern))
    frames = []
    for f in files:
        if f.name.startswith("."):
            continue
        df = pd.read_parquet(f)
        if BACKTEST_COLUMNS <= set(df.columns):
            frames.append(df[[c for c in df.columns if c in BACKTEST_COLUMNS | {"cutoff", "ds"}]])
    return pd.concat(frames, ignore_index=True) if frames else None


def plotted_inputs(data_dir: str | Path, backtest_path: str | Path | None,
                   keep: list | set | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """``(published forecasts, backtest rows)`` of the series ``keep`` (None: all), each None
    when there is none; the backtest is read from those series' buckets' files only."""
    from seqcast.partitions import bucket_of
    from seqcast.published import read_forecasts

    forecasts = read_forecasts(data_dir, series=None if keep is None else sorted(keep))
    if keep is None:
        backtest = load_backtest(backtest_path, data_dir)
    else:
        keep = set(keep)
        parts = [load_backtest(backtest_path, data_dir, bucket=b) for b in sorted({bucket_of(s) for s in keep})]
        parts = [p[p["series_id"].isin(keep)] for p in parts if p is not None]
        backtest = pd.concat(parts, ignore_index=True) if parts else None
    return (forecasts if len(forecasts) else None), backtest


def drift_plot_file(clean_path: str, data_dir: str, as_of: str | pd.Timestamp, *, config: dict | None = None,
                    plot_days: int = 182, keep: list | None = None, backtest_path: str | None = None,
                    n_series: int | None = None, max_series: int = 12) -> str:
    """The drift plot of the night ``as_of`` from the night's files: every
    statistic of the series ``keep`` (None: all) over the last ``plot_days`` nights
    (:func:`drift_history`; forecast-error drift when published forecasts and a backtest
    exist) and the alerts of ``<data_dir>/published/alerts``, drawn by
    :func:`plot_drift_history`. ``n_series``: how many series the night has (the title says
    how many are shown). Returns the path, ``<data_dir>/published/plots/drift_<as_of>.png``.
    """
    from seqcast.alerts import read_alerts
    from seqcast.layout import DataDir
    from seqcast.partitions import read

    as_of_ts = pd.Timestamp(as_of).normalize()
    clean = read(clean_path, series=keep)
    forecasts, backtest = plotted_inputs(data_dir, backtest_path, keep)
    nights = pd.date_range(as_of_ts - pd.Timedelta(days=plot_days - 1), as_of_ts, freq="D")
    history = drift_history(clean, forecasts, backtest, DriftConfig(**(config or {})), nights=nights,
                            as_of=as_of_ts)
    return str(plot_drift_history(history, DataDir(data_dir).plots / f"drift_{as_of_ts.date()}.png",
                                  title=f"Drift statistics up to {as_of_ts.date()}",
                                  alerts=read_alerts(data_dir, as_of=as_of_ts),
                                  max_series=max_series, n_series=n_series))


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
