"""Rolling-origin backtests: splits, refit policies, failures, parallel runs, incremental
runs, the CLI, tasks and flow, and the chapter's figures on the CTA data."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqcast.backtest import (
    failures,
    incremental_origins,
    merge_tables,
    missing_origins,
    origin_cutoffs,
    rolling_origin,
)
from seqcast.metrics import evaluate
from seqcast.models.base import LocalForecaster
from seqcast.models.naive import Naive, SeasonalNaive
from seqcast.models.sarima import SARIMA

COLUMNS = ["series_id", "cutoff", "ds", "h", "model", "y", "mean", "error"]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    from seqcast.backtest import blas_threads

    with blas_threads(1):
        yield


class Spy(LocalForecaster):
    """Forecasts the last value it saw (or the first, for window checks)."""

    alias = "spy"

    def __init__(self, first: bool = False) -> None:
        self.first = first

    def _fit_series(self, y, exog):
        return float(y[0] if self.first else y[-1])

    def _predict_series(self, state, h, exog_future, level):
        return {"mean": np.full(h, state)}


class Broken(LocalForecaster):
    alias = "broken"

    def __init__(self) -> None:
        pass

    def _fit_series(self, y, exog):
        if len(y) % 2:
            raise np.linalg.LinAlgError("Schur decomposition solver error")
        return float(y[-1])

    def _predict_series(self, state, h, exog_future, level):
        return {"mean": np.full(h, state)}


def _index_series(n=60, sid="s") -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=n)
    return pd.DataFrame({"series_id": sid, "ds": ds, "y": np.arange(n, dtype=float)})


# -- splits ---------------------------------------------------------------------------------
def test_table_schema_and_seasonal_naive_values(seasonal_frame):
    t = rolling_origin(SeasonalNaive(7), seasonal_frame, h=3, start="2023-06-01",
                       end="2023-06-10", n_jobs=1)
    assert list(t.columns) == COLUMNS
    assert len(t) == 2 * 10 * 3 and t["error"].isna().all()
    assert str(t["cutoff"].dtype) == "datetime64[ns]" and t["h"].dtype == "int64"
    assert (t["ds"] - t["cutoff"]).dt.days.tolist() == t["h"].tolist()
    y = seasonal_frame.set_index(["series_id", "ds"])["y"]
    expect = [y[(s, d - pd.Timedelta(days=7 * int(np.ceil(k / 7))))]
              for s, d, k in zip(t.series_id, t.ds, t.h, strict=True)]
    np.testing.assert_allclose(t["mean"], expect)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 5), step=st.integers(1, 4), refit=st.integers(1, 4),
       start=st.integers(5, 40), span=st.integers(0, 15),
       sliding=st.booleans(), length=st.integers(2, 10))
def test_no_value_after_the_cutoff_reaches_the_model(h, step, refit, start, span, sliding, length):
    data = _index_series(60)
    first = pd.Timestamp("2024-01-01") + pd.Timedelta(days=start)
    kw = dict(window="sliding", window_length=length) if sliding else {}
    t = rolling_origin([Spy(), Spy(first=True)], data, h=h, start=first,
                       end=first + pd.Timedelta(days=span), step=step, refit_every=refit,
                       n_jobs=1, **kw)
    assert t["error"].isna().all()
    pos = (t["cutoff"] - pd.Timestamp("2024-01-01")).dt.days.to_numpy()
    assert set(t["model"]) == {"spy", "spy(first=True)"}  # labels: alias + non-default params
    last = t[t.model == "spy"]
    np.testing.assert_array_equal(last["mean"], pos[t.model == "spy"])
    firsts = t[t.model.str.contains("first=True")]["mean"].to_numpy()
    cut = pos[t.model.str.contains("first=True")]
    lo = np.maximum(0, cut + 1 - length) if sliding else np.zeros_like(cut)
    np.testing.assert_array_equal(firsts, lo)
    assert (t["ds"] <= data["ds"].max()).all()
    assert t.groupby(["model", "cutoff"]).size().max() <= h


def test_origin_cutoffs():
    assert origin_cutoffs("2019-03-01", "2019-05-31").size == 92
    assert origin_cutoffs("2019-03-02", "2019-03-01").size == 0


# -- refit policies ------------------------------------------------------------------------------
def test_refit_every_updates_the_state_between_refits():
    from statsmodels.tsa.arima.model import ARIMA

    rng = np.random.default_rng(1)
    ds = pd.date_range("2024-01-01", periods=100)
    y = 100 + 30 * (ds.day_of_week < 5) + rng.normal(0, 3, 100)
    data = pd.DataFrame({"series_id": "a", "ds": ds, "y": y})
    t = rolling_origin(SARIMA((1, 0, 0), (0, 1, 1, 7)), data, h=1, start=ds[90], end=ds[95],
                       refit_every=3, n_jobs=1)
    assert t["error"].isna().all() and len(t) == 6
    # origin 2 (cutoff ds[91]) keeps the parameters estimated at cutoff ds[89]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = ARIMA(y[:90], order=(1, 0, 0), seasonal_order=(0, 1, 1, 7)).fit().params
        ref = ARIMA(y[:92], order=(1, 0, 0), seasonal_order=(0, 1, 1, 7)).filter(params)
    # (the compiled filter's fit stops within ~1e-7 of statsmodels' own: see test_sarima_filter)
    assert t["mean"].iloc[2] == pytest.approx(float(ref.forecast(1)[0]), rel=1e-6)


class Drifty(LocalForecaster):
    """Warm fits drift by +1000 until the 3rd one, whose check fails (cold_only)."""

    alias = "drifty"
    supports_warm_start = True

    def __init__(self) -> None:
        pass

    def _fit_series(self, y, exog):
        return SimpleNamespace(value=float(y[-1]), checked=True, cold_only=False, warm=0)

    def _fit_series_warm(self, y, exog, prev):
        if prev is None or prev.cold_only:
            state = self._fit_series(y, exog)
            state.cold_only = bool(prev and prev.cold_only)
            return state
        if prev.warm + 1 == 3:  # the check: a cold fit, and no more warm starts
            return SimpleNamespace(value=float(y[-1]), checked=True, cold_only=True, warm=3)
        return SimpleNamespace(value=float(y[-1]) + 1000, checked=False, cold_only=False,
                               warm=prev.warm + 1)

    def _predict_series(self, state, h, exog_future, level):
        return {"mean": np.full(h, state.value)}


def test_unchecked_warm_fits_are_redone_cold_when_a_check_fails():
    t = rolling_origin(Drifty(), _index_series(40), h=1, start="2024-01-21", end="2024-01-30",
                       n_jobs=1)
    pos = (t["cutoff"] - pd.Timestamp("2024-01-01")).dt.days.to_numpy()
    np.testing.assert_array_equal(t["mean"], pos)  # every forecast as from a cold fit


@pytest.mark.cta
@pytest.mark.slow
def test_cta_warm_chain_that_drifts_is_repaired(cta_clean):
    """Unchecked, warm starts of (0,0,0)(0,1,2,7) drift to another optimum from 2019-03-08."""
    rail = cta_clean[cta_clean.series_id == "rail"]
    kw = dict(h=1, start="2019-03-01", end="2019-03-16", train_start="2019-01-01", n_jobs=1)
    warm = rolling_origin(SARIMA((0, 0, 0), (0, 1, 2, 7)), rail, **kw)
    cold = rolling_origin(SARIMA((0, 0, 0), (0, 1, 2, 7), warm_start=False), rail, **kw)
    np.testing.assert_allclose(warm["mean"], cold["mean"], rtol=1e-3)


# -- bad input -------------------------------------------------------------------------------------
def test_failures_are_recorded_and_the_run_goes_on():
    good = _index_series(40, "good")
    short = _index_series(40, "short").iloc[-12:]  # from 01-29: 3 days at the first cutoff
    nan = _index_series(40, "nan")
    nan.loc[nan.index[30], "y"] = np.nan
    gappy = _index_series(40, "gappy").drop(index=[10])
    data = pd.concat([good, short, nan, gappy], ignore_index=True)
    t = rolling_origin([SeasonalNaive(7), Broken()], data, h=2, start="2024-02-01",
                       end="2024-02-05", n_jobs=1)
    bad = failures(t)
    by_series = bad.groupby("series_id")["error"].apply(list)
    assert any("3 observations up to the cutoff, needs 7" in e for e in by_series["short"])
    assert any("NaN" in e for e in by_series["nan"])
    assert by_series["gappy"] and all("missing day" in e for e in by_series["gappy"])
    assert any("LinAlgError" in e for e in by_series["good"])
    ok = t[(t.series_id == "good") & (t.model == "seasonal_naive")]
    assert ok["error"].isna().all() and ok["mean"].notna().all()
    summary = evaluate(t)
    assert (summary["n_failed"] > 0).any()
    assert not summary.loc[summary["n"] > 0, "mae"].isna().any()
    # every NaN forecast carries its reason
    assert t.loc[t["mean"].isna(), "error"].notna().all()


def test_empty_date_range_is_a_recorded_failure():
    t = rolling_origin(Naive(), _index_series(30), h=1, start="2030-01-01", end="2030-01-05",
                       n_jobs=1)
    assert len(t) == 1 and "no origin" in t["error"].iloc[0]
    t = rolling_origin(Naive(), _index_series(30), h=1, start="2024-01-10", end="2024-01-05",
                       n_jobs=1)
    assert "no forecast origins" in t["error"].iloc[0]
    assert evaluate(t)["n_failed"].sum() == 1


# -- parallel and incremental ------------------------------------------------------------------------
def test_process_pool_gives_the_same_table(seasonal_frame):
    kw = dict(h=7, start="2023-09-01", end="2023-10-15", step=2)
    one = rolling_origin([SeasonalNaive(7), Naive()], seasonal_frame, n_jobs=1, **kw)
    two = rolling_origin([SeasonalNaive(7), Naive()], seasonal_frame, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one, two)


def test_incremental_run_equals_a_full_run(seasonal_frame):
    full = rolling_origin(SeasonalNaive(7), seasonal_frame, h=3, start="2023-06-01",
                          end="2023-06-20", n_jobs=1)
    part_data = seasonal_frame[seasonal_frame.ds <= "2023-06-12"]
    part = rolling_origin(SeasonalNaive(7), part_data, h=3, start="2023-06-01",
                          end="2023-06-20", n_jobs=1)
    data = seasonal_frame[seasonal_frame.ds <= "2023-06-22"]
    todo = incremental_origins(part, data, models=["seasonal_naive"], h=3,
                               start="2023-06-01", end="2023-06-20")
    # origins whose 3 steps were not all observed on 06-12 are scored again
    assert todo.min() == pd.Timestamp("2023-06-10") and todo.max() == pd.Timestamp("2023-06-19")
    new = rolling_origin(SeasonalNaive(7), data, h=3, cutoffs=todo, n_jobs=1)
    merged = merge_tables(part, new)
    pd.testing.assert_frame_equal(merged, full)
    assert incremental_origins(merged, data, models=["seasonal_naive"], h=3,
                               start="2023-06-01", end="2023-06-20").empty



@pytest.mark.parametrize("tonight", [False, True])
def test_missing_origins_equal_the_per_series_calls(seasonal_frame, tonight):
    """One pass over a bucket gives each series what incremental_origins gives it alone:
    series ending on different days, failed origins, partly scored and partly stored ones."""
    data = pd.concat([seasonal_frame[seasonal_frame.ds <= "2023-06-22"],
                      seasonal_frame[(seasonal_frame.series_id == "rail") & (seasonal_frame.ds <= "2023-06-15")]
                      .assign(series_id="early")], ignore_index=True)
    kw = dict(h=3, start="2023-06-01", end=None, step=1)
    part = rolling_origin(SeasonalNaive(7), data[data.ds <= "2023-06-12"], h=3, start="2023-06-01",
                          end="2023-06-20", n_jobs=1)
    part.loc[(part.series_id == "bus") & (part.cutoff == "2023-06-03"), "error"] = "failed"
    part = part[~((part.series_id == "early") & (part.cutoff == "2023-06-05"))]
    stored = rolling_origin(SeasonalNaive(7), data, h=3, start="2023-06-12", end="2023-06-18", n_jobs=1)
    stored = stored[~((stored.series_id == "rail") & (stored.cutoff == "2023-06-14") & (stored.h == 2))]
    got = missing_origins(part, data, model="seasonal_naive", stored=stored, tonight=tonight, **kw)
    assert list(got) == ["bus", "early", "rail"]
    for sid, cutoffs in got.items():
        alone = incremental_origins(part[part.series_id == sid], data[data.series_id == sid],
                                    models=["seasonal_naive"], stored=stored[stored.series_id == sid],
                                    tonight=tonight, **kw)
        pd.testing.assert_index_equal(cutoffs, alone, check_names=False)
    assert pd.Timestamp("2023-06-03") in got["bus"] and pd.Timestamp("2023-06-05") in got["early"]
    assert pd.Timestamp("2023-06-14") in got["rail"] and pd.Timestamp("2023-06-14") not in got["bus"]
    assert got["early"].max() < got["bus"].max()


def _nights(seasonal_frame, *last_days, h=3):
    """The table each night would write on its own: data up to its day, the same origins."""
    return [rolling_origin(SeasonalNaive(7), seasonal_frame[seasonal_frame.ds <= day], h=h,
                           start="2023-06-01", end="2023-06-20", n_jobs=1) for day in last_days]


def test_merge_keeps_what_a_later_night_scored_whatever_the_order(seasonal_frame):
    earlier, later = _nights(seasonal_frame, "2023-06-12", "2023-06-22")
    # the later night observed more steps of the origins after 06-09: 60 + 6 rows more
    assert (len(earlier), len(later)) == (2 * 30 + 2 * 3, 2 * 60)
    forward, backward = merge_tables(earlier, later), merge_tables(later, earlier)
    pd.testing.assert_frame_equal(forward, backward, check_exact=True)
    pd.testing.assert_frame_equal(backward, later, check_exact=True)
    # every row the earlier night scored is still there, with its values
    rows = earlier.merge(backward, on=["series_id", "model", "cutoff", "h"], suffixes=("", "_kept"))
    assert len(rows) == len(earlier) and (rows["mean"] == rows["mean_kept"]).all()
    assert (rows["y"] == rows["y_kept"]).all()


def test_merge_is_a_union_and_a_scored_origin_beats_a_failed_one(seasonal_frame):
    a, b = _nights(seasonal_frame, "2023-06-22", "2023-06-22")
    a, b = a[a["cutoff"] <= "2023-06-10"], b[b["cutoff"] >= "2023-06-05"].copy()
    # b could not score 06-07 on bus (e.g. a fit that failed that night)
    bad = (b["series_id"] == "bus") & (b["cutoff"] == "2023-06-07")
    b.loc[bad, ["mean", "error"]] = [np.nan, "LinAlgError: boom"]
    full = (pd.concat([a, b[~bad]]).drop_duplicates(["series_id", "model", "cutoff", "h"])
            .sort_values(["series_id", "model", "cutoff", "h"], ignore_index=True))
    for merged in (merge_tables(a, b), merge_tables(b, a)):
        pd.testing.assert_frame_equal(merged, full, check_exact=True)
    assert failures(merge_tables(b, a)).empty
    # two failures of one origin: one of them, the same either way
    b2 = b.copy()
    b2.loc[bad, "error"] = "LinAlgError: other"
    pd.testing.assert_frame_equal(merge_tables(b, b2), merge_tables(b2, b), check_exact=True)
    assert len(merge_tables(b, b2)) == len(b)


def test_merge_of_revised_data_does_not_depend_on_the_order(seasonal_frame):
    a, = _nights(seasonal_frame, "2023-06-22")
    revised = a.assign(y=a["y"] + 1.0)  # the source corrected its history: same origins, other actuals
    one, two = merge_tables(a, revised), merge_tables(revised, a)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert len(one) == len(a)
    # whole origins from one night or the other, never a mix
    picked = one.merge(a, on=["series_id", "model", "cutoff", "h"], suffixes=("", "_a"))
    picked["from_a"] = picked["y"] == picked["y_a"]
    assert picked.groupby(["series_id", "cutoff"])["from_a"].nunique().eq(1).all()


def test_library_does_not_import_prefect_or_statsmodels():
    code = ("import sys, seqcast.backtest, seqcast.metrics, seqcast.grid, seqcast.models.sarima, "
            "seqcast.commands.backtest; "
            "assert 'prefect' not in sys.modules; assert 'statsmodels' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- grid -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_grid_pruning_keeps_the_winner():
    from seqcast.grid import grid_search, sarima_grid

    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=90)
    e = rng.normal(0, 5, 90)
    y = 200 + 60 * (ds.day_of_week < 5) + np.convolve(e, [1, 0.6], "same")
    data = pd.DataFrame({"series_id": "a", "ds": ds, "y": y})
    configs = sarima_grid(p=(0, 1), q=(0, 1), P=(0,), Q=(0, 1))
    kw = dict(h=1, start=ds[75], end=ds[89], n_jobs=2)
    full = grid_search(data, configs, prune=False, **kw)
    pruned = grid_search(data, configs, prune=True, **kw)
    assert full["complete"].all() and not full["pruned"].any()
    assert pruned.iloc[0]["model"] == full.iloc[0]["model"]
    assert pruned.iloc[0]["mae"] == pytest.approx(full.iloc[0]["mae"])
    # a pruned config's running MAE already exceeded the winner's on fewer rows
    for _, row in pruned[pruned["pruned"]].iterrows():
        assert row["mae"] * row["n"] > pruned.iloc[0]["mae"] * pruned.iloc[0]["n"]


def test_grid_honours_the_calendar_regressors():
    """``--grid`` with ``--day-type``: every configuration gets the regressors, and they help
    on a series whose holidays drop to the Sunday level (without them the grid ignored it)."""
    from seqcast.grid import grid_search, sarima_grid

    rng = np.random.default_rng(5)
    ds = pd.date_range("2024-01-01", periods=120)
    holiday = np.isin(ds.day_of_year % 11, [3])  # a holiday every 11 days, on any weekday
    y = 200 + 60 * ((ds.day_of_week < 5) & ~holiday) + rng.normal(0, 3, 120)
    data = pd.DataFrame({"series_id": "a", "ds": ds, "y": y})
    exog = pd.DataFrame({"series_id": "a", "ds": ds, "holiday": holiday.astype(float)})
    configs = sarima_grid(p=(0, 1), q=(0,), P=(0,), Q=(1,))
    kw = dict(h=1, start=ds[100], end=ds[119], n_jobs=1, prune=False)
    plain = grid_search(data, configs, **kw)
    with_cal = grid_search(data, configs, exog=exog, **kw)
    assert with_cal["complete"].all()
    assert with_cal.iloc[0]["mae"] < 0.5 * plain.iloc[0]["mae"]


# -- tasks and flow ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_tasks_write_table_and_summary(seasonal_frame, tmp_path):
    from tasks.backtest import backtest_task

    clean = tmp_path / "clean.parquet"
    seasonal_frame.to_parquet(clean)
    out = backtest_task.fn(str(clean), str(tmp_path / "bt"), ["seasonal_naive"], 2,
                           "2023-12-01", "2023-12-10", n_jobs=1)
    summary = pd.read_parquet(out["summary_path"])
    assert set(summary["series_id"]) == {"bus", "rail"} and out["failed_origins"] == 0
    assert len(pd.read_parquet(out["table_path"])) == 2 * 10 * 2

    # the nightly's incremental path: only the origins not scored yet, same table again
    from seqcast.partitions import buckets_of, write_partitioned
    from tasks.panel import backtest_bucket

    part = write_partitioned(seasonal_frame, tmp_path / "clean")
    runs = [[backtest_bucket(str(part), b, "seasonal_naive", "seasonal_naive",
                                     str(tmp_path / "inc"), 1, "2023-12-25")
             for b in buckets_of(part)] for _ in range(2)]
    assert sum(r["new_origins"] for r in runs[0]) == 2 * 7  # cutoffs 12-24 .. 12-30, 2 series
    assert sum(r["new_origins"] for r in runs[1]) == 0


@pytest.mark.slow
def test_backtest_flow_writes_under_the_data_dir(prefect_harness, tmp_path):
    import json

    from flows.backtest import BacktestParams, backtest

    params = BacktestParams.model_validate_json(json.dumps({
        "data_dir": str(tmp_path), "start": "2024-03-01", "end": "2024-03-14", "h": 2,
        "models": [{"name": "seasonal_naive", "params": {"season_length": 7}}, {"name": "naive"}],
        "n_jobs": 1}))
    result = backtest(params)
    assert result["table_path"].startswith(str(tmp_path / "backtests" / "backtest"))
    summary = pd.read_parquet(result["summary_path"])
    assert set(summary["model"]) == {"seasonal_naive", "naive"}
    assert summary["n"].gt(0).all()


# -- the chapter's figures on the CTA data -------------------------------------------------------------
@pytest.mark.cta
def test_cta_seasonal_naive_figures(cta_clean):
    t = rolling_origin(SeasonalNaive(7), cta_clean, h=1, start="2019-03-01", end="2019-05-31")
    s = evaluate(t).set_index("series_id")
    assert s.loc["rail", "mae"] == pytest.approx(42_143, abs=1)
    assert s.loc["rail", "mape"] == pytest.approx(8.99, abs=0.005)
    assert s.loc["bus", "mae"] == pytest.approx(43_916, abs=1)
    assert s.loc["bus", "mape"] == pytest.approx(8.29, abs=0.005)


@pytest.mark.cta
@pytest.mark.slow
def test_cta_sarima_daily_refit_reproduces_the_chapter(cta_clean):
    rail = cta_clean[cta_clean.series_id == "rail"]
    kw = dict(h=1, start="2019-03-01", end="2019-05-31", train_start="2019-01-01")
    fast = rolling_origin(SARIMA((1, 0, 0), (0, 1, 1, 7)), rail, **kw)
    mae = evaluate(fast).set_index("series_id").loc["rail", "mae"]
    assert len(fast) == 92 and fast["error"].isna().all()
    assert mae == pytest.approx(32_041, rel=1e-3)
    # cold fits (statsmodels' defaults, no warm start) on the first origins equal the plain loop
    # (to the last digits the compiled filter's rounding moves the optimiser's stop)
    cold = rolling_origin(SARIMA((1, 0, 0), (0, 1, 1, 7), warm_start=False), rail, h=1,
                          start="2019-03-01", end="2019-03-05", train_start="2019-01-01",
                          n_jobs=1)
    y = rail.set_index("ds")["y"]
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = [ARIMA(y["2019-01-01":c].to_numpy(), order=(1, 0, 0),
                       seasonal_order=(0, 1, 1, 7)).fit().forecast(1)[0] for c in cold["cutoff"]]
    np.testing.assert_allclose(cold["mean"], plain, rtol=1e-8)


@pytest.mark.cta
def test_cli_prints_the_metrics_table(cta_csv, capsys):
    from seqcast.cli import main

    assert main(["backtest", "--source", str(cta_csv), "--model", "seasonal_naive",
                 "--start", "2019-03-01", "--end", "2019-05-31", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "42,143" in out and "43,916" in out and "mase" in out
    assert main(["backtest", "--source", str(cta_csv), "--series", "rail", "--model", "sarima",
                 "--order", "1,0,0", "--seasonal-order", "0,1,1,7", "--train-start",
                 "2019-01-01", "--start", "2019-03-01", "--end", "2019-03-07", "--h", "2",
                 "--refit-every", "3", "--jobs", "1", "--by-h"]) == 0
    out = capsys.readouterr().out
    assert "sarima" in out and " 2 " in out
    # known-future regressors: the day type (the chapter's holidays are U days)
    assert main(["backtest", "--source", str(cta_csv), "--series", "rail", "--model", "sarima",
                 "--order", "1,0,0", "--seasonal-order", "0,1,1,7", "--train-start",
                 "2019-01-01", "--start", "2019-05-20", "--end", "2019-05-31", "--day-type",
                 "--jobs", "1"]) == 0
    assert "failed origin(s)" not in capsys.readouterr().out


@pytest.mark.cta
@pytest.mark.slow
def test_cta_sarima_with_the_calendar_keeps_every_forecast_of_cold_fits(cta_clean):
    """The 0.1 % promise with regressors: warm starts and the compiled filter against cold
    fits through statsmodels' own filter (warm regression coefficients moved single
    forecasts by 0.37 % before they were reset to statsmodels' start)."""
    from seqcast.calendar import known_future

    rail = cta_clean[cta_clean.series_id == "rail"].reset_index(drop=True)
    exog = known_future(rail, 1, country="US")
    kw = dict(h=1, start="2019-03-01", end="2019-05-31", train_start="2019-01-01", exog=exog,
              n_jobs=1)
    fast = rolling_origin(SARIMA((1, 0, 0), (0, 1, 1, 7), max_history=None), rail, **kw)
    cold = rolling_origin(SARIMA((1, 0, 0), (0, 1, 1, 7), max_history=None, warm_start=False,
                                 compiled_filter=False), rail, **kw)
    rel = (fast["mean"] - cold["mean"]).abs() / cold["mean"].abs()
    assert len(fast) == 92 and rel.max() < 1e-3
    mae = lambda t: (t["mean"] - t["y"]).abs().mean()  # noqa: E731
    assert mae(fast) == pytest.approx(mae(cold), rel=1e-3)


