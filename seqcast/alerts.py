"""The alerts table: drift alerts beside the forecast table, one open alert per series × kind.

Layout: ``<data_dir>/published/alerts/alerts_<night>.parquet``, one file per evaluated
night (an empty file when nothing changed, so the table also records which nights were
evaluated), written atomically (temp file + ``os.replace``). Re-running a night
replaces that night's file: the same inputs give the same rows, never duplicates.

Columns: ``series_id, detected_at, kind, statistic, threshold, window, severity,
run_id, status, run_date``. ``status`` is ``open`` when a check starts firing for a
series (at most one open alert per series × kind) and ``cleared`` once it has not
fired for ``DriftConfig.clear_after_days`` nights in a row.

A run evaluates every night after the last evaluated one up to its as-of date (and
writes each night's file), so a night-by-night replay and one pass over the same
nights give the same table (only ``run_id`` differs). ``run_date`` is the night whose
file holds the row (equal to ``detected_at``).

>>> import pandas as pd
>>> hist = pd.DataFrame({"series_id": "a", "night": pd.date_range("2024-01-01", periods=3),
...     "kind": "level_shift", "statistic": [1.0, 12.0, 13.0], "threshold": 10.0,
...     "window": "-", "firing": [False, True, True]})
>>> rows = transitions(hist, pd.date_range("2024-01-01", periods=3), set(), run_id="r1")
>>> rows[["detected_at", "status", "severity"]].astype(str).values.tolist()
[['2024-01-02', 'open', 'warning']]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from seqcast.drift import HISTORY_COLUMNS, DriftConfig, drift_history
from seqcast.errors import SeqcastError
from seqcast.io import write_parquet_atomic

ALERT_COLUMNS = (
    "series_id", "detected_at", "kind", "statistic", "threshold", "window",
    "severity", "run_id", "status", "run_date",
)
_PREFIX = "alerts_"


def alerts_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "published" / "alerts"


def _empty() -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="string") for c in ALERT_COLUMNS})
    out["detected_at"] = pd.Series(dtype="datetime64[ns]")
    out["run_date"] = pd.Series(dtype="datetime64[ns]")
    out["statistic"] = pd.Series(dtype=float)
    out["threshold"] = pd.Series(dtype=float)
    return out


def _conform(df: pd.DataFrame) -> pd.DataFrame:
    out = df.reindex(columns=list(ALERT_COLUMNS)).copy()
    for c in ("series_id", "kind", "window", "severity", "run_id", "status"):
        out[c] = out[c].astype("string")
    for c in ("detected_at", "run_date"):
        out[c] = pd.to_datetime(out[c]).astype("datetime64[ns]")
    for c in ("statistic", "threshold"):
        out[c] = out[c].astype(float)
    return out.reset_index(drop=True)


def evaluated_nights(data_dir: str | os.PathLike) -> list[pd.Timestamp]:
    """Nights that have an alerts file, sorted."""
    d = alerts_dir(data_dir)
    if not d.is_dir():
        return []
    nights = []
    for p in d.glob(f"{_PREFIX}*.parquet"):
        try:
            nights.append(pd.Timestamp(p.stem[len(_PREFIX):]))
        except ValueError:
            continue
    return sorted(nights)


def read_alerts(data_dir: str | os.PathLike, as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """The whole alerts table (rows from runs up to ``as_of`` when given), oldest first:
    the drift alerts and the ``stale_data`` alerts of :func:`check_freshness`."""
    import pyarrow.dataset as pads

    limit = None if as_of is None else pd.Timestamp(as_of).normalize()
    paths = [
        str(alerts_dir(data_dir) / f"{_PREFIX}{night.date()}.parquet")
        for night in evaluated_nights(data_dir)
        if limit is None or night <= limit
    ]
    paths += [str(p) for night, p in _freshness_files(data_dir) if limit is None or night <= limit]
    if not paths:
        return _empty()
    out = _conform(pads.dataset(paths, format="parquet").to_table().to_pandas())
    return _sorted(out)


# -- freshness ----------------------------------------------------------------------------
STALE = "stale_data"
_DROPPED = "dropped: "  # the window of a stale_data alert for a series cleaning dropped
_FRESHNESS = "freshness_"


def _freshness_files(data_dir: str | os.PathLike) -> list[tuple[pd.Timestamp, Path]]:
    d = alerts_dir(data_dir)
    out = []
    for p in d.glob(f"{_FRESHNESS}*.parquet") if d.is_dir() else []:
        try:
            out.append((pd.Timestamp(p.stem[len(_FRESHNESS):]), p))
        except ValueError:
            continue
    return sorted(out)


def check_freshness(
    data_dir: str | os.PathLike,
    last_days: pd.Series,
    run_date: str | pd.Timestamp,
    max_staleness_days: int = 3,
    run_id: str = "local",
    dropped: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Open a ``stale_data`` alert for each series whose newest day is more than
    ``max_staleness_days`` before ``run_date``; clear it once the series is fresh again.

    ``dropped``: series the source named but cleaning dropped tonight (``series_id ->
    reason``, e.g. a column blank throughout): no usable day at all, so a critical
    ``stale_data`` alert whose ``window`` gives the reason (``statistic`` NaN); readers of
    the latest forecast per series would otherwise keep reading an old one unwarned.

    ``last_days``: the newest day of each series (index ``series_id``). Rows go to
    ``published/alerts/freshness_<run_date>.parquet`` (one file per run date, replaced
    when the night is re-run), read with the drift alerts by :func:`read_alerts`.
    Returns the series stale tonight: ``series_id, last_day, days_stale``.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> last = pd.Series(pd.to_datetime(["2024-06-30", "2024-06-20"]), index=["a", "b"])
    >>> check_freshness(d, last, "2024-07-01")["series_id"].tolist()
    ['b']
    >>> read_alerts(d)[["series_id", "kind", "statistic", "status"]].values.tolist()
    [['b', 'stale_data', 11.0, 'open']]
    """
    run_date = pd.Timestamp(run_date).normalize()
    dropped = {str(k): v for k, v in (dropped or {}).items()}
    days = (run_date - pd.to_datetime(last_days)).dt.days
    stale = days[days > int(max_staleness_days)].sort_index()
    earlier = [p for night, p in _freshness_files(data_dir) if night < run_date]
    was_open: dict[str, bool] = {}  # series -> whether its open alert is for a dropped series
    if earlier:
        import pyarrow.dataset as pads

        past = _sorted(_conform(pads.dataset([str(p) for p in earlier], format="parquet").to_table().to_pandas()))
        still = open_alerts(past)
        was_open = dict(zip(still["series_id"].astype(str), still["window"].astype(str).str.startswith(_DROPPED),
                            strict=True))
    # an open alert stays as it is while its condition lasts; a change between stale and
    # dropped replaces it (a new open row), so the open alert always says what is true now
    rows = [
        {"series_id": sid, "detected_at": run_date, "kind": STALE, "statistic": float(n),
         "threshold": float(max_staleness_days), "window": f"newest day {pd.Timestamp(last_days[sid]).date()}",
         "severity": "critical" if n > 4 * max_staleness_days else "warning", "run_id": run_id, "status": "open"}
        for sid, n in stale.items() if str(sid) not in dropped and was_open.get(str(sid), True)
    ]
    rows += [
        {"series_id": sid, "detected_at": run_date, "kind": STALE, "statistic": np.nan,
         "threshold": float(max_staleness_days), "window": f"{_DROPPED}{reason}"[:500],
         "severity": "critical", "run_id": run_id, "status": "open"}
        for sid, reason in sorted(dropped.items()) if not was_open.get(sid, False)
    ]
    rows += [
        {"series_id": sid, "detected_at": run_date, "kind": STALE, "statistic": float(days.get(sid, np.nan)),
         "threshold": float(max_staleness_days), "window": "fresh again", "severity": "warning",
         "run_id": run_id, "status": "cleared"}
        for sid in sorted(set(was_open) - set(map(str, stale.index)) - set(dropped))
    ]
    table = _conform(pd.DataFrame(rows).assign(run_date=run_date)) if rows else _empty()
    d = alerts_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(table, d / f"{_FRESHNESS}{run_date.date()}.parquet")
    return pd.DataFrame({"series_id": stale.index.astype(str),
                         "last_day": pd.to_datetime(last_days[stale.index]).to_numpy(),
                         "days_stale": stale.to_numpy(int)})


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    order = table["status"].map({"cleared": 0, "open": 1})
    out = table.assign(_o=order).sort_values(["detected_at", "series_id", "kind", "_o"], kind="stable")
    return out.drop(columns="_o").reset_index(drop=True)


