"""The alerts table: one open alert per series × kind, cleared rows, idempotent atomic
writes, replays equal to one pass; the CLI, the monitor task (events, artifact, plot),
the monitor flow under Prefect, and the retrain automation definition."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from seqcast import alerts
from seqcast.alerts import ALERT_COLUMNS, open_alerts, read_alerts, transitions
from seqcast.drift import DriftConfig, synthetic_forecasts, synthetic_series

ROOT = Path(__file__).resolve().parents[1]


def _history(firing: list[bool], kind: str = "level_shift", sid: str = "a") -> pd.DataFrame:
    n = len(firing)
    return pd.DataFrame({
        "series_id": sid, "night": pd.date_range("2024-01-01", periods=n), "kind": kind,
        "statistic": [12.0 if f else 1.0 for f in firing], "threshold": 10.0,
        "window": "w", "firing": firing,
    })


def test_one_open_alert_until_quiet_then_cleared_then_reopened():
    cfg = DriftConfig(clear_after_days=3)
    firing = [False, True, True, False, True, False, False, False, False, True, True]
    hist = _history(firing)
    rows = transitions(hist, hist["night"], set(), cfg, run_id="r")
    assert list(rows.columns) == list(ALERT_COLUMNS)
    got = [(str(d.date()), s) for d, s in zip(rows["detected_at"], rows["status"], strict=True)]
    assert got == [("2024-01-02", "open"), ("2024-01-08", "cleared"), ("2024-01-10", "open")]
    assert rows.loc[rows["status"] == "cleared", "severity"].eq("info").all()
    # an alert already open before the first night is not opened again
    again = transitions(hist, hist["night"][1:3], {("a", "level_shift")}, cfg)
    assert again.empty


def test_severity_is_critical_far_above_threshold():
    hist = _history([True]).assign(statistic=15.0)
    assert transitions(hist, hist["night"], set())["severity"].tolist() == ["critical"]


@pytest.fixture(scope="module")
def scenario():
    """Two series: rail shifts level (-30 %) on 2023-06-14 and its model goes wrong on 2023-07-20."""
    rail = synthetic_series(1, change="level", size=0.3, change_at="2023-06-14")
    bus = synthetic_series(2, series_id="bus", level=700.0)
    clean = pd.concat([rail, bus], ignore_index=True)
    fc = pd.concat([
        synthetic_forecasts(rail, "2022-01-01", bias_from="2023-07-20", bias=0.2),
        synthetic_forecasts(bus, "2022-01-01"),
    ], ignore_index=True)
    bt = pd.concat([synthetic_forecasts(s, "2021-01-15", "2021-12-31") for s in (rail, bus)])
    bt = bt.merge(clean[["series_id", "ds", "y"]], on=["series_id", "ds"])
    return clean, fc, bt


NIGHTS = pd.date_range("2023-06-01", "2023-08-20")


def _replay(data_dir, clean, fc, bt, nights, prefix="r"):
    for n in nights:
        alerts.monitor(data_dir, clean[clean["ds"] <= n], n, forecasts=fc[fc["cutoff"] < n],
                       backtest=bt, run_id=f"{prefix}-{n.date()}")


def _rows(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["run_id", "run_date"]).reset_index(drop=True)


def test_replay_night_by_night_equals_one_continuous_pass(tmp_path, scenario):
    clean, fc, bt = scenario
    one = alerts.monitor(tmp_path / "one", clean, NIGHTS[-1], forecasts=fc, backtest=bt,
                         since=NIGHTS[0], run_id="continuous")
    assert len(one.nights) == len(NIGHTS)
    _replay(tmp_path / "nightly", clean, fc, bt, NIGHTS)
    continuous, nightly = read_alerts(tmp_path / "one"), read_alerts(tmp_path / "nightly")
    pd.testing.assert_frame_equal(_rows(continuous), _rows(nightly))
    # what happened: the level shift opens (and later clears) alerts on rail, the biased
    # model opens an error_ratio alert; the stationary bus series never alerts
    opened = continuous[continuous["status"] == "open"]
    assert set(opened["series_id"]) == {"rail"}
    assert {"level_shift", "error_ratio"} <= set(opened["kind"])
    shift = opened[opened["kind"] == "level_shift"]["detected_at"].min()
    assert pd.Timestamp("2023-06-14") <= shift <= pd.Timestamp("2023-06-21")
    assert (continuous["status"] == "cleared").any()
    # never two open alerts for one series × kind at once
    for _, g in nightly.groupby(["series_id", "kind"]):
        status = g.sort_values("detected_at")["status"].tolist()
        assert all(a != b for a, b in zip(status, status[1:], strict=False)), status
        assert status[0] == "open"


def test_rerunning_a_night_gives_the_same_table(tmp_path, scenario):
    clean, fc, bt = scenario
    nights = pd.date_range("2023-06-10", "2023-06-20")
    _replay(tmp_path, clean, fc, bt, nights)
    before = read_alerts(tmp_path)
    files = sorted(p.name for p in alerts.alerts_dir(tmp_path).iterdir())
    assert len(before) and len(files) == len(nights)
    last = nights[-1]
    for _ in range(2):
        alerts.monitor(tmp_path, clean[clean["ds"] <= last], last, forecasts=fc[fc["cutoff"] < last],
                       backtest=bt, run_id=f"r-{last.date()}")
    pd.testing.assert_frame_equal(before, read_alerts(tmp_path))
    assert sorted(p.name for p in alerts.alerts_dir(tmp_path).iterdir()) == files  # no temp files left
    # re-running a night that opened an alert does not open it a second time
    opened_at = before.loc[before["status"] == "open", "detected_at"].min()
    alerts.monitor(tmp_path, clean[clean["ds"] <= opened_at], opened_at,
                   forecasts=fc[fc["cutoff"] < opened_at], backtest=bt, run_id=f"r-{opened_at.date()}")
    assert len(read_alerts(tmp_path)) == len(before)


def test_skipped_nights_are_caught_up(tmp_path, scenario):
    clean, fc, bt = scenario
    nights = pd.date_range("2023-06-10", "2023-06-24")
    _replay(tmp_path / "every", clean, fc, bt, nights)
    gaps = nights[[0, 1, 9, 14]]  # the monitor did not run on most nights
    _replay(tmp_path / "gaps", clean, fc, bt, gaps)
    pd.testing.assert_frame_equal(_rows(read_alerts(tmp_path / "every")),
                                  _rows(read_alerts(tmp_path / "gaps")))
    assert len(read_alerts(tmp_path / "every", as_of="2023-06-11")) <= len(read_alerts(tmp_path / "every"))


def test_open_alerts_view():
    table = pd.concat([
        transitions(_history([True] * 3), pd.date_range("2024-01-01", periods=3), set()),
        transitions(_history([True, False], kind="data_ks", sid="b"), pd.date_range("2024-01-01", periods=2), set()),
    ])
    assert len(open_alerts(table)) == 2


def test_cli_alerts_show(tmp_path, scenario, capsys):
    from seqcast.cli import main

    assert main(["alerts", "show", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err  # one user-error line, not a bare message on stdout
    assert err.startswith("seqcast: error: ") and "monitor has not run yet" in err
    clean, fc, bt = scenario
    _replay(tmp_path, clean, fc, bt, pd.date_range("2023-06-14", "2023-06-22"))
    assert main(["alerts", "show", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "open alerts (last night evaluated: 2023-06-22)" in out and "level_shift" in out
    assert main(["alerts", "show", "--data-dir", str(tmp_path), "--all", "--format", "csv"]) == 0
    csv = capsys.readouterr().out
    assert csv.splitlines()[0] == ",".join(ALERT_COLUMNS)
    assert main(["alerts", "show", "--data-dir", str(tmp_path), "--as-of", "2023-06-14"]) == 0
    assert "last night evaluated: 2023-06-14" in capsys.readouterr().out
    # before the first night: not "the monitor has not run yet" (it has); an unknown series: say so
    assert main(["alerts", "show", "--data-dir", str(tmp_path), "--as-of", "2020-01-01"]) == 1
    assert "no night evaluated on or before 2020-01-01 (the first was 2023-06-14)" in capsys.readouterr().err
    assert main(["alerts", "show", "--data-dir", str(tmp_path), "--series", "nope"]) == 1
    assert "no series 'nope'" in capsys.readouterr().err



def test_statistics_computed_per_bucket_give_the_same_alerts(tmp_path, scenario):
    """The nightly computes the statistics per bucket of series (in parallel) and reads
    only the published nights the error windows reach; the alerts are the same."""
    from seqcast.alerts import lookback_nights
    from seqcast.drift import drift_history

    clean, fc, bt = scenario
    cfg = DriftConfig()
    nights = pd.date_range("2023-07-25", "2023-08-20")
    for n in nights:
        upto, seen = clean[clean["ds"] <= n], fc[fc["cutoff"] < n]
        alerts.monitor(tmp_path / "whole", upto, n, forecasts=seen, backtest=bt, run_id="w")
        _, lookback = lookback_nights(tmp_path / "split", n, None, cfg)
        reach = cfg.error_window + cfg.error_consecutive_days + int(fc["h"].max()) + 1
        recent = seen[seen["cutoff"] >= lookback.min() - pd.Timedelta(days=reach)]
        parts = [drift_history(upto[upto["series_id"] == s], recent[recent["series_id"] == s],
                               bt[bt["series_id"] == s], cfg, nights=lookback, as_of=n) for s in ("rail", "bus")]
        history = pd.concat(parts, ignore_index=True).sort_values(["series_id", "kind", "night"],
                                                                  kind="stable", ignore_index=True)
        alerts.monitor(tmp_path / "split", upto, n, forecasts=seen, backtest=bt, run_id="w", history=history)
    whole = read_alerts(tmp_path / "whole")
    assert {"level_shift", "error_ratio"} <= set(whole["kind"])
    pd.testing.assert_frame_equal(read_alerts(tmp_path / "split"), whole)

# -- Prefect: task, flow, automation -----------------------------------------------------------
@pytest.fixture()
def data_dir_with_clean(tmp_path, scenario):
    clean, fc, bt = scenario
    clean_path = tmp_path / "clean.parquet"
    clean[clean["ds"] <= "2023-06-22"].to_parquet(clean_path)
    bt_path = tmp_path / "backtest.parquet"
    bt.to_parquet(bt_path)
    return tmp_path / "data", clean_path, bt_path


def test_monitor_task_emits_one_event_per_new_alert(data_dir_with_clean, monkeypatch):
    from prefect.blocks.core import Block
    from prefect.logging import disable_run_logger

    import tasks.monitor as tm

    data_dir, clean_path, bt_path = data_dir_with_clean
    events, artifacts, sent = [], [], []

    class FakeSlack:
        def notify(self, body, subject=None):
            sent.append((subject, body))

    monkeypatch.setattr(tm, "emit_event", lambda **kw: events.append(kw))
    monkeypatch.setattr(tm, "create_markdown_artifact", lambda **kw: artifacts.append(kw))
    monkeypatch.setattr(Block, "load", classmethod(lambda cls, name: sent.append(name) or FakeSlack()))
    with disable_run_logger():
        summary = tm.monitor_task.fn(str(clean_path), str(data_dir), as_of="2023-06-22",
                                     run_id="test-run", backtest_path=str(bt_path), since="2023-06-10",
                                     notify_block="slack-webhook/seqcast-alerts")
    assert sent[0] == "slack-webhook/seqcast-alerts" and "drift alert(s) on 2023-06-22" in sent[1][0]
    table = read_alerts(data_dir)
    opened = table[table["status"] == "open"]
    assert summary["new_alerts"] == len(opened) == len(events) > 0
    assert summary["nights"] == 13 and summary["error_drift"] is False  # no published forecasts
    ev = events[0]
    assert ev["event"] == "seqcast.drift.detected"
    assert ev["resource"]["prefect.resource.id"] == "seqcast.series.rail"
    assert ev["payload"]["kind"] in set(opened["kind"]) and ev["payload"]["run_id"] == "test-run"
    assert Path(summary["plot"]).stat().st_size > 10_000
    assert artifacts[0]["key"] == "drift-monitor" and "level_shift" in artifacts[0]["markdown"]
    # the same night again: no new alert, no event
    events.clear()
    with disable_run_logger():
        again = tm.monitor_task.fn(str(clean_path), str(data_dir), as_of="2023-06-22", run_id="test-run",
                                   backtest_path=str(bt_path), notify_block="slack-webhook/seqcast-alerts")
    assert again["new_alerts"] == len(events) == 0 and len(sent) == 2  # nothing new: no message
    pd.testing.assert_frame_equal(table, read_alerts(data_dir))


def test_monitor_plots_history_of_the_alerting_series_only(data_dir_with_clean, monkeypatch):
    """With more series than the plot draws, the 182-night history is computed only for the
    plotted ones (at 1,000 series it was most of the monitor's time): rail has the alert."""
    from prefect.logging import disable_run_logger

    import seqcast.drift as drift
    import tasks.monitor as tm

    data_dir, clean_path, bt_path = data_dir_with_clean
    seen = []
    real = drift.drift_history  # what the plot's history is computed with (drift_plot_file)
    monkeypatch.setattr(drift, "drift_history",
                        lambda clean, *a, **k: seen.append(set(clean["series_id"])) or real(clean, *a, **k))
    monkeypatch.setattr(tm, "PLOT_SERIES", 1)
    monkeypatch.setattr(tm, "emit_event", lambda **kw: None)
    monkeypatch.setattr(tm, "create_markdown_artifact", lambda **kw: None)
    with disable_run_logger():
        summary = tm.monitor_task.fn(str(clean_path), str(data_dir), as_of="2023-06-22",
                                     backtest_path=str(bt_path), since="2023-06-10")
    assert summary["new_alerts"] > 0 and seen == [{"rail"}]
    assert Path(summary["plot"]).stat().st_size > 10_000
    assert summary["too_short"] == {}  # every series has the history the statistics need


def test_monitor_says_which_series_are_too_short_to_check(data_dir_with_clean, monkeypatch):
    # a new user's 305-day file: the drift checks did not run, and nothing said so
    from prefect.logging import disable_run_logger

    import tasks.monitor as tm

    data_dir, clean_path, _ = data_dir_with_clean
    clean = pd.read_parquet(clean_path)
    monkeypatch.setattr(tm, "emit_event", lambda **kw: None)
    monkeypatch.setattr(tm, "create_markdown_artifact", lambda **kw: None)
    ids = sorted(clean["series_id"].unique())
    # 300 days: checked against the 56 days before the recent window, and said so
    clean[clean["ds"] > clean["ds"].max() - pd.Timedelta(days=300)].to_parquet(clean_path)
    with disable_run_logger():
        summary = tm.monitor_task.fn(str(clean_path), str(data_dir), as_of="2023-06-22")
    assert summary["too_short"] == {} and summary["trailing_reference"] == {sid: 300 for sid in ids}
    assert summary["seasonal_needs_days"] == 448 and "checked against the 56 days before" in summary["markdown"]
    # 60 days: no statistic yet
    clean[clean["ds"] > clean["ds"].max() - pd.Timedelta(days=60)].to_parquet(clean_path)
    with disable_run_logger():
        summary = tm.monitor_task.fn(str(clean_path), str(data_dir), as_of="2023-06-22")
    assert summary["too_short"] == {sid: 60 for sid in ids} and summary["needs_days"] == 84
    assert "Data drift not checked yet for" in summary["markdown"]


def test_monitor_flow_runs_under_prefect(data_dir_with_clean, prefect_harness):
    from flows.monitor import DriftThresholds, MonitorParams, monitor

    data_dir, clean_path, bt_path = data_dir_with_clean
    params = MonitorParams(clean_path=str(clean_path), data_dir=str(data_dir), as_of="2023-06-22",
                           since="2023-06-12", backtest_path=str(bt_path),
                           thresholds=DriftThresholds(level_threshold=8.0))
    assert params.thresholds.overrides() == {"level_threshold": 8.0}
    summary = monitor(params)
    assert summary["nights"] == 11 and summary["new_alerts"] >= 1
    assert len(read_alerts(data_dir)) == summary["new_alerts"]


def test_thresholds_form_mirrors_drift_config():
    import dataclasses

    from flows.monitor import DriftThresholds

    fields = {f.name: f.default for f in dataclasses.fields(DriftConfig)}
    form = DriftThresholds()
    for name in DriftThresholds.model_fields:
        assert fields[name] == getattr(form, name)
    assert form.overrides() == {}


def test_retrain_automation_definition_is_valid():
    sys.path.insert(0, str(ROOT / "deployments"))
    try:
        import automations
    finally:
        sys.path.pop(0)
    specs = automations.load_specs(ROOT / "deployments" / "automations.yaml")
    assert [s["name"] for s in specs] == ["seqcast-retrain-on-drift"]
    dep = uuid.uuid4()
    core = automations.build(specs[0], dep)
    assert core.trigger.expect == {"seqcast.drift.detected"}
    assert core.actions[0].type == "run-deployment" and core.actions[0].deployment_id == dep


def test_night_after_the_data_is_evaluated_as_its_last_day(tmp_path, scenario):
    clean, fc, bt = scenario
    data = clean[clean["ds"] <= "2023-06-20"]
    late = alerts.monitor(tmp_path, data, "2023-07-04", forecasts=fc[fc["cutoff"] < "2023-06-20"],
                          backtest=bt, since="2023-06-12")
    assert late.nights.max() == pd.Timestamp("2023-06-20")
    assert alerts.evaluated_nights(tmp_path)[-1] == pd.Timestamp("2023-06-20")


def test_drift_event_runs_the_retrain_deployment(prefect_harness):
    """End to end on the test server: the automation from automations.yaml turns a
    ``seqcast.drift.detected`` event into a flow run of the retrain deployment."""
    import time

    from prefect import flow
    from prefect.automations import Automation
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.events import emit_event

    import tasks.monitor as tm

    sys.path.insert(0, str(ROOT / "deployments"))
    try:
        import automations
    finally:
        sys.path.pop(0)

    @flow(name="retrain-stand-in")
    def retrain() -> None:  # pragma: no cover - never executed, only deployed
        return None

    dep_id = retrain.to_deployment(name="retrain-stand-in").apply()
    spec = automations.load_specs(ROOT / "deployments" / "automations.yaml")[0]
    created = Automation(**automations.build(spec, dep_id).model_dump()).create()
    try:
        time.sleep(1.0)  # let the triggers service load the new automation
        row = {"series_id": "rail", "detected_at": pd.Timestamp("2024-01-02"), "kind": "level_shift",
               "statistic": 12.0, "threshold": 10.0, "window": "2023-12-06/2024-01-02",
               "severity": "warning", "run_id": "r", "status": "open", "run_date": pd.Timestamp("2024-01-02")}
        emit_event(**tm.alert_event(row))
        runs = []
        with get_client(sync_client=True) as client:
            for _ in range(60):
                runs = client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep_id]))
                )
                if runs:
                    break
                time.sleep(0.5)
        assert len(runs) == 1, "the automation did not run the retrain deployment"
    finally:
        created.delete()


