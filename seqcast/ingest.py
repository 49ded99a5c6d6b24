"""Ingest: fetch a source (path or URL, CSV or Parquet), snapshot it, read it as text.

Every ingest stores the source's exact bytes under ``raw/<hash>/`` with a
manifest; ingesting identical bytes again is a no-op. Reading gives a frame of
*strings* (nothing coerced yet), so validation can say precisely which cell of
which line is wrong.

The CTA data-portal export is understood natively; any other daily table needs
a :class:`Mapping`. A *wide* table has one column per series, e.g. a plain
``Date,Temp`` CSV::

    # temp.yaml
    date_column: Date
    date_format: "%Y-%m-%d"
    value_columns: {Temp: temp}     # source column -> series_id
    non_negative: false             # temperatures may be below zero

A *long* table has one row per series and day, which suits thousands of series
(each may start, end and miss days on its own)::

    # long.yaml (data/mappings/long.yaml)
    date_column: date
    series_column: series           # the series_id of each row
    value_column: value
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import re
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from datetime import date as date_type
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from seqcast.errors import InputError, parse_problem
from seqcast.io import write_bytes_atomic, write_json_atomic
from seqcast.layout import HASH_LEN, DataDir

RESERVED_COLUMNS = ("line", "stage", "reason", "scope")
"""seqcast's own columns of the read frame and the quarantine; a source column of that name is
read as ``<name> (source)`` (:func:`frame_name`), and a mapping naming it means that column."""

_DECIMALS = (".", ",")
_THOUSANDS = (",", ".", " ", "'", "_", "\u00a0", "\u202f")


@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))
class Mapping:
    """How a source table maps onto seqcast's vocabulary.

    A mapping is either *wide* (``value_columns``) or *long* (``series_column`` and
    ``value_column``), never both. Every field is checked when the mapping is made
    (types are strict: ``non_negative: "no"`` is an error, not ``True``), and a bad
    one raises :class:`~seqcast.errors.InputError` naming the key.

    Parameters
    ----------
    date_column, date_format
        The column holding the day and its ``strftime`` format (``ISO8601`` accepts any
        ISO 8601 date or timestamp). A time of day is allowed: values are reduced to
        their calendar day (see ``timezone``).
    value_columns
        Wide: source column -> ``series_id``; each becomes one series, all on one calendar.
    series_column, value_column
        Long: the column holding each row's ``series_id`` and the one holding its value;
        each series gets its own date range and is cleaned on its own.
    day_type_column
        Optional column with CTA day types (``W``/``A``/``U``); derived from the
        calendar when absent.
    total_column
        Optional column that must equal the sum of the value columns; dropped
        after validation (it is derived). Wide only.
    categorical_columns
        Other columns to keep as text (validated as non-empty).
    non_negative
        Reject negative values (counts); set false for e.g. temperatures.
    encoding, delimiter
        The CSV's text encoding (any Python codec name) and its one-character delimiter.
    decimal, thousands
        The number format of the CSV's cells: decimal mark ``.`` or ``,`` and an optional
        thousands separator (``,`` ``.`` space ``'`` ``_``). A cell that is not a number
        under these conventions is quarantined with the reason, never reinterpreted
        (``6,1`` is not a number unless ``decimal: ","``). Without ``thousands``, a series
        whose values have no decimal other than ``769.069``-like ones (the mark before groups
        of three digits) has those cells quarantined as ambiguous; ``thousands: ''`` says the
        file has no thousands separator, and they are decimals. Parquet numbers are typed and
        need neither.
    timezone
        IANA zone (``Europe/Berlin``) of the calendar days: timestamps with an offset
        (``2023-10-28T22:00:00Z``) are converted to this zone and reduced to their day.
        Without it an instant that is not at midnight UTC is quarantined (its day
        depends on the zone).
    max_value
        Plausibility bound: values above it are quarantined. One number for every value
        column, or ``{source column: bound}``.
    outlier_z
        Plausibility bound as a robust z-score, ``|y - median| / (1.4826 MAD)`` per
        series (Hampel's identifier; Rousseeuw & Croux 1993); default 1000 catches
        overflowed or mistyped values (``1e308``, a value x1000) and keeps real spikes.
        ``null`` turns it off.
    max_imputed_share
        Refuse to clean a series (long) or the table (wide) when more than this share of
        its days would be imputed (default 0.2).
    holidays
        Public-holiday calendar of the ``holidays`` package as ``COUNTRY`` or
        ``COUNTRY-SUBDIV`` (``US-IL``): known-future features of the models that
        take them (:func:`seqcast.calendar.known_future`). None: no calendar.
    """

    date_column: str
    value_columns: dict[str, str] = field(default_factory=dict)
    date_format: str = "%Y-%m-%d"
    day_type_column: str | None = None
    total_column: str | None = None
    categorical_columns: tuple[str, ...] = ()
    non_negative: bool = True
    encoding: str = "utf-8"
    delimiter: str = ","
    series_column: str | None = None
    value_column: str | None = None
    holidays: str | None = None
    decimal: str = "."
    thousands: str | None = None
    timezone: str | None = None
    max_value: float | dict[str, float] | None = None
    outlier_z: float | None = 1000.0
    max_imputed_share: float = 0.2

    def __post_init__(self) -> None:
        problem = _shape_problem(self) or _field_problem(self)
        if problem:
            raise InputError(f"mapping: {problem}")

    @property
    def is_long(self) -> bool:
        """One row per series and day (``series_column``/``value_column``)."""
        return self.series_column is not None

    @property
    def required_columns(self) -> list[str]:
        if self.is_long:
            cols = [self.date_column, self.series_column, self.value_column]
        else:
            cols = [self.date_column, *self.value_columns]
        for c in (self.day_type_column, self.total_column, *self.categorical_columns):
            if c:
                cols.append(c)
        return cols

    @property
    def series_ids(self) -> list[str]:
        """The wide mapping's series; empty for a long one (its ids come from the data)."""
        return list(self.value_columns.values())

    @property
    def in_frame(self) -> Mapping:
        """This mapping with its columns named as :func:`read_table` names them (a source column
        ``line``, ``stage``, ``reason`` or ``scope`` is read as ``line (source)``...)."""
        names = [self.date_column, self.series_column, self.value_column, self.day_type_column,
                 self.total_column, *self.categorical_columns, *self.value_columns]
        if not any(n in RESERVED_COLUMNS for n in names):
            return self
        f = frame_name
        bounds = self.max_value
        return replace(
            self, date_column=f(self.date_column), series_column=self.series_column and f(self.series_column),
            value_column=self.value_column and f(self.value_column),
            day_type_column=self.day_type_column and f(self.day_type_column),
            total_column=self.total_column and f(self.total_column),
            categorical_columns=tuple(map(f, self.categorical_columns)),
            value_columns={f(k): v for k, v in self.value_columns.items()},
            max_value={f(k): v for k, v in bounds.items()} if isinstance(bounds, dict) else bounds,
        )

    def bound_for(self, column: str) -> float | None:
        """The ``max_value`` of a source value column (None: no bound)."""
        if isinstance(self.max_value, dict):
            return self.max_value.get(column)
        return self.max_value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["categorical_columns"] = list(self.categorical_columns)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "mapping") -> Mapping:
        allowed = set(cls.__dataclass_fields__)
        unknown = set(d) - allowed
        if unknown:
            import difflib

            near = {k: difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.75) for k in sorted(unknown, key=str)}
            hint = "".join(f"; {k!r}: did you mean {m[0]!r}?" for k, m in near.items() if m)
            raise InputError(f"{origin}: unknown mapping key(s) {sorted(unknown, key=str)}{hint}; allowed: "
                             f"{sorted(allowed)}")
        if "date_column" not in d:
            raise InputError(f"{origin}: mapping needs 'date_column'")
        values = d.get("value_columns") or {}
        if isinstance(values, list):
            odd = [v for v in values if not isinstance(v, str | int | float) or isinstance(v, bool)]
            if odd:  # [{bus: bus}] (a mapping written as a list item): unhashable, was a TypeError
                raise InputError(f"{origin}: value_columns: a list holds column names, got {odd[0]!r}; "
                                 "write a mapping of column -> series_id as {bus: bus, rail_boardings: rail}")
            values = {v: v for v in values}
        if not isinstance(values, dict):
            raise InputError(f"{origin}: value_columns must be a list or a mapping of column -> series_id")
        if "value_columns" in d and not values and not d.get("series_column"):
            raise InputError(f"{origin}: value_columns is empty")
        # YAML reads a header like 2019 as a number; a column name is text either way.
        values = {(str(k) if isinstance(k, int | float) else k): (str(v) if isinstance(v, int | float) else v)
                  for k, v in values.items()}
        kw = dict(d, value_columns=values)
        cats = d.get("categorical_columns") or ()
        kw["categorical_columns"] = tuple(cats) if isinstance(cats, list | tuple) else cats
        for key in ("max_value", "outlier_z", "max_imputed_share"):  # 5 is as good as 5.0 here
            if isinstance(kw.get(key), int) and not isinstance(kw.get(key), bool):
                kw[key] = float(kw[key])
        if isinstance(kw.get("max_value"), dict):
            kw["max_value"] = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                               for k, v in kw["max_value"].items()}
        try:
            return cls(**kw)
        except InputError as exc:
            raise InputError(f"{origin}: {str(exc).removeprefix('mapping: ')}") from None
        except ValidationError as exc:
            raise InputError(f"{origin}: {_pydantic_message(exc)}") from None