def test_cheap_local_models_run_on_arrays_with_the_same_table(seasonal_frame, monkeypatch):
    """Naive, seasonal naive, ETS and other refitted, unsaved local models run their hooks on
    arrays (seqcast.backtest._array_origin), not through fit/predict on frames: the table
    is the one of the public path to the last bit, failures and their reasons included
    (too short a history, a failing fit, intervals a model cannot give, features missing
    for the horizon), with the calendar, imputed days, sliding windows, the full horizon."""
    import seqcast.backtest as bt
    from seqcast.calendar import panel_exog
    from seqcast.models.ets import ETS

    data = seasonal_frame[seasonal_frame["ds"] < "2022-05-01"].copy()
    data["is_imputed"] = data["ds"].isin(pd.to_datetime(["2022-03-08", "2022-04-02"]))
    exog = panel_exog(data, 14, country="US")
    short = exog[exog["ds"] <= "2022-04-25"]  # the last origins' horizons lack features
    models = [Naive(), SeasonalNaive(7), SeasonalNaive(7, skip_holidays=False), ETS(), Broken(), Spy(first=True)]
    runs = [dict(model=models, start="2022-01-05", end="2022-04-30", h=3, exog=exog),
            dict(model=models, start="2022-03-01", end="2022-04-30", h=14, exog=short, window="sliding",
                 window_length=30),
            dict(model=[Naive(), SeasonalNaive(7)], start="2022-04-01", end="2022-04-30", h=2, level=(80,))]
    for kw in runs:
        fast = rolling_origin(data=data, n_jobs=1, **kw)
        with monkeypatch.context() as m:
            m.setattr(bt._UnitArrays, "of", classmethod(lambda cls, unit, y: None))
            public = rolling_origin(data=data, n_jobs=1, **kw)
        pd.testing.assert_frame_equal(fast, public)
        assert fast["error"].notna().any() and fast["error"].isna().any() != bool(kw.get("level"))
    units = bt.plan_units(SeasonalNaive(7), data, h=3, cutoffs=["2022-04-01"], exog=exog, full_horizon=True)
    assert all(u.arrays is not None for u in units)
    assert bt.plan_units(SARIMA((1, 0, 0)), data, h=3, cutoffs=["2022-04-01"])[0].arrays is None


