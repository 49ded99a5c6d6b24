"""The PostgreSQL publish target: each night's tables where BI tools read them.

The Parquet files under ``<data_dir>/published/`` stay the default; with a database URL
(``seqcast run --database-url postgresql+psycopg://user@host/db``) the nightly flow also
writes the night into four tables:

``forecasts``
    The published forecast table, one row per ``run_date, series_id, model, ds``
    (the Parquet columns; ``lo-95`` becomes ``lo_95`` and so on).
``backtest_scores``
    Per night, series, model and step ``h``: the MAE and number of scored forecasts over
    the champion window, the figures behind each champion choice (``champion`` marks the
    published model).
``alerts``
    The drift alerts table (transitions, see :mod:`seqcast.alerts`), mirrored as of the
    latest publish (``window`` becomes ``check_window``: ``window`` is an SQL keyword).
``runs``
    One row per night: run id, data hash, rows in/kept/quarantined, the champions (JSON)
    and a status.

A night is written in one transaction: its rows are deleted and inserted again (a
re-run replaces, never duplicates), a failure rolls back to the previous rows, and
``pg_advisory_xact_lock`` keyed by the run date keeps two runs of one night from
interleaving. The schema is plain versioned DDL (:data:`MIGRATIONS`) recorded in
``schema_version`` and applied idempotently on connect.

>>> masked("postgresql+psycopg://bi:s3cret@db.example:5432/forecasts")
'postgresql+psycopg://bi:***@db.example:5432/forecasts'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from seqcast.errors import SeqcastError

# (version, what it does, statements). Append a new version; never edit a released one.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "forecasts, backtest_scores, alerts, runs; latest_forecasts view", [
        """CREATE TABLE runs (
            run_date date PRIMARY KEY,
            run_id text NOT NULL,
            data_hash text NOT NULL,
            rows_in bigint,
            rows_kept bigint,
            rows_quarantined bigint,
            last_day date,
            series_published integer NOT NULL,
            series_not_published integer NOT NULL,
            champions jsonb NOT NULL,
            status text NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now()
        )""",
        """CREATE TABLE forecasts (
            run_date date NOT NULL REFERENCES runs (run_date),
            series_id text NOT NULL,
            ds date NOT NULL,
            cutoff date NOT NULL,
            h integer NOT NULL CHECK (h >= 1),
            model text NOT NULL,
            mean double precision NOT NULL,
            lo_95 double precision,
            lo_80 double precision,
            hi_80 double precision,
            hi_95 double precision,
            interval_n integer,
            run_id text NOT NULL,
            data_hash text NOT NULL,
            model_version text NOT NULL,
            reason text NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (run_date, series_id, model, ds)
        )""",
        # "the latest forecast of every series": max(run_date) per series, then its rows
        "CREATE INDEX forecasts_latest ON forecasts (series_id, run_date DESC)",
        """CREATE TABLE backtest_scores (
            run_date date NOT NULL REFERENCES runs (run_date),
            series_id text NOT NULL,
            model text NOT NULL,
            h integer NOT NULL CHECK (h >= 1),
            mae double precision,
            n integer NOT NULL,
            champion boolean NOT NULL,
            PRIMARY KEY (run_date, series_id, model, h)
        )""",
        """CREATE TABLE alerts (
            run_date date NOT NULL,
            series_id text NOT NULL,
            kind text NOT NULL,
            detected_at date NOT NULL,
            status text NOT NULL,
            statistic double precision,
            threshold double precision,
            check_window text,
            severity text,
            run_id text,
            PRIMARY KEY (run_date, series_id, kind, detected_at, status)
        )""",
        """CREATE VIEW latest_forecasts AS
            SELECT * FROM forecasts
            WHERE (series_id, run_date) IN
                  (SELECT series_id, max(run_date) FROM forecasts GROUP BY series_id)""",
    ]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]

LATEST_SQL = ("SELECT * FROM forecasts WHERE (series_id, run_date) IN "
              "(SELECT series_id, max(run_date) FROM forecasts GROUP BY series_id) "
              "ORDER BY series_id, ds")

FORECAST_COLUMNS = [
    "run_date", "series_id", "ds", "cutoff", "h", "model", "mean", "lo_95", "lo_80", "hi_80",
    "hi_95", "interval_n", "run_id", "data_hash", "model_version", "reason", "created_at",
]
SCORE_COLUMNS = ["run_date", "series_id", "model", "h", "mae", "n", "champion"]
ALERT_COLUMNS = ["run_date", "series_id", "kind", "detected_at", "status", "statistic",
                 "threshold", "check_window", "severity", "run_id"]
RUN_COLUMNS = ["run_date", "run_id", "data_hash", "rows_in", "rows_kept", "rows_quarantined",
               "last_day", "series_published", "series_not_published", "champions", "status"]

_LOCK_SPACE = 0x5EC0  # first key of seqcast's advisory locks; the second: a night's ordinal
_SCHEMA_LOCK, _ALERTS_LOCK = -1, -2


class DatabaseError(SeqcastError):
    """The database URL is unusable, or the database refused the night (URL password masked)."""


class DatabaseUnavailable(DatabaseError):
    """The server could not be reached: worth a retry (the night is unchanged)."""


def masked(url: str) -> str:
    """The URL as safe to print: the password replaced by ``***`` (also when unparsable)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r":[^:@]*@", ":***@", str(url))


