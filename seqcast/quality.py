"""Great Expectations: a readable data-quality suite on the raw frame, with Data Docs.

pandera decides which rows are quarantined (:mod:`seqcast.validate`); this
suite records the same expectations for people, as Data Docs under
``<data_dir>/gx/uncommitted/data_docs/local_site/index.html``. The file context
and every object in it are created with ``add_or_update``, so re-runs are safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from seqcast.ingest import Mapping
from seqcast.io import file_lock
from seqcast.layout import DataDir
from seqcast.validate import DAY_TYPES

NAME = "raw_daily"


@dataclass
class QualityReport:
    success: bool
    evaluated: int
    failed: list[str]  # "expectation(column): n unexpected"
    data_docs: Path
    results: list[dict] = field(default_factory=list)  # one per expectation, see expectation_rows
    validation_page: Path | None = None  # this run's validation result page in the Data Docs


def build_suite(mapping: Mapping, as_of: date | None):
    """The expectations for a parsed raw frame (wide ``ds, day_type, <series...>[, total]``,
    long ``ds, day_type, series_id, y``)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=NAME)
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="ds"))
    if as_of is not None:
        # With pandas 3 the bound must be a datetime, not a date or a string (STACK.md).
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(
                column="ds", max_value=datetime(as_of.year, as_of.month, as_of.day)
            )
        )
    suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column="day_type", value_set=list(DAY_TYPES)))
    for column in _value_columns(mapping):
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=column))
        if mapping.non_negative:
            suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    # The export repeats whole months; people should see it even though cleaning fixes it.
    if mapping.is_long:
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="series_id"))
        suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=["series_id", "ds"]))
    else:
        suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column="ds"))
    return suite


def _value_columns(mapping: Mapping) -> list[str]:
    return ["y"] if mapping.is_long else mapping.series_ids


def check_raw(frame: pd.DataFrame, mapping: Mapping, data_dir: str | Path, as_of: date | None = None) -> QualityReport:
    """Run the checkpoint on ``frame`` and rebuild the Data Docs. Never raises on failed expectations."""

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    layout = DataDir(data_dir)
    layout.gx.mkdir(parents=True, exist_ok=True)
    # The file context is not safe for two processes at once (a suite read while another
    # run rewrites it comes back empty): runs sharing a data dir take turns.
    with file_lock(layout.gx / ".lock"):
        return _check(frame, mapping, layout, as_of)


def check_raw_file(parsed_path: str | Path, mapping: str | Path | None, data_dir: str | Path,
                   as_of: date | None = None, *, timeout: float = 900,
                   in_process: bool | None = None) -> QualityReport:
    """:func:`check_raw` on a parsed raw Parquet file, in a child Python process.

    Importing Great Expectations is ~4 s of Python holding the GIL, and the checkpoint
    ~2 s more: in a thread of the run it slowed every other task of ``seqcast run``
    (the backtests waited for the interpreter), in a child process it runs on another
    core. ``in_process``: run here instead; default: when this process has imported
    Great Expectations already (a long-lived worker, the test suite), the import the
    child saves is paid. ``mapping``: the mapping file (None: the CTA export's). Raises
    :class:`RuntimeError` with the child's last error line when the checkpoint fails.
    """
    import json
    import subprocess
    import sys

    if in_process is None:
        in_process = "great_expectations" in sys.modules
    if in_process:
        from seqcast.ingest import load_mapping

        return check_raw(pd.read_parquet(parsed_path), load_mapping(mapping), data_dir, as_of)

    cmd = [sys.executable, "-m", "seqcast.quality", str(parsed_path), str(mapping or ""), str(data_dir),
           pd.Timestamp(as_of).date().isoformat() if as_of else ""]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Great Expectations checkpoint exited {proc.returncode}: {last}")
    d = json.loads(lines[-1])
    return QualityReport(success=d["success"], evaluated=d["evaluated"], failed=d["failed"],
                         data_docs=Path(d["data_docs"]), results=d["results"],
                         validation_page=Path(d["validation_page"]) if d["validation_page"] else None)


def _main(argv: list[str]) -> None:
    """``python -m seqcast.quality PARSED MAPPING DATA_DIR AS_OF``: one JSON line (see :func:`check_raw_file`)."""
    import json

    parsed, mapping, data_dir, as_of = argv
    report = check_raw_file(parsed, mapping or None, data_dir, date.fromisoformat(as_of) if as_of else None,
                            in_process=True)
    print(json.dumps({"success": bool(report.success), "evaluated": int(report.evaluated), "failed": report.failed,
                      "data_docs": str(report.data_docs), "results": report.results,
                      "validation_page": str(report.validation_page) if report.validation_page else None},
                     default=str))


