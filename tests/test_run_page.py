"""The Prefect run page a user opens tells the night's story, and the Data Docs open over HTTP.

The slow test starts a real Prefect server with its UI, runs one night with ``seqcast run``
against it, and reads the parent ``nightly`` run's page in headless Chromium (Debian's,
installed by ``.ci/run``); then it follows the artifact's Data Docs link to ``seqcast docs
serve``. The fast ones check the docs server and the validation markdown on their own.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from browser import Browser
from test_deployments_e2e import _free_port, server  # noqa: F401 (a fixture: one Prefect server)

from seqcast.docs import make_server, offline_page, url_for
from seqcast.quality import validation_markdown

ROOT = Path(__file__).resolve().parents[1]
SEQCAST = str(Path(sys.executable).with_name("seqcast"))
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site"
    page = site / "validations" / "raw_daily" / "__none__" / "20241231T000000Z" / "seqcast-raw_daily.html"
    page.parent.mkdir(parents=True)
    head = ('<html><head><link href="https://maxcdn.bootstrapcdn.com/bootstrap.min.css" rel="stylesheet">'
            '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script></head><body>')
    (site / "index.html").write_text(head + '<table data-toggle="table"></table></body></html>')
    page.write_text(head + "<h1>Expectation Validation Result</h1>values must be unique</body></html>")
    return page


def test_docs_server_serves_pages_offline(tmp_path):
    import threading

    page = _site(tmp_path)
    srv = make_server(tmp_path, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        url = url_for(page, tmp_path, base=base)
        assert url == f"{base}/validations/raw_daily/__none__/20241231T000000Z/seqcast-raw_daily.html"
        body = httpx.get(url, timeout=5).text
        assert "Expectation Validation Result" in body and "https://" not in body
        assert "/_seqcast/offline.css" in body and httpx.get(f"{base}/_seqcast/offline.css").status_code == 200
        index = httpx.get(f"{base}/", timeout=5).text  # the index lists the results without JavaScript
        assert 'href="/validations/raw_daily/__none__/20241231T000000Z/seqcast-raw_daily.html"' in index
        assert httpx.get(f"{base}/../../../etc/passwd", timeout=5).status_code == 404
    finally:
        srv.shutdown()
        srv.server_close()


def test_offline_page_keeps_local_assets():
    text = ('<head><link href="static/styles/x.css" rel="stylesheet">'
            '<script src="https://unpkg.com/bootstrap-table.min.js"></script></head><body>x</body>')
    out = offline_page(text, Path("."))
    assert 'href="static/styles/x.css"' in out and "unpkg" not in out


def test_validation_markdown_lists_every_expectation_and_the_failures():
    rows = [
        {"expectation": "expect_column_values_to_not_be_null", "column": "ds", "success": True,
         "unexpected_count": 0, "unexpected_percent": 0.0, "observed": None, "failures": []},
        {"expectation": "expect_column_values_to_be_unique", "column": "ds", "success": False,
         "unexpected_count": 62, "unexpected_percent": 4.158, "observed": None,
         "failures": ["2022-10-01", "2022-10-02"]},
    ]
    md = validation_markdown({"gx_success": False, "gx_results": rows, "gx_failed": ["x"]},
                             [("This validation result", "http://127.0.0.1:8765/v.html")])
    assert "**failed**; 2 expectation(s) evaluated, 1 failed" in md
    failing = next(line for line in md.splitlines() if "be_unique" in line)
    assert "| ds | **NO** | 62 | 4.16 % | `2022-10-01`, `2022-10-02` |" in failing
    assert md.index("be_unique") < md.index("not_be_null")  # failures first
    assert "[This validation result](http://127.0.0.1:8765/v.html)" in md


def test_docs_serve_without_docs_is_one_line(tmp_path):
    out = subprocess.run([SEQCAST, "docs", "serve", "--data-dir", str(tmp_path), "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.startswith("seqcast: error: no Data Docs under")
    assert len(out.stderr.strip().splitlines()) == 1


def _artifacts(api: str, run_id: str) -> dict[str, dict]:
    r = httpx.post(f"{api}/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}, timeout=10)
    r.raise_for_status()
    return {a["key"]: a for a in r.json()}


@pytest.mark.slow
@needs_chromium
def test_the_run_page_a_user_opens_tells_the_story(server, tmp_path):  # noqa: F811
    env, api, port = server
    docs_port = _free_port()
    data = tmp_path / "data"
    run_env = {**env, "SEQCAST_DOCS_PORT": str(docs_port)}
    out = subprocess.run([SEQCAST, "run", "--data-dir", str(data), "--as-of", "2024-12-31"],
                         env=run_env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]

    runs = httpx.post(f"{api}/flow_runs/filter", json={"flows": {"name": {"any_": ["nightly"]}}}, timeout=10).json()
    (parent,) = runs
    children = httpx.post(f"{api}/flow_runs/filter",
                          json={"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}, timeout=10).json()
    assert [c["name"] for c in children] == ["stages 2024-12-31 on thread runner, all worker(s)"]
    arts = _artifacts(api, parent["id"])
    assert {"nightly-summary", "published-forecasts", "data-docs", "drift-monitor", "backtest-progress"} <= set(arts)
    assert arts["backtest-progress"]["data"] == 100.0
    assert not _artifacts(api, children[0]["id"])  # nothing hides on the subflow
    summary = arts["nightly-summary"]["data"]
    assert "none configured:" not in summary and f"/runs/flow-run/{children[0]['id']}" in summary
    assert "data:image/png;base64," in arts["drift-monitor"]["data"]
    docs_md = arts["data-docs"]["data"]
    assert "expect_column_values_to_be_unique | ds | **NO**" in docs_md

    # What the user sees: the parent run's page, Artifacts tab: the summary and the table
    with Browser(tmp_path / "chromium") as browser:
        browser.open(f"http://127.0.0.1:{port}/runs/flow-run/{parent['id']}")
        browser.wait_for("!!document.getElementById('artifacts')")
        browser.evaluate("document.getElementById('artifacts').click()")
        browser.wait_for_text("nightly-summary", "published-forecasts", "data-docs", "drift-monitor")
        browser.evaluate("document.getElementById('artifacts').scrollIntoView()")
        shot = browser.screenshot(tmp_path / "run-page-artifacts.png")
        assert shot.stat().st_size > 10_000
        print(f"\nrun page screenshot: {shot}")
        # the drift report's plot is embedded: the image decodes in the browser
        browser.open(f"http://127.0.0.1:{port}/artifacts/artifact/{arts['drift-monitor']['id']}")
        browser.wait_for("[...document.images].some(i => i.src.startsWith('data:image/png') && i.naturalWidth > 100)")
        print(f"drift artifact screenshot: {browser.screenshot(tmp_path / 'drift-artifact.png')}")

    # The Data Docs link of the artifact opens the validation result over HTTP
    (link,) = re.findall(r"\[This validation result in the Data Docs\]\((http://[^)]+)\)", docs_md)
    assert link.startswith(f"http://127.0.0.1:{docs_port}/validations/")
    docs = subprocess.Popen([SEQCAST, "docs", "serve", "--data-dir", str(data), "--port", str(docs_port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{docs_port}/", timeout=2)
                break
            except httpx.HTTPError:
                if docs.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        with Browser(tmp_path / "chromium") as browser:
            browser.open(link)
            browser.wait_for_text("Expectation Validation Result", "values must be unique", "62 unexpected")
            print(f"data docs screenshot: {browser.screenshot(tmp_path / 'data-docs-validation.png')}")
    finally:
        docs.terminate()
        docs.wait(timeout=20)