def parse_url(url: str) -> Any:
    """A SQLAlchemy URL for PostgreSQL through psycopg 3; :class:`DatabaseError` otherwise.

    ``postgresql://`` is taken as ``postgresql+psycopg://``.

    >>> parse_url("postgresql://bi@127.0.0.1:5432/fc").drivername
    'postgresql+psycopg'
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(str(url).strip())
    except (ArgumentError, ValueError):
        raise DatabaseError(f"database URL {masked(url)!r} is not a URL; expected "
                            "postgresql+psycopg://user:password@host:5432/dbname") from None
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.drivername != "postgresql+psycopg":
        raise DatabaseError(f"database URL {masked(url)!r}: only PostgreSQL through psycopg 3 "
                            "is supported (postgresql+psycopg://user:password@host:5432/dbname)")
    if not u.database:
        raise DatabaseError(f"database URL {masked(url)!r} names no database (…/dbname)")
    return u


def plain_url(url: Any) -> str:
    """The plain URL of a ``str`` or pydantic ``SecretStr``."""
    return url.get_secret_value() if hasattr(url, "get_secret_value") else str(url)


def engine(url: Any, connect_timeout: int = 10):
    """An engine without a pool (one night = one short session); ``url`` may be a SecretStr."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    return sa.create_engine(parse_url(plain_url(url)), poolclass=NullPool,
                            connect_args={"connect_timeout": connect_timeout})


def _unavailable(url: Any, exc: Exception) -> DatabaseError:
    """A connection-time error as one line without the password; unreachable ones retryable."""
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    kind = DatabaseError if "authentication" in first or "does not exist" in first else DatabaseUnavailable
    return kind(f"database {masked(plain_url(url))}: {first}")


def ensure_schema(url: Any) -> int:
    """Create or upgrade the tables (idempotent; concurrent callers serialise); the version."""
    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError

    eng = engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _LOCK_SPACE, "b": _SCHEMA_LOCK})
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
                                 "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"))
            current = conn.execute(sa.text("SELECT coalesce(max(version), 0) FROM schema_version")).scalar()
            if current > SCHEMA_VERSION:
                raise DatabaseError(f"database {masked(plain_url(url))} has schema version {current}, newer "
                                    f"than this seqcast's {SCHEMA_VERSION}: upgrade seqcast")
            for version, description, statements in MIGRATIONS:
                if version > current:
                    for stmt in statements:
                        conn.execute(sa.text(stmt))
                    conn.execute(sa.text("INSERT INTO schema_version (version, description) VALUES (:v, :d)"),
                                 {"v": version, "d": description})
    except OperationalError as exc:
        raise _unavailable(url, exc) from None
    finally:
        eng.dispose()
    return SCHEMA_VERSION


