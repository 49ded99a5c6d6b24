"""Great Expectations: a readable data-quality suite on the raw frame, with Data Docs.

pandera decides which rows are quarantined (:mod:`seqcast.validate`); this
suite records the same expectations for people, as Data Docs under
``<data_dir>/gx/uncommitted/data_docs/local_site/index.html``. The file context
and every object in it are created with ``add_or_update``, so re-runs are safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
    failed, evaluated = [], 0
    for run in result.run_results.values():
        evaluated += run.statistics["evaluated_expectations"]
        for r in run.results:
            if not r.success:
                cfg = r.expectation_config
                column = cfg.kwargs.get("column", "table")
                failed.append(f"{cfg.type}({column}): {r.result.get('unexpected_count', '?')} unexpected")
    return QualityReport(bool(result.success), evaluated, failed, layout.data_docs)
