"""Validate: parse the raw strings, check them with pandera, quarantine what fails.

Row-level problems (an unparseable date, an unknown day type, a total that is not
the sum of its parts, a date in the future, an empty series id in a long table)
send that row to the quarantine with every reason found, and the run continues on
the rest. In a wide table a bad *value* (text, empty, negative, above
``max_value``, implausible) sets aside that series' cell only: the row's other
series keep their values, and the quarantine row names the columns set aside in
``scope`` (``row`` when the whole row was rejected). Structural problems raise
:class:`InputError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import pandera.pandas as pa

from seqcast.errors import InputError
from seqcast.ingest import Mapping

DAY_TYPES = ("W", "A", "U")
QUARANTINE_COLUMNS = ["line", "stage", "reason", "scope"]
ROW = "row"  # the scope of a quarantine row that was rejected whole
REPEATED_HEADER = "a repeated header line (files joined together?)"


@dataclass
class Validated:
    """The outcome of validation.

    ``valid`` is the typed frame: wide ``line, ds, day_type, <series ids...>[, total]``,
    or for a long mapping ``line, ds, day_type, series_id, y`` (one row per series and day).
    ``quarantine`` has ``line, stage, reason, scope`` plus the row's raw text columns;
    ``scope`` is ``row`` for a rejected row, else the source value columns whose cells were
    set aside (wide tables), comma-separated, the row's other values kept in ``valid`` (the
    set-aside cells NaN there).
    ``parsed`` is every row as parsed (NaN where a cell could not be), for reports.
    ``ids_trimmed``: long tables, one line per series id read without its surrounding
    spaces (``'bus ' read as 'bus' (3 rows), as are 400 rows already 'bus'``): the
    spaces are dropped, and when that joins two spellings into one series it is said.
    """

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    rows_after_as_of: int
    parsed: pd.DataFrame
    ids_trimmed: list[str] = field(default_factory=list)


def raw_schema(mapping: Mapping, as_of: date | None) -> pa.DataFrameSchema:
    """The pandera contract for a parsed raw frame (wide: one column per series; long: ``series_id, y``)."""
    value = [pa.Check.ge(0, error="negative value")] if mapping.non_negative else []

    def bounded(source: str) -> list[pa.Check]:
        bound = mapping.bound_for(source)
        return value + ([pa.Check.le(bound, error=f"above max_value {bound:g}")] if bound is not None else [])
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
        columns["y"] = pa.Column(float, checks=bounded(mapping.value_column), nullable=False)
    for src, sid in mapping.value_columns.items():  # NaN: a cell set aside, reported already
        columns[sid] = pa.Column(float, checks=bounded(src), nullable=True)
    checks = []
    if mapping.total_column:
        sids = mapping.series_ids
        columns["total"] = pa.Column(float, checks=value, nullable=True)  # NaN: set aside
        checks.append(
            pa.Check(
                lambda df: pd.Series(  # not checkable where a part was set aside
                    np.isclose(df["total"], df[sids].sum(axis=1), rtol=0, atol=0.5)
                    | df[[*sids, "total"]].isna().any(axis=1).to_numpy(), index=df.index
                ),
                error=_total_error(mapping),
            )
        )
    return pa.DataFrameSchema(columns, checks=checks, strict=False, coerce=False)


def _in_order(cell_reasons: dict[str, list[str]], order: list[str]) -> list[str]:
    """A row's set-aside cells' messages, series in the mapping's order, the total last."""
    return [m for sid in order for m in cell_reasons.get(sid, [])]


