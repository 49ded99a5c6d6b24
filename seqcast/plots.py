"""Plots people look at before they read: forecasts against actuals, errors by horizon.

matplotlib is imported lazily with the non-interactive Agg backend; every
function writes a PNG and returns its path.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain(text) -> str:
    """A series id or model label as written: matplotlib reads text between two ``$`` as
    math (``price $10-$20`` drawn in italics; ``x_$^$`` raised ``ValueError`` and failed the
    night after its table was published).

    >>> print(_plain("price $10-$20"))
    price \\$10-\\$20
    """
    return str(text).replace("$", r"\$")


def plot_forecasts(
    clean: pd.DataFrame,
    forecasts: pd.DataFrame,
    path: str | Path,
    *,
    lookback_days: int = 56,
    previous: pd.DataFrame | None = None,
) -> Path:
    """One panel per series: the last ``lookback_days`` of actuals and each model's forecast.

    ``previous`` (an earlier night's published forecasts) is drawn over the actuals that
    have arrived since, so last week's forecast can be judged against what happened.
    Actuals past the cutoff (in a replay) are drawn dotted.
    """
    plt = _pyplot()
    series = sorted(forecasts["series_id"].unique())
    fig, axes = plt.subplots(len(series), 1, figsize=(10, 3.2 * len(series)), squeeze=False)
    for ax, sid in zip(axes[:, 0], series):
        fc = forecasts[forecasts["series_id"] == sid]
        cutoff = fc["cutoff"].max()
        window = (clean["ds"] > cutoff - pd.Timedelta(days=lookback_days)) & (clean["ds"] <= fc["ds"].max())
        hist = clean[(clean["series_id"] == sid) & window]
        seen = hist[hist["ds"] <= cutoff]
        ax.plot(seen["ds"], seen["y"], color="black", lw=1.2, label="actuals")
        later = hist[hist["ds"] > cutoff]
        if len(later):
            ax.plot(later["ds"], later["y"], color="black", lw=1.2, ls=":", label="actuals after cutoff")
        imputed = seen[seen["is_imputed"]] if "is_imputed" in seen else seen.iloc[:0]
        if len(imputed):
            ax.scatter(imputed["ds"], imputed["y"], color="orange", zorder=3, s=18, label="imputed")
        for model, part in fc.groupby("model"):
            line = ax.plot(part["ds"], part["mean"], lw=1.6, marker=".", label=f"{_plain(model)} forecast")[0]
            for lv, alpha in ((95, 0.12), (80, 0.25), (90, 0.2)):  # the published conformal bands
                lo, hi = f"lo-{lv}", f"hi-{lv}"
                if {lo, hi} <= set(part.columns) and part[lo].notna().any():
                    ax.fill_between(part["ds"], part[lo], part[hi], color=line.get_color(),
                                    alpha=alpha, lw=0, label=f"{lv} % interval")
        if previous is not None and len(previous):
            old = previous[(previous["series_id"] == sid) & previous["ds"].isin(seen["ds"])]
            for (model, night), part in old.groupby(["model", "run_date"]):
                ax.plot(part["ds"], part["mean"], lw=1.2, ls="--", marker="x",
                        label=f"{_plain(model)} published {pd.Timestamp(night):%Y-%m-%d}")
        ax.axvline(cutoff, color="grey", ls="--", lw=0.8)
        ax.set_title(f"{_plain(sid)}: forecast from cutoff {cutoff:%Y-%m-%d}")
        ax.legend(loc="upper left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def plot_errors_by_horizon(errors: pd.DataFrame, path: str | Path, *, metric: str = "mae") -> Path:
    """Backtest error by horizon step, one line per model, one panel per series.

    ``errors`` is long: ``series_id, model, h, <metric>``.
    """
    plt = _pyplot()
    series = sorted(errors["series_id"].unique())
    if not series:  # first night, or no origin scored yet: say so rather than fail
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no scored backtest origins yet", ha="center", va="center")
        ax.set_axis_off()
        return _save(fig, path)
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.5), squeeze=False)
    for ax, sid in zip(axes[0], series):
        for model, part in errors[errors["series_id"] == sid].groupby("model"):
            part = part.sort_values("h")
            ax.plot(part["h"], part[metric], marker="o", label=_plain(model))
        ax.set_title(f"{_plain(sid)}: backtest {metric.upper()} by horizon")
        ax.set_xlabel("h (days ahead)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    from seqcast.io import _atomic

    path = Path(path)
    out = _atomic(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"))
    _pyplot().close(fig)
    return out


# -- the night's plots, from its files
def forecast_plot_file(clean_path: str, published_path: str, data_dir: str, max_series: int = 6) -> str:
    """Forecast-vs-actuals PNG of one night's published file, beside the table: tonight's
    forecast and the one published a week or more before (the latest such night).

    With many series, the first ``max_series`` (by id) are drawn; the table has them all.
    Returns the path, ``<data_dir>/published/plots/forecast-vs-actuals-<run_date>.png``.
    """
    from seqcast.layout import DataDir
    from seqcast.partitions import read
    from seqcast.published import read_forecasts, read_published_file

    tonight = read_published_file(published_path)
    shown = sorted(tonight["series_id"].unique())[:max_series]
    tonight = tonight[tonight["series_id"].isin(shown)]
    clean = read(clean_path, series=shown)
    run_date = tonight["run_date"].iloc[0]
    earlier = read_forecasts(data_dir, series=shown)
    earlier = earlier[earlier["run_date"] <= run_date - pd.Timedelta(days=7)]
    if len(earlier):
        earlier = earlier[earlier["run_date"] == earlier["run_date"].max()]
    path = DataDir(data_dir).plots / f"forecast-vs-actuals-{run_date:%Y-%m-%d}.png"
    return str(plot_forecasts(clean, tonight, path, previous=earlier))


def backtest_plot_file(table_path: str, data_dir: str, run_date: date | str, last_day: date | str,
                       window_days: int, max_series: int = 4) -> str:
    """Backtest MAE by horizon PNG over the origins of the last ``window_days`` (scored rows
    known by ``last_day``). With more than ``max_series`` series, one
    panel: each series' MAE as a % of its mean level, averaged over series.
    Returns the path, ``<data_dir>/published/plots/backtest-mae-by-horizon-<run_date>.png``.
    """
    from seqcast.layout import DataDir
    from seqcast.metrics import mae
    from seqcast.partitions import read

    table = read(table_path)
    cutoff = pd.Timestamp(last_day)
    recent = table[(table["cutoff"] > cutoff - pd.Timedelta(days=window_days)) & (table["ds"] <= cutoff)]
    path = DataDir(data_dir).plots / f"backtest-mae-by-horizon-{pd.Timestamp(run_date):%Y-%m-%d}.png"
    n = recent["series_id"].nunique()
    if n <= max_series:
        return str(plot_errors_by_horizon(mae(recent, by=["series_id", "model", "h"]), path))
    scored = recent[recent["error"].isna() & recent["y"].notna() & recent["mean"].notna()]
    level = scored.groupby("series_id")["y"].transform(lambda y: y.abs().mean())
    pct = (scored["y"] - scored["mean"]).abs() / level.where(level > 0) * 100
    per_series = scored.assign(pct=pct).groupby(["series_id", "model", "h"])["pct"].mean()
    errors = per_series.groupby(["model", "h"]).mean().rename("mae_pct_of_level").reset_index()
    errors.insert(0, "series_id", f"mean of {n} series")
    return str(plot_errors_by_horizon(errors, path, metric="mae_pct_of_level"))