def open_alerts(table: pd.DataFrame) -> pd.DataFrame:
    """The alerts still open: the last row of each series × kind, when its status is ``open``."""
    if table.empty:
        return table.copy()
    last = table.groupby(["series_id", "kind"], sort=True).tail(1)
    return last[last["status"] == "open"].reset_index(drop=True)


def severity(statistic: float, threshold: float, config: DriftConfig | None = None) -> str:
    """``critical`` at ``critical_factor`` times the threshold or more, else ``warning``."""
    cfg = config or DriftConfig()
    return "critical" if statistic >= cfg.critical_factor * threshold else "warning"


def transitions(
    history: pd.DataFrame,
    nights: pd.DatetimeIndex,
    open_before: set[tuple[str, str]],
    config: DriftConfig | None = None,
    run_id: str = "",
) -> pd.DataFrame:
    """Alert rows for ``nights`` given the per-night drift ``history`` and the open alerts.

    ``history`` (``seqcast.drift.drift_history``) must also cover the
    ``clear_after_days`` nights before the first of ``nights``: a night with no
    statistic counts as not firing. Opens an alert on a firing night when none is
    open; clears an open one after ``clear_after_days`` quiet nights in a row.
    """
    cfg = config or DriftConfig()
    nights = pd.DatetimeIndex(nights).normalize()
    rows = []
    if len(nights) == 0:
        return _empty()
    lo = nights.min() - pd.Timedelta(days=cfg.clear_after_days)
    hist = history[(history["night"] >= lo) & (history["night"] <= nights.max())]
    keys = set(map(tuple, hist[["series_id", "kind"]].astype(str).drop_duplicates().to_numpy()))
    keys |= set(open_before)
    grouped = {k: g for k, g in hist.assign(series_id=hist["series_id"].astype(str)).groupby(["series_id", "kind"])}
    full = pd.date_range(lo, nights.max(), freq="D")
    for key in sorted(keys):
        g = grouped.get(key)
        if g is None:
            g = pd.DataFrame(columns=list(HISTORY_COLUMNS))
        g = g.set_index("night").reindex(full)
        firing = g["firing"].fillna(False).astype(bool).to_numpy()
        quiet = _quiet_run(firing)
        is_open = key in open_before
        for n in nights:
            j = full.get_loc(n)
            if not is_open and firing[j]:
                stat, thr = float(g["statistic"].iloc[j]), float(g["threshold"].iloc[j])
                rows.append((*key, n, stat, thr, g["window"].iloc[j], severity(stat, thr, cfg), "open"))
                is_open = True
            elif is_open and quiet[j] >= cfg.clear_after_days:
                stat, thr = g["statistic"].iloc[j], g["threshold"].iloc[j]
                rows.append((*key, n, float(stat), float(thr), g["window"].iloc[j], "info", "cleared"))
                is_open = False
    if not rows:
        return _empty()
    out = pd.DataFrame(
        rows, columns=["series_id", "kind", "detected_at", "statistic", "threshold", "window",
                       "severity", "status"]
    )
    out["run_id"] = run_id
    out["run_date"] = out["detected_at"]
    out = _conform(out)
    return out.sort_values(["detected_at", "series_id", "kind"], kind="stable").reset_index(drop=True)


