"""The nightly flow end to end under a real (temporary) Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from seqcast.partitions import read as read_dataset
from seqcast.published import read_forecasts

KEYS = ["series_id", "ds", "cutoff", "h", "model", "mean", "run_date", "data_hash"]


@pytest.fixture(scope="module")
def nightly_twice(tmp_path_factory, prefect_harness):
    from flows.nightly import NightlyParams, nightly

    data = tmp_path_factory.mktemp("nightly")
    params = NightlyParams(data_dir=str(data), as_of=date(2024, 12, 31))
    first = nightly(params)
    table_1 = read_forecasts(data)
    second = nightly(params)
    return data, first, second, table_1, read_forecasts(data)


def test_nightly_publishes_the_forecast_table(nightly_twice):
    data, first, _, table, _ = nightly_twice
    assert first["rows_in"] == 1491 and first["rows_kept"] == 1460 and first["rows_quarantined"] == 0
    assert len(table) == 2 * 14
    assert set(table["series_id"]) == {"bus", "rail"}
    assert (table["cutoff"] == pd.Timestamp("2024-12-31")).all()
    assert table["h"].tolist()[:14] == list(range(1, 15))
    assert (table["data_hash"] == first["data_hash"]).all()
    assert table["run_id"].nunique() == 1 and table["run_id"].iloc[0] == first["run_id"] != "local"
    # one champion per series, with its reason and lineage; it is the candidate's forecast
    assert table.groupby("series_id")["model"].nunique().eq(1).all()
    assert table["reason"].str.len().gt(0).all() and table["model_version"].str.contains("seqcast").all()
    candidates = read_dataset(Path(first["clean_path"]).with_name("candidates"))
    merged = table.merge(candidates, on=["series_id", "ds", "model"], suffixes=("", "_c"))
    assert len(merged) == 28 and (merged["mean"] == merged["mean_c"]).all()
    assert {c["model"] for c in first["champions"]} <= {"seasonal_naive", "naive", "sarima"}
    assert Path(first["errors_plot"]).exists()
    assert (data / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    plot = data / "published" / "plots" / "forecast-vs-actuals-2024-12-31.png"
    assert first["plot"] == str(plot) and plot.read_bytes()[:4] == b"\x89PNG"


def test_rerunning_the_same_night_replaces_not_duplicates(nightly_twice):
    data, first, second, table_1, table_2 = nightly_twice
    assert len(table_2) == len(table_1)
    pd.testing.assert_frame_equal(table_1[KEYS], table_2[KEYS])
    assert second["run_id"] != first["run_id"]
    assert len(list((data / "published" / "forecasts").glob("run_date=*/*.parquet"))) == 1
    assert not list((data / "published" / "forecasts").rglob(".*"))  # no temp files left


def test_nightly_leaves_artifacts(nightly_twice):
    from prefect.client.orchestration import get_client

    _, _, second, _, _ = nightly_twice

    async def artifacts():
        async with get_client() as client:
            from prefect.client.schemas.filters import (
                ArtifactFilter,
                ArtifactFilterFlowRunId,
                FlowRunFilter,
                FlowRunFilterParentFlowRunId,
            )

            children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[second["run_id"]])))
            runs = [second["run_id"], *(str(r.id) for r in children)]
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=runs))
            )

    import asyncio

    keys = {a.key for a in asyncio.run(artifacts())}
    assert {"nightly-summary", "published-forecasts", "data-docs"} <= keys


def test_cli_run_and_show(tmp_path):
    """The README's run command, as a user runs it (its own temporary Prefect server)."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    run = subprocess.run(
        [sys.executable, "-m", "seqcast.cli", "run", "--data-dir", str(tmp_path / "data"),
         "--as-of", "2024-06-30", "--horizon", "7", "--models", "seasonal_naive,naive"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "forecast table:" in run.stdout and "published" in run.stdout
    assert "2024-07-01" in run.stdout
    show = subprocess.run(
        [sys.executable, "-m", "seqcast.cli", "forecasts", "show", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert show.returncode == 0 and len(show.stdout.strip().splitlines()) == 1 + 14
    bad = subprocess.run(
        [sys.executable, "-m", "seqcast.cli", "run", "--source", str(tmp_path / "nope.csv"),
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert bad.returncode == 1 and "nope.csv: no such file" in bad.stderr
    assert bad.stderr.strip().splitlines() == [f"seqcast: error: {tmp_path / 'nope.csv'}: no such file"]


def test_published_table_has_ordered_conformal_intervals(nightly_twice):
    _, _, _, table, _ = nightly_twice
    cols = ["lo-95", "lo-80", "mean", "hi-80", "hi-95"]
    assert table[cols].notna().all().all()  # 28 daily origins of backtest: enough scores
    v = table[cols].to_numpy()
    assert (v[:, :-1] <= v[:, 1:]).all() and (v[:, 4] > v[:, 0]).all()
    assert (table["interval_n"] >= 5).all()


TINY_NET = {"input_length": 14, "units": 4, "epochs": 2, "patience": 1, "batch_size": 64,
            "jit_compile": False, "valid_days": 30}


def _backtest_rows(table_dir: str) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(f) for f in Path(table_dir).glob("*/bucket-*.parquet")],
                     ignore_index=True)


@pytest.mark.slow
def test_neural_and_calendar_models_compete_in_the_nightly(prefect_harness, tmp_path):
    """A global network and SARIMA with calendar regressors go through the same incremental
    backtest as seasonal naive; the champion is chosen among all three, with intervals."""
    from flows.nightly import ModelSpec, NightlyParams, nightly

    params = NightlyParams(
        data_dir=str(tmp_path), as_of=date(2024, 12, 30), horizon=7, backtest_days=14, monitor=False,
        models=[ModelSpec(name="seasonal_naive"), ModelSpec(name="sarima"),
                ModelSpec(name="global_gru", params={**TINY_NET, "horizon": 7})],
    )
    summary = nightly(params)
    rows = _backtest_rows(summary["backtest_table"])
    assert set(rows["model"]) == {"seasonal_naive", "sarima", "global_gru"}
    assert rows["error"].isna().all(), rows["error"].dropna().unique()[:3]
    scored = {(s["series_id"], s["model"]) for s in summary["scores"] if s["n"] > 0}
    assert {("bus", "global_gru"), ("rail", "global_gru"), ("rail", "sarima")} <= scored
    table = read_forecasts(tmp_path)
    assert set(table["model"]) <= {"seasonal_naive", "sarima", "global_gru"}
    assert table["reason"].str.contains("MAE").all()
    v = table[["lo-95", "lo-80", "mean", "hi-80", "hi-95"]].to_numpy()
    assert (v[:, :-1] <= v[:, 1:]).all()
    # a second night fits only the new origin and the run back to its refit day; the
    # origins whose later steps were not observed yet are scored from their stored forecasts
    again = nightly(params.model_copy(update={"as_of": date(2024, 12, 31)}))
    assert 0 < again["backtest_new_origins"] <= 2 * 3 * 7 < summary["backtest_new_origins"]
    later = _backtest_rows(again["backtest_table"])
    assert (later["ds"] == pd.Timestamp("2024-12-31")).sum() == 3 * 2 * 7  # 3 models, 2 series, h 1..7


@pytest.mark.slow
def test_models_trained_on_the_gpu_route_are_backtested_and_can_be_published(prefect_harness, tmp_path):
    """NightlyParams.neural: trained by the train flow (CPU fallback here), forecast from
    tonight's window, and backtested under the same label so the champion can pick it."""
    from flows.nightly import NightlyParams, nightly
    from flows.train import ModelChoice

    params = NightlyParams(
        data_dir=str(tmp_path), as_of=date(2024, 12, 30), horizon=7, backtest_days=7, monitor=False,
        models=[{"name": "seasonal_naive"}], max_epochs=2, gpu_pickup_timeout_s=0,
        neural=[ModelChoice(name="rnn", targets=["rail"], params={**TINY_NET, "horizon": 1})],
    )
    summary = nightly(params)
    rows = _backtest_rows(summary["backtest_table"])
    neural = rows[rows["model"] == "rnn-rail"]
    assert len(neural) and neural["error"].isna().all() and set(neural["series_id"]) == {"rail"}
    assert any(s["model"] == "rnn-rail" and s["n"] > 0 for s in summary["scores"])
    assert {c["series_id"] for c in summary["champions"]} == {"bus", "rail"}
