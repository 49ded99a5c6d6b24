"""Shared fixtures: the real CTA export (skipped when ../shared is absent) and small seeded data."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Before anything imports prefect: a private Prefect home (its SQLite database and
# settings) for the whole test session, and no telemetry.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="seqcast-prefect-home-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.pop("PREFECT_API_URL", None)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
CTA_CSV = ROOT.parent / "shared" / "data" / "cta_ridership_daily.csv"


@pytest.fixture(scope="session")
def cta_csv() -> Path:
    if not CTA_CSV.exists():
        pytest.skip(
            f"CTA reference data not found at {CTA_CSV}: these checks need the workplace's "
            "../shared/data/cta_ridership_daily.csv beside the clone"
        )
    return CTA_CSV


@pytest.fixture(scope="session")
def cta_clean(cta_csv: Path) -> pd.DataFrame:
    """The CTA export as a clean long frame ``series_id, ds, y, day_type, is_imputed``."""
    from seqcast.pipeline import clean_source

    return clean_source(cta_csv).clean


@pytest.fixture(scope="session")
def prefect_harness():
    """One real, temporary Prefect server (SQLite in the private home) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def seasonal_frame() -> pd.DataFrame:
    """Two seeded daily series (~2 years) with weekly seasonality, long format."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-01", periods=730, freq="D")
    frames = []
    for sid, level in (("bus", 800.0), ("rail", 500.0)):
        weekly = np.where(ds.day_of_week < 5, 1.0, 0.55)
        y = level * weekly + rng.normal(0, 10, len(ds))
        frames.append(pd.DataFrame({"series_id": sid, "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tests/pg_server.py), stopped at the end;
    skipped, with the reason, only where no server binary exists."""
    from pg_server import PostgresServer

    try:
        server = PostgresServer()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    with server:
        yield server


def pytest_configure(config):
    """absl (TensorFlow's logging) keeps the ``sys.stderr`` of the moment it is imported; under
    pytest that is the session's capture file, and when Prefect's logging setup later clears the
    existing handlers, absl's ``close()`` closes it (it spares only the current ``sys.stderr``):
    the next test then failed with "I/O operation on closed file" and pytest ended with "lost
    sys.stderr" (a neural test before a CLI test that imports Prefect). Give absl the process's
    own stderr, which it never closes (the capture still sees fd 2)."""
    import sys

    try:
        import absl.logging
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        return
    absl.logging.get_absl_handler().python_handler.stream = sys.__stderr__