def _quiet_run(firing: np.ndarray) -> np.ndarray:
    """Number of consecutive non-firing nights ending at each position; shape ``(n,)``."""
    out = np.zeros(len(firing), dtype=int)
    run = 0
    for i, f in enumerate(firing):
        run = 0 if f else run + 1
        out[i] = run
    return out


def write_alerts(data_dir: str | os.PathLike, rows: pd.DataFrame, run_date: str | pd.Timestamp) -> Path:
    """Write one night's alert rows atomically, replacing that night's file."""
    d = alerts_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    run_date = pd.Timestamp(run_date).normalize()
    path = d / f"{_PREFIX}{run_date.date()}.parquet"
    rows = _conform(rows.assign(run_date=run_date) if len(rows) else _empty())
    # via seqcast.io: a temp name DuckDB's '*.parquet' glob cannot match, the umask's mode
    return write_parquet_atomic(rows, path)


@dataclass
class MonitorResult:
    """What one monitor run did: the nights it evaluated and the rows it wrote."""

    nights: pd.DatetimeIndex
    new_alerts: pd.DataFrame  # rows written by this run (open and cleared)
    open_alerts: pd.DataFrame  # alerts open after this run
    history: pd.DataFrame  # drift statistics over the evaluated nights (and lookback)
    path: Path  # the alerts table's folder


