"""Files and network (issue 13): readable atomic writes without leftovers, retried
downloads, and saved models that cannot name code to import."""

from __future__ import annotations

import glob
import json
import os
import stat
import sys
import threading
import time
from contextlib import contextmanager
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seqcast import io as sio
from seqcast.alerts import write_alerts
from seqcast.errors import InputError
from seqcast.ingest import fetch_bytes, ingest
from seqcast.sample import sample_bytes


# -- 12: published files ---------------------------------------------------------------------
@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


FRAME = pd.DataFrame({"series_id": ["rail"] * 3, "ds": pd.date_range("2024-01-01", periods=3),
                      "y": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path, mask, expected):
    with umask(mask):
        written = [
            sio.write_parquet_atomic(FRAME, tmp_path / "published" / "forecast.parquet"),
            sio.write_json_atomic({"a": 1}, tmp_path / "published" / "report.json"),
            sio.write_bytes_atomic(b"x", tmp_path / "raw" / "source.csv"),
            write_alerts(tmp_path, FRAME.iloc[:0], "2024-01-03"),
        ]
    for path in written:
        assert mode(path) == expected, path
    for d in {p.parent for p in written}:
        assert sorted(p.name for p in d.iterdir() if p.is_file()) == sorted(
            p.name for p in written if p.parent == d)  # no temp file left


def test_temp_names_never_look_like_parquet(tmp_path, monkeypatch):
    seen, mid_write = [], []
    real = sio.temp_path

    def spy(path):
        tmp = real(path)
        seen.append(tmp)
        return tmp

    def write(tmp):  # what DuckDB's read_parquet('dir/*.parquet') (dot-files too) sees mid-write
        tmp.write_bytes(b"PAR1 half")
        mid_write.extend(glob.glob(str(tmp.parent / "*.parquet"), include_hidden=True))

    monkeypatch.setattr(sio, "temp_path", spy)
    sio.write_parquet_atomic(FRAME, tmp_path / "a.parquet")
    write_alerts(tmp_path, FRAME.iloc[:0], "2024-01-03")
    sio._atomic(tmp_path / "b.parquet", write)
    assert len(seen) == 3 and mid_write == [str(tmp_path / "a.parquet")]
    for tmp in seen:
        assert tmp.name.startswith(".") and tmp.name.endswith(".tmp")
        assert not fnmatch(tmp.name, "*.parquet")


def test_a_failed_write_leaves_nothing(tmp_path):
    def boom(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        sio._atomic(tmp_path / "t.parquet", boom)
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_are_removed_by_the_next_write(tmp_path):
    d = tmp_path / "published" / "alerts"
    d.mkdir(parents=True)
    old = time.time() - 2 * sio.STALE_TEMP_S
    stale = [d / ".alerts_2024-01-01.parquet.0123456789ab.tmp",  # this module's names
             d / ".alerts_2024-01-01.parquet.k3j_x9q2.tmp",  # mkstemp's, before this fix
             d / ".tmp-ab12cd34.parquet"]  # the alerts writer's, before this fix
    live = d / ".alerts_2024-01-02.parquet.ba9876543210.tmp"  # another writer, right now
    keep = d / "notes.tmp"  # not a seqcast temp name
    for p in (*stale, live, keep):
        p.write_bytes(b"PAR1 half")
    for p in (*stale, keep):
        os.utime(p, (old, old))
    write_alerts(tmp_path, FRAME.iloc[:0], "2024-01-03")
    assert sorted(p.name for p in d.iterdir()) == sorted(["alerts_2024-01-03.parquet", live.name,
                                                          keep.name])


def test_clean_stale_temp_keeps_folders_and_recent_files(tmp_path):
    old = time.time() - 2 * sio.STALE_TEMP_S
    folder = tmp_path / ".forecasts.0123456789ab.tmp"
    folder.mkdir()
    os.utime(folder, (old, old))
    fresh = tmp_path / ".x.parquet.0123456789ab.tmp"
    fresh.write_bytes(b"")
    assert sio.clean_stale_temp(tmp_path) == []
    assert folder.is_dir() and fresh.exists()
    os.utime(fresh, (old, old))
    assert sio.clean_stale_temp(tmp_path) == [fresh]


# -- 13: retried downloads -------------------------------------------------------------------
@contextmanager
def server(statuses: list[int]):
    """A local HTTP server answering each GET with the next status (the last one repeats);
    200 carries the CTA sample bytes. Yields (url, list of request paths)."""
    requests: list[str] = []
    body = sample_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            requests.append(self.path)
            code = statuses[min(len(requests), len(statuses)) - 1]
            data = body if code == 200 else b"unavailable"
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/cta.csv", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_a_503_once_is_retried(tmp_path, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("seqcast.ingest._sleep", slept.append)
    with server([503, 200]) as (url, requests):
        snapshot = ingest(url, tmp_path)
    assert len(requests) == 2 and slept == [0.5]
    assert snapshot.path.read_bytes() == sample_bytes()


def test_a_429_and_a_500_are_retried_with_exponential_backoff():
    slept: list[float] = []
    with server([429, 500, 502, 200]) as (url, requests):
        assert fetch_bytes(url, sleep=slept.append) == sample_bytes()
    assert len(requests) == 4 and slept == [0.5, 1.0, 2.0]


def test_a_404_is_not_retried():
    slept: list[float] = []
    with server([404]) as (url, requests), pytest.raises(InputError) as err:
        fetch_bytes(url, sleep=slept.append)
    assert len(requests) == 1 and slept == []
    assert str(err.value) == f"{url}: cannot download (HTTP 404 Not Found)"


def test_always_503_gives_up_naming_the_url_error_and_attempts():
    slept: list[float] = []
    with server([503]) as (url, requests), pytest.raises(InputError) as err:
        fetch_bytes(url, sleep=slept.append)
    assert len(requests) == 4 and slept == [0.5, 1.0, 2.0]
    message = str(err.value)
    assert "\n" not in message
    assert message == f"{url}: cannot download after 4 attempts (last error: HTTP 503 Service Unavailable)"


def test_a_refused_connection_is_retried():
    with server([200]) as (url, _):
        pass  # the port is closed now: connecting is refused
    slept: list[float] = []
    with pytest.raises(InputError, match=r"after 3 attempts \(last error: .*refused"):
        fetch_bytes(url, retries=2, backoff_s=0.01, sleep=slept.append)
    assert slept == [0.01, 0.02]


# -- 14: saved models name only registered classes -------------------------------------------
def write_metadata(folder: Path, klass: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps({
        "format_version": 1, "class": klass, "alias": "x", "params": {}, "cutoff": [], "states": [],
    }))
    return folder


@pytest.mark.parametrize("klass", ["os:system", "subprocess:Popen", "seqcast.models.naive:Naive",
                                   "seqcast.models.recurrent:Nope", "no-colon", None])
def test_load_refuses_an_unregistered_class(tmp_path, klass):
    from seqcast.models.neural import load_model

    folder = write_metadata(tmp_path / "m", klass)
    with pytest.raises(InputError) as err:
        load_model(folder)
    assert str(err.value).startswith(f"{folder / 'metadata.json'}: class {klass!r} is not a registered")


def test_load_does_not_import_the_module_it_names(tmp_path, monkeypatch):
    from seqcast.models.neural import NeuralForecaster, load_model
    from seqcast.trained import load_trained

    flag = tmp_path / "imported"
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "seqcast_issue13_payload.py").write_text(
        f"open({str(flag)!r}, 'w').close()\nclass Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    folder = write_metadata(tmp_path / "models" / "evil", "seqcast_issue13_payload:Evil")
    (tmp_path / "models" / "latest.json").write_text(json.dumps({"evil": {"path": str(folder)}}))
    for load in (lambda: load_model(folder), lambda: NeuralForecaster.load(folder),
                 lambda: load_trained(tmp_path / "models", "evil")):
        with pytest.raises(InputError, match="seqcast_issue13_payload:Evil"):
            load()
    assert not flag.exists()
    assert "seqcast_issue13_payload" not in sys.modules


def test_a_saved_model_still_loads(tmp_path):
    pytest.importorskip("keras")
    from seqcast.models import get_model
    from seqcast.models.neural import load_model
    from seqcast.models.recurrent import GRU, Linear

    ds = pd.date_range("2022-01-01", periods=120, freq="D")
    y = 500 * np.where(ds.day_of_week < 5, 1.0, 0.55) + np.random.default_rng(0).normal(0, 5, len(ds))
    hist = pd.DataFrame({"series_id": "rail", "ds": ds, "y": y})
    model = get_model("linear", input_length=14, epochs=1, batch_size=64, jit_compile=False)
    fc = model.fit(hist).predict(3)
    folder = model.save(tmp_path / "linear")
    loaded = load_model(folder)
    assert type(loaded) is Linear
    pd.testing.assert_frame_equal(loaded.predict(3), fc, check_exact=True)
    assert type(Linear.load(folder)) is Linear
    with pytest.raises(InputError, match="holds a Linear, not a GRU"):
        GRU.load(folder)
