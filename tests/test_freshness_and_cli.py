"""Freshness (stale data alerts) and the command line's formats and help (issue 14)."""

from __future__ import annotations

import argparse
import io
import json
import logging
from datetime import date

import pandas as pd
import pytest

from seqcast.alerts import check_freshness, open_alerts, read_alerts
from seqcast.published import publish_forecasts


def _last(**days) -> pd.Series:
    return pd.Series(pd.to_datetime(list(days.values())), index=list(days))


def test_a_stale_series_opens_one_alert_and_clears_when_fresh(tmp_path):
    stale = check_freshness(tmp_path, _last(a="2024-06-30", b="2024-06-20"), "2024-07-01", 3, run_id="r1")
    assert stale.to_dict("list") == {"series_id": ["b"], "last_day": [pd.Timestamp("2024-06-20")],
                                     "days_stale": [11]}
    check_freshness(tmp_path, _last(a="2024-07-01", b="2024-06-20"), "2024-07-02", 3)  # still stale: no new row
    table = read_alerts(tmp_path)
    assert table[["series_id", "kind", "status"]].values.tolist() == [["b", "stale_data", "open"]]
    assert table["window"].iloc[0] == "newest day 2024-06-20" and table["threshold"].iloc[0] == 3.0
    check_freshness(tmp_path, _last(a="2024-07-02", b="2024-07-02"), "2024-07-03", 3)
    table = read_alerts(tmp_path)
    assert table["status"].tolist() == ["open", "cleared"] and open_alerts(table).empty
    # re-running a night gives the same table
    check_freshness(tmp_path, _last(a="2024-07-02", b="2024-07-02"), "2024-07-03", 3)
    pd.testing.assert_frame_equal(read_alerts(tmp_path), table)


def test_within_the_limit_is_fresh(tmp_path):
    assert check_freshness(tmp_path, _last(a="2024-06-28"), "2024-07-01", 3).empty
    assert read_alerts(tmp_path).empty


def test_the_drift_monitor_leaves_stale_alerts_alone(tmp_path):
    from seqcast.alerts import monitor
    from seqcast.drift import synthetic_series

    clean = synthetic_series()
    as_of = clean["ds"].max()
    last = clean.groupby("series_id")["ds"].max() - pd.Timedelta(days=30)
    check_freshness(tmp_path, last, as_of - pd.Timedelta(days=1), 3)
    monitor(tmp_path, clean, as_of=as_of)  # evaluates drift kinds only: must not clear stale_data
    stale = read_alerts(tmp_path)
    stale = stale[stale["kind"] == "stale_data"]
    assert len(stale) == clean["series_id"].nunique() and (stale["status"] == "open").all()


def test_nightly_on_old_data_says_it_is_stale(tmp_path, prefect_harness):
    from flows.nightly import NightlyParams, nightly, spec_for

    summary = nightly(NightlyParams(data_dir=str(tmp_path), as_of=date(2024, 12, 31), monitor=False,
                                    models=[spec_for("seasonal_naive")]))
    assert summary["freshness"]["stale"] == []
    # the embedded sample ends on 2024-12-31: a run dated a week later is on stale data
    summary = nightly(NightlyParams(data_dir=str(tmp_path), as_of=date(2025, 1, 7), monitor=False,
                                    models=[spec_for("seasonal_naive")]))
    stale = summary["freshness"]["stale"]
    assert [(s["series_id"], s["days_stale"]) for s in stale] == [("bus", 7), ("rail", 7)]
    alerts = read_alerts(tmp_path)
    assert set(alerts["kind"]) == {"stale_data"} and (alerts["status"] == "open").all()


# ----------------------------------------------------------------- the command line


@pytest.fixture()
def published(tmp_path):
    rows = pd.DataFrame({"series_id": ["bus", "bus"], "ds": pd.to_datetime(["2024-12-31", "2025-01-01"]),
                         "cutoff": pd.Timestamp("2024-12-30"), "h": [1, 2], "model": "naive",
                         "mean": [1.5, 2.5], "reason": "test"})
    publish_forecasts(rows, tmp_path, run_date=date(2024, 12, 30), run_id="r", data_hash="x")
    return tmp_path


