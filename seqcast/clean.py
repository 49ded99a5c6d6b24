"""Clean: one row per series and day, daily frequency, short gaps filled and flagged.

Steps, in order: sort; drop the derived total; drop exact duplicate rows;
quarantine *all* rows of a day that appears with different values (the day
becomes missing); reindex to daily frequency; fill gaps up to
``max_gap_days`` by the configured policy (flagged in ``is_imputed``); a longer
gap stops the run with :class:`CleaningError`.
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

    ``seasonal``: the mean of the same weekday one week before and after (whichever
    exist), falling back to linear interpolation; ``linear``: straight line between
    neighbours; ``none``: any gap is an error.
    """

    fill: Literal["seasonal", "linear", "none"] = "seasonal"
    max_gap_days: int = 7


@dataclass
class Cleaned:
    clean: pd.DataFrame  # series_id, ds, y, day_type, is_imputed
    quarantine: pd.DataFrame  # line, stage, reason + raw columns (conflicting duplicates)
    report: dict = field(default_factory=dict)


def clean(valid: pd.DataFrame, mapping: Mapping, policy: CleanPolicy | None = None) -> Cleaned:
    """Turn the validated wide frame into the clean long frame.

    >>> import pandas as pd
    >>> from seqcast.ingest import Mapping
    >>> m = Mapping(date_column="d", value_columns={"v": "v"})
    >>> wide = pd.DataFrame({"line": [2, 3, 4], "ds": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-03"]),
    ...                      "day_type": ["W", "W", "W"], "v": [1.0, 3.0, 3.0]})
    >>> out = clean(wide, m, CleanPolicy(fill="linear"))
    >>> out.clean[["y", "is_imputed"]].values.tolist()
    [[1.0, False], [2.0, True], [3.0, False]]
    >>> out.report["exact_duplicates_dropped"]
    1
    """
    policy = policy or CleanPolicy()
    sids = mapping.series_ids
    keep = ["ds", "day_type", *sids, *mapping.categorical_columns]
    df = valid.sort_values(["ds", "line"], kind="stable")
    exact = df.duplicated(subset=keep, keep="first")
    df = df[~exact]
    conflict = df["ds"].duplicated(keep=False)
    quarantine = pd.DataFrame(
        {
            "line": df.loc[conflict, "line"].astype(int),
            "stage": "clean",
            "reason": [
                f"conflicting duplicate: {d:%Y-%m-%d} appears with different values"
                for d in df.loc[conflict, "ds"]
            ],
        }
    )
    df = df[~conflict].set_index("ds")

    full = pd.date_range(df.index.min(), df.index.max(), freq="D")
    df = df.reindex(full)
    missing = df[sids[0]].isna().to_numpy()
    runs = _runs(missing)
    longest = max((b - a for a, b in runs), default=0)
    if runs and (policy.fill == "none" or longest > policy.max_gap_days):
        a, b = max(runs, key=lambda r: r[1] - r[0])
        limit = 0 if policy.fill == "none" else policy.max_gap_days
        raise CleaningError(
            f"gap of {b - a} missing day(s) from {full[a]:%Y-%m-%d} to {full[b - 1]:%Y-%m-%d} "
            f"exceeds the limit of {limit} (CleanPolicy.max_gap_days / fill='{policy.fill}')"
        )
    for sid in sids:
        df[sid] = _fill(df[sid], policy.fill)
    df.loc[missing, "day_type"] = day_types(full[missing])

    long = (
        df.rename_axis("ds")
        .reset_index()
        .melt(id_vars=["ds", "day_type"], value_vars=sids, var_name="series_id", value_name="y")
    )
    long["is_imputed"] = np.tile(missing, len(sids))
    long = long[["series_id", "ds", "y", "day_type", "is_imputed"]]
    long = long.sort_values(["series_id", "ds"], kind="stable").reset_index(drop=True)
    long["series_id"] = long["series_id"].astype(str)
    long["day_type"] = long["day_type"].astype(str)
    long["y"] = long["y"].astype(float)
    long["ds"] = long["ds"].astype("datetime64[ns]")
    report = {
        "rows_valid": int(len(valid)),
        "exact_duplicates_dropped": int(exact.sum()),
        "conflicting_duplicate_rows": int(conflict.sum()),
        "days": int(len(full)),
        "gaps": len(runs),
        "days_imputed": int(missing.sum()),
        "first_day": f"{full[0]:%Y-%m-%d}",
        "last_day": f"{full[-1]:%Y-%m-%d}",
        "series": list(sids),
        "policy": asdict(policy),
    }
    return Cleaned(long, quarantine.reset_index(drop=True), report)


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
    week = pd.concat([y.shift(7), y.shift(-7)], axis=1).mean(axis=1)
    return y.fillna(week).fillna(linear)
