"""The night's report on the run a user opens: the parent ``nightly`` run's artifacts.

Prefect attaches an artifact to the flow run whose context created it, so artifacts
made by the tasks of the ``nightly-stages`` subflow show only on that subflow's page.
The subflow hands its results back; these helpers, called from the parent flow, leave
the summary, the forecast table, the validation result and the drift report there,
and a progress bar the subflow moves while the backtest units run.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from tasks.common import artifact_key
from tasks.data import data_docs_markdown
from tasks.forecast import forecast_table


def start_progress(what: str) -> str:
    """A progress artifact (0 %) on the current run; its id, for :func:`move_progress`."""
    return str(create_progress_artifact(0.0, key=artifact_key(what, "progress"),
                                        description=f"{what}: starting"))


def move_progress(artifact_id: str | None, done: int, total: int, what: str) -> None:
    if artifact_id:
        update_progress_artifact(artifact_id, 100.0 * done / max(total, 1),
                                 description=f"{what}: {done} of {total} unit(s) done")


@task(name="report", cache_policy=NO_CACHE)
def report_task(summary: dict[str, Any], summary_markdown: str, data_dir: str,
                drift_markdown: str | None = None) -> list[str]:
    """Create the night's artifacts on this task's flow run (the parent ``nightly``); their keys."""
    keys = ["nightly-summary"]
    create_markdown_artifact(key="nightly-summary", markdown=summary_markdown,
                             description=f"Nightly run {summary['run_date']}")
    if summary.get("published"):
        keys.append("published-forecasts")
        create_table_artifact(key="published-forecasts", table=forecast_table(summary["published"]),
                              description=f"Forecasts published for {summary['run_date']} "
                              f"(data {summary.get('data_hash')})")
    keys.append("data-docs")
    failed = summary.get("gx_failed") or []
    create_markdown_artifact(key="data-docs", markdown=data_docs_markdown(summary, data_dir),
                             description=f"Great Expectations: {len(summary.get('gx_results') or [])} "
                             f"expectations, {len(failed)} failed")
    if drift_markdown:
        keys.append("drift-monitor")
        create_markdown_artifact(key="drift-monitor", markdown=drift_markdown,
                                 description=f"Drift monitor for {summary['last_day']}")
    return keys