def test_forecasts_show_json(published, capsys):
    from seqcast.cli import main

    assert main(["forecasts", "show", "--data-dir", str(published), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["mean"] for r in records] == [1.5, 2.5] and records[0]["ds"] == "2024-12-31"
    assert records[0]["cutoff"] == "2024-12-30" and records[0]["run_date"] == "2024-12-30"
    assert records[0]["created_at"].endswith("Z")  # stored in UTC: the text says so


def test_forecasts_show_output_paths(published, tmp_path, capsys):
    # found by a new user (helper 17): the table format ignored --output; a missing folder
    # or a folder as --output was an internal error; a closed pipe too
    from seqcast.cli import main

    out = tmp_path / "f.txt"
    assert main(["forecasts", "show", "--data-dir", str(published), "--output", str(out)]) == 0
    assert capsys.readouterr().out == "" and "naive" in out.read_text()
    # without --format the suffix says which
    assert main(["forecasts", "show", "--data-dir", str(published), "--output", str(tmp_path / "f.csv")]) == 0
    assert (tmp_path / "f.csv").read_text().startswith("series_id,ds,")
    cases = [(["--format", "csv", "--output", str(tmp_path / "nodir" / "x.csv")], 1, "no folder"),
             (["--format", "csv", "--output", str(tmp_path)], 2, "a folder"),
             (["--format", "csv", "--output", str(tmp_path / "x.txt")], 2, "must end .csv"),
             # was "x.json.gz: the file name must end .txt": a suffix it does not write, named
             (["--output", str(tmp_path / "x.json.gz")], 2, "x.json.gz: .gz is not a format forecasts show "
                                                            "writes: end the name .csv, .json, .parquet or .txt"),
             (["--run-date", "2024-12-30", "--all"], 2, "give one")]
    for extra, rc, expected in cases:
        assert main(["forecasts", "show", "--data-dir", str(published), *extra]) == rc
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("seqcast: error: ") and expected in err[0], err


def test_a_closed_pipe_ends_quietly(published, monkeypatch):
    from seqcast import cli

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("seqcast.commands.forecasts._emit", closed)
    monkeypatch.setattr("os.dup2", lambda *a: None)  # keep pytest's stdout
    assert cli.main(["forecasts", "show", "--data-dir", str(published), "--format", "csv"]) == 141


def test_forecasts_show_parquet_is_typed(published, tmp_path):
    import pyarrow.parquet as pq

    from seqcast.cli import main

    out = tmp_path / "f.parquet"
    assert main(["forecasts", "show", "--data-dir", str(published), "--format", "parquet", "--output", str(out)]) == 0
    schema = pq.read_schema(out)
    assert str(schema.field("ds").type) == "date32[day]" and str(schema.field("run_date").type) == "date32[day]"
    assert pd.read_parquet(out)["mean"].tolist() == [1.5, 2.5]


def test_forecasts_show_parquet_to_a_pipe(published, monkeypatch, capsys):
    import sys

    from seqcast.cli import main

    buf = io.BytesIO()
    fake = io.TextIOWrapper(buf)
    monkeypatch.setattr(sys, "stdout", fake)
    assert main(["forecasts", "show", "--data-dir", str(published), "--format", "parquet"]) == 0
    fake.flush()
    assert pd.read_parquet(io.BytesIO(buf.getvalue()))["mean"].tolist() == [1.5, 2.5]


def test_run_dates_on_the_command_line_are_strict_iso(published, capsys):
    from seqcast.cli import main

    with pytest.raises(SystemExit) as info:
        main(["forecasts", "show", "--data-dir", str(published), "--run-date", "12/30/2024"])
    assert info.value.code == 2
    assert "'12/30/2024' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
    assert main(["forecasts", "show", "--data-dir", str(published), "--run-date", "2024-12-30"]) == 0


def test_a_one_value_option_given_twice_is_a_usage_error(published, capsys):
    """argparse kept the last value silently: ``--series a --series b`` showed b alone."""
    from seqcast.cli import main

    base = ["forecasts", "show", "--data-dir", str(published)]
    with pytest.raises(SystemExit) as info:
        main([*base, "--series", "bus", "--series", "rail"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--series given twice (--series bus and --series rail)" in err[0]
    assert main([*base, "--series", "bus", "--series", "bus", "--format", "csv"]) == 0  # the same value: no doubt
    assert "bus" in capsys.readouterr().out


def test_every_flag_has_help_with_its_default():
    from seqcast.cli import build_parser

    missing, shown = [], []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(sub, f"{name} {sub_name}")
            elif action.option_strings and not isinstance(action, argparse._HelpAction | argparse._VersionAction):
                if not action.help:
                    missing.append(f"{name} {action.option_strings[0]}")
                shown.append((name, parser.format_help()))

    walk(build_parser(), "seqcast")
    assert not missing
    run_help = dict(shown)["seqcast run"]
    assert "(default: 14)" in " ".join(run_help.split()) and "(default: 3)" in " ".join(run_help.split())


def test_only_the_console_script_skips_the_collector_at_exit(tmp_path):
    """`seqcast` freezes the heap when its command returns (the last collection over
    every object the run left cost ~0.9 s at exit); ``main(argv)`` called from Python
    (a notebook, these tests) leaves the caller's collector alone."""
    import gc
    import subprocess
    import sys

    from seqcast.cli import main

    before = gc.get_freeze_count()
    assert main(["forecasts", "show", "--data-dir", str(tmp_path / "none")]) == 1
    assert gc.get_freeze_count() == before
    code = ("import gc, sys; from seqcast.cli import main; "
            "sys.argv = ['seqcast', 'forecasts', 'show', '--data-dir', sys.argv[1]]; "
            "rc = main(); print(rc, gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "none")], capture_output=True, text=True)
    assert out.stdout.split() == ["1", "True"], out.stderr


def test_a_run_from_the_terminal_sends_no_flow_heartbeats(monkeypatch):
    """Heartbeats are for runs of deployments (zombie detection); ending a flow run's
    heartbeat thread cost `seqcast run` up to 1 s a flow run. The environment still wins."""
    from prefect.settings import get_current_settings

    from flows.nightly import local_run_settings

    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    with local_run_settings():
        assert get_current_settings().flows.heartbeat_frequency is None
    before = get_current_settings().flows.heartbeat_frequency
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")  # what Prefect read at start-up stays
    with local_run_settings():
        assert get_current_settings().flows.heartbeat_frequency == before


def test_run_flags_reach_the_nightly_parameters(tmp_path, monkeypatch, capsys):
    """Every runner knob of ``NightlyParams`` a CLI user needs is a flag of ``seqcast run``."""
    import flows.nightly
    from seqcast.cli import main
    from seqcast.errors import InputError

    seen = []

    def fake_nightly(params):
        seen.append(params)
        raise InputError("stopped before the night")

    monkeypatch.setattr(flows.nightly, "nightly", fake_nightly)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # the run's log file handler goes
    rc = main(["run", "--data-dir", str(tmp_path / "d"), "--workers", "3", "--tasks-per-worker", "2",
               "--runner", "process", "--max-staleness-days", "5"])
    assert rc == 1 and "stopped before the night" in capsys.readouterr().err
    (p,) = seen
    assert (p.workers, p.tasks_per_worker, p.runner, p.max_staleness_days) == (3, 2, "process", 5)
    main(["run", "--data-dir", str(tmp_path / "d")])
    assert seen[-1].tasks_per_worker == flows.nightly.NightlyParams().tasks_per_worker
    with pytest.raises(SystemExit):
        main(["run", "--tasks-per-worker", "0"])


def test_the_console_gets_no_tensorflow_developer_warnings(monkeypatch, capsys):
    """TensorFlow's Python warnings (tf.function retracing, once per few refits of a network
    backtest) stay off the console: the logger is at ERROR once the CLI starts."""
    from seqcast.cli import main

    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    assert main([]) == 2
    assert logger.getEffectiveLevel() == logging.ERROR
    assert not logger.isEnabledFor(logging.WARNING) and logger.isEnabledFor(logging.ERROR)