def _check(frame: pd.DataFrame, mapping: Mapping, layout: DataDir, as_of: date | None) -> QualityReport:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="file", project_root_dir=str(layout.root))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_or_update_pandas(name="seqcast")
    asset = source.add_dataframe_asset(name=NAME)
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = ctx.suites.add_or_update(build_suite(mapping, as_of))
    validation = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=NAME, data=batch, suite=suite)
    )
    checkpoint = ctx.checkpoints.add_or_update(
        gx.Checkpoint(
            name=NAME,
            validation_definitions=[validation],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "SUMMARY"},
        )
    )
    cols = ["ds", "day_type", *(["series_id"] if mapping.is_long else []), *_value_columns(mapping)]
    result = checkpoint.run(batch_parameters={"dataframe": frame[cols]})
    failed, evaluated, rows, page = [], 0, [], None
    for key, run in result.run_results.items():
        evaluated += run.statistics["evaluated_expectations"]
        rows += expectation_rows(run.results)
        page = page or _validation_page(ctx, key)
    for r in rows:
        if not r["success"]:
            failed.append(f"{r['expectation']}({r['column']}): {_count(r['unexpected_count'])} unexpected")
    return QualityReport(bool(result.success), evaluated, failed, layout.data_docs, rows, page)


def _count(n) -> str:
    return "?" if n is None else str(n)


def expectation_rows(results, sample: int = 5) -> list[dict]:
    """One JSON-able dict per expectation result: ``expectation, column, success,
    unexpected_count, unexpected_percent, observed, failures`` (a few unexpected values)."""
    rows = []
    for r in results:
        cfg, res = r.expectation_config, r.result or {}
        kw = cfg.kwargs
        column = kw.get("column") or ", ".join(kw.get("column_list") or []) or "table"
        pct = res.get("unexpected_percent")
        rows.append({
            "expectation": cfg.type,
            "column": column,
            "success": bool(r.success),
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": None if pct is None else round(float(pct), 3),
            "observed": None if res.get("observed_value") is None else str(res["observed_value"]),
            "failures": [_plain(v) for v in (res.get("partial_unexpected_list") or [])[:sample]],
        })
    return rows


def _plain(value) -> str:
    if isinstance(value, dict | list | tuple):
        return str(value)
    if isinstance(value, datetime | pd.Timestamp):
        return pd.Timestamp(value).isoformat().removesuffix("T00:00:00")
    return str(value)


def _validation_page(ctx, key) -> Path | None:
    """The HTML page of one validation result in the local Data Docs site, if built."""
    try:
        urls = ctx.get_docs_sites_urls(resource_identifier=key)
    except Exception:  # older layouts or a site that was not built: the index still works
        return None
    for site in urls or []:
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            from urllib.parse import unquote, urlparse

            path = Path(unquote(urlparse(url).path))
            if path.exists():
                return path
    return None


def validation_markdown(report: dict, links: list[tuple[str, str]] = ()) -> str:
    """The validation result as markdown (for the Prefect artifact): a line per expectation
    with its column, outcome, unexpected count/percent and a few failing values.

    ``report`` holds ``gx_success, gx_results, gx_failed``; ``links`` are
    ``(text, url)`` pairs listed under the table.
    """
    rows = report.get("gx_results") or []
    status = {True: "**passed**", False: "**failed**", None: "**not run**"}[report.get("gx_success")]
    failed = [r for r in rows if not r["success"]]
    lines = [f"# Great Expectations: raw data suite `{NAME}`", "",
             f"Status: {status}; {len(rows)} expectation(s) evaluated, {len(failed)} failed.", ""]
    if report.get("gx_success") is None:
        lines += [f"- {f}" for f in report.get("gx_failed") or []] + [""]
    if rows:
        lines += ["| expectation | column | success | unexpected | unexpected % | observed / failing values |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: r["success"]):
            values = ", ".join(f"`{v}`" for v in r["failures"]) or (r["observed"] or "")
            pct = "" if r["unexpected_percent"] is None else f"{r['unexpected_percent']:.3g} %"
            mark = "yes" if r["success"] else "**NO**"
            count = "" if r["unexpected_count"] is None else r["unexpected_count"]
            lines.append(f"| {r['expectation']} | {r['column']} | {mark} | {count} | {pct} | {values} |")
        lines.append("")
    lines += [f"- [{text}]({url})" if "://" in url else f"- {text}: `{url}`" for text, url in links]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