def _night(frame, directory, table_dir, start, bucket=None, model="naive"):
    """One nightly backtest of ``model`` (tasks.panel.backtest_bucket) on every bucket of ``frame``."""
    from seqcast.partitions import buckets_of, write_partitioned
    from tasks.panel import backtest_bucket

    part = write_partitioned(frame, directory)
    return [backtest_bucket(str(part), b, model, model, str(table_dir), 3, start, refit_every=1)
            for b in buckets_of(part)]


def _tonight(table_dir, model="naive"):
    from tasks.panel import _store_dir

    store = pd.concat([pd.read_parquet(f) for f in _store_dir(table_dir, model).glob("bucket-*.parquet")])
    return store[store["cutoff"] == store["cutoff"].max()].sort_values(["series_id", "h"], ignore_index=True)


def test_a_corrected_day_reruns_the_origins_that_read_it(tmp_path):
    """Re-running a night after the source was corrected gives the numbers a first run on
    the corrected data gives: origins whose history holds the corrected day are fitted
    again (their stored forecasts and scores came from the old value); the other
    series and the earlier origins are kept, and a replay of an earlier night does not
    mark later origins as changed (helper-11's BUG 1: a re-run published the forecast
    made from a mistyped 769.069)."""
    ds = pd.date_range("2024-01-01", periods=40)
    good = pd.DataFrame({"series_id": np.repeat(["a", "b"], 40), "ds": np.tile(ds, 2),
                         "y": np.r_[np.arange(40.0) + 100, np.arange(40.0) + 500]})
    bad = good.copy()
    bad.loc[(bad["series_id"] == "a") & (bad["ds"] == ds[-1]), "y"] = 0.139  # the last day mistyped
    start = ds[-8]
    night = tmp_path / "night" / "table"
    _night(bad, tmp_path / "clean-bad", night, start)
    assert _tonight(night).query("series_id == 'a'")["mean"].eq(0.139).all()
    runs = _night(good, tmp_path / "clean-good", night, start)
    # a's last origin only (tonight's: no scored day, so not counted); b's are kept
    assert sum(r["new_origins"] for r in runs) == 0 and _tonight(night).query("series_id == 'a'")["mean"].eq(139).all()
    fresh = tmp_path / "fresh" / "table"
    _night(good, tmp_path / "clean-fresh", fresh, start)
    pd.testing.assert_frame_equal(_tonight(night), _tonight(fresh))

    def table_of(d):
        t = pd.concat([pd.read_parquet(f) for f in (d / "naive").glob("bucket-*.parquet")])
        return t.sort_values(["series_id", "cutoff", "h"], ignore_index=True)

    pd.testing.assert_frame_equal(table_of(night), table_of(fresh))
    # a replay of an earlier night (less data) keeps what the later night ran
    earlier = good[good["ds"] <= ds[-3]]
    runs = _night(earlier, tmp_path / "clean-earlier", night, start)
    assert sum(r["new_origins"] for r in runs) == 0
    pd.testing.assert_frame_equal(table_of(night), table_of(fresh))
    # a revision deep in the history re-runs every origin after it, of that series only
    revised = good.copy()
    revised.loc[(revised["series_id"] == "b") & (revised["ds"] == ds[-5]), "y"] += 7
    runs = _night(revised, tmp_path / "clean-revised", night, start)
    assert sum(r["new_origins"] for r in runs) == 4  # b's cutoffs ds[-5] .. ds[-2] (and tonight's)
    assert _tonight(night).query("series_id == 'b'")["mean"].eq(539).all()
    fresh_revised = tmp_path / "fresh-revised" / "table"
    _night(revised, tmp_path / "clean-fresh-revised", fresh_revised, start)
    pd.testing.assert_frame_equal(table_of(night), table_of(fresh_revised))  # the earlier origins' actuals too
    # a day revised back: the origins before it keep their forecasts, scored on the new value
    runs = _night(good, tmp_path / "clean-back", night, start)
    pd.testing.assert_frame_equal(table_of(night), table_of(fresh))


