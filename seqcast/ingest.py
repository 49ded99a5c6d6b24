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
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from seqcast.errors import InputError
from seqcast.io import write_bytes_atomic, write_json_atomic
from seqcast.layout import HASH_LEN, DataDir


@dataclass(frozen=True)
class Mapping:
    """How a source table maps onto seqcast's vocabulary.

    A mapping is either *wide* (``value_columns``) or *long* (``series_column`` and
    ``value_column``), never both.

    Parameters
    ----------
    date_column, date_format
        The column holding the day and its ``strftime`` format.
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

    def __post_init__(self) -> None:
        problem = _shape_problem(self)
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["categorical_columns"] = list(self.categorical_columns)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], origin: str = "mapping") -> Mapping:
        allowed = set(cls.__dataclass_fields__)
        unknown = set(d) - allowed
        if unknown:
            raise InputError(f"{origin}: unknown mapping key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "date_column" not in d:
            raise InputError(f"{origin}: mapping needs 'date_column'")
        values = d.get("value_columns") or {}
        if isinstance(values, list):
            values = {v: v for v in values}
        if not isinstance(values, dict):
            raise InputError(f"{origin}: value_columns must be a list or a mapping of column -> series_id")
        if "value_columns" in d and not values and not d.get("series_column"):
            raise InputError(f"{origin}: value_columns is empty")
        kw = {**d, "value_columns": dict(values), "categorical_columns": tuple(d.get("categorical_columns") or ())}
        try:
            return cls(**kw)
        except InputError as exc:
            raise InputError(f"{origin}: {str(exc).removeprefix('mapping: ')}") from None


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
    if path is None:
        return CTA_MAPPING
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read mapping file ({exc.strerror})") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml/json both raise their own ValueError subclasses
        raise InputError(f"{path}: mapping file is not valid YAML/JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: mapping file must hold a mapping of keys to values")
    return Mapping.from_dict(data, origin=str(path))


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
                    return resp.read()
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
        raise InputError(f"{src}: is a directory, not a CSV or Parquet file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{src}: cannot read ({exc.strerror})") from None


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
            df = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise InputError(f"{name}: unreadable Parquet file ({exc})") from None
        df = df.astype("string").astype(object).where(df.notna(), "")
        df.insert(0, "line", range(1, len(df) + 1))
    else:
        try:
            text = data.decode(mapping.encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InputError(
                f"{name}: not valid {mapping.encoding} text (byte 0x{data[exc.start]:02x} at "
                f"offset {exc.start}, line {line}); re-export it as UTF-8 or set 'encoding' "
                "in a mapping file"
            ) from None
        try:
            df = pd.read_csv(
                io.StringIO(text),
                sep=mapping.delimiter,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=True,
            )
        except pd.errors.EmptyDataError:
            raise InputError(f"{name}: file is empty") from None
        except pd.errors.ParserError as exc:
            raise InputError(f"{name}: malformed CSV ({exc})") from None
        df.columns = [str(c).strip() for c in df.columns]
        # pandas dropped blank lines; recover each row's line in the file for the quarantine.
        lines = [i for i, raw in enumerate(text.splitlines(), start=1) if raw.strip()][1:]
        df.insert(0, "line", lines[: len(df)] if len(lines) >= len(df) else range(2, len(df) + 2))
    missing = [c for c in mapping.required_columns if c not in df.columns]
    if missing:
        hint = ""
        header = " ".join(map(str, df.columns))
        for sep, label in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
            if sep in header and sep != mapping.delimiter:
                hint = f"; the header looks {label}-delimited (set 'delimiter' in a mapping file)"
                break
        if not hint and mapping is CTA_MAPPING:
            hint = "; for a table other than the CTA export, pass --mapping FILE"
        raise InputError(
            f"{name}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found {', '.join(repr(c) for c in df.columns[1:])}){hint}"
        )
    if df.empty:
        raise InputError(f"{name}: no data rows (header only)")
    return df


def read_snapshot(snapshot: Snapshot, mapping: Mapping) -> pd.DataFrame:
    return read_table(snapshot.path.read_bytes(), mapping, snapshot.manifest["source"], snapshot.manifest["format"])