def frame_name(column: str) -> str:
    """The name a source column has in the read frame: its own, unless seqcast uses it.

    >>> frame_name("riders"), frame_name("line")
    ('riders', 'line (source)')
    """
    return f"{column} (source)" if column in RESERVED_COLUMNS else column


def _pydantic_message(exc: ValidationError) -> str:
    """One line for the first problem pydantic found: the key, what it got, what it needs."""
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "mapping"
        parts.append(f"{loc}: {err['msg'].lower()} (got {err.get('input')!r})")
    more = len(exc.errors()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _field_problem(m: Mapping) -> str | None:
    """Why a single field of ``m`` is unusable (``None`` if every one is fine)."""
    import codecs
    import zoneinfo

    for key in ("date_column", "series_column", "value_column", "day_type_column", "total_column"):
        value = getattr(m, key)
        if value is not None and not value.strip():
            return f"{key} is empty"
    try:
        text_codec = codecs.lookup(m.encoding)._is_text_encoding
    except LookupError:
        return f"encoding: unknown text encoding {m.encoding!r} (e.g. utf-8, latin-1, cp1252)"
    if not text_codec:  # rot13, base64, zlib: codecs Python knows, bytes.decode refuses (was a LookupError)
        return f"encoding: {m.encoding!r} is not a text encoding (e.g. utf-8, latin-1, cp1252)"
    if len(m.delimiter) != 1 or m.delimiter in "\"\r\n":
        return f"delimiter must be one character other than a quote or a newline (got {m.delimiter!r})"
    if m.date_format != "ISO8601" and "%" not in m.date_format:
        return f"date_format {m.date_format!r} has no strftime directive (e.g. '%Y-%m-%d', '%d/%m/%Y', or ISO8601)"
    if m.date_format != "ISO8601":
        problem = _date_format_problem(m.date_format)
        if problem:
            return problem
    if m.decimal not in _DECIMALS:
        return f"decimal must be '.' or ',' (got {m.decimal!r})"
    if m.thousands and (m.thousands not in _THOUSANDS or m.thousands == m.decimal):
        return (f"thousands must be one of {list(_THOUSANDS[:5])} and differ from decimal "
                f"{m.decimal!r}, or '' for none (got {m.thousands!r})")
    if m.timezone is not None:
        try:
            zoneinfo.ZoneInfo(m.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return f"timezone: unknown IANA time zone {m.timezone!r} (e.g. Europe/Berlin, America/Chicago, UTC)"
    if m.outlier_z is not None and not m.outlier_z > 0:
        return f"outlier_z must be a positive number or null (got {m.outlier_z!r})"
    if not 0 <= m.max_imputed_share <= 1:
        return f"max_imputed_share must be between 0 and 1 (got {m.max_imputed_share!r})"
    bounds = m.max_value.values() if isinstance(m.max_value, dict) else [m.max_value]
    if any(b is not None and np.isnan(b) for b in bounds):  # every value would be "above max_value nan"
        return "max_value must be a number, not nan"
    if isinstance(m.max_value, dict):
        unknown = sorted(set(m.max_value) - set(m.value_columns or [m.value_column]))
        if unknown:
            return f"max_value names column(s) {unknown} that are not value columns"
    return None


def _date_format_problem(fmt: str) -> str | None:
    """Why a ``strftime`` date format cannot name each row's day (None: it can).

    A directive pandas does not read (``%F``, ``%D``, ``%s``: GNU ``date``'s) raised
    ``ValueError`` inside the validate stage, on every row; a format without a year, or a
    month and a day, read every cell as a day of 1900 (``%d``: 1900-01-05), silently.

    >>> _date_format_problem("%d/%m/%Y") is None, _date_format_problem("%Y-%j") is None
    (True, True)
    >>> _date_format_problem("%F")
    "date_format '%F': 'F' is a bad directive in format '%F' (e.g. '%Y-%m-%d', '%d/%m/%Y', or ISO8601)"
    >>> _date_format_problem("%d")[:60]
    "date_format '%d' does not name a day: it needs a year (%Y or"
    """
    try:
        pd.to_datetime(pd.Series(["2024-01-05"]), format=fmt, errors="coerce")
    except ValueError as exc:
        return f"date_format {fmt!r}: {exc} (e.g. '%Y-%m-%d', '%d/%m/%Y', or ISO8601)"
    fields = set(re.findall(r"%(.)", fmt.replace("%%", "")))
    whole = bool(fields & set("cx"))  # the locale's date (and time)
    year = whole or bool(fields & set("YyG"))
    day = (whole or "j" in fields or ("d" in fields and bool(fields & set("mbBh")))
           or (bool(fields & set("UWV")) and bool(fields & set("uwaA"))))
    if not (year and day):
        return (f"date_format {fmt!r} does not name a day: it needs a year (%Y or %y), a month (%m, %b) and a "
                "day of the month (%d), or a year and a day of the year (%j); without them each cell reads as "
                "a day of 1900 or a month's first day")
    return None


def _shape_problem(m: Mapping) -> str | None:
    """Why ``m`` is neither a valid wide nor a valid long mapping (``None`` if it is one)."""
    long_keys = [k for k in ("series_column", "value_column") if getattr(m, k) is not None]
    if m.value_columns and long_keys:
        return (
            f"use either value_columns (wide: one column per series) or series_column + "
            f"value_column (long: one row per series and day), not both (found value_columns "
            f"and {' and '.join(long_keys)})"
        )
    if not m.value_columns and not long_keys:
        return "mapping needs 'value_columns' (wide) or 'series_column' and 'value_column' (long)"
    if m.value_columns:
        ids = list(m.value_columns.values())
        twice = sorted({s for s in ids if ids.count(s) > 1})
        if twice:
            columns = [c for c, s in m.value_columns.items() if s in twice]
            return (f"value_columns gives series id(s) {twice} to more than one column ({', '.join(columns)}); "
                    "each column is its own series and needs its own id")
        cols = [m.date_column, *m.value_columns, m.day_type_column, m.total_column]
        named = [c for c in cols if c]
        clash = sorted({c for c in named if named.count(c) > 1})
        if clash:  # date_column: Date beside value_columns: [Date]: every row rejected, "not a number"
            return f"column(s) {clash} are named for more than one role"
        taken = {"line", "ds", "day_type", *(["total"] if m.total_column else []), *m.categorical_columns}
        clash = sorted(set(ids) & taken)
        if clash:
            return (f"value_columns: series id(s) {clash} are names seqcast's wide frame already uses "
                    f"({', '.join(sorted(taken))}); choose other ids")
    if len(long_keys) == 1:
        missing = "value_column" if long_keys[0] == "series_column" else "series_column"
        return f"a long mapping needs both series_column and value_column ('{missing}' is missing)"
    if long_keys:
        if m.total_column:
            return "total_column is for wide tables (a total of the value columns); a long mapping cannot have one"
        cols = [m.date_column, m.series_column, m.value_column, m.day_type_column, *m.categorical_columns]
        named = [c for c in cols if c]
        clash = sorted({c for c in named if named.count(c) > 1})
        if clash:
            return f"column(s) {clash} are named for more than one role"
    return None


CTA_MAPPING = Mapping(
    date_column="service_date",
    date_format="%m/%d/%Y",
    value_columns={"bus": "bus", "rail_boardings": "rail"},
    holidays="US-IL",  # Chicago
    day_type_column="day_type",
    total_column="total_rides",
    non_negative=True,
)


def load_mapping(path: str | Path | None) -> Mapping:
    """Read a mapping file (YAML or JSON); ``None`` means the CTA export."""
    from seqcast.strict_load import json_loads, read_text

    if path is None:
        return CTA_MAPPING
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read mapping file ({exc.strerror})") from None
    except ValueError as exc:  # not UTF-8
        raise InputError(f"{path}: mapping file is {exc}") from None
    try:
        data = json_loads(text) if path.suffix == ".json" else _load_yaml_mapping(text)
    except Exception as exc:  # yaml/json both raise their own ValueError subclasses
        raise InputError(f"{path}: mapping file is not valid YAML/JSON ({parse_problem(exc)})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: mapping file must hold a mapping of keys to values")
    mapping = Mapping.from_dict(data, origin=str(path))
    if mapping.holidays is not None:  # was found only inside the flow, without the mapping's name
        from seqcast.calendar import parse_holidays

        try:
            parse_holidays(mapping.holidays)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
    return mapping


_NAME_KEYS = ("date_column", "series_column", "value_column", "day_type_column", "total_column",
              "value_columns", "categorical_columns", "max_value")
_RETYPED = ("bool", "int", "float", "timestamp")


def _load_yaml_mapping(text: str) -> Any:
    """``yaml.safe_load``, but column names and series ids are read as written.

    YAML 1.1 retypes plain scalars: ``007`` is the integer 7, ``1.10`` the float 1.1, ``ON``
    and ``no`` booleans, ``2024-01-01`` a date; as a column name or series id each would
    become other text ('7', 'True'...). Under the keys that name columns or series (and the
    keys of ``max_value``), plain scalars stay strings; ``null``/``~`` stays null.
    """
    import yaml

    from seqcast.strict_load import StrictLoader

    loader = StrictLoader(text)  # a key given twice: an error, not the last one
    try:
        node = loader.get_single_node()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.value not in _NAME_KEYS:
                    continue
                if key.value != "max_value":
                    _names_as_written(value)
                elif isinstance(value, yaml.MappingNode):  # {column: bound}: the columns only
                    for column, _ in value.value:
                        _names_as_written(column)
        return loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _names_as_written(node: Any) -> None:
    import yaml

    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.tag.rsplit(":", 1)[-1] in _RETYPED:
            node.tag = "tag:yaml.org,2002:str"
    elif isinstance(node, yaml.SequenceNode | yaml.MappingNode):
        for item in node.value:
            for part in item if isinstance(item, tuple) else (item,):
                _names_as_written(part)


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class Snapshot:
    """An immutable copy of one source's bytes under ``raw/<hash>/``."""

    directory: Path
    sha256: str
    manifest: dict[str, Any] = field(compare=False)

    @property
    def path(self) -> Path:
        return self.directory / self.manifest["file"]

    @property
    def data_hash(self) -> str:
        return self.sha256[:HASH_LEN]


FETCH_RETRIES = 3
"""Further attempts after a transient download failure (5xx, 429, timeout, reset/refused)."""
FETCH_BACKOFF_S = 0.5
"""Wait before the first retry; doubled before each next one (0.5 s, 1 s, 2 s)."""
FETCH_TIMEOUT_S = 60.0
_RETRY_AFTER_MAX_S = 30.0
_sleep = time.sleep  # tests replace it (or pass ``sleep=``) so retries take no time


def fetch_bytes(
    source: str | Path,
    *,
    retries: int | None = None,
    backoff_s: float | None = None,
    sleep: Callable[[float], None] | None = None,
) -> bytes:
    """Read a local path or an http(s) URL; a clear :class:`InputError` if it cannot be read.

    A URL is retried ``retries`` times (default :data:`FETCH_RETRIES`) after a
    transient failure (HTTP 5xx or 429, a timeout, a refused or reset connection),
    waiting ``backoff_s``, then twice as long each time (a server's ``Retry-After``
    is honoured up to 30 s); any other HTTP status (404, 403...) fails at once.
    The error after the last attempt names the URL, the last error and the attempts.
    """
    src = str(source)
    if src.startswith(("http://", "https://")):
        retries = FETCH_RETRIES if retries is None else max(0, int(retries))
        wait = FETCH_BACKOFF_S if backoff_s is None else float(backoff_s)
        sleep = _sleep if sleep is None else sleep
        for attempt in range(1, retries + 2):
            try:
                with urllib.request.urlopen(src, timeout=FETCH_TIMEOUT_S) as resp:  # noqa: S310 (scheme checked)
                    body = resp.read()
                return _decompressed(body, src)
            except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
                transient, error = _download_error(exc)
                pause = max(wait, _retry_after(exc))
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()  # its body's socket
                if not transient:
                    raise InputError(f"{src}: cannot download ({error})") from None
                if attempt > retries:
                    tries = f"{attempt} attempts" if attempt > 1 else "1 attempt"
                    raise InputError(f"{src}: cannot download after {tries} (last error: {error})") from None
                sleep(pause)
                wait *= 2
    path = Path(src)
    if not path.exists():
        raise InputError(f"{src}: no such file")
    if path.is_dir():
        parts = sorted(p.name for p in path.glob("*.parquet")) + sorted(p.name for p in path.glob("*.csv"))
        hint = (f" (it holds {len(parts)} part file(s), e.g. {parts[0]}, as Spark or DuckDB write a table: "
                "combine them into one file, e.g. with DuckDB: COPY (SELECT * FROM 'dir/*.parquet') TO "
                "'table.parquet')") if parts else ""
        raise InputError(f"{src}: is a directory, not a CSV or Parquet file{hint}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{src}: cannot read ({exc.strerror})") from None
    return _decompressed(data, src)


def _decompressed(data: bytes, src: str) -> bytes:
    """The file's content: a gzip-, bzip2- or xz-compressed export (``export.csv.gz``,
    ``.bz2``, ``.xz``) is read as what it holds (found by its magic bytes, whatever its
    name); an archive of several files (ZIP, 7z) is refused with one line, since which
    member to read is a guess, and so is zstd (no reader in the standard library)."""
    if data[:2] == b"\x1f\x8b":
        import gzip
        import zlib

        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{src}: a gzip file that cannot be decompressed ({exc})") from None
    # were "not valid utf-8 text (byte 0x9e at offset 13); re-export it as UTF-8"
    if data[:3] == b"BZh" and data[3:4].isdigit() and data[4:10] == b"1AY&SY":
        import bz2

        try:
            return bz2.decompress(data)
        except (OSError, EOFError, ValueError) as exc:
            raise InputError(f"{src}: a bzip2 file that cannot be decompressed ({exc})") from None
    if data[:6] == b"\xfd7zXZ\x00":
        import lzma

        try:
            return lzma.decompress(data)
        except (lzma.LZMAError, EOFError) as exc:
            raise InputError(f"{src}: an xz file that cannot be decompressed ({exc})") from None
    if data[:4] == b"\x28\xb5\x2f\xfd":
        raise InputError(f"{src}: a zstd-compressed file; decompress it (zstd -d) or compress it with gzip instead")
    if data[:6] == b"7z\xbc\xaf\x27\x1c":
        raise InputError(f"{src}: a 7z archive; extract the CSV or Parquet file from it and pass that")
    zipped = data[:4] == b"PK\x03\x04"
    excel = (zipped and (b"[Content_Types].xml" in data or src.lower().endswith((".xlsx", ".xlsm")))  # Office Open XML
             or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # OLE2: an Excel 97-2003 .xls
    if excel:
        raise InputError(f"{src}: an Excel workbook, not a CSV or Parquet file; save the sheet as CSV (UTF-8) "
                         "or Parquet and pass that")
    if zipped:
        raise InputError(f"{src}: a ZIP archive; extract the CSV or Parquet file from it and pass that")
    return data


def _download_error(exc: BaseException) -> tuple[bool, str]:
    """Whether a failed download is worth retrying, and the error as one line."""
    import socket

    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429, f"HTTP {exc.code} {exc.reason}".strip()
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    text = " ".join(str(reason).split()) or type(reason).__name__
    if isinstance(reason, socket.gaierror):  # only "try again later" is temporary
        return reason.errno == socket.EAI_AGAIN, text
    if isinstance(reason, TimeoutError | ConnectionError | http.client.HTTPException):
        return True, text  # timeouts, refused/reset/aborted, truncated or dropped responses
    return False, text  # TLS, unknown scheme, malformed URL...: the same next time


def _retry_after(exc: BaseException) -> float:
    """A 429/503's ``Retry-After`` seconds (capped), else 0."""
    if not isinstance(exc, urllib.error.HTTPError) or exc.headers is None:
        return 0.0
    try:
        return min(max(float(exc.headers.get("Retry-After", 0)), 0.0), _RETRY_AFTER_MAX_S)
    except (TypeError, ValueError):  # an HTTP date: use the backoff
        return 0.0


def source_format(source: str | Path, data: bytes) -> str:
    if data[:4] == b"PAR1":
        return "parquet"
    name = str(source).lower().split("?")[0]
    return "parquet" if name.endswith((".parquet", ".pq")) else "csv"


def ingest(source: str | Path, data_dir: str | Path) -> Snapshot:
    """Snapshot ``source`` under ``<data_dir>/raw/<hash>/``; identical bytes are a no-op."""
    data = fetch_bytes(source)
    sha = hashlib.sha256(data).hexdigest()
    fmt = source_format(source, data)
    directory = DataDir(data_dir).snapshot(sha)
    manifest_path = directory / "manifest.json"
    if manifest_path.exists():
        return Snapshot(directory, sha, json.loads(manifest_path.read_text()))
    file = f"source.{fmt}"
    write_bytes_atomic(data, directory / file)
    manifest = {
        "source": str(source),
        "sha256": sha,
        "file": file,
        "format": fmt,
        "bytes": len(data),
        "rows": _count_rows(data, fmt),
        "ingested_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json_atomic(manifest, manifest_path)  # written last: a snapshot without it is incomplete
    return Snapshot(directory, sha, manifest)


def _count_rows(data: bytes, fmt: str) -> int | None:
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
        except Exception:
            return None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return max(lines - 1, 0)


# --------------------------------------------------------------------------- reading


def read_table(data: bytes, mapping: Mapping, name: str, fmt: str = "csv") -> pd.DataFrame:
    """Parse ``data`` into a frame of strings with a ``line`` column (1-based file line).

    Structural problems raise :class:`InputError` naming ``name`` and the problem.
    """
    if not data.strip():
        raise InputError(f"{name}: file is empty")
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            names = pq.read_schema(io.BytesIO(data)).names
        except Exception as exc:
            actual = _not_parquet(data)  # a CSV renamed .parquet: say what it is, not pyarrow's footer
            if actual:
                raise InputError(f"{name}: {actual}") from None
            raise InputError(f"{name}: unreadable Parquet file ({_one_line(exc)})") from None
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:  # pyarrow's own error is a multi-line schema dump
            raise InputError(f"{name}: the file names column(s) {dupes} more than once; which one is meant "
                             "is ambiguous (rename or drop the copies)")
        try:
            # An integer column with a null stays whole numbers (numpy would make it float:
            # id 7 read as '7.0', 20240131 as '20240131.0', 2**53 + 1 rounded), its nulls None.
            df = pd.read_parquet(io.BytesIO(data), to_pandas_kwargs={"integer_object_nulls": True})
        except Exception as exc:
            raise InputError(f"{name}: unreadable Parquet file ({_one_line(exc)})") from None
        if any(n is not None for n in df.index.names):
            # pandas wrote its named index (a DatetimeIndex 'Date', a (series, date) MultiIndex)
            # as columns; pandas alone reads them back as the index: they are columns here too.
            df = _index_as_columns(df, name)
        # Typed columns are kept as text too (validation reports cells as they were),
        # but remembered: their numbers and instants need no text conventions.
        df.columns = [frame_name(str(c)) for c in df.columns]
        typed = {str(c): "number" for c in df.columns if _is_number_column(df[c])}
        for c in typed:
            df[c] = _whole_floats_as_integers(df[c])
        for c in df.columns:
            if isinstance(df[c].dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(df[c]):
                typed[str(c)] = "instant"
                df[c] = df[c].map(lambda t: t.isoformat() if pd.notna(t) else "")
            elif df[c].dtype == object and df[c].map(lambda v: isinstance(v, date_type)).any():
                typed[str(c)] = "instant"
                df[c] = df[c].map(lambda t: t.isoformat() if isinstance(t, date_type) else t)
            elif df[c].dtype == object and df[c].map(lambda v: isinstance(v, bytes)).any():
                df[c] = _binary_as_text(df[c])
        df = df.astype("string").astype(object).where(df.notna(), "")
        df.insert(0, "line", range(1, len(df) + 1))
        df.attrs["typed"] = typed
    else:
        kind = _binary_kind(data)
        if kind:  # an Arrow file named .csv: what it is, not "byte 0xff at offset 8"
            raise InputError(f"{name}: not a CSV file but {kind}")
        try:
            text = data.decode(mapping.encoding)
        except UnicodeDecodeError as exc:
            if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text", Notepad's "Unicode"
                raise InputError(f"{name}: UTF-16 text (it starts with a UTF-16 byte order mark), not "
                                 f"{mapping.encoding}; save it as CSV (UTF-8) or set encoding: utf-16 in a "
                                 "mapping file") from None
            line = data[: exc.start].count(b"\n") + 1
            raise InputError(
                f"{name}: not valid {mapping.encoding} text (byte 0x{data[exc.start]:02x} at "
                f"offset {exc.start}, line {line}); re-export it as UTF-8 or set 'encoding' "
                "in a mapping file"
            ) from None
        # A byte order mark is an encoding detail, not part of the first column's name
        # (pandas drops it, the reader of ragged files would not).
        text = text.removeprefix("\ufeff")
        kind = _text_kind(text[:4096])
        if kind:  # was: "missing required column(s) … (found '<!DOCTYPE html>…')"
            raise InputError(f"{name}: not a CSV file but {kind}")
        first = text[:4096].split("\n", 1)[0]
        if "\x00" in first:  # UTF-16 without a byte order mark, read as UTF-8: 'D\x00a\x00t\x00e\x00'
            raise InputError(f"{name}: the header holds NUL bytes: not {mapping.encoding} text (UTF-16 without "
                             "a byte order mark?); save it as CSV (UTF-8) or set encoding (utf-16-le) in a "
                             "mapping file")
        _check_header(text, mapping, name)
        try:
            with warnings.catch_warnings():
                # more fields than the header: an error, never a silent index column or a dropped cell
                warnings.simplefilter("error", pd.errors.ParserWarning)
                df = pd.read_csv(
                    io.StringIO(text),
                    sep=mapping.delimiter,
                    dtype=str,
                    keep_default_na=False,
                    skip_blank_lines=True,
                    index_col=False,
                )
        except pd.errors.EmptyDataError:
            raise InputError(f"{name}: file is empty") from None
        except (pd.errors.ParserError, pd.errors.ParserWarning):
            df = None  # a row with more fields than the header
        if df is not None and (df.iloc[:, -1] == "").any():
            # pandas pads a row with fewer fields with '' (an empty total passed as one left
            # blank): with blanks in the last column, the csv module counts each row's fields
            df = None
        if df is None:
            df = _read_ragged(text, mapping, name)  # rows with the wrong number of fields: quarantined
        else:
            # pandas dropped blank lines; recover each row's line in the file for the quarantine.
            lines = _record_lines(text, mapping.delimiter)[1:]
            df.columns = [frame_name(str(c).strip()) for c in df.columns]
            df.insert(0, "line", lines[: len(df)] if len(lines) >= len(df) else range(2, len(df) + 2))
    missing = [c for c in mapping.in_frame.required_columns if c not in df.columns]
    if missing:
        hint = ""
        header = " ".join(map(str, df.columns))
        for sep, label in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if sep in header and sep != mapping.delimiter:
                hint = f"; the header looks {label}-delimited (set 'delimiter' in a mapping file)"
                break
        if not hint:  # 'rail' asked, 'Rail' or 'rail ' (a Parquet name keeps its spaces) found
            near = {c: f for c in missing for f in map(str, df.columns[1:])
                    if f.strip().casefold() == c.strip().casefold()}
            if near:
                hint = "; " + ", ".join(f"{f!r} differs from {c!r} only in case or spaces" for c, f in near.items())
        if not hint and mapping is CTA_MAPPING:
            hint = "; for a table other than the CTA export, pass --mapping FILE"
        raise InputError(
            f"{name}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(c) for c in df.columns[1:])}){hint}"
        )
    if fmt != "parquet" and '"' in text:  # only a quoted cell can hold a line break
        _check_mapped_cells_on_one_line(df, mapping, name)
    if df.empty:
        rejected = df.attrs.get("rejected") or []
        if rejected:
            line, reason, _ = rejected[0]
            raise InputError(f"{name}: every one of the {len(rejected)} rows was rejected, e.g. line {line}: "
                             f"{reason}")
        raise InputError(f"{name}: no data rows (header only)")
    return df


def _whole_floats_as_integers(column: pd.Series) -> pd.Series:
    """A float column holding whole numbers only (an integer column pandas turned into float64
    for its NaN: store ids, ``yyyymmdd`` dates) as integers, so its text is ``7`` and
    ``20240131``, not ``7.0`` (a series id nobody wrote) and ``20240131.0`` (no date format
    reads it). A binary double has no written form; the number is the same.

    >>> _whole_floats_as_integers(pd.Series([7.0, None, 20240131.0])).astype("string").tolist()
    ['7', <NA>, '20240131']
    >>> _whole_floats_as_integers(pd.Series([2.5, 7.0])).tolist()
    [2.5, 7.0]
    """
    if not pd.api.types.is_float_dtype(column):
        return column
    values = column.dropna().astype(float)  # a float16 column cannot hold 2**53 (a RuntimeWarning on the console)
    if values.empty or not (np.isfinite(values) & (values == np.round(values)) & (values.abs() < 2**53)).all():
        return column
    return column.astype("Int64")


_MAGIC = {b"ARROW1": "an Arrow IPC (Feather) file", b"FEA1": "a Feather (v1) file",
          b"Obj\x01": "an Avro file", b"SQLite format 3\x00": "an SQLite database"}
_FRAMED = (b"ARROW1", b"FEA1")  # these end with their magic too: a CSV starting 'FEA1' is not one


def _binary_kind(data: bytes) -> str | None:
    """A file format recognised by its magic bytes that is neither CSV nor Parquet."""
    for magic, what in _MAGIC.items():
        if data.startswith(magic) and (magic not in _FRAMED or data.endswith(magic)):
            return f"{what}; convert it to Parquet or CSV and pass that"
    return None


def _text_kind(head: str) -> str | None:
    """Text that is not a table: a web page (a download that returned a login or error page
    with status 200) or JSON. ``head``: the file's first characters."""
    first = next((line.strip() for line in head.splitlines() if line.strip()), "").lstrip("\ufeff")
    if first.lower().startswith(("<!doctype html", "<html")):
        return "an HTML page (a download that returned a web page, e.g. a login or error page?)"
    if re.match(r'(?:\{\s*(?:"|\}|$)|\[\s*(?:[{\["\]]|$))', first):  # not a '[date],[value]' header
        return "JSON text; save the table as CSV or Parquet"
    return None


def _not_parquet(data: bytes) -> str | None:
    """What a file that pyarrow cannot read holds, as the message's tail (None: no idea).

    pyarrow says "Parquet magic bytes not found in footer" whatever the file is: a CSV saved
    or renamed as ``.parquet``, an Arrow/Feather file, a copy cut short.

    >>> _not_parquet(b"Date,v\\n2024-01-01,5\\n")
    "not a Parquet file but text, a CSV? (its first line: 'Date,v'); give it a .csv name"
    >>> _not_parquet(b"PAR1" + bytes(20))[:70]
    'a Parquet file cut short: it starts like one but its footer is missing'
    """
    if data[:4] == b"PAR1":
        return ("a Parquet file cut short: it starts like one but its footer is missing (an interrupted "
                "download or copy?); write or copy it again")
    kind = _binary_kind(data)
    if kind:
        return f"not a Parquet file but {kind}"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "not a Parquet file but UTF-16 text (a CSV saved as Unicode text?); save it as CSV (UTF-8)"
    head = data[:4096].decode("utf-8", errors="replace")
    if "\ufffd" in head[:-1] or "\x00" in head:  # not UTF-8 text: binary of some other kind
        return None
    kind = _text_kind(head)
    if kind:
        return f"not a Parquet file but {kind}"
    first = next((line.strip() for line in head.splitlines() if line.strip()), "").lstrip("\ufeff")
    shown = first if len(first) <= 80 else first[:77] + "..."
    return f"not a Parquet file but text, a CSV? (its first line: {shown!r}); give it a .csv name"


def _one_line(exc: BaseException) -> str:
    """A library's message on one line (pyarrow's may hold a schema, one field a line)."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _binary_as_text(column: pd.Series) -> pd.Series:
    """A Parquet BINARY column as text: UTF-8 where every cell is (writers such as older
    Spark and Impala store strings as BINARY), else each cell as ``0x`` + hex (a UUID, a
    WKB geometry): never pandas' ``UnicodeDecodeError`` on a column nobody reads.

    >>> _binary_as_text(pd.Series([b"s1", b"id/2"])).tolist(), _binary_as_text(pd.Series([b"\\xff", b"a"])).tolist()
    (['s1', 'id/2'], ['0xff', '0x61'])
    """
    cells = [v for v in column if isinstance(v, bytes)]
    try:
        for v in cells:
            v.decode("utf-8")
        text = True
    except UnicodeDecodeError:
        text = False
    return column.map(lambda v: (v.decode("utf-8") if text else "0x" + v.hex()) if isinstance(v, bytes) else v)


def _index_as_columns(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """The named index levels of a Parquet file as columns. A level named like a column
    (``set_index("Date", drop=False)``) is the same data twice: dropped when equal, else
    one line (which of the two is the date?), never pandas' ``cannot insert``."""
    twice = [n for n in df.index.names if n is not None and n in df.columns]
    for level in twice:
        index = df.index.get_level_values(level)
        if not pd.Series(index, index=df.index).equals(df[level]):
            raise InputError(f"{name}: the index and a column are both named {level!r} and differ "
                             "(e.g. a frame saved after set_index(..., drop=False) and an edit); "
                             "save it with index=False or rename one of them")
    if twice:
        df = df.reset_index(level=twice, drop=True)
    return df.reset_index() if any(n is not None for n in df.index.names) else df


def _is_number_column(column: pd.Series) -> bool:
    """A typed Parquet number column: numeric, integers with nulls (Python ints, see above) or decimals."""
    if pd.api.types.is_bool_dtype(column):
        return False
    if pd.api.types.is_numeric_dtype(column):
        return True
    if column.dtype != object:
        return False
    present = column.dropna()  # Parquet decimals (decimal128) come as Python Decimals
    return len(present) > 0 and all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in present)


def _check_header(text: str, mapping: Mapping, name: str) -> None:
    """Refuse a header that names a column twice (pandas would read the second as ``v.1``)."""
    import csv

    try:
        # newline='': the csv module splits records itself (a lone CR ends a line too)
        header = next(csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter), [])
    except csv.Error as exc:
        raise InputError(f"{name}: malformed CSV header ({exc})") from None
    names = [h.strip().lstrip("\ufeff") for h in header]
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        raise InputError(f"{name}: the header names column(s) {dupes} more than once; which one is meant "
                         "is ambiguous (rename or drop the copies)")


def _record_lines(text: str, delimiter: str) -> list[int]:
    """The line of the file each non-blank record starts on, the header's first.

    Lines end at ``\n``, ``\r\n`` or ``\r``, as pandas reads them (``str.splitlines`` also
    breaks at ``\x85``, ``\u2028``..., which are text to pandas); a quoted cell may hold a
    line break, so with quotes the csv module finds where records start.
    """
    def unquoted() -> list[int]:
        return [i for i, raw in enumerate(re.split(r"\r\n|\r|\n", text), start=1) if raw.strip()]

    if '"' not in text:
        return unquoted()
    import csv

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    starts, start = [], 1
    try:
        for record in reader:
            if record and not (len(record) == 1 and not record[0].strip()):
                starts.append(start)
            start = reader.line_num + 1
    except csv.Error:  # pandas read it; lines are then counted without the quotes
        return unquoted()
    return starts


def _read_ragged(text: str, mapping: Mapping, name: str) -> pd.DataFrame:
    """Read a CSV some of whose rows have the wrong number of fields.

    The well-formed rows make the frame (with their file line in ``line``); the others are
    kept in ``df.attrs["rejected"]`` as ``(line, reason, fields)`` for the quarantine. A row
    short only of columns the mapping does not read (a header ending in a delimiter) is kept.
    """
    import csv

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    header, good, lines, rejected = None, [], [], []
    line = 1  # where the next record starts (a quoted cell may hold a line break)
    try:
        for record in reader:
            line, start = reader.line_num + 1, line
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line, as pandas skips it (',,' is a row of empty cells)
            if header is None:
                header = [frame_name(h.strip()) for h in record]
                read = set(mapping.in_frame.required_columns)
                continue
            if len(record) < len(header) and not read.intersection(header[len(record):]):
                record = record + [""] * (len(header) - len(record))
            if len(record) != len(header):
                rejected.append((start, f"expected {len(header)} fields, found {len(record)}", record))
                continue
            good.append(record)
            lines.append(start)
    except csv.Error as exc:
        raise InputError(f"{name}: malformed CSV at line {reader.line_num} ({exc})") from None
    if header is None:
        raise InputError(f"{name}: file is empty")
    if '"' in text:
        _check_last_quote_closed(text, start, mapping.delimiter, name)
    df = pd.DataFrame(good, columns=header, dtype=object)
    df.insert(0, "line", lines)
    df.attrs["rejected"] = rejected
    return df


def _check_mapped_cells_on_one_line(df: pd.DataFrame, mapping: Mapping, name: str) -> None:
    """Refuse a record whose date, value or id cell holds a line break: two stray quotes
    (``2024-01-10,"109.7`` ... ``2024-01-20,92.2"``) make the lines between one cell, so one
    quarantine row stood for 11 lines, the rows in were counted without them, and the run
    stopped on a "gap of 11 missing days" that did not name the quote. A note column may hold
    line breaks (a quoted comment); a date or a number never does."""
    breaks = re.compile(r"\r\n|\r|\n")
    header = [c for c in df.columns if c != "line"]
    mapped = df[list(mapping.in_frame.required_columns)]
    broken = mapped.apply(lambda c: c.astype(str).str.contains(r"[\r\n]", regex=True)).any(axis=1)
    records = [(int(df.at[i, "line"]), df.loc[i, header].tolist()) for i in df.index[broken.to_numpy()]]
    records += [(line, fields) for line, _, fields in df.attrs.get("rejected") or []
                if any(breaks.search(f) for f in fields)]
    if not records:
        return
    line, cells = min(records, key=lambda r: r[0])
    span = 1 + sum(len(breaks.findall(str(v))) for v in cells)
    raise InputError(f"{name}: the record on line {line} runs over {span} lines (to line {line + span - 1}): a quote "
                     "opened in it closes only there (a stray '\"'?), and a date or a value never holds a line "
                     "break; remove the stray quote")


def _check_last_quote_closed(text: str, start: int, delimiter: str, name: str) -> None:
    """Refuse a quote that opens a cell on line ``start`` (the last record's) and is never
    closed: every line after it would read as that one cell, and one quarantine row
    (``'109.7\\n2024-01-11,104.3\\n…' is not a number``) would stand for all of them, the
    rows in counted without them.

    >>> _check_last_quote_closed('d,v\\n1,"2\\n3,4\\n', 2, ",", "x.csv")
    Traceback (most recent call last):
    seqcast.errors.InputError: x.csv: a quote opened on line 2 is never closed: the 2 line(s) from there to the end of the file would read as one cell (a stray '"'?); remove or close it
    """
    import csv

    parts = re.split(r"(\r\n|\r|\n)", text)
    tail = "".join(parts[2 * (start - 1):])
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return  # a quote inside a cell ('10"0'): read as written, judged as a value
        lines = len(re.findall(r"\r\n|\r|\n", tail)) + (0 if re.search(r"[\r\n]$", tail) else 1)
        raise InputError(f"{name}: a quote opened on line {start} is never closed: the {lines} line(s) from there "
                         "to the end of the file would read as one cell (a stray '\"'?); remove or close it") from None


def read_snapshot(snapshot: Snapshot, mapping: Mapping) -> pd.DataFrame:
    return read_table(snapshot.path.read_bytes(), mapping, snapshot.manifest["source"], snapshot.manifest["format"])