def _total_error(mapping: Mapping) -> str:
    return f"{mapping.total_column} != {' + '.join(mapping.value_columns)}"


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
    mapping = mapping.in_frame  # the frame's names of the source columns
    rejected = raw.attrs.get("rejected") or []  # rows the reader could not split into the columns
    kinds = raw.attrs.get("typed", {})
    raw = raw.reset_index(drop=True)  # reasons are keyed by position (a Parquet index may repeat)
    rows_in = len(raw) + len(rejected)
    reasons: dict[int, list[str]] = {}  # rows rejected whole
    cells: dict[int, dict[str, list[str]]] = {}  # wide tables: row -> {series id: reasons}

    def flag(mask: pd.Series, reason, sid: str | None = None) -> None:
        for idx, msg in zip(raw.index[mask], _messages(reason, raw.loc[mask])):
            if sid is None:
                reasons.setdefault(idx, []).append(msg)
            else:
                cells.setdefault(idx, {}).setdefault(sid, []).append(msg)

    typed = pd.DataFrame({"line": raw["line"].astype(int)}, index=raw.index)
    ds_text = raw[mapping.date_column].astype(str).str.strip()
    days, date_problems = parse_days(ds_text, mapping, typed=kinds.get(mapping.date_column) == "instant")
    typed["ds"] = days
    for problem in date_problems.dropna().unique():
        flag(date_problems == problem,
             lambda r, p=problem: f"{mapping.date_column}: " + p.replace("{value}", repr(r[mapping.date_column])))
    _check_day_first(ds_text, date_problems, mapping, name)
    sids = raw[mapping.series_column].astype(str).str.strip() if mapping.is_long else None
    for sid, reason in _sub_daily(ds_text, days, sids).items():
        flag(days.notna() & (sids == sid if sids is not None else True), reason)
    if mapping.day_type_column:
        typed["day_type"] = raw[mapping.day_type_column].str.strip().str.upper()
    else:
        from seqcast.sample import day_types

        typed["day_type"] = day_types(pd.DatetimeIndex(typed["ds"].fillna(pd.Timestamp(0))))
    if mapping.is_long:
        # NFC: 'café' typed on one system and decomposed ('cafe' + U+0301) on another (macOS
        # file names) are one text by Unicode's definition, and print alike
        typed["series_id"] = _nfc(raw[mapping.series_column].astype(str).str.strip(_ID_PADDING))
        flag(typed["series_id"] == "", f"{mapping.series_column}: empty series id")
    for column in mapping.categorical_columns:
        typed[column] = raw[column].str.strip()
        flag(typed[column] == "", f"{column}: empty")
    targets = {mapping.value_column: "y"} if mapping.is_long else dict(mapping.value_columns)
    if mapping.total_column:
        targets[mapping.total_column] = "total"
    # a wide table's value cell is set aside alone (its total too: derived, dropped after the
    # cross-check); a long table's value is the row's
    cell_of = {} if mapping.is_long else {**mapping.value_columns, **dict.fromkeys(
        [mapping.total_column] if mapping.total_column else [], "total")}
    cell_order = [*mapping.series_ids, "total"]
    for src, dst in targets.items():
        text = raw[src].astype(str).str.strip()
        values, problems = parse_numbers(text, mapping, typed=kinds.get(src) == "number",
                                         groups=typed["series_id"] if mapping.is_long else None)
        typed[dst] = values
        flag(text == "", f"{src}: missing value", cell_of.get(src))
        for problem in problems.dropna().unique():
            flag(problems == problem, lambda r, s=src, p=problem: f"{s}: " + p.replace("{value}", repr(r[s])),
                 cell_of.get(src))

    # Replays: days after as_of do not exist yet.
    after = typed["ds"] > pd.Timestamp(as_of) if as_of else pd.Series(False, index=typed.index)
    if mapping.outlier_z is not None:
        for src, dst in targets.items():
            if dst == "total":
                continue
            known = ~after & ~typed.index.isin(list(reasons)) & ~typed.index.isin(
                [i for i, bad_cells in cells.items() if dst in bad_cells])
            groups = typed.loc[known, "series_id"] if mapping.is_long else None
            z = robust_z(typed.loc[known, dst], groups)
            out = pd.Series(False, index=typed.index)
            out[z.index[z > mapping.outlier_z]] = True
            flag(out, lambda r, s=src, zs=z: (
                f"{s}: {r[s]!r} is implausible (robust z-score {zs[r.name]:.3g} > outlier_z "
                f"{mapping.outlier_z:g}; set outlier_z or max_value in the mapping)"), cell_of.get(src))
    horizon = today or as_of or date.today()
    checkable = typed.copy()
    for idx, bad_cells in cells.items():  # set-aside cells are NaN for the contract
        checkable.loc[idx, list(bad_cells)] = np.nan
    parsed = ~typed.index.isin(list(reasons)) & ~after
    schema = raw_schema(mapping, horizon)
    try:
        if parsed.any():  # an empty frame fails the dtype checks: nothing is left to check
            schema.validate(checkable[parsed], lazy=True)
    except pa.errors.SchemaErrors as exc:
        for idx, column, msg in _pandera_reasons(exc.failure_cases, typed, mapping, name):
            found = (cells.setdefault(idx, {}).setdefault(column, []) if column in cell_order
                     and not mapping.is_long else reasons.setdefault(idx, []))
            if msg not in found:  # a frame-level check reports once per column
                found.append(msg)
    if mapping.total_column and not mapping.is_long:
        for idx in [i for i in reasons if i in cells]:  # the total is not checkable without its parts
            reasons[idx] = [m for m in reasons[idx] if m != _total_error(mapping)]
            if not reasons[idx]:
                del reasons[idx]
    for idx in list(cells):  # a row with no value left, or rejected anyway, is rejected whole
        if idx in reasons or all(sid in cells[idx] for sid in mapping.series_ids):
            reasons.setdefault(idx, []).extend(_in_order(cells[idx], cell_order))
            del cells[idx]
    for idx, bad_cells in cells.items():
        checkable.loc[idx, list(bad_cells)] = np.nan

    header = _repeated_header(raw, mapping)
    for idx in raw.index[header]:  # one reason, and no series named like the series column
        reasons[idx] = [REPEATED_HEADER]
        cells.pop(idx, None)
    if mapping.is_long:
        typed.loc[header, "series_id"] = ""

    bad = typed.index.isin(list(reasons)) & ~after.to_numpy()  # a day not yet known is set aside, not judged
    partly = typed.index.isin(list(cells)) & ~after.to_numpy()
    source_of = {sid: src for src, sid in mapping.value_columns.items()} | {"total": mapping.total_column}
    quarantine = raw[bad | partly].copy()
    quarantine.insert(1, "stage", "validate")
    quarantine.insert(2, "reason", [
        "; ".join(reasons[i] if i in reasons else _in_order(cells[i], cell_order))
        for i in quarantine.index])
    quarantine.insert(3, "scope", [
        ROW if i in reasons else ", ".join(source_of[sid] for sid in cell_order if sid in cells[i])
        for i in quarantine.index])
    if rejected:
        columns = [c for c in raw.columns if c != "line"]
        unreadable = pd.DataFrame(
            [{"line": line, "stage": "read", "reason": reason, "scope": ROW,
              **{c: (fields[k] if k < len(fields) else "") for k, c in enumerate(columns)}}
             for line, reason, fields in rejected]
        )
        quarantine = pd.concat([quarantine, unreadable], ignore_index=True).sort_values("line", kind="stable")
    valid = checkable[~typed.index.isin(list(reasons)) & ~after.to_numpy()].reset_index(drop=True)
    if valid.empty:
        first = quarantine.iloc[0] if len(quarantine) else None
        later = int(after.sum())
        if first is None:  # every row is after as-of: set aside as not yet known, not rejected
            earliest = typed.loc[after, "ds"].min()
            raise InputError(f"{name}: no row is dated on or before --as-of {as_of}: all {later} are after it "
                             f"(the data start on {earliest:%Y-%m-%d})")
        raise InputError(
            f"{name}: every one of the {rows_in - later} rows"
            + (f" up to --as-of {as_of} (the {later} after it are not yet known)" if later else "")
            + f" was rejected, e.g. line {first['line']}: {first['reason']}"
        )
    trimmed = _ids_trimmed(raw[mapping.series_column].astype(str)[~after.to_numpy() & ~header.to_numpy()]
                           ) if mapping.is_long else []
    return Validated(valid, quarantine.reset_index(drop=True), rows_in, int(after.sum()), typed[~after],
                     trimmed)


