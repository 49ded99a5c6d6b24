"""The library stays orchestration-free and light to import."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time

import seqcast


def _run(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout


def test_seqcast_never_imports_prefect():
    modules = sorted(
        m.name for m in pkgutil.walk_packages(seqcast.__path__, "seqcast.") if m.name != "seqcast.__main__"
    )
    assert "seqcast.pipeline" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(k for k in sys.modules if k == 'prefect' or k.startswith('prefect.')))"
    )
    assert _run(code).strip() == "[]"


def test_help_is_fast_and_imports_nothing_heavy():
    code = (
        "import sys, time, contextlib, io\n"
        "t = time.perf_counter()\n"
        "from seqcast.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['--help'])\n"
        "    except SystemExit: pass\n"
        "print(time.perf_counter() - t)\n"
        "print(sorted(m for m in ('tensorflow', 'statsmodels', 'great_expectations', 'prefect', 'pandas') if m in sys.modules))"
    )
    elapsed, heavy = _run(code).splitlines()
    assert heavy == "[]"
    assert float(elapsed) < 1.0


def test_console_script_answers_help():
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "seqcast.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "run" in out.stdout and "forecasts" in out.stdout
    assert time.perf_counter() - t < 10
