"""Property test (issue 13): generated messy inputs through the data stages and the CLI.

Hypothesis draws small daily panels and writes them the ways real exports come:
delimiters, decimal marks, encodings, date formats, gaps, non-finite values,
duplicated and shuffled rows, several series, CSV or Parquet, wide or long; the
mapping sometimes matches the file and sometimes does not. Every outcome must be
one of two: a clean result (finite, daily, published table that passes the schema),
or a one-line ``seqcast: error:``. Never a traceback, never a NaN/inf published.
Examples are derandomised so CI sees the same inputs every run.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from seqcast.errors import SeqcastError

DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%dT%H:%M:%SZ", "%d.%m.%Y"]


@dataclass
class Messy:
    data: bytes
    mapping: dict
    suffix: str


@st.composite
def messy_inputs(draw) -> Messy:
    n_series = draw(st.integers(1, 3))
    n_days = draw(st.integers(1, 70))
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=draw(st.integers(0, 300)))
    days = pd.date_range(start, periods=n_days, freq=draw(st.sampled_from(["D", "D", "D", "7D"])))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    level = draw(st.sampled_from([0.5, 100.0, 25_000.0]))
    y = level * (1 + 0.2 * np.sin(np.arange(n_days)[:, None] * 2 * np.pi / 7)) + rng.normal(0, level / 50, (n_days, n_series))
    cells = np.round(y, 2).astype(object)
    for _ in range(draw(st.integers(0, 3))):  # non-finite and implausible values
        i, j = rng.integers(n_days), rng.integers(n_series)
        cells[i, j] = draw(st.sampled_from(["inf", "-inf", "nan", "1e400", "1e308", "", "n/a", -5.0]))
    names = [f"s{j}" for j in range(n_series)]
    long = draw(st.booleans())
    if long:
        df = pd.DataFrame({"date": np.repeat(days, n_series), "series": names * n_days, "value": cells.ravel()})
    else:
        df = pd.DataFrame({"date": days, **{n: cells[:, j] for j, n in enumerate(names)}})
    drop = draw(st.integers(0, min(10, max(len(df) - 1, 0))))
    if drop:
        df = df.drop(index=rng.choice(len(df), size=drop, replace=False))
    if draw(st.booleans()) and len(df):  # duplicated rows
        df = pd.concat([df, df.sample(n=min(3, len(df)), random_state=1)])
    if draw(st.booleans()):  # shuffled
        df = df.sample(frac=1.0, random_state=2)
    fmt = draw(st.sampled_from(DATE_FORMATS))
    declared_fmt = fmt if draw(st.integers(0, 4)) else draw(st.sampled_from(DATE_FORMATS))
    mapping: dict = {"date_column": "date", "date_format": declared_fmt, "non_negative": draw(st.booleans())}
    if long:
        mapping |= {"series_column": "series", "value_column": "value"}
    else:
        mapping["value_columns"] = names
    if draw(st.booleans()):
        df = df.astype({"date": "datetime64[ns]"})
        return Messy(_parquet(df), mapping, ".parquet")
    df = df.assign(date=pd.to_datetime(df["date"]).dt.strftime(fmt))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    decimal = draw(st.sampled_from([".", ","]))
    declared_decimal = decimal if draw(st.integers(0, 3)) else draw(st.sampled_from([".", ","]))
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    declared_encoding = encoding if draw(st.integers(0, 3)) else "utf-8"
    text = df.to_csv(index=False, sep=delimiter, decimal=decimal)
    mapping |= {"delimiter": delimiter if draw(st.integers(0, 4)) else ",", "decimal": declared_decimal,
                "encoding": declared_encoding}
    return Messy(text.encode(encoding), mapping, ".csv")


def _parquet(df: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    values = {c: pd.to_numeric(df[c], errors="coerce") for c in df.columns if c not in ("date", "series")}
    df.assign(**values).to_parquet(buf)  # typed: text cells become nulls, 'inf' stays inf
    return buf.getvalue()


@contextlib.contextmanager
def _files(case: Messy) -> Iterator[tuple[Path, Path]]:
    """The case written as a source file and its mapping in a folder removed afterwards.

    Hypothesis runs each test body many times inside one pytest test, so pytest's
    ``tmp_path`` (one per test) cannot hold them; without the removal every run of the
    suite left ~160 folders in the system's temp directory.
    """
    with tempfile.TemporaryDirectory(prefix="messy-") as name:
        folder = Path(name)
        src = folder / f"source{case.suffix}"
        src.write_bytes(case.data)
        mapping = folder / "mapping.yaml"
        mapping.write_text(yaml.safe_dump(case.mapping))
        yield src, mapping


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(messy_inputs())
def test_data_stages_either_clean_or_one_clear_error(case):
    from seqcast.pipeline import clean_source
    from seqcast.validate import CleanSchema

    with _files(case) as (src, mapping):
        try:
            out = clean_source(str(src), str(mapping), today=pd.Timestamp("2026-01-01").date())
        except SeqcastError as exc:
            message = str(exc)
            event(f"error: {message.split(': ', 2)[-1][:40]}")
            assert message and "\n" not in message and "Traceback" not in message
            return
    CleanSchema.validate(out.clean)
    event("clean" + (" with quarantine" if len(out.quarantine) else ""))
    assert np.isfinite(out.clean["y"]).all()
    if case.mapping.get("non_negative"):
        assert (out.clean["y"] >= 0).all()
    assert out.report["rows_kept"] + out.report["rows_quarantined"] + out.report["exact_duplicates_dropped"] \
        == out.report["rows_in"]


@pytest.fixture(scope="module")
def harness(prefect_harness):
    return prefect_harness


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=messy_inputs())
def test_cli_run_either_publishes_a_clean_table_or_prints_one_line(harness, capsys, case):
    from seqcast.cli import main
    from seqcast.published import ForecastSchema, read_forecasts

    with _files(case) as (src, mapping):
        data_dir = src.parent / "data"
        capsys.readouterr()
        rc = main(["run", "--source", str(src), "--mapping", str(mapping), "--data-dir", str(data_dir),
                   "--as-of", "2026-01-01", "--horizon", "7", "--models", "seasonal_naive,naive"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("seqcast: error:")]
        event("published" if rc == 0 else "error")
        if rc != 0:
            assert rc == 1 and len(err) == 1, err
            assert "Traceback" not in err[0]
            return
        assert not err
        table = read_forecasts(data_dir, latest=True)
    ForecastSchema.validate(table)
    assert len(table) and np.isfinite(table["mean"].to_numpy(float)).all()
    bands = table[["lo-95", "lo-80", "hi-80", "hi-95"]].to_numpy(float)
    assert not np.isinf(bands).any()