def _sub_daily(text: pd.Series, days: pd.Series, sids: pd.Series | None) -> dict[str | None, str]:
    """Series given several rows a day at different times (hourly readings): reduced to their
    day, each day would be a conflicting duplicate and every cell quarantined without the
    reason. ``series id (None for a wide table) -> the reason`` for each series where most
    days have rows at two or more different times.

    >>> t = pd.Series(["2024-01-01T00:00", "2024-01-01T01:00", "2024-01-02T00:00", "2024-01-02T01:00"])
    >>> _sub_daily(t, pd.to_datetime(t).dt.normalize(), None)[None].split(": seqcast")[0]
    "several rows a day at different times (2 on 2024-01-01: '2024-01-01T00:00', '2024-01-01T01:00', …)"
    """
    ok = days.notna()
    if not ok.any():
        return {}
    frame = pd.DataFrame({"sid": sids if sids is not None else "", "ds": days, "t": text})[ok]
    if not frame.duplicated(["sid", "ds"]).any():  # one row a day: the usual case, cheap
        return {}
    times = frame.groupby(["sid", "ds"], sort=True)["t"].nunique()
    share = (times > 1).groupby(level="sid").mean()
    out = {}
    for sid in share.index[share > 0.5]:
        day = times.loc[sid].idxmax()
        seen = frame.loc[(frame["sid"] == sid) & (frame["ds"] == day), "t"].unique()
        out[sid if sids is not None else None] = (
            f"several rows a day at different times ({len(seen)} on {day:%Y-%m-%d}: {seen[0]!r}, {seen[1]!r}, …)"
            f"{' in series ' + repr(sid) if sids is not None else ''}: seqcast forecasts daily series; "
            "aggregate the file to one row a day (sum or mean) first")
    return out