def test_cli_says_what_it_leaves_out_and_rejects_what_contradicts(tmp_path, capsys):
    """Found by a new user trying to break ``seqcast backtest`` (helper 16): a series
    cleaning dropped vanished from the table without a word, extra --series names were
    ignored, impossible ranges ended with exit 0 and a table of failed origins, a range
    past the data shrank silently, --output problems surfaced after the whole run as
    internal errors, and bad --grid text was an internal error."""
    from seqcast.cli import main

    days = pd.date_range("2022-01-01", "2022-04-30")
    rows = [(d.date(), sid, 100.0 + 10 * (d.day_of_week == 5) + k)
            for k, sid in enumerate(["a", "b"]) for d in days]
    rows += [(d.date(), "e", 50.0) for d in days if not pd.Timestamp("2022-02-20") <= d <= pd.Timestamp("2022-03-03")]
    src = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["date", "series", "value"]).to_csv(src, index=False)
    mapping = Path(__file__).resolve().parents[1] / "data" / "mappings" / "long.yaml"
    base = ["backtest", "--source", str(src), "--mapping", str(mapping), "--jobs", "1"]

    def one_line(argv, rc):
        assert main(base + argv) == rc
        err = [ln for ln in capsys.readouterr().err.strip().splitlines()
               if not ln.startswith("warning: dropped series e")]  # said on every run of this file
        assert len(err) == 1 and err[0].startswith("seqcast: error: "), err
        return err[0]

    assert main(base + ["--start", "2022-04-20", "--end", "2022-04-22"]) == 0
    out = capsys.readouterr()
    assert "warning: dropped series e: series e: gap of 12 missing day(s)" in out.err
    assert " a " in out.out and " e " not in out.out
    assert "no series zz" in one_line(["--start", "2022-04-20", "--end", "2022-04-22",
                                       "--series", "a", "--series", "zz"], 1)
    # a comma-separated list (as --model takes): was "no series a,e" alone; an id may hold a comma
    assert one_line(["--start", "2022-04-20", "--end", "2022-04-22", "--series", "a,b"], 1).endswith(
        "no series a,b (the file has a, b); --series takes one id: repeat it (--series a --series b)")
    assert "was dropped while cleaning" in one_line(["--start", "2022-04-20", "--end", "2022-04-22",
                                                     "--series", "a", "--series", "e"], 1)
    assert "is after --end" in one_line(["--start", "2022-04-22", "--end", "2022-04-20"], 2)
    assert "no forecast origin" in one_line(["--start", "2023-01-01", "--end", "2023-01-05"], 1)
    assert "must be before --start" in one_line(["--start", "2022-04-20", "--end", "2022-04-22",
                                                 "--train-start", "2022-04-21"], 2)
    assert "applies to --window sliding" in one_line(["--start", "2022-04-20", "--end", "2022-04-22",
                                                      "--window-length", "30"], 2)
    for output, rc in [(tmp_path / "nodir" / "x.parquet", 1), (tmp_path / "x.txt", 2), (tmp_path, 2)]:
        one_line(["--start", "2022-04-20", "--end", "2022-04-22", "--output", str(output)], rc)
    for grid, expected in [("p=0..x", "is not a whole number"), ("p=2..0", "empty range"),
                           ("p=0..1,p=2", "p given twice"), ("p=-1..1", "orders are 0 or more"),
                           ("s=1,P=1", "needs a season s >= 2")]:
        assert expected in one_line(["--start", "2022-04-20", "--end", "2022-04-22", "--series", "a",
                                     "--grid", grid], 2)  # a usage error, before any data is read
    # past the data's end: scored as far as the data go, and said so
    assert main(base + ["--start", "2022-04-28", "--end", "2022-05-03", "--series", "a"]) == 0
    out = capsys.readouterr()
    assert "the data end on 2022-04-30" in out.err and " 3 " in out.out  # n = 3 days scored
    # a network's hyperparameters are checked before any training
    assert "epochs must be an integer >= 1, got 'two'" in one_line(
        ["--start", "2022-04-20", "--end", "2022-04-22", "--model", "gru", "--param", "epochs=two"], 1)
    assert "it takes none" in one_line(["--start", "2022-04-20", "--end", "2022-04-22", "--model", "naive",
                                        "--param", "foo=1"], 1)
    for param, expected in [("cell=foo", "unknown cell 'foo'"), ("recurrent_dropout=-0.1", "recurrent_dropout"),
                            ("dropout=1.5", "dropout must be a number >= 0 and < 1"), ("units=0", "units must be"),
                            ("batch_size=true", "batch_size must be")]:
        assert expected in one_line(["--start", "2022-04-20", "--end", "2022-04-22", "--model", "gru",
                                     "--param", param], 1)
    assert "--grid: empty" in one_line(["--start", "2022-04-20", "--end", "2022-04-22", "--grid", ""], 2)
    # the reason is not repeated ("series e: series e: gap ...")
    assert "dropped while cleaning: gap of 12" in one_line(["--start", "2022-04-20", "--end", "2022-04-22",
                                                           "--series", "e"], 1)
    # a series wholly outside the range: a note, not a silent row of failures
    cut = pd.DataFrame(rows, columns=["date", "series", "value"])
    cut = cut[(cut["series"] != "b") | (pd.to_datetime(cut["date"]) <= "2022-03-31")]
    cut.to_csv(src, index=False)
    assert main(base + ["--start", "2022-04-20", "--end", "2022-04-22"]) == 0
    assert "series b runs 2022-01-01..2022-03-31, outside --start 2022-04-20" in capsys.readouterr().err


