"""Validate: parse the raw strings, check them with pandera, quarantine what fails.

Row-level problems (an unparseable date, text in a numeric column, a negative
count, an unknown day type, a total that is not the sum of its parts, a date in
the future, an empty series id in a long table) send that row to the quarantine
with every reason found, and the run continues on the rest. Structural problems
raise :class:`InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa

from seqcast.errors import InputError
from seqcast.ingest import Mapping

DAY_TYPES = ("W", "A", "U")
QUARANTINE_COLUMNS = ["line", "stage", "reason"]


@dataclass
class Validated:
    """The outcome of validation.

    ``valid`` is the typed frame: wide ``line, ds, day_type, <series ids...>[, total]``,
    or for a long mapping ``line, ds, day_type, series_id, y`` (one row per series and day).
    ``quarantine`` has ``line, stage, reason`` plus the row's raw text columns.
    ``parsed`` is every row as parsed (NaN where a cell could not be), for reports.
    """

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    rows_after_as_of: int
    parsed: pd.DataFrame


def raw_schema(mapping: Mapping, as_of: date | None) -> pa.DataFrameSchema:
    """The pandera contract for a parsed raw frame (wide: one column per series; long: ``series_id, y``)."""
    value = [pa.Check.ge(0, error="negative value")] if mapping.non_negative else []
    columns: dict[str, pa.Column] = {
        "ds": pa.Column(
            "datetime64[ns]",
            checks=[pa.Check.le(pd.Timestamp(as_of), error=f"date after {as_of}")] if as_of else [],
            nullable=False,
        ),
        "day_type": pa.Column(str, pa.Check.isin(DAY_TYPES, error="unknown day type"), nullable=False),
    }
    if mapping.is_long:
        columns["series_id"] = pa.Column(str, nullable=False)
        columns["y"] = pa.Column(float, checks=value, nullable=False)
    for sid in mapping.series_ids:
        columns[sid] = pa.Column(float, checks=value, nullable=False)
    checks = []
    if mapping.total_column:
        sids = mapping.series_ids
        columns["total"] = pa.Column(float, checks=value, nullable=False)
        checks.append(
            pa.Check(
                lambda df: pd.Series(
                    np.isclose(df["total"], df[sids].sum(axis=1), rtol=0, atol=0.5), index=df.index
                ),
                error=f"{mapping.total_column} != {' + '.join(mapping.value_columns)}",
            )
        )
    return pa.DataFrameSchema(columns, checks=checks, strict=False, coerce=False)


def validate(
    raw: pd.DataFrame,
    mapping: Mapping,
    *,
    as_of: date | None = None,
    today: date | None = None,
    name: str = "source",
) -> Validated:
    """Parse and check ``raw`` (strings from :func:`seqcast.ingest.read_table`).

    Parameters
    ----------
    as_of
        Replay date: rows after it are *not yet known* and set aside (not quarantined).
    today
        Rows dated after ``today`` are quarantined as future-dated. Defaults to ``as_of``
        or the real date.
    """
    rows_in = len(raw)
    reasons: dict[int, list[str]] = {}

    def flag(mask: pd.Series, reason) -> None:
        for idx, msg in zip(raw.index[mask], _messages(reason, raw.loc[mask])):
            reasons.setdefault(idx, []).append(msg)

    typed = pd.DataFrame({"line": raw["line"].astype(int)}, index=raw.index)
    ds_text = raw[mapping.date_column].str.strip()
    typed["ds"] = pd.to_datetime(ds_text, format=mapping.date_format, errors="coerce").astype("datetime64[ns]")
    flag(typed["ds"].isna(), lambda r: f"{mapping.date_column}: cannot parse {r[mapping.date_column]!r} as {mapping.date_format}")
    if mapping.day_type_column:
        typed["day_type"] = raw[mapping.day_type_column].str.strip().str.upper()
    else:
        from seqcast.sample import day_types

        typed["day_type"] = day_types(pd.DatetimeIndex(typed["ds"].fillna(pd.Timestamp(0))))
    if mapping.is_long:
        typed["series_id"] = raw[mapping.series_column].astype(str).str.strip()
        flag(typed["series_id"] == "", f"{mapping.series_column}: empty series id")
    for column in mapping.categorical_columns:
        typed[column] = raw[column].str.strip()
        flag(typed[column] == "", f"{column}: empty")
    targets = {mapping.value_column: "y"} if mapping.is_long else dict(mapping.value_columns)
    if mapping.total_column:
        targets[mapping.total_column] = "total"
    for src, dst in targets.items():
        text = raw[src].astype(str).str.strip().str.replace(",", "", regex=False)
        typed[dst] = pd.to_numeric(text, errors="coerce").astype(float)
        flag(text == "", f"{src}: missing value")
        flag((text != "") & typed[dst].isna(), lambda r, s=src: f"{s}: {r[s]!r} is not a number")

    # Replays: days after as_of do not exist yet.
    after = typed["ds"] > pd.Timestamp(as_of) if as_of else pd.Series(False, index=typed.index)
    horizon = today or as_of or date.today()
    parsed = ~typed.index.isin(list(reasons)) & ~after
    schema = raw_schema(mapping, horizon)
    try:
        schema.validate(typed[parsed], lazy=True)
    except pa.errors.SchemaErrors as exc:
        for idx, msg in _pandera_reasons(exc.failure_cases, typed, mapping):
            found = reasons.setdefault(idx, [])
            if msg not in found:  # a frame-level check reports once per column
                found.append(msg)

    bad = typed.index.isin(list(reasons))
    quarantine = raw[bad].copy()
    quarantine.insert(1, "stage", "validate")
    quarantine.insert(2, "reason", ["; ".join(reasons[i]) for i in quarantine.index])
    valid = typed[~bad & ~after.to_numpy()].reset_index(drop=True)
    if valid.empty:
        sample = quarantine["reason"].head(3).tolist()
        raise InputError(
            f"{name}: every one of the {rows_in} rows was rejected"
            + (f", e.g. {sample}" if sample else f" (all are after as-of {as_of})")
        )
    return Validated(valid, quarantine.reset_index(drop=True), rows_in, int(after.sum()), typed[~after])


def _messages(reason, rows: pd.DataFrame) -> list[str]:
    if callable(reason):
        return [reason(r) for _, r in rows.iterrows()]
    return [reason] * len(rows)


def _pandera_reasons(cases: pd.DataFrame, typed: pd.DataFrame, mapping: Mapping):
    """Turn pandera's ``failure_cases`` into ``(row index, message)`` pairs."""
    source_name = {v: k for k, v in mapping.value_columns.items()}
    if mapping.is_long:
        source_name.update({"series_id": mapping.series_column, "y": mapping.value_column})
    source_name.update({"ds": mapping.date_column, "day_type": mapping.day_type_column or "day_type"})
    if mapping.total_column:
        source_name["total"] = mapping.total_column
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            raise InputError(f"schema check failed for the whole table: {case.check} on {case.column}")
        idx = int(case.index)
        if case.schema_context == "DataFrameSchema":
            yield idx, str(case.check)
            continue
        column = source_name.get(case.column, case.column)
        yield idx, f"{column}: {case.check} ({case.failure_case!r})"


class CleanSchema(pa.DataFrameModel):
    """The contract of the clean long frame every later stage reads."""

    series_id: str = pa.Field(nullable=False)
    ds: pd.Timestamp = pa.Field(nullable=False)
    y: float = pa.Field(nullable=False)
    day_type: str = pa.Field(isin=list(DAY_TYPES))
    is_imputed: bool

    class Config:
        strict = True
        unique = ["series_id", "ds"]

    @pa.dataframe_check(error="not daily: a series has a missing day")
    @classmethod
    def daily(cls, df: pd.DataFrame) -> bool:
        g = df.groupby("series_id")["ds"].agg(["min", "max", "size"])
        return bool(((g["max"] - g["min"]).dt.days + 1 == g["size"]).all())