# around an id: whitespace (Python's, no-break space included) and the invisible format
# characters copy and paste brings along (zero-width space and joiners, word joiner, BOM)
_ID_PADDING = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u200b\u200c\u200d\u2060\ufeff"


def _nfc(ids: pd.Series) -> pd.Series:
    """``ids`` in Unicode NFC, normalising each distinct non-ASCII id once (a long table
    repeats a few thousand ids over millions of rows)."""
    import unicodedata

    changed = {u: n for u in ids.unique() if not u.isascii() and (n := unicodedata.normalize("NFC", u)) != u}
    return ids.replace(changed) if changed else ids


def _ids_trimmed(ids: pd.Series) -> list[str]:
    """One line per raw series id that differs from its stripped (and NFC-normalised) form
    (see :class:`Validated`); a change of normalisation is shown escaped, since both print alike.

    >>> _ids_trimmed(pd.Series(["bus ", "bus", "cafe\u0301", "caf\u00e9"]))
    ["'bus ' read as 'bus' (1 row), as are 1 row already 'bus'", "'cafe\\\\u0301' read as 'caf\\\\xe9' (Unicode NFC, the same text composed) (1 row), as are 1 row already 'caf\\\\xe9'"]
    """
    import unicodedata

    counts = ids.value_counts(sort=False)
    out = []
    for raw_id, n in counts.items():
        clean = unicodedata.normalize("NFC", raw_id.strip(_ID_PADDING))
        if raw_id == clean or not clean:
            continue
        show = repr
        how = ""
        if unicodedata.normalize("NFC", raw_id) != raw_id:
            show, how = ascii, " (Unicode NFC, the same text composed)"
        elif raw_id.strip() != raw_id.strip(_ID_PADDING):
            show, how = ascii, " (invisible characters dropped)"
        same = int(counts.get(clean, 0))
        out.append(f"{show(raw_id)} read as {show(clean)}{how} ({n} row{'s' * (n != 1)})"
                   + (f", as are {same} row{'s' * (same != 1)} already {show(clean)}" if same else ""))
    return sorted(out)


def _repeated_header(raw: pd.DataFrame, mapping: Mapping) -> pd.Series:
    """Rows whose every mapped cell is its column's name: a second file's header
    (``cat a.csv b.csv``). ``mapping``: as the frame names the columns."""
    out = pd.Series(True, index=raw.index)
    for column in mapping.required_columns:
        out &= raw[column].astype(str).str.strip().isin([column, column.removesuffix(" (source)")])
    return out


# --------------------------------------------------------------------------- parsing cells

