"""The nightly's champion step: chosen on ``champion_days`` origins, intervals adapted by ``interval_gamma``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqcast.partitions import bucket_file
from tasks.panel import choose_bucket

CUTOFF = pd.Timestamp("2024-03-31")


def _files(tmp_path):
    """``steady`` errs 10 every day; ``streaky`` 2 in the last 28 days, 30 in the 28 before."""
    rows = []
    for k in range(56):
        cutoff = CUTOFF - pd.Timedelta(days=1 + k)
        for model, err in (("seasonal_naive", 50.0), ("steady", 10.0), ("streaky", 2.0 if k < 27 else 30.0)):
            rows.append(("a", cutoff, cutoff + pd.Timedelta(days=1), 1, model, 100.0, 100.0 + err, None))
    table = pd.DataFrame(rows, columns=["series_id", "cutoff", "ds", "h", "model", "y", "mean", "error"])
    for model, part in table.groupby("model"):
        path = bucket_file(tmp_path / "table" / model, 0)
        path.parent.mkdir(parents=True)
        part.to_parquet(path)
    fc = pd.DataFrame({"series_id": "a", "ds": CUTOFF + pd.Timedelta(days=1), "cutoff": CUTOFF, "h": 1,
                       "model": ["seasonal_naive", "steady", "streaky"], "mean": 100.0})
    path = bucket_file(tmp_path / "candidates", 0)
    path.parent.mkdir()
    fc.to_parquet(path)
    return str(tmp_path / "candidates"), str(tmp_path / "table"), ["seasonal_naive", "steady", "streaky"]


def test_champion_days_sets_the_window_of_the_choice(tmp_path):
    cand, table, labels = _files(tmp_path)
    short = choose_bucket(cand, table, labels, 0, 28, str(tmp_path / "c28"))
    long = choose_bucket(cand, table, labels, 0, 28, str(tmp_path / "c56"), champion_days=56)
    assert short["choice"][0]["model"] == "streaky"
    assert long["choice"][0]["model"] == "steady"  # 10 every day beats 2 lately, 30 before
    assert "over 55 forecasts"  # origins in (cutoff - 56 days, cutoff] in long["choice"][0]["reason"]
    # the intervals still come from the last window_days + h days of the published model
    out = pd.read_parquet(bucket_file(tmp_path / "c56", 0))
    assert out.loc[0, "interval_n"] == 29 and np.isclose(out.loc[0, "hi-80"] - out.loc[0, "mean"], 10.0)


def test_interval_gamma_reaches_the_published_intervals(tmp_path):
    from seqcast.conformal import conformal_intervals

    cand, table, labels = _files(tmp_path)
    plain = choose_bucket(cand, table, labels, 0, 28, str(tmp_path / "p"))
    adapted = choose_bucket(cand, table, labels, 0, 28, str(tmp_path / "a"), interval_gamma=0.2)
    assert plain["choice"] == adapted["choice"] and plain["choice"][0]["model"] == "streaky"
    p, a = (pd.read_parquet(bucket_file(tmp_path / d, 0)) for d in ("p", "a"))
    # streaky: 27 errors of 2, then 2 of 30 in the 29-day window; the plain 80 % quantile is 2
    assert (p.loc[0, "hi-80"], p.loc[0, "hi-95"]) == (102.0, 130.0)
    scores = pd.read_parquet(bucket_file(tmp_path / "table" / "streaky", 0))
    fc = pd.read_parquet(bucket_file(tmp_path / "candidates", 0)).query("model == 'streaky'")
    want = conformal_intervals(fc, scores, window_days=29, gamma=0.2)
    assert a.loc[0, "hi-95"] == want["hi-95"].iloc[0]
    # every 95 % interval of the last 27 days covered its day: the adapted level is lower and the
    # interval leaves the two old 30s out
    assert a.loc[0, "hi-95"] == 102.0 < p.loc[0, "hi-95"]


def test_floor_keeps_a_count_and_its_bounds_at_or_above_zero(tmp_path):
    """A non-negative series never gets a negative published mean or bound (was: lo-95 < 0)."""
    cand, table, labels = _files(tmp_path)
    fc = pd.read_parquet(bucket_file(tmp_path / "candidates", 0)).assign(mean=[40.0, 4.0, -3.0])
    fc.to_parquet(bucket_file(tmp_path / "candidates", 0))
    free = choose_bucket(cand, table, labels, 0, 28, str(tmp_path / "free"))
    floored = choose_bucket(cand, table, labels, 0, 28, str(tmp_path / "zero"), floor=0.0)
    assert free["choice"] == floored["choice"] and free["choice"][0]["model"] == "streaky"
    f, z = (pd.read_parquet(bucket_file(tmp_path / d, 0)) for d in ("free", "zero"))
    cols = ["lo-95", "lo-80", "mean", "hi-80", "hi-95"]
    assert f.loc[0, cols].tolist() == [-33.0, -5.0, -3.0, -1.0, 27.0]  # streaky's errors: 2, then 30
    assert z.loc[0, cols].tolist() == [0.0, 0.0, 0.0, 0.0, 27.0]


def test_the_nightly_floors_only_non_negative_series(tmp_path):
    from flows.nightly import NightlyParams, _floor

    signed = tmp_path / "signed.yaml"
    signed.write_text("date_column: day\nvalue_columns: [temp]\nnon_negative: false\n")
    assert _floor(NightlyParams()) == 0.0  # the CTA export: counts
    assert _floor(NightlyParams(mapping=str(signed))) is None
