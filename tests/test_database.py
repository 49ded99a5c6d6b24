"""The PostgreSQL publish target against a real server the tests start (fixture ``postgres``)."""

from __future__ import annotations

import threading
from datetime import date

import numpy as np
import pandas as pd
import pytest

from seqcast import database
from seqcast.database import DatabaseError, DatabaseUnavailable

FORECAST_COLS = ["series_id", "ds", "cutoff", "h", "model", "mean", "lo_95", "lo_80", "hi_80", "hi_95",
                 "interval_n", "run_date", "run_id", "data_hash", "model_version", "reason", "created_at"]


def _night(run_date: str, series=("a", "b"), run_id: str = "r1", level: float = 10.0, h: int = 3) -> pd.DataFrame:
    """A small published table: ``h`` days ahead for each series."""
    cutoff = pd.Timestamp(run_date) - pd.Timedelta(days=1)
    rows = []
    for i, sid in enumerate(series):
        for step in range(1, h + 1):
            mean = level + i + step / 10
            rows.append({"series_id": sid, "ds": cutoff + pd.Timedelta(days=step), "cutoff": cutoff, "h": step,
                         "model": "naive", "mean": mean, "lo-95": mean - 2, "lo-80": mean - 1,
                         "hi-80": mean + 1, "hi-95": np.nan if step == h else mean + 2, "interval_n": 5,
                         "run_date": pd.Timestamp(run_date), "run_id": run_id, "data_hash": "abc123",
                         "model_version": "naive-x", "reason": "only candidate",
                         "created_at": pd.Timestamp("2024-12-31 03:00:00")})
    return pd.DataFrame(rows)


def _run_row(run_id: str = "r1") -> dict:
    return {"run_id": run_id, "data_hash": "abc123", "rows_in": 10, "rows_kept": 9, "rows_quarantined": 1,
            "last_day": "2024-12-29", "series_published": 2, "series_not_published": 0,
            "champions": [{"series_id": "a", "model": "naive", "reason": "only candidate", "mae": 1.5}],
            "status": "published"}


def _scores(series=("a", "b")) -> pd.DataFrame:
    return pd.DataFrame([{"series_id": s, "model": m, "h": h, "mae": 1.0 + h, "n": 28, "champion": m == "naive"}
                         for s in series for m in ("naive", "seasonal_naive") for h in (1, 2, 3)])


@pytest.fixture()
def db_url(postgres, request):
    """A fresh database per test on the session's server."""
    return postgres.create_database(request.node.name.lower()[:60].replace("[", "_").replace("]", ""))


def _publish(url, run_date, **kw):
    fc = kw.pop("forecasts", None)
    fc = _night(run_date, run_id=kw.get("run_id", "r1")) if fc is None else fc
    return database.publish_night(url, run_date, fc, run_row=_run_row(kw.pop("run_id", "r1")),
                                  scores=kw.pop("scores", _scores()), **kw)


# --- without a server ---------------------------------------------------------------------

def test_urls_are_checked_and_passwords_masked():
    assert database.parse_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    for bad, words in [("mysql://u:hunter2@h/db", "only PostgreSQL"), ("not a url :hunter2@", "not a URL"),
                       ("postgresql+psycopg://u:hunter2@h:5432", "names no database")]:
        with pytest.raises(DatabaseError, match=words) as err:
            database.parse_url(bad)
        assert "hunter2" not in str(err.value)


def test_an_unreachable_server_is_one_line_without_the_password():
    with pytest.raises(DatabaseUnavailable) as err:
        database.ensure_schema("postgresql+psycopg://bi:hunter2@127.0.0.1:1/forecasts")
    text = str(err.value)
    assert "hunter2" not in text and "bi:***@127.0.0.1:1/forecasts" in text and "\n" not in text


def test_the_task_retries_connection_errors_only():
    from tasks.database import retry_if_unavailable

    class State:
        def __init__(self, exc):
            self.exc = exc

        def result(self):
            raise self.exc

    assert retry_if_unavailable(None, None, State(DatabaseUnavailable("down")))
    assert not retry_if_unavailable(None, None, State(DatabaseError("bad url")))
    assert not retry_if_unavailable(None, None, State(ValueError("bug")))