def test_cli_backtests_every_model_named_and_explains_undefined_metrics(tmp_path, capsys):
    """``--model naive --model seasonal_naive`` backtested only the last one, and a
    constant or all-zero series printed MASE/MAPE as NaN without a word (found trying
    the CLI as a new user would)."""
    from seqcast.cli import main

    days = pd.date_range("2024-01-01", "2024-04-30")
    rows = [(d.date(), sid, value(i)) for sid, value in
            [("const", lambda i: 50.0), ("zero", lambda i: 0.0), ("ok", lambda i: 100.0 + i % 7 + i % 5)]
            for i, d in enumerate(days)]
    src = tmp_path / "long.csv"
    pd.DataFrame(rows, columns=["date", "series", "value"]).to_csv(src, index=False)
    mapping = Path(__file__).resolve().parents[1] / "data" / "mappings" / "long.yaml"
    base = ["backtest", "--source", str(src), "--mapping", str(mapping), "--jobs", "1",
            "--start", "2024-04-01", "--end", "2024-04-10"]
    table = tmp_path / "bt.parquet"
    assert main(base + ["--model", "naive", "--model", "seasonal_naive,naive", "--output", str(table)]) == 0
    out = capsys.readouterr().out
    written = pd.read_parquet(table)
    assert sorted(written["model"].unique()) == ["naive", "seasonal_naive"]
    assert len(written) == 2 * 3 * 10
    assert "mape NaN for zero: every scored actual is 0" in out
    assert "mase NaN for const, zero: " in out and "inf" not in out
    assert main(base + ["--model", "naive,sarima", "--param", "order=1,0,0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sets the hyperparameters of one --model, not of 2 (naive, sarima)" in err[0]
    assert main(base + ["--model", "naive,", "--series", "ok"]) == 2
    assert "an empty model name" in capsys.readouterr().err


def test_cli_a_range_inside_a_gap_and_a_history_too_short_for_mase_are_said(tmp_path, capsys):
    """A range of imputed days alone printed ``Empty DataFrame`` (exit 0); MASE NaN on a
    history of a week or less was explained as "repeats itself every season" (found trying
    the CLI on a file with a gap and from its first days)."""
    from seqcast.cli import main

    days = pd.date_range("2024-01-01", "2024-04-30")
    frame = pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "v": [100.0 + i % 7 + i % 5 for i in range(len(days))]})
    frame = frame[~frame["Date"].isin(["2024-03-10", "2024-03-11", "2024-03-12"])]  # imputed
    src = tmp_path / "gap.csv"
    frame.to_csv(src, index=False)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("date_column: Date\nvalue_columns: [v]\n")
    base = ["backtest", "--source", str(src), "--mapping", str(mapping), "--jobs", "1", "--model", "seasonal_naive"]
    assert main(base + ["--start", "2024-03-10", "--end", "2024-03-12"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gap.csv: no day from 2024-03-10 to 2024-03-12 can be scored: every one was " \
        "missing in the source and imputed" in err[0]
    assert main(base + ["--start", "2024-03-09", "--end", "2024-03-15"]) == 0
    captured = capsys.readouterr()
    assert "3 of the 7 days from 2024-03-09 to 2024-03-15 were missing in the source and imputed " \
        "(2024-03-10..2024-03-12): not scored" in captured.err
    assert main(base + ["--start", "2024-01-08", "--end", "2024-01-10", "--train-start", "2024-01-01"]) == 0
    out = capsys.readouterr().out
    assert "mase NaN for v: its history before the first origin is one season (7 days) or shorter" in out
    assert "repeats itself" not in out