_NS_MIN, _NS_MAX = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
_OFFSET = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"
_NUMERIC_FORMAT = r"(?:%[YmdyHMS]|[^%A-Za-z])+"  # numeric fields and punctuation only
_TOUCHING = r"%[YmdyHMS]%[YmdyHMS]"  # two fields with nothing between them ('%Y%m%d')
_ISO_REDUCED = r"\s*[+-]?[0-9]{4}(?:[-/. ][0-9]{1,2})?\s*"  # a year, or a year and month
# Under ISO8601 the offset is optional, and a plain date ends like one ('2024-01-01': '-01'):
# an offset counts only after a time of day, or every plain date became an instant at
# midnight UTC, a day earlier in a zone west of UTC.
_ISO_OFFSET = r"(?i)[T\s]\d{1,2}(?::?\d{2}){0,2}(?:[.,]\d+)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _written_offset(text: pd.Series) -> pd.Series:
    """The UTC offset each cell ends with (``Z``, ``+01``, ``-0600``, ``+05:30``) as a
    timedelta; zero where none.

    >>> _written_offset(pd.Series(["2023-01-01T00:00:00-06:00", "2023-01-01 00:00Z", "x+0530"])).tolist()
    [Timedelta('-1 days +18:00:00'), Timedelta('0 days 00:00:00'), Timedelta('0 days 05:30:00')]
    """
    parts = text.astype("string").str.extract(r"(?i)(?:Z|([+-])(\d{2}):?(\d{2})?)\s*$")
    sign = parts[0].map({"+": 1, "-": -1}).fillna(0).astype(float)
    minutes = sign * (pd.to_numeric(parts[1], errors="coerce").fillna(0) * 60
                      + pd.to_numeric(parts[2], errors="coerce").fillna(0))
    return pd.to_timedelta(minutes.to_numpy(dtype=float), unit="m").to_series(index=text.index)


def parse_days(text: pd.Series, mapping: Mapping, *, typed: bool = False) -> tuple[pd.Series, pd.Series]:
    """Parse date cells to calendar days (``datetime64[ns]`` at midnight).

    Naive timestamps keep their date (a time of day is dropped). Instants with a UTC
    offset (``2023-10-28T22:00:00Z``, ``%z`` in the format, tz-aware Parquet columns)
    are converted to ``mapping.timezone`` and reduced to that zone's day; without a
    timezone, an instant at midnight in its own written offset (local days written with
    their offset, a tz-aware Parquet column of local midnights, ``...T00:00:00Z``) is the
    day as written, and any other is refused, because its day depends on the zone
    (``2023-01-01T18:00:00-06:00`` is midnight UTC, yet written on 1 January). Offsets
    may differ row to row (a DST change).

    Returns
    -------
    days : NaT where a cell was refused
    problems : the reason per refused cell (``None`` elsewhere)
    """
    fmt = "ISO8601" if typed else mapping.date_format
    problems = pd.Series(None, index=text.index, dtype=object)
    offset = _ISO_OFFSET if fmt == "ISO8601" else _OFFSET if "%z" in fmt or "%Z" in fmt else None
    aware = text.str.contains(offset, regex=True) if offset else None
    if aware is not None and aware.any():
        instants = pd.to_datetime(text.where(aware), format=fmt, errors="coerce", utc=True)
        naive = pd.to_datetime(text.where(~aware), format=fmt, errors="coerce")
        if mapping.timezone:
            local = instants.dt.tz_convert(mapping.timezone).dt.tz_localize(None)
        else:
            # the day as written: midnight in the cell's own offset ('2023-01-01T00:00:00-06:00',
            # a tz-aware Parquet column of local days; 'Z' is offset 0) is that day. Any other
            # time is an instant: '2023-01-01T18:00:00-06:00' is midnight UTC, but taking
            # 2 January would move the day written
            local = instants.dt.tz_localize(None) + _written_offset(text.where(aware))
            off_midnight = aware & instants.notna() & (local != local.dt.normalize())
            problems[off_midnight] = (
                "{value} is an instant, not a day: its calendar day depends on the time zone "
                "(set 'timezone' in the mapping, e.g. Europe/Berlin)"
            )
        parsed = local.where(aware, naive.astype(local.dtype) if len(naive) else naive)
    else:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # %z with no offset rows cannot happen, but be safe
            parsed = parsed.dt.tz_localize(None)
    if fmt == "ISO8601":
        # pandas' ISO8601 accepts reduced precision ('2024-03' is 2024-03-01, '2024' is
        # 2024-01-01): a month's or a year's value would land on its first day.
        partial = text.str.fullmatch(_ISO_REDUCED) & problems.isna()
        problems[partial] = "{value} is a year or a month, not a day (ISO 8601 reduced precision)"
    if re.fullmatch(_NUMERIC_FORMAT, fmt) and re.search(_TOUCHING, fmt):
        # strptime takes '2024111' under %Y%m%d (11 January? it says 1 November): where fields
        # touch, only zero-padded cells say which day they are
        unpadded = parsed.notna() & problems.isna() & (parsed.dt.strftime(fmt) != text)
        problems[unpadded] = f"{{value}} is not zero-padded as {fmt} wants (e.g. '2024111' may be 2024-01-11 or 2024-11-01)"
    unparsed = parsed.isna() & problems.isna()
    problems[unparsed] = f"cannot parse {{value}} as {fmt}"
    # 45292 is 2024-01-01 to Excel (days since 1899-12-30): a date column saved as General
    serial = unparsed & text.str.fullmatch(r"[2-7]\d{4}(?:\.\d+)?")
    problems[serial] = (f"cannot parse {{value}} as {fmt}: it looks like an Excel serial day number (a date column "
                        "formatted as General or Number); format the column as a date in Excel and save it again")
    problems[unparsed & (text == "")] = "missing date"  # a blank cell, a Parquet null
    out_of_range = parsed.notna() & ((parsed < _NS_MIN) | (parsed > _NS_MAX))
    problems[out_of_range] = f"{{value}} is out of the supported range {_NS_MIN:%Y-%m-%d}..{_NS_MAX:%Y-%m-%d}"
    ok = problems.isna()
    days = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    days[ok] = parsed[ok].dt.normalize().astype("datetime64[ns]")
    return days, problems.where(~ok)