def publish_night(
    url: Any,
    run_date: date | str,
    forecasts: pd.DataFrame,
    *,
    run_row: dict[str, Any],
    scores: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
) -> dict[str, int]:
    """Replace one night in the database, in one transaction; the rows written per table.

    ``forecasts``: the published table (:func:`seqcast.published.read_forecasts` columns);
    ``scores``: ``series_id, model, h, mae, n`` (+ ``champion``); ``alerts``: the whole alerts
    table (:func:`seqcast.alerts.read_alerts`), mirrored; ``None`` leaves alerts as they are.
    ``run_row``: :func:`run_row` of the night's summary.
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError

    night = pd.Timestamp(run_date).date()
    rows = {
        "forecasts": forecast_records(forecasts, night),
        "backtest_scores": score_records(scores, night),
        "runs": [_run_record(run_row, night)],
    }
    if alerts is not None:
        rows["alerts"] = alert_records(alerts)
    ensure_schema(url)
    eng = engine(url)
    try:
        with eng.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:a, :b)"),
                         {"a": _LOCK_SPACE, "b": night.toordinal()})
            if alerts is not None:  # one mirror at a time (always taken after the night's lock)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:a, :b)"),
                             {"a": _LOCK_SPACE, "b": _ALERTS_LOCK})
            _delete_night(conn, night, alerts is not None)
            _insert(conn, rows)
    except OperationalError as exc:
        raise _unavailable(url, exc) from None
    except sa.exc.DBAPIError as exc:  # a constraint, a type: the night is rolled back
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        raise DatabaseError(f"database {masked(plain_url(url))}: night {night} not written "
                            f"(previous rows kept): {first}") from None
    finally:
        eng.dispose()
    return {table: len(records) for table, records in rows.items()}


def _delete_night(conn, night: date, alerts: bool) -> None:
    import sqlalchemy as sa

    for table in ("forecasts", "backtest_scores", "runs"):  # children before the runs row
        conn.execute(sa.text(f"DELETE FROM {table} WHERE run_date = :d"), {"d": night})
    if alerts:
        conn.execute(sa.text("DELETE FROM alerts"))


def _insert(conn, rows: dict[str, list[dict]]) -> None:
    import sqlalchemy as sa

    for table in ("runs", "forecasts", "backtest_scores", "alerts"):  # the runs row first
        records = rows.get(table)
        if not records:
            continue
        cols = list(records[0])
        names = ", ".join(cols)
        values = ", ".join(f"CAST(:{c} AS jsonb)" if c == "champions" else f":{c}" for c in cols)
        conn.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({values})"), records)


def latest_forecasts(url: Any) -> pd.DataFrame:
    """The latest forecast of every series (the rows of its newest ``run_date``)."""
    return read_sql(url, LATEST_SQL)


def read_table(url: Any, table: str) -> pd.DataFrame:
    """A whole table, ordered by its primary key (for checks and small tables)."""
    order = {"forecasts": "run_date, series_id, model, ds", "backtest_scores": "run_date, series_id, model, h",
             "alerts": "run_date, series_id, kind, detected_at, status", "runs": "run_date",
             "schema_version": "version"}
    if table not in order:
        raise DatabaseError(f"unknown table {table!r}; one of {', '.join(order)}")
    return read_sql(url, f"SELECT * FROM {table} ORDER BY {order[table]}")


def read_sql(url: Any, query: str) -> pd.DataFrame:
    from sqlalchemy.exc import OperationalError

    eng = engine(url)
    try:
        with eng.connect() as conn:
            return pd.read_sql(query, conn)
    except OperationalError as exc:
        raise _unavailable(url, exc) from None
    finally:
        eng.dispose()


# --- frames to typed records -------------------------------------------------------------

def _day(value: Any) -> date | None:
    return None if _missing(value) else pd.Timestamp(value).date()


def _utc(value: Any) -> datetime | None:
    if _missing(value):
        return None
    ts = pd.Timestamp(value)
    return (ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)).to_pydatetime()


def _float(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _records(df: pd.DataFrame, convert: dict[str, Any]) -> list[dict]:
    """Rows of ``df`` as plain Python values; a column the frame lacks is NULL."""
    out = {}
    for col, fn in convert.items():
        values = df[col].tolist() if col in df else [None] * len(df)
        out[col] = [fn(v) for v in values]
    cols = list(convert)
    return [dict(zip(cols, row, strict=True)) for row in zip(*(out[c] for c in cols), strict=True)]


def forecast_records(forecasts: pd.DataFrame, night: date) -> list[dict]:
    """The published forecast rows as typed records (``lo-95`` -> ``lo_95`` …)."""
    df = forecasts.rename(columns=lambda c: c.replace("-", "_"))
    stamped = pd.to_datetime(df["run_date"]).dt.date if "run_date" in df and len(df) else None
    if stamped is not None and (stamped != night).any():
        raise DatabaseError(f"forecasts of {sorted(set(stamped))} given for night {night}")
    convert = {"series_id": _text, "ds": _day, "cutoff": _day, "h": _int, "model": _text,
               "mean": _float, "lo_95": _float, "lo_80": _float, "hi_80": _float, "hi_95": _float,
               "interval_n": _int, "run_id": _text, "data_hash": _text, "model_version": _text,
               "reason": _text, "created_at": _utc}
    return [{"run_date": night, **r} for r in _records(df, convert)]


def score_records(scores: pd.DataFrame | None, night: date) -> list[dict]:
    if scores is None or scores.empty:
        return []
    df = scores if "champion" in scores else scores.assign(champion=False)
    convert = {"series_id": _text, "model": _text, "h": _int, "mae": _float, "n": _int, "champion": bool}
    return [{"run_date": night, **r} for r in _records(df, convert)]


def alert_records(alerts: pd.DataFrame) -> list[dict]:
    df = alerts.rename(columns={"window": "check_window"})
    convert = {"run_date": _day, "series_id": _text, "kind": _text, "detected_at": _day, "status": _text,
               "statistic": _float, "threshold": _float, "check_window": _text, "severity": _text,
               "run_id": _text}
    return _records(df, convert)


def champion_scores(scores_by_h: Iterable[dict], champions: Iterable[dict]) -> pd.DataFrame:
    """The night's per-step scores with ``champion`` marking each series' published model."""
    cols = ["series_id", "model", "h", "mae", "n"]
    df = pd.DataFrame(list(scores_by_h), columns=cols)
    published = {(c["series_id"], c["model"]) for c in champions if c.get("model")}
    keys = zip(df["series_id"], df["model"], strict=True)
    return df.assign(champion=[k in published for k in keys])


def run_row(summary: dict[str, Any]) -> dict[str, Any]:
    """The ``runs`` row of a nightly summary (the dict :func:`flows.nightly.nightly` returns)."""
    champions = [{k: c.get(k) for k in ("series_id", "model", "reason", "mae", "baseline_mae")}
                 for c in summary.get("champions", [])]
    missing = sum(c["model"] is None for c in champions)
    return {
        "run_id": summary["run_id"], "data_hash": summary["data_hash"],
        "rows_in": summary.get("rows_in"), "rows_kept": summary.get("rows_kept"),
        "rows_quarantined": summary.get("rows_quarantined"), "last_day": summary.get("last_day"),
        "series_published": len(champions) - missing, "series_not_published": missing,
        "champions": champions,
        "status": "published" if not missing else f"partial: {missing} series not published",
    }


def _run_record(row: dict[str, Any], night: date) -> dict[str, Any]:
    champions = [{k: (None if _missing(v) else v) for k, v in c.items()} for c in row.get("champions", [])]
    return {"run_date": night, "run_id": str(row["run_id"]), "data_hash": str(row["data_hash"]),
            "rows_in": _int(row.get("rows_in")), "rows_kept": _int(row.get("rows_kept")),
            "rows_quarantined": _int(row.get("rows_quarantined")), "last_day": _day(row.get("last_day")),
            "series_published": int(row.get("series_published", 0)),
            "series_not_published": int(row.get("series_not_published", 0)),
            "champions": json.dumps(champions, default=str), "status": str(row.get("status", "published"))}