def nights_to_evaluate(
    data_dir: str | os.PathLike, as_of: str | pd.Timestamp, since: str | pd.Timestamp | None = None
) -> pd.DatetimeIndex:
    """Nights after the last evaluated one (before ``as_of``) up to ``as_of``.

    With no earlier evaluated night, from ``since`` (default: ``as_of`` alone).
    """
    as_of = pd.Timestamp(as_of).normalize()
    earlier = [n for n in evaluated_nights(data_dir) if n < as_of]
    if earlier:
        start = earlier[-1] + pd.Timedelta(days=1)
    else:
        start = as_of if since is None else min(pd.Timestamp(since).normalize(), as_of)
    return pd.date_range(start, as_of, freq="D")


def lookback_nights(
    data_dir: str | os.PathLike, as_of: pd.Timestamp, since: str | pd.Timestamp | None,
    config: DriftConfig,
) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """``(nights to evaluate, nights whose statistics they need)``: the second reaches
    ``clear_after_days`` further back (an alert clears after that many quiet nights)."""
    nights = nights_to_evaluate(data_dir, as_of, since)
    lookback = pd.date_range(nights.min() - pd.Timedelta(days=config.clear_after_days), as_of, freq="D")
    return nights, lookback


def monitor(
    data_dir: str | os.PathLike,
    clean: pd.DataFrame,
    as_of: str | pd.Timestamp | None = None,
    *,
    forecasts: pd.DataFrame | None = None,
    backtest: pd.DataFrame | None = None,
    config: DriftConfig | None = None,
    run_id: str = "",
    since: str | pd.Timestamp | None = None,
    history: pd.DataFrame | None = None,
) -> MonitorResult:
    """Run the drift checks for the night ``as_of`` (default: last day in ``clean``) and update the table.

    ``history``: the statistics of the :func:`lookback_nights` already computed
    (:func:`seqcast.drift.drift_history` per bucket of series, in parallel); default:
    computed here from ``clean``, ``forecasts`` and ``backtest``.

    A night later than the last day of data is evaluated as that last day (the nightly
    run of a day whose data has not arrived re-checks the latest data, idempotently).

    Only data up to ``as_of`` is used. Every night since the last evaluated one is
    evaluated in order, so skipped nights are caught up and replays match one pass.
    """
    cfg = config or DriftConfig()
    if clean.empty:
        raise SeqcastError("monitor: the clean data is empty")
    last_day = pd.to_datetime(clean["ds"]).max().normalize()
    # a night after the last day of data has nothing new to check: evaluate the last day
    as_of = min(pd.Timestamp(as_of).normalize(), last_day) if as_of is not None else last_day
    nights, lookback = lookback_nights(data_dir, as_of, since, cfg)
    if history is None:
        history = drift_history(clean, forecasts, backtest, cfg, nights=lookback, as_of=as_of)
    prior = read_alerts(data_dir)
    prior = prior[(prior["run_date"] < as_of) & (prior["kind"] != STALE)]  # freshness opens/clears its own
    before = open_alerts(prior)
    open_before = set(zip(before["series_id"].astype(str), before["kind"].astype(str), strict=True))
    rows = transitions(history, nights, open_before, cfg, run_id=run_id)
    for night in nights:
        write_alerts(data_dir, rows[rows["detected_at"] == night], night)
    table = read_alerts(data_dir, as_of=as_of)
    table = table[table["kind"] != STALE].reset_index(drop=True)
    written = table[table["run_date"] >= nights.min()].reset_index(drop=True)
    return MonitorResult(nights, written, open_alerts(table), history, alerts_dir(data_dir))