def _check_day_first(text: pd.Series, problems: pd.Series, mapping: Mapping, name: str) -> None:
    """Stop when dates that fail ``date_format`` read fine with day and month swapped, or
    when (nearly) every date fails it and reads as ISO 8601.

    An ``MM/DD/YYYY`` parse of a ``DD/MM/YYYY`` export misreads every day <= 12 and
    rejects the rest; rather than a gap or a day-after-as-of far from the cause, say so.
    """
    fmt = mapping.date_format
    failed = text[problems.notna() & problems.astype(str).str.startswith("cannot parse")]
    if len(failed) < 2:
        return
    if fmt != "ISO8601" and len(failed) >= 0.9 * (text != "").sum():
        # a Socrata API export of the CTA table writes '2001-01-01T00:00:00.000', not 01/01/2001
        iso = pd.to_datetime(failed, format="ISO8601", errors="coerce").notna()
        if iso.mean() >= 0.9:
            raise InputError(
                f"{name}: {iso.sum()} date(s) in {mapping.date_column!r} do not read as {fmt} but are ISO 8601 "
                f"(e.g. {failed[iso].iloc[0]!r}): set date_format: ISO8601 in a mapping file")
    if "%d" not in fmt or "%m" not in fmt:
        return
    swapped = fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")
    fixed = pd.to_datetime(failed, format=swapped, errors="coerce").notna()
    if fixed.mean() >= 0.9:
        raise InputError(
            f"{name}: {fixed.sum()} date(s) in {mapping.date_column!r} do not read as {fmt} but do as "
            f"{swapped} (e.g. {failed[fixed].iloc[0]!r}): set date_format: '{swapped}' in a mapping file"
        )


_PLACEHOLDERS = frozenset({"nan", "na", "n/a", "#n/a", "null", "none", "nil", "-", "--", "?", ".", "missing",
                           "#value!", "#div/0!", "#ref!", "#num!", "#null!"})


