"""Clean: one row per series and day, daily frequency, short gaps filled and flagged.

Steps, in order: sort; drop the derived total; drop exact duplicate rows;
set aside a day that appears with different values (its rows quarantined, the
day missing; in a wide table per series: rows of one day that agree on a
series' value, or differ only where a cell was set aside, keep it, and only a
differing day type rejects the rows whole); reindex to daily frequency; fill
gaps up to ``max_gap_days`` by the configured policy (flagged in ``is_imputed``).

A wide table shares one calendar, so a longer gap of days stops the run with
:class:`CleaningError`; a value cell set aside by validation is missing for its
series only (imputed and flagged like a missing day), and a series left with too
long a gap or too many imputed days is dropped with the reason while the others
go on (``series_quarantined``). A long table (one row per series and day) is cleaned
per series, vectorised over all of them: each series keeps its own first and
last day, and a series with a longer gap is quarantined whole (every row, with
the reason) while the others go on; only when no series survives is it an error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from seqcast.errors import CleaningError
from seqcast.ingest import Mapping
from seqcast.sample import day_types


@dataclass(frozen=True)
class CleanPolicy:
    """How gaps are filled.

    ``seasonal``: the same weekday one week before — the past only, so a backtest origin
    after the gap never reads a value filled from its own future (the mean of the weeks
    before and after did: a seasonal naive forecast of the day a week after the gap
    contained that day's actual); linear interpolation where no earlier week exists.
    ``linear``: straight line between neighbours (reads the next observed value: not for
    backtests of the days right after a gap); ``none``: any gap is an error.
    """

    fill: Literal["seasonal", "linear", "none"] = "seasonal"
    max_gap_days: int = 7


@dataclass
class Cleaned:
    clean: pd.DataFrame  # series_id, ds, y, day_type, is_imputed
    quarantine: pd.DataFrame  # line, stage, reason, scope (conflicting duplicates; long: series with a long gap)
    report: dict = field(default_factory=dict)


def clean(valid: pd.DataFrame, mapping: Mapping, policy: CleanPolicy | None = None) -> Cleaned:
    """Turn the validated frame (wide or long, see :class:`~seqcast.validate.Validated`) into the clean long frame.

    The report holds ``rows_valid, exact_duplicates_dropped, conflicting_duplicate_rows,
    days, gaps, days_imputed, first_day, last_day, series, policy``; a long mapping adds
    ``series_quarantined`` (ids), and its ``days`` counts distinct days over all series and
    ``days_imputed`` the imputed (series, day) rows.

    >>> import pandas as pd
    >>> from seqcast.ingest import Mapping
    >>> m = Mapping(date_column="d", value_columns={"v": "v"}, max_imputed_share=0.5)
    >>> wide = pd.DataFrame({"line": [2, 3, 4], "ds": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-03"]),
    ...                      "day_type": ["W", "W", "W"], "v": [1.0, 3.0, 3.0]})
    >>> out = clean(wide, m, CleanPolicy(fill="linear"))
    >>> out.clean[["y", "is_imputed"]].values.tolist()
    [[1.0, False], [2.0, True], [3.0, False]]
    >>> out.report["exact_duplicates_dropped"]
    1

    Long: each series on its own range; ``b`` misses 3 days (> 2) and is quarantined.

    >>> m = Mapping(date_column="d", series_column="s", value_column="v", max_imputed_share=0.5)
    >>> days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-01", "2024-01-05"])
    >>> long = pd.DataFrame({"line": [2, 3, 4, 5, 6], "ds": days, "day_type": "W",
    ...                      "series_id": ["a", "a", "a", "b", "b"], "y": [1.0, 2.0, 4.0, 5.0, 6.0]})
    >>> out = clean(long, m, CleanPolicy(fill="linear", max_gap_days=2))
    >>> out.clean[["series_id", "y", "is_imputed"]].values.tolist()
    [['a', 1.0, False], ['a', 2.0, False], ['a', 3.0, True], ['a', 4.0, False]]
    >>> out.report["series"], out.report["series_quarantined"], out.quarantine["line"].tolist()
    (['a'], ['b'], [5, 6])
    """
    policy = policy or CleanPolicy()
    mapping = mapping.in_frame  # categorical columns as validation named them
    if mapping.is_long:
        return _clean_long(valid, mapping, policy)
    sids = mapping.series_ids
    keep = ["ds", "day_type", *sids, *mapping.categorical_columns]
    df = valid.sort_values(["ds", "line"], kind="stable")
    exact = df.duplicated(subset=keep, keep="first")
    df = df[~exact]
    others = ["day_type", *mapping.categorical_columns]
    df, merged, cell_conflicts = _merge_duplicates(df, list(sids), others, mapping)
    conflict = df["ds"].duplicated(keep=False)  # left: days whose day type (or category) differs
    quarantine = pd.DataFrame(
        {
            "line": df.loc[conflict, "line"].astype(int),
            "stage": "clean",
            "reason": [
                f"conflicting duplicate: {d:%Y-%m-%d} appears with different values"
                for d in df.loc[conflict, "ds"]
            ],
            "scope": "row",
        }
    )
    quarantine = pd.concat([quarantine, cell_conflicts], ignore_index=True).sort_values("line", kind="stable")
    df = df[~conflict].set_index("ds")
    if df.empty:
        raise CleaningError("no day survives cleaning: every day appears with conflicting values")
    step = sampling_step(df.index.to_numpy("datetime64[D]").astype(np.int64))
    if step > 1:
        raise CleaningError(not_daily(step, len(df), df.index.min(), df.index.max()))

    full = pd.date_range(df.index.min(), df.index.max(), freq="D")
    absent = ~full.isin(df.index)  # days with no row: every series misses them
    df = df.reindex(full)
    problem = _imputation_problem(absent, full, mapping, policy)
    if problem:
        raise CleaningError(problem)
    # A cell set aside by validation is missing for its series only. Each series spans its
    # own first to last value (blanks at either end are not filled: its data ends there,
    # and the freshness check must see it); a series that cannot be imputed is dropped.
    df.loc[absent, "day_type"] = day_types(full[absent])
    dropped, parts = {}, []
    for sid in sids:
        present = df[sid].notna().to_numpy()
        if not present.any():
            dropped[sid] = f"series {sid}: no value on any of the {len(full)} days (every cell was quarantined)"
            continue
        first, last = np.flatnonzero(present)[[0, -1]]
        span = slice(first, last + 1)
        problem = _imputation_problem(~present[span], full[span], mapping, policy)
        if problem:
            dropped[sid] = f"series {sid}: {problem}"
            continue
        parts.append(pd.DataFrame({"series_id": sid, "ds": full[span], "y": _fill(df[sid].iloc[span], policy.fill).to_numpy(),
                                   "day_type": df["day_type"].iloc[span].to_numpy(), "is_imputed": ~present[span]}))
    kept = [sid for sid in sids if sid not in dropped]
    if not kept:
        raise CleaningError(f"no series survives cleaning, e.g. {next(iter(dropped.values()))}")
    long = pd.concat(parts, ignore_index=True)
    by_day = long.groupby("ds")["is_imputed"].any()
    long = long.sort_values(["series_id", "ds"], kind="stable").reset_index(drop=True)
    long["series_id"] = long["series_id"].astype(str)
    long["day_type"] = long["day_type"].astype(str)
    long["y"] = long["y"].astype(float)
    long["ds"] = long["ds"].astype("datetime64[ns]")
    report = {
        "rows_valid": int(len(valid)),
        "exact_duplicates_dropped": int(exact.sum()),
        "duplicates_merged": merged,
        "conflicting_duplicate_rows": int(conflict.sum()) + int(cell_conflicts["line"].nunique()),
        "days": int(len(full)),
        "gaps": len(_runs(by_day.to_numpy())),
        "days_imputed": int(by_day.sum()),
        "values_imputed": int(long["is_imputed"].sum()),
        "first_day": f"{long['ds'].min():%Y-%m-%d}",
        "last_day": f"{long['ds'].max():%Y-%m-%d}",
        "series": kept,
        "series_quarantined": list(dropped),
        "series_quarantine_reasons": list(dropped.values()),
        "policy": asdict(policy),
    }
    return Cleaned(long, quarantine.reset_index(drop=True), report)


def _merge_duplicates(df: pd.DataFrame, sids: list[str], others: list[str],
                      mapping: Mapping) -> tuple[pd.DataFrame, int, pd.DataFrame]:
    """Make one row of each repeated day of a wide table whose day type (and categories) agree.

    A series whose non-missing values agree keeps that value (one copy had the cell set
    aside, or both say the same); a series whose values differ has that day set aside for
    it alone (the other series keep theirs), every row of the day quarantined for it
    (``scope`` its column). Returns the frame, how many rows were merged away, and those
    quarantine rows. Days whose day type differs are left repeated (the caller rejects them).
    """
    empty = pd.DataFrame(columns=["line", "stage", "reason", "scope"])
    dup = df["ds"].duplicated(keep=False).to_numpy()
    if not dup.any():
        return df, 0, empty
    n = df[dup].groupby("ds")[[*others, *sids]].nunique(dropna=True)
    mergeable = n[others].le(1).all(axis=1) if others else pd.Series(True, index=n.index)
    rows = dup & df["ds"].isin(n.index[mergeable]).to_numpy()
    if not rows.any():
        return df, 0, empty
    part = df[rows]
    merged = part.groupby("ds", as_index=False, sort=True).first()[df.columns]
    source = {sid: src for src, sid in mapping.value_columns.items()}
    found: dict[int, list[tuple[str, pd.Timestamp]]] = {}
    for sid in sids:
        days = n.index[mergeable & (n[sid] > 1)]
        if len(days):
            merged.loc[merged["ds"].isin(days), sid] = np.nan
            for line, day in part.loc[part["ds"].isin(days), ["line", "ds"]].itertuples(index=False):
                found.setdefault(int(line), []).append((sid, day))
    conflicts = pd.DataFrame(
        [{"line": line, "stage": "clean",
          "reason": "; ".join(f"conflicting duplicate: series {sid}: {day:%Y-%m-%d} appears with different values"
                              for sid, day in cells),
          "scope": ", ".join(source.get(sid, sid) for sid, _ in cells)}
         for line, cells in sorted(found.items())], columns=empty.columns)
    out = pd.concat([df[~rows], merged], ignore_index=True).sort_values(["ds", "line"], kind="stable")
    return out, int(rows.sum() - len(merged)), conflicts


def _imputation_problem(missing: np.ndarray, full: pd.DatetimeIndex, mapping: Mapping,
                        policy: CleanPolicy) -> str | None:
    """Why the ``missing`` days of a wide table (or one of its series) cannot be imputed, or None."""
    share = missing.mean()
    if share > mapping.max_imputed_share:
        return (f"{missing.sum()} of {len(full)} days ({share:.0%}) would be imputed, more than "
                f"max_imputed_share {mapping.max_imputed_share:g} (set it in the mapping to accept more)")
    runs = _runs(missing)
    longest = max((b - a for a, b in runs), default=0)
    if runs and (policy.fill == "none" or longest > policy.max_gap_days):
        a, b = max(runs, key=lambda r: r[1] - r[0])
        limit = 0 if policy.fill == "none" else policy.max_gap_days
        return (f"gap of {b - a} missing day(s) from {full[a]:%Y-%m-%d} to {full[b - 1]:%Y-%m-%d} "
                f"exceeds the limit of {limit} (the nightly's max_gap_days; fill '{policy.fill}')")
    return None


# --------------------------------------------------------------------------- long tables


def _clean_long(valid: pd.DataFrame, mapping: Mapping, policy: CleanPolicy) -> Cleaned:
    """Per-series cleaning of a long frame, vectorised over all series at once."""
    sids, df, counts, conflicts = _dedup_long(valid, mapping)
    grid = _Grid(df["_code"].to_numpy(), df["_day"].to_numpy(), len(sids))
    starts, ends = _run_bounds(grid.missing)
    run_code = grid.code[starts]
    limit = 0 if policy.fill == "none" else policy.max_gap_days
    bad_codes, reasons = _too_long(starts, ends, run_code, grid, limit, policy, sids)
    steps = _steps_long(df["_code"].to_numpy(), df["_day"].to_numpy(), len(sids))
    for c in np.flatnonzero(steps > 1):
        reasons[c] = f"series {sids[c]}: " + not_daily(int(steps[c]), int((df["_code"] == c).sum()))
    imputed = np.bincount(grid.code[grid.missing], minlength=len(sids))
    share = imputed / np.maximum(grid.length, 1)
    for c in np.flatnonzero((share > mapping.max_imputed_share) & (steps <= 1)):
        reasons.setdefault(c, (
            f"series {sids[c]}: {imputed[c]} of {grid.length[c]} days ({share[c]:.0%}) would be imputed, "
            f"more than max_imputed_share {mapping.max_imputed_share:g}"
        ))
    bad_codes = np.array(sorted(reasons), dtype=np.int64)
    if len(sids) and (steps > 1).all():
        step = int(np.median(steps))
        raise CleaningError("no series is daily: " + not_daily(step, len(df)).removeprefix("not daily: "))
    bad_rows = df[np.isin(df["_code"].to_numpy(), bad_codes)]
    gap_rows = _quarantine_rows(bad_rows, [reasons[c] for c in bad_rows["_code"]])
    quarantine = pd.concat([conflicts, gap_rows], ignore_index=True)

    keep = grid.length > 0  # a series whose every row conflicted has no cells
    keep[bad_codes] = False
    if not keep.any():
        sample = list(reasons.values())[:3] or quarantine["reason"].head(3).tolist()
        raise CleaningError(f"no series survives cleaning ({len(sids)} quarantined), e.g. {sample}")
    rows = keep[grid.code]
    missing = grid.missing[rows]
    ds = grid.day[rows].astype("datetime64[D]")
    day_type = grid.spread(df["day_type"].to_numpy(object), None)[rows]
    day_type[missing] = day_types(pd.DatetimeIndex(ds[missing]))
    y = _fill_long(grid.spread(df["y"].to_numpy(float), np.nan), grid, policy.fill)
    out = pd.DataFrame(
        {
            "series_id": sids[grid.code[rows]].astype(str),
            "ds": ds.astype("datetime64[ns]"),
            "y": y[rows],
            "day_type": day_type.astype(str),
            "is_imputed": missing,
        }
    )
    report = {
        "rows_valid": int(len(valid)),
        **counts,
        "days": int(len(np.unique(ds))),
        "gaps": int(keep[run_code].sum()),
        "days_imputed": int(missing.sum()),
        "values_imputed": int(missing.sum()),
        "first_day": str(ds.min()),
        "last_day": str(ds.max()),
        "series": sids[keep].tolist(),
        "series_quarantined": sids[~keep].tolist(),
        "series_quarantine_reasons": [reasons[c] for c in bad_codes],
        "policy": asdict(policy),
    }
    return Cleaned(out, quarantine, report)


def _dedup_long(valid: pd.DataFrame, mapping: Mapping):
    """Sort by series, day and line; drop exact duplicates; set conflicting ones aside.

    Returns the sorted ids, the remaining rows (with ``_code`` into the ids and ``_day``
    in days since the epoch), the two duplicate counts and the conflicts' quarantine rows.
    """
    code, uniques = pd.factorize(valid["series_id"], sort=True)
    sids = np.asarray(uniques, dtype=object)
    day = valid["ds"].to_numpy("datetime64[D]").astype(np.int64)
    order = np.lexsort((valid["line"].to_numpy(), day, code))
    df = valid.iloc[order].assign(_code=code[order], _day=day[order]).reset_index(drop=True)
    exact = df.duplicated(subset=["_code", "_day", "day_type", "y", *mapping.categorical_columns])
    df = df[~exact.to_numpy()]
    conflict = df.duplicated(subset=["_code", "_day"], keep=False).to_numpy()
    rows = df[conflict]
    reasons = [
        f"conflicting duplicate: series {sids[c]}: {d:%Y-%m-%d} appears with different values"
        for c, d in zip(rows["_code"], rows["ds"])
    ]
    counts = {"exact_duplicates_dropped": int(exact.sum()), "duplicates_merged": 0,
              "conflicting_duplicate_rows": int(conflict.sum())}
    return sids, df[~conflict], counts, _quarantine_rows(rows, reasons)


_INTERVALS = {7: "weekly", 14: "fortnightly", 28: "monthly", 29: "monthly", 30: "monthly", 31: "monthly",
              90: "quarterly", 91: "quarterly", 92: "quarterly", 365: "yearly", 366: "yearly"}


def sampling_step(days: np.ndarray) -> int:
    """The median spacing, in days, between consecutive distinct days (1 for daily data).

    >>> sampling_step(np.array([0, 7, 14, 21, 35]))
    7
    >>> sampling_step(np.array([0, 1, 2, 4, 5]))
    1
    """
    u = np.unique(days)
    # three spacings at least: two or three rows with a missing day are a gap, not an interval
    return int(np.median(np.diff(u))) if len(u) > 3 else 1


def not_daily(step: int, rows: int, first=None, last=None) -> str:
    """The message for data sampled every ``step`` days."""
    span = f" from {first:%Y-%m-%d} to {last:%Y-%m-%d}" if first is not None else ""
    what = _INTERVALS.get(step, f"every {step} days")
    return (
        f"not daily: the {rows} rows{span} are {step} days apart ({what}); seqcast forecasts daily "
        f"series, so aggregate or resample the source to one row per day first"
    )


def _steps_long(code: np.ndarray, day: np.ndarray, n_series: int) -> np.ndarray:
    """:func:`sampling_step` of each series of a long frame sorted by code, then day."""
    if not len(code):
        return np.ones(n_series, dtype=np.int64)
    same = np.diff(code) == 0
    diffs = pd.Series(np.diff(day)[same]).groupby(code[1:][same])
    gaps = diffs.median()[diffs.size() >= 3]
    out = np.ones(n_series, dtype=np.int64)
    out[gaps.index.to_numpy()] = gaps.to_numpy().astype(np.int64)
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``[start, end)`` index ranges where ``mask`` is true."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _fill(y: pd.Series, how: str) -> pd.Series:
    if not y.isna().any():
        return y
    linear = y.interpolate(method="linear", limit_direction="both")
    if how == "linear":
        return linear
    values = y.to_numpy(dtype=float)
    week = _week_before(values, np.isnan(values), np.arange(len(values)))
    return pd.Series(week, index=y.index).fillna(linear)


def _week_before(y: np.ndarray, missing: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``y`` with each missing cell set to the same weekday a week before in its series (the
    past only; NaN where no earlier week exists). Cells are filled in day order, so one
    filled first feeds the cell a week later in a long gap. ``position``: the day within
    the series of each cell."""
    out = y.copy()
    for i in np.flatnonzero(missing & (position >= 7)):
        out[i] = out[i - 7]
    return out


class _Grid:
    """Every series on its own full daily range, series after series in one flat axis.

    ``code``/``day`` (int days since the epoch) have one entry per grid cell; the rows
    given (sorted by code, then day, unique) land at ``index``; ``missing`` marks the
    cells no row landed on. A series' first and last day always hold a row, so a run
    of missing cells never spans two series.
    """

    def __init__(self, code: np.ndarray, day: np.ndarray, n_series: int):
        starts = np.searchsorted(code, np.arange(n_series))
        ends = np.searchsorted(code, np.arange(n_series), side="right")
        self.length = np.zeros(n_series, dtype=np.int64)
        has = ends > starts
        self.first = np.zeros(n_series, dtype=np.int64)
        self.first[has] = day[starts[has]]
        self.length[has] = day[ends[has] - 1] - self.first[has] + 1
        self.offset = np.concatenate([[0], np.cumsum(self.length)[:-1]])
        self.code = np.repeat(np.arange(n_series), self.length)
        self.position = np.arange(len(self.code)) - self.offset[self.code]  # day within its series
        self.day = self.first[self.code] + self.position
        self.index = self.offset[code] + day - self.first[code]
        self.missing = np.ones(len(self.code), dtype=bool)
        self.missing[self.index] = False

    def spread(self, values: np.ndarray, empty) -> np.ndarray:
        out = np.full(len(self.code), empty, dtype=values.dtype)
        out[self.index] = values
        return out


def _run_bounds(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs where ``mask`` is true."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _too_long(starts, ends, run_code, grid: _Grid, limit: int, policy: CleanPolicy, sids) -> tuple[np.ndarray, dict]:
    """Codes of the series whose longest gap exceeds ``limit``, and a reason for each."""
    size = ends - starts
    longest = np.zeros(len(sids), dtype=np.int64)
    np.maximum.at(longest, run_code, size)
    bad = np.flatnonzero(longest > limit)
    reasons = {}
    for c in bad:
        i = np.flatnonzero((run_code == c) & (size == longest[c]))[0]
        first, last = (grid.day[[starts[i], ends[i] - 1]]).astype("datetime64[D]")
        reasons[c] = (
            f"series {sids[c]}: gap of {size[i]} missing day(s) from {first} to {last} "
            f"exceeds the limit of {limit} (CleanPolicy.max_gap_days / fill='{policy.fill}')"
        )
    return bad, reasons


def _quarantine_rows(rows: pd.DataFrame, reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"line": rows["line"].to_numpy(np.int64), "stage": "clean", "reason": reasons,
                         "scope": "row"})


def _fill_long(y: np.ndarray, grid: _Grid, how: str) -> np.ndarray:
    """:func:`_fill` for every series of the grid at once (shifts stay inside a series)."""
    missing = np.isnan(y)
    if not missing.any():
        return y
    cells = np.arange(len(y))
    out = y.copy()
    out[missing] = np.interp(cells[missing], cells[~missing], y[~missing])
    if how == "linear":
        return out
    seasonal = _week_before(y, missing, grid.position)
    use = missing & ~np.isnan(seasonal)
    out[use] = seasonal[use]
    return out