def _cta_csv(path: Path, clean: pd.DataFrame) -> Path:
    """A CTA-format export (service_date, day_type, bus, rail_boardings, total_rides)."""
    wide = clean.pivot(index="ds", columns="series_id", values="y").round()
    day_type = clean.drop_duplicates("ds").set_index("ds")["day_type"]
    out = pd.DataFrame({"service_date": wide.index.strftime("%m/%d/%Y"), "day_type": day_type.to_numpy(),
                        "bus": wide["bus"].astype(int).to_numpy(),
                        "rail_boardings": wide["rail"].astype(int).to_numpy()})
    out["total_rides"] = out["bus"] + out["rail_boardings"]
    out.to_csv(path, index=False)
    return path


def test_monitor_replay_command_equals_night_by_night_runs(tmp_path, capsys):
    """`seqcast monitor replay` leaves the same alerts table as one nightly monitor run per night."""
    from seqcast.cli import main
    from seqcast.pipeline import clean_source

    kw = dict(start="2021-01-01", days=560, change="level", size=0.3, change_at="2022-06-01")
    src = _cta_csv(tmp_path / "cta.csv", pd.concat([
        synthetic_series(21, series_id="rail", **kw),
        synthetic_series(22, series_id="bus", level=700.0, **kw)], ignore_index=True))
    start, end = "2022-05-28", "2022-06-10"
    rc = main(["monitor", "replay", "--source", str(src), "--start", start, "--end", end,
               "--data-dir", str(tmp_path / "replay"), "--event-date", "2022-06-01"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "first_alert_after_event" in out and "level_shift" in out
    clean = clean_source(src).clean
    cfg = DriftConfig(holidays="US-IL")  # the CTA mapping's calendar, as the command uses
    for night in pd.date_range(start, end):
        alerts.monitor(tmp_path / "nightly", clean[clean["ds"] <= night], night, config=cfg,
                       run_id=f"n-{night.date()}")
    replayed, nightly = read_alerts(tmp_path / "replay"), read_alerts(tmp_path / "nightly")
    opened = replayed[replayed["status"] == "open"]
    assert set(opened["series_id"]) == {"bus", "rail"}
    assert (opened["detected_at"] >= pd.Timestamp("2022-06-01")).all()
    assert (opened["detected_at"].min() - pd.Timestamp("2022-06-01")).days <= 7
    pd.testing.assert_frame_equal(_rows(replayed), _rows(nightly))
    assert alerts.evaluated_nights(tmp_path / "replay") == alerts.evaluated_nights(tmp_path / "nightly")
    # the table is refused a second time unless --replace
    assert main(["monitor", "replay", "--source", str(src), "--start", start, "--end", end,
                 "--data-dir", str(tmp_path / "replay")]) == 1
    assert main(["monitor", "replay", "--source", str(src), "--start", start, "--end", end,
                 "--data-dir", str(tmp_path / "replay"), "--replace"]) == 0
    pd.testing.assert_frame_equal(_rows(read_alerts(tmp_path / "replay")), _rows(nightly))


def test_the_open_stale_alert_says_what_is_true_now(tmp_path):
    """stale -> dropped -> dropped -> back but stale -> fresh: a change between stale and
    dropped replaces the open alert; an unchanged condition adds no row."""
    from seqcast.alerts import check_freshness

    def night(day, last, dropped=None):
        check_freshness(tmp_path, pd.Series(pd.to_datetime(list(last.values())), index=list(last)), day,
                        dropped=dropped)
        a = read_alerts(tmp_path)
        return a[a["series_id"] == "b"][["severity", "window", "status"]].values.tolist()

    assert night("2024-07-01", {"a": "2024-06-30", "b": "2024-06-20"})[-1] == [
        "warning", "newest day 2024-06-20", "open"]
    assert night("2024-07-02", {"a": "2024-07-01"}, {"b": "series b: no value"})[-1] == [
        "critical", "dropped: series b: no value", "open"]
    assert len(night("2024-07-03", {"a": "2024-07-02"}, {"b": "series b: no value"})) == 2
    assert night("2024-07-04", {"a": "2024-07-03", "b": "2024-06-28"})[-1] == [
        "warning", "newest day 2024-06-28", "open"]
    assert night("2024-07-05", {"a": "2024-07-04", "b": "2024-07-04"})[-1] == [
        "warning", "fresh again", "cleared"]