def test_cli_bad_database_url_is_one_line_before_the_flow(tmp_path, capsys, monkeypatch):
    from seqcast.cli import main

    monkeypatch.setenv("SEQCAST_DATABASE_URL", "postgresql+psycopg://bi:hunter2@127.0.0.1:1/fc")
    assert main(["run", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqcast: error: database postgresql+psycopg://bi:***@")
    assert "hunter2" not in err
    assert main(["run", "--data-dir", str(tmp_path), "--database-url", "sqlite:///x.db"]) == 1
    assert "only PostgreSQL" in capsys.readouterr().err
    assert not (tmp_path / "published").exists()


# --- against the real server --------------------------------------------------------------

def test_schema_is_created_once_typed_and_versioned(db_url):
    assert database.ensure_schema(db_url) == database.ensure_schema(db_url) == database.SCHEMA_VERSION
    versions = database.read_table(db_url, "schema_version")
    assert versions["version"].tolist() == [m[0] for m in database.MIGRATIONS]
    types = database.read_sql(db_url, "SELECT table_name, column_name, data_type FROM information_schema.columns "
                                      "WHERE table_schema = 'public'")
    t = {(r.table_name, r.column_name): r.data_type for r in types.itertuples()}
    assert t["forecasts", "ds"] == t["forecasts", "run_date"] == t["runs", "run_date"] == "date"
    assert t["forecasts", "mean"] == t["backtest_scores", "mae"] == "double precision"
    assert t["forecasts", "created_at"] == t["runs", "published_at"] == "timestamp with time zone"
    assert t["runs", "champions"] == "jsonb" and t["alerts", "detected_at"] == "date"
    keys = database.read_sql(db_url, "SELECT tc.table_name, string_agg(kcu.column_name, ',' ORDER BY "
                             "kcu.ordinal_position) AS cols FROM information_schema.table_constraints tc JOIN "
                             "information_schema.key_column_usage kcu USING (constraint_name, table_name) "
                             "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public' "
                             "GROUP BY tc.table_name")
    assert dict(zip(keys["table_name"], keys["cols"], strict=True)) == {
        "forecasts": "run_date,series_id,model,ds", "backtest_scores": "run_date,series_id,model,h",
        "alerts": "run_date,series_id,kind,detected_at,status", "runs": "run_date", "schema_version": "version"}
    index = database.read_sql(db_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'forecasts_latest'")
    assert "(series_id, run_date DESC)" in index["indexdef"].iloc[0]


def test_rerunning_a_night_replaces_its_rows(db_url):
    _publish(db_url, "2024-12-30")
    _publish(db_url, "2024-12-31", run_id="r2")
    again = _night("2024-12-31", series=("a",), run_id="r3", level=20.0)  # the re-run has one series less
    written = _publish(db_url, "2024-12-31", run_id="r3", forecasts=again, scores=_scores(("a",)))
    assert written == {"forecasts": 3, "backtest_scores": 6, "runs": 1}
    fc = database.read_table(db_url, "forecasts")
    assert fc.groupby("run_date").size().to_dict() == {date(2024, 12, 30): 6, date(2024, 12, 31): 3}
    assert not fc.duplicated(["run_date", "series_id", "model", "ds"]).any()
    assert set(fc.loc[fc["run_date"] == date(2024, 12, 31), "run_id"]) == {"r3"}
    runs = database.read_table(db_url, "runs")
    assert runs["run_id"].tolist() == ["r1", "r3"] and runs["champions"].iloc[0][0]["mae"] == 1.5
    scores = database.read_table(db_url, "backtest_scores")
    assert scores.groupby("run_date").size().to_dict() == {date(2024, 12, 30): 12, date(2024, 12, 31): 6}
    # typed values: the same numbers, dates as dates, NaN as NULL, the write time in UTC
    row = fc[fc["run_date"] == date(2024, 12, 31)].iloc[0]
    assert row["ds"] == date(2024, 12, 31) and row["cutoff"] == date(2024, 12, 30) and row["h"] == 1
    assert row["mean"] == 20.1 and row["interval_n"] == 5
    assert fc["hi_95"].isna().sum() == 3  # one per series and night (the last step)
    assert str(fc["created_at"].iloc[0]) == "2024-12-31 03:00:00+00:00"


def test_a_failure_mid_write_keeps_the_previous_rows(db_url, monkeypatch):
    _publish(db_url, "2024-12-31")
    before = database.read_table(db_url, "forecasts")
    deleted = []

    def fail_after_delete(conn, rows):
        import sqlalchemy as sa

        deleted.append(conn.execute(sa.text("SELECT count(*) FROM forecasts")).scalar())
        raise RuntimeError("disk full")

    monkeypatch.setattr(database, "_insert", fail_after_delete)
    with pytest.raises(RuntimeError, match="disk full"):
        _publish(db_url, "2024-12-31", run_id="r2", forecasts=_night("2024-12-31", run_id="r2", level=99.0))
    assert deleted == [0]  # the night was deleted inside the transaction...
    pd.testing.assert_frame_equal(database.read_table(db_url, "forecasts"), before)  # ...and rolled back
    assert database.read_table(db_url, "runs")["run_id"].tolist() == ["r1"]


def test_a_refused_night_is_one_clear_error_and_rolled_back(db_url):
    _publish(db_url, "2024-12-31")
    twice = pd.concat([_night("2024-12-31", run_id="r2")] * 2)  # duplicate keys: the primary key refuses
    with pytest.raises(DatabaseError, match="not written \\(previous rows kept\\).*duplicate key"):
        _publish(db_url, "2024-12-31", run_id="r2", forecasts=twice)
    assert set(database.read_table(db_url, "forecasts")["run_id"]) == {"r1"}


def test_concurrent_publishes_of_a_night_never_interleave(db_url):
    database.ensure_schema(db_url)
    errors, start = [], threading.Barrier(4)

    def publish(i: int) -> None:
        try:
            start.wait()
            _publish(db_url, "2024-12-31", run_id=f"r{i}",
                     forecasts=_night("2024-12-31", run_id=f"r{i}", level=100.0 * i, h=14))
        except Exception as exc:  # without the lock, the primary key makes all but one fail
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    fc = database.read_table(db_url, "forecasts")
    (winner,) = set(fc["run_id"])  # one publish's rows only, all of them
    assert len(fc) == 28 and database.read_table(db_url, "runs")["run_id"].tolist() == [winner]
    expected = _night("2024-12-31", run_id=winner, level=100.0 * int(winner[1:]), h=14)
    assert sorted(fc["mean"]) == sorted(expected["mean"])


def test_latest_forecast_of_every_series(db_url):
    _publish(db_url, "2024-12-30")  # a and b
    _publish(db_url, "2024-12-31", run_id="r2", forecasts=_night("2024-12-31", series=("a",), run_id="r2"),
             scores=_scores(("a",)))  # b was not published on the 31st
    latest = database.latest_forecasts(db_url)
    assert latest.groupby("series_id")["run_date"].unique().map(list).to_dict() == {
        "a": [date(2024, 12, 31)], "b": [date(2024, 12, 30)]}
    assert len(latest) == 6
    view = database.read_sql(db_url, "SELECT * FROM latest_forecasts ORDER BY series_id, ds")
    pd.testing.assert_frame_equal(view, latest)


def test_alerts_mirror_the_alerts_table(db_url):
    alerts = pd.DataFrame({"series_id": ["a", "a"], "detected_at": pd.to_datetime(["2024-12-20", "2024-12-28"]),
                           "kind": "level_shift", "statistic": [12.0, 1.0], "threshold": 10.0, "window": "28d",
                           "severity": "warning", "run_id": "r1", "status": ["open", "cleared"],
                           "run_date": pd.to_datetime(["2024-12-20", "2024-12-28"])})
    _publish(db_url, "2024-12-30", alerts=alerts.iloc[:1])
    _publish(db_url, "2024-12-31", alerts=alerts)
    _publish(db_url, "2024-12-31", alerts=alerts)  # re-run: no duplicates
    got = database.read_table(db_url, "alerts")
    assert got[["detected_at", "status", "check_window"]].values.tolist() == [
        [date(2024, 12, 20), "open", "28d"], [date(2024, 12, 28), "cleared", "28d"]]


# --- the real nightly flow ----------------------------------------------------------------

@pytest.fixture(scope="module")
def two_nights_and_a_rerun(tmp_path_factory, postgres, prefect_harness):
    from flows.nightly import NightlyParams, nightly, spec_for

    url = postgres.create_database("nightly")
    data = tmp_path_factory.mktemp("nightly-db")
    summaries = []
    for night in (date(2024, 12, 30), date(2024, 12, 31), date(2024, 12, 31)):
        params = NightlyParams(data_dir=str(data), as_of=night, models=[spec_for("seasonal_naive")],
                               database_url=url, backtest_days=7)
        summaries.append(nightly(params))
    return url, data, summaries


@pytest.mark.slow
def test_nightly_publishes_two_nights_and_a_rerun_into_postgres(two_nights_and_a_rerun):
    from seqcast.alerts import read_alerts
    from seqcast.published import read_forecasts

    url, data, (first, second, rerun) = two_nights_and_a_rerun
    assert rerun["database"]["rows"]["forecasts"] == 28 and "***" not in rerun["database"]["url"]
    fc = database.read_table(url, "forecasts")
    assert fc.groupby("run_date").size().to_dict() == {date(2024, 12, 30): 28, date(2024, 12, 31): 28}
    assert not fc.duplicated(["run_date", "series_id", "model", "ds"]).any()
    # the same rows as the Parquet table, typed
    parquet = read_forecasts(data).rename(columns=lambda c: c.replace("-", "_"))
    for col in ("ds", "cutoff", "run_date"):
        parquet[col] = pd.to_datetime(parquet[col]).dt.date
    parquet["created_at"] = pd.to_datetime(parquet["created_at"]).map(
        lambda t: t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC"))
    key = ["run_date", "series_id", "model", "ds"]
    left = fc[FORECAST_COLS].sort_values(key, ignore_index=True)
    right = parquet[FORECAST_COLS].sort_values(key, ignore_index=True)
    for col in FORECAST_COLS:
        a, b = left[col].tolist(), right[col].tolist()
        assert all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b, strict=True)), col
    assert set(fc.loc[fc["run_date"] == date(2024, 12, 31), "run_id"]) == {rerun["run_id"]}
    runs = database.read_table(url, "runs")
    assert runs["run_id"].tolist() == [first["run_id"], rerun["run_id"]]
    assert runs[["rows_in", "rows_kept", "rows_quarantined"]].iloc[1].tolist() == [
        rerun["rows_in"], rerun["rows_kept"], rerun["rows_quarantined"]]
    assert runs["status"].tolist() == ["published"] * 2 and runs["data_hash"].iloc[1] == rerun["data_hash"]
    assert {c["model"] for c in runs["champions"].iloc[1]} == {"seasonal_naive"}
    scores = database.read_table(url, "backtest_scores")
    night = scores[scores["run_date"] == date(2024, 12, 31)]
    assert len(night) == len(rerun["scores_by_h"]) > 0 and night["champion"].all()
    assert night["h"].min() == 1 and (night["n"] > 0).all()  # the steps scored in the window
    alerts = database.read_table(url, "alerts")
    assert len(alerts) == len(read_alerts(data))
    latest = database.latest_forecasts(url)
    assert len(latest) == 28 and set(latest["run_date"]) == {date(2024, 12, 31)}


@pytest.mark.slow
def test_the_database_url_is_not_a_visible_flow_parameter(two_nights_and_a_rerun):
    from prefect.client.orchestration import get_client

    url, _, (_, _, rerun) = two_nights_and_a_rerun

    async def parameters():
        async with get_client() as client:
            return (await client.read_flow_run(rerun["run_id"])).parameters

    import asyncio

    params = asyncio.run(parameters())
    assert url.rsplit("@", 1)[-1] not in str(params)


def test_the_url_comes_from_the_parameter_a_secret_block_or_the_environment(prefect_harness, monkeypatch):
    from prefect.blocks.system import Secret

    from tasks.database import database_url

    url = "postgresql+psycopg://bi:hunter2@db.example:5432/forecasts"
    Secret(value=url).save("seqcast-test-database", overwrite=True)
    assert database_url("postgresql://x@h/db", "seqcast-test-database") == "postgresql://x@h/db"
    assert database_url(None, "seqcast-test-database").get_secret_value() == url
    monkeypatch.delenv("SEQCAST_DATABASE_URL", raising=False)
    assert database_url(None, None) is None
    monkeypatch.setenv("SEQCAST_DATABASE_URL", url)
    assert database_url(None, None) == url


def test_readme_query_with_pandas(db_url):
    _publish(db_url, "2024-12-31")
    latest = pd.read_sql("SELECT * FROM latest_forecasts", db_url)  # as the README shows it
    assert len(latest) == 6 and latest["created_at"].dt.tz is not None