def parse_numbers(text: pd.Series, mapping: Mapping, *, typed: bool = False,
                  groups: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse numeric cells under the file's conventions (``mapping.decimal``/``thousands``).

    A cell is a number only if it reads as one under those conventions: with the
    default ``.`` decimal and no thousands separator, ``6,1`` and ``1,234`` are refused,
    never reinterpreted. In a column with no other decimal (whole numbers, or none) and
    no thousands separator set, a cell like ``769.069`` (the decimal mark before groups of
    three digits) is refused as ambiguous: it is 769069 written with ``.`` grouping thousands
    far more often than a count with three decimals (``thousands: ''`` says the file has no
    separator: it is a decimal then); with ``groups`` (a long table's series ids) that
    is judged per series, so one series written with decimals does not hide another's.
    Non-finite values (``inf``, ``nan``, ``1e400`` which overflows)
    are refused. Typed Parquet numbers are read as they are.

    Returns
    -------
    values : float, NaN where refused or empty
    problems : the reason per refused non-empty cell (``None`` elsewhere)
    """
    problems = pd.Series(None, index=text.index, dtype=object)
    present = text != ""
    if typed:
        values = pd.to_numeric(text.where(present), errors="coerce").astype(float)
        problems[present & values.isna() & ~text.str.lower().isin(["nan", "<na>"])] = "{value} is not a number"
    else:
        d = re.escape(mapping.decimal)
        t = re.escape(mapping.thousands) if mapping.thousands else None
        integer = rf"(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)" if t else r"\d+"
        # ASCII digits only: Python's \d also matches full-width and Arabic-Indic digits,
        # which the conversion below does not read
        ok = text.str.fullmatch(rf"[+-]?(?:{integer}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?", flags=re.ASCII)
        convention = f"decimal mark {mapping.decimal!r}, " + (
            f"thousands separator {mapping.thousands!r}" if mapping.thousands else "no thousands separator"
        )
        problems[present & ~ok] = f"{{value}} is not a number ({convention}; see decimal/thousands in the mapping)"
        # 'NULL', 'N/A', '-', '#DIV/0!': an export's mark for no value, not a number format gone wrong
        placeholder = present & ~ok & text.str.casefold().isin(_PLACEHOLDERS)
        problems[placeholder] = "{value} is not a number: a placeholder for a missing value"
        if mapping.thousands is None:  # '': no separator, said explicitly
            # '769.069' in a column of whole numbers is 769069 with '.' grouping thousands far
            # more often than a count with three decimals: refused, never read as 769.069;
            # so is a column of such values alone (a route with 1.000-999.999 riders a day).
            # (a first group never starts with 0: '0.125' is a decimal whatever the column holds)
            grouped = present & ok & text.str.fullmatch(rf"[+-]?[1-9]\d{{0,2}}(?:{d}\d{{3}})+", flags=re.ASCII)
            marked = present & ok & ~grouped & text.str.contains(mapping.decimal, regex=False)
            if grouped.any():  # judged per series where a long table has several
                key = groups.to_numpy() if groups is not None else np.zeros(len(text), dtype=np.int8)
                ambiguous = grouped & (marked.groupby(key).transform("sum") == 0)
                problems[ambiguous] = (
                    f"{{value}} is ambiguous: every other value is a whole number or written like this one, so "
                    f"{mapping.decimal!r} may group thousands here (set thousands: {mapping.decimal!r} in the "
                    f"mapping if it does, thousands: '' if it is a decimal mark)")
        cleaned = text.where(ok)
        if mapping.thousands:
            cleaned = cleaned.str.replace(mapping.thousands, "", regex=False)
        if mapping.decimal != ".":
            cleaned = cleaned.str.replace(mapping.decimal, ".", regex=False)
        with np.errstate(over="ignore"):
            values = pd.to_numeric(cleaned, errors="coerce").astype(float)
    infinite = text.str.lower().str.lstrip("+-").isin(["inf", "infinity"])
    nonfinite = present & (infinite | (problems.isna() & ~np.isfinite(values.fillna(0.0))))
    problems[nonfinite] = "{value} is not finite (inf, nan or beyond the float range); quarantined"
    nan_text = present & problems.isna() & values.isna()
    problems[nan_text] = "{value} is not a number (nan)"
    values[problems.notna()] = np.nan
    return values, problems


def robust_z(values: pd.Series, groups: pd.Series | None = None) -> pd.Series:
    """``|y - median| / (1.4826 * MAD)`` per group (the whole column when ``groups`` is None).

    Where the MAD is 0 (more than half the values equal: an intermittent series of
    zeros, a price that rarely moves), the scale is ``1.4826 *`` the lower median of the
    deviations that are not 0: the spread among the values that do move, capped at the
    level ``|median|`` where that is not 0. Alone in moving, a value would be its own
    scale (z 0.67), so a typo in a flat series (1e9 among 100s) is measured against the
    level instead: z is then how many times the level it moved (10 million; the default
    ``outlier_z`` 1,000 quarantines a move of 1,000 x the level, not 101 or 50,000 among
    100s). A series of zeros has no level: a lone sale is kept, ``max_value`` bounds it.
    Source: Rousseeuw & Croux (1993), "Alternatives to the median absolute deviation".
    (The mean absolute deviation used before shrinks with the share of equal values: one
    sale of 3 among 1,500 days of zeros scored z 1,200 and was quarantined as
    implausible, so was 101 in a series of 100s.)

    >>> robust_z(pd.Series([0.0] * 1500 + [3.0])).max().round(2)
    np.float64(0.67)
    >>> z = robust_z(pd.Series([0.0] * 1500 + [3.0, 5.0, 1e308]))
    >>> bool(z.iloc[-1] > 1e300), bool(z.iloc[-3:-1].max() < 2)
    (True, True)
    >>> [round(float(robust_z(pd.Series([100.0] * 500 + [v])).max()), 2) for v in (101.0, 5e4, 1e9)]
    [0.67, 499.0, 9999999.0]
    """
    if groups is None:
        groups = pd.Series(0, index=values.index)
    key = groups.to_numpy()
    g = values.groupby(key)
    med = g.transform("median")
    dev = (values - med).abs()
    mad = 1.4826 * dev.groupby(key).transform("median")
    scale = mad.where(mad > 0)
    flat = (scale.isna() & dev.notna()).to_numpy()
    if flat.any():  # only the degenerate groups: a long table has thousands of healthy ones
        moving = dev[flat].where(dev[flat] > 0)
        lower = moving.groupby(key[flat]).quantile(0.5, interpolation="lower")
        spread = 1.4826 * pd.Series(key[flat], index=moving.index).map(lower)
        level = med[flat].abs()
        scale[flat] = spread.where((level == 0) | (spread <= level), level)
    return (dev / scale.where(scale > 0, 1.0).fillna(1.0)).fillna(0.0)


def _messages(reason, rows: pd.DataFrame) -> list[str]:
    if callable(reason):
        return [reason(r) for _, r in rows.iterrows()]
    return [reason] * len(rows)


def _pandera_reasons(cases: pd.DataFrame, typed: pd.DataFrame, mapping: Mapping, name: str = "source"):
    """Turn pandera's ``failure_cases`` into ``(row index, typed column or None, message)``."""
    source_name = {v: k for k, v in mapping.value_columns.items()}
    if mapping.is_long:
        source_name.update({"series_id": mapping.series_column, "y": mapping.value_column})
    source_name.update({"ds": mapping.date_column, "day_type": mapping.day_type_column or "day_type"})
    if mapping.total_column:
        source_name["total"] = mapping.total_column
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            column = source_name.get(case.column, case.column)
            raise InputError(f"{name}: schema check failed for the whole table: {case.check} on {column}")
        idx = int(case.index)
        if case.schema_context == "DataFrameSchema":
            yield idx, None, str(case.check)
            continue
        column = source_name.get(case.column, case.column)
        yield idx, case.column, f"{column}: {case.check} ({case.failure_case!r})"


def _daily(df: pd.DataFrame) -> bool:
    g = df.groupby("series_id")["ds"].agg(["min", "max", "size"])
    return bool(((g["max"] - g["min"]).dt.days + 1 == g["size"]).all())


# The contract of the clean long frame every later stage reads. A schema object, not a
# ``DataFrameModel``: building a model's schema imports pandera's typing for every
# installed dataframe library (dask's costs ~0.6 s), for no check of ours.
CleanSchema = pa.DataFrameSchema(
    {
        "series_id": pa.Column(str, nullable=False),
        "ds": pa.Column(pd.Timestamp, nullable=False),
        "y": pa.Column(float, nullable=False),
        "day_type": pa.Column(str, pa.Check.isin(list(DAY_TYPES))),
        "is_imputed": pa.Column(bool),
    },
    checks=[pa.Check(_daily, name="daily", error="not daily: a series has a missing day")],
    strict=True,
    unique=["series_id", "ds"],
    name="CleanSchema",
)