def replay(
    data_dir: str | os.PathLike,
    clean: pd.DataFrame,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    config: DriftConfig | None = None,
    run_id: str = "replay",
    replace: bool = False,
) -> MonitorResult:
    """Replay the nightly alerting over ``start .. end`` into the alerts table of ``data_dir``.

    The same call as a nightly run (:func:`monitor`), over every night since ``start``:
    each night's statistics use data up to that night only, and the table ends exactly
    as night-by-night runs would leave it. Nights already evaluated from ``start`` on are
    refused unless ``replace``, which drops them first.
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if end < start:
        raise SeqcastError(f"replay: --end {end.date()} is before --start {start.date()}")
    clean = clean[pd.to_datetime(clean["ds"]) <= end]
    if clean.empty or pd.to_datetime(clean["ds"]).max() < start:
        raise SeqcastError(f"replay: the source has no data on or after {start.date()}")
    later = [n for n in evaluated_nights(data_dir) if n >= start]
    if later and not replace:
        raise SeqcastError(f"replay: {alerts_dir(data_dir)} already holds nights {later[0].date()} .. "
                           f"{later[-1].date()}; use another --data-dir or --replace")
    for night in later:
        (alerts_dir(data_dir) / f"{_PREFIX}{night.date()}.parquet").unlink()
    earlier = evaluated_nights(data_dir)
    since = None if earlier and earlier[-1] == start - pd.Timedelta(days=1) else start
    if earlier and since is not None:  # a gap before start: evaluate from start, not from the gap
        raise SeqcastError(f"replay: {alerts_dir(data_dir)} ends on {earlier[-1].date()}; "
                           f"start the replay on the next night or use another --data-dir")
    return monitor(data_dir, clean, end, config=config, run_id=run_id, since=since)


def replay_summary(result: MonitorResult, event_date: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Per series and kind over a replay: alerts opened, nights firing, first alert on or
    after ``event_date``; one ``all`` row per series sums the kinds."""
    hist = result.history[result.history["night"].isin(result.nights)]
    hist = hist.assign(series_id=hist["series_id"].astype(str))
    opened = result.new_alerts[result.new_alerts["status"] == "open"]
    opened = opened.assign(series_id=opened["series_id"].astype(str), kind=opened["kind"].astype(str))
    keys = sorted(set(zip(hist["series_id"], hist["kind"], strict=True))
                  | set(zip(opened["series_id"], opened["kind"], strict=True)))
    event = None if event_date is None else pd.Timestamp(event_date).normalize()
    rows = []
    for sid in sorted({k[0] for k in keys}):
        for kind in [k[1] for k in keys if k[0] == sid] + ["all"]:
            o = opened[opened["series_id"] == sid]
            h = hist[hist["series_id"] == sid]
            if kind != "all":
                o, h = o[o["kind"] == kind], h[h["kind"] == kind]
            after = o[o["detected_at"] >= event] if event is not None else o.iloc[:0]
            rows.append({"series_id": sid, "kind": kind, "alerts_opened": len(o),
                         "nights_firing": int(h.drop_duplicates("night")["firing"].sum()) if kind != "all"
                         else int(h.groupby("night")["firing"].any().sum()),
                         "first_alert_after_event": after["detected_at"].min() if len(after) else pd.NaT})
    return pd.DataFrame(rows)


def summary_markdown(result: MonitorResult, as_of: pd.Timestamp, doc_link: str = "docs/drift.md") -> str:
    """A short markdown report of one monitor run (used for the Prefect artifact)."""
    new = result.new_alerts
    lines = [
        f"# Drift monitor, night {pd.Timestamp(as_of).date()}",
        "",
        f"Nights evaluated: {len(result.nights)} "
        f"({result.nights.min().date()} .. {result.nights.max().date()}); "
        f"new alerts: {int((new['status'] == 'open').sum())}; "
        f"cleared: {int((new['status'] == 'cleared').sum())}; "
        f"open now: {len(result.open_alerts)}.",
        "",
    ]
    if len(new):
        lines += ["## Changes this run", "", _md_table(new), ""]
    if len(result.open_alerts):
        lines += ["## Open alerts", "", _md_table(result.open_alerts), ""]
    last = result.history[result.history["night"] == result.history["night"].max()]
    if len(last):
        lines += ["## Statistics tonight", "",
                  _md_table(last[["series_id", "kind", "statistic", "threshold", "window", "firing"]]), ""]
    lines.append(f"What each statistic means and what to do when it fires: `{doc_link}`.")
    return "\n".join(lines)


def md_text(value) -> str:
    """Text from the data (a series id, a reason naming one) for a Markdown page: the
    characters Markdown would act on are escaped, so ``store 12|sku 9`` stays one table
    cell and ``*promo*`` is not set in italics.

    >>> print(md_text("store 12|sku 9"), md_text("*promo*"))
    store 12\\|sku 9 \\*promo\\*
    """
    return _MD_SPECIAL.sub(r"\\\g<0>", str(value))


# a table cell's end, emphasis, HTML, code (an id's '_' or '[' inside words reads as written)
_MD_SPECIAL = re.compile(r"[\\`*<|]")


def _md_table(df: pd.DataFrame) -> str:
    cols = [c for c in df.columns if c not in ("run_date",)]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)
    body = []
    for rec in df[cols].itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float):
                cells.append(f"{v:.3g}")
            elif isinstance(v, pd.Timestamp):
                cells.append(str(v.date()))
            else:
                cells.append(md_text(v))
        body.append("| " + " | ".join(cells) + " |")
    return "\n".join([head, *body])
