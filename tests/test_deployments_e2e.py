"""End to end against a real Prefect server: pools, deployments from prefect.yaml, runs
triggered through the API (as the UI does), a worker that executes them, and the UI.

Takes about two minutes: one server for the module, one worker with --run-once.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from seqcast.published import read_forecasts

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    home = tmp_path_factory.mktemp("prefect-home")
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_UI_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield env, api, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _cli(env, *args, timeout=180):
    out = subprocess.run([PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"prefect {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def deployed(server):
    env, api, _ = server
    _cli(env, "work-pool", "create", "cpu", "--type", "process", "--overwrite")
    _cli(env, "work-pool", "create", "gpu", "--type", "process", "--overwrite")
    _cli(env, "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
    return server


def _deployment(api: str, name: str) -> dict:
    r = httpx.get(f"{api}/deployments/name/{name}", timeout=10)
    r.raise_for_status()
    return r.json()


def test_nightly_schedule_pool_and_concurrency(deployed):
    _, api, _ = deployed
    d = _deployment(api, "nightly/nightly")
    assert d["work_pool_name"] == "cpu"
    (schedule,) = d["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == "0 3 * * *"
    assert schedule["schedule"]["timezone"] == "America/Chicago"
    assert d["global_concurrency_limit"]["limit"] == 1
    assert d["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    for name in ("backfill/backfill", "backtest/backtest", "monitor/monitor", "train/train"):
        assert _deployment(api, name)["schedules"] == []  # manual, forms in the UI
    pools = {p["name"] for p in httpx.post(f"{api}/work_pools/filter", json={}, timeout=10).json()}
    assert {"cpu", "gpu"} <= pools
    # the scheduler has put tonight's run on the calendar at 03:00 Chicago time
    deadline = time.monotonic() + 60
    while True:
        runs = httpx.post(
            f"{api}/flow_runs/filter",
            json={"deployments": {"id": {"any_": [d["id"]]}}, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}},
            timeout=10,
        ).json()
        auto = [r for r in runs if "auto-scheduled" in r["tags"]]
        if auto or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert auto, "the scheduler created no nightly run"
    start = pd.Timestamp(auto[0]["expected_start_time"]).tz_convert("America/Chicago")
    assert (start.hour, start.minute) == (3, 0)


def test_triggered_runs_complete_on_a_worker(deployed, tmp_path):
    env, api, _ = deployed
    data = tmp_path / "data"
    runs = {}
    for name, params in (
        ("nightly/nightly", {"data_dir": str(data), "as_of": "2024-12-31"}),
        ("backfill/backfill", {"data_dir": str(data), "start": "2024-06-01", "end": "2024-06-02"}),
    ):
        d = _deployment(api, name)
        r = httpx.post(
            f"{api}/deployments/{d['id']}/create_flow_run", json={"parameters": {"params": params}}, timeout=10
        )
        r.raise_for_status()
        runs[name] = r.json()["id"]

    worker = subprocess.run(
        [PREFECT, "worker", "start", "--pool", "cpu", "--run-once"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    states = {n: httpx.get(f"{api}/flow_runs/{i}", timeout=10).json()["state"]["type"] for n, i in runs.items()}
    assert states == {"nightly/nightly": "COMPLETED", "backfill/backfill": "COMPLETED"}, worker.stderr[-6000:]

    files = sorted(p.parent.name for p in (data / "published" / "forecasts").glob("*/part-0.parquet"))
    assert files == ["run_date=2024-06-01", "run_date=2024-06-02", "run_date=2024-12-31"]
    table = read_forecasts(data, run_date="2024-12-31")
    assert len(table) == 28 and set(table["series_id"]) == {"bus", "rail"}
    assert (table["run_id"] == runs["nightly/nightly"]).all()
    june = read_forecasts(data, run_date="2024-06-02")
    assert (june["cutoff"] == pd.Timestamp("2024-06-02")).all()  # the replay saw data up to its night only


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_ui_lists_the_deployments(deployed, tmp_path):
    _, _, port = deployed
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,900", "--virtual-time-budget=15000",
    ]
    url = f"http://127.0.0.1:{port}/deployments"
    dom = subprocess.run(["chromium", *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert "nightly" in dom.stdout and "backfill" in dom.stdout, dom.stdout[-2000:]
    shot = ROOT / "build" / "ui-deployments.png"
    shot.parent.mkdir(exist_ok=True)
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


def test_no_gpu_worker_means_the_night_trains_on_cpu(deployed, tmp_path):
    """Neural retraining goes to the gpu pool; with no gpu worker, after the pickup timeout the
    train run is cancelled and the nightly flow trains in-process on CPU, and says so."""
    env, api, _ = deployed
    params = {"data_dir": str(tmp_path), "as_of": "2024-12-31", "models": [{"name": "seasonal_naive"}],
              "max_epochs": 2, "gpu_pickup_timeout_s": 5, "monitor": False,
              "neural": [{"name": "rnn", "targets": ["rail"], "params": {"units": 4, "input_length": 14}}]}
    d = _deployment(api, "nightly/nightly")
    r = httpx.post(f"{api}/deployments/{d['id']}/create_flow_run", json={"parameters": {"params": params}}, timeout=10)
    r.raise_for_status()
    worker = subprocess.run(
        [PREFECT, "worker", "start", "--pool", "cpu", "--run-once"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=400,
    )
    state = httpx.get(f"{api}/flow_runs/{r.json()['id']}", timeout=10).json()["state"]["type"]
    assert state == "COMPLETED", worker.stderr[-6000:]
    train = _deployment(api, "train/train")
    assert train["work_pool_name"] == "gpu"
    assert train["job_variables"]["env"]["CUDA_VISIBLE_DEVICES"] == "0"
    train_runs = httpx.post(f"{api}/flow_runs/filter", json={"deployments": {"id": {"any_": [train["id"]]}}},
                            timeout=10).json()
    assert [t["state"]["type"] for t in train_runs] == ["CANCELLED"]
    assert "no gpu worker picked up train/train within 5 s: training in-process on CPU" in worker.stderr
    assert (tmp_path / "models" / "rnn-rail").is_dir()
    candidates = pd.read_parquet(next(tmp_path.glob("clean/*/asof-2024-12-31/candidates")))
    assert "rnn-rail" in set(candidates["model"])
