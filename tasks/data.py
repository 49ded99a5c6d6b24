"""Tasks for the data stages: sample, ingest, validate (pandera + Great Expectations), clean."""

from __future__ import annotations

from datetime import date

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff

from seqcast import pipeline
from seqcast.clean import CleanPolicy
from seqcast.layout import DataDir
from seqcast.sample import write_sample
from tasks.common import retry_unless_input_error

IO_RETRIES = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_unless_input_error,
)


@task(name="embedded-sample", cache_policy=NO_CACHE)
def sample_task(data_dir: str) -> str:
    """Generate the embedded default data (same bytes every time) and return its path."""
    return str(write_sample(DataDir(data_dir).sample))


@task(name="ingest", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_task(source: str, data_dir: str) -> dict:
    snapshot = pipeline.run_ingest(source, data_dir)
    get_run_logger().info(
        "snapshot %s of %s: %s rows", snapshot.data_hash, source, snapshot.manifest["rows"]
    )
    return {"snapshot_dir": str(snapshot.directory), **snapshot.manifest}


@task(name="validate", cache_policy=NO_CACHE)
def validate_task(
    snapshot_dir: str, data_dir: str, mapping: str | None, as_of: date | None, artifact: bool = True,
    checkpoint: bool = True,
) -> dict:
    """pandera decides the quarantine; the Great Expectations checkpoint documents the raw data.

    The result carries the validation itself (``gx_results``: one row per expectation) and
    the Data Docs pages; with ``artifact`` a markdown artifact shows them on this run (the
    nightly flow leaves ``artifact`` off and shows them on the run a user opens).
    ``checkpoint=False``: pandera only; the nightly flow runs :func:`gx_task` beside the
    next stages (the checkpoint decides nothing they need, and takes ~2 s).
    """
    logger = get_run_logger()
    result = pipeline.run_validate(snapshot_dir, data_dir, mapping=mapping, as_of=as_of)
    logger.info(
        "%(rows_in)s rows in, %(rows_quarantined)s quarantined, %(rows_partly_quarantined)s with some "
        "values set aside, %(rows_after_as_of)s after as-of",
        result,
    )
    for line in result.get("series_ids_trimmed") or []:
        said = "(Unicode NFC" in line or "(invisible" in line  # else: spaces, said here
        logger.warning("series id %s%s", line, "" if said else " (surrounding spaces dropped)")
    return _checkpoint(result, data_dir, mapping, as_of, artifact) if checkpoint else result


@task(name="great-expectations", cache_policy=NO_CACHE)
def gx_task(validated: dict, data_dir: str, mapping: str | None, as_of: date | None) -> dict:
    """The Great Expectations checkpoint of a validated snapshot (what :func:`validate_task`
    adds with ``checkpoint=True``): ``gx_success, gx_failed, gx_results, data_docs, data_docs_page``."""
    done = _checkpoint(dict(validated), data_dir, mapping, as_of, artifact=False)
    return {k: done.get(k) for k in ("gx_success", "gx_failed", "gx_results", "data_docs", "data_docs_page")}


def _checkpoint(result: dict, data_dir: str, mapping: str | None, as_of: date | None, artifact: bool) -> dict:
    from seqcast.quality import check_raw_file

    logger = get_run_logger()
    try:  # in a child process: Great Expectations' Python must not hold this run's interpreter
        quality = check_raw_file(result["parsed_path"], mapping, data_dir, as_of)
    except Exception as exc:  # the docs are for people; pandera already decided the quarantine
        logger.error("Great Expectations checkpoint failed, Data Docs not updated: %r", exc)
        result.update(gx_success=None, gx_failed=[f"checkpoint error: {exc!r}"], data_docs=None,
                      gx_results=[], data_docs_page=None)
        return result
    result["gx_success"] = quality.success
    result["gx_failed"] = quality.failed
    result["gx_results"] = quality.results
    result["data_docs"] = str(quality.data_docs.resolve())
    page = quality.validation_page or quality.data_docs
    result["data_docs_page"] = str(page.resolve())
    if quality.failed:
        logger.warning("Great Expectations: %s", "; ".join(quality.failed))
    if artifact:
        create_markdown_artifact(key="data-docs", markdown=data_docs_markdown(result, data_dir),
                                 description=f"{quality.evaluated} expectations, {len(quality.failed)} failed")
    return result


def data_docs_markdown(validated: dict, data_dir: str) -> str:
    """The validation result and where to read the Data Docs: over HTTP (``seqcast docs
    serve``: a browser will not open a ``file://`` link from the Prefect UI) and on disk."""
    from seqcast.docs import url_for
    from seqcast.quality import validation_markdown

    links = []
    if validated.get("data_docs"):
        page, index = validated.get("data_docs_page") or validated["data_docs"], validated["data_docs"]
        links = [
            ("This validation result in the Data Docs", url_for(page, data_dir)),
            ("Data Docs home", url_for(index, data_dir)),
            (f"The links above need `seqcast docs serve --data-dir {data_dir}` (or `make docs`) "
             "running; the page on the worker's disk", page),
        ]
    return validation_markdown(validated, links)


@task(name="clean", cache_policy=NO_CACHE)
def clean_task(validated: dict, mapping: str | None, fill: str, max_gap_days: int) -> dict:
    report = pipeline.run_clean(
        validated, mapping=mapping, policy=CleanPolicy(fill=fill, max_gap_days=max_gap_days)
    )
    get_run_logger().info(
        "%(days)s days x %(series)s: %(exact_duplicates_dropped)s duplicates dropped, "
        "%(days_imputed)s days imputed",
        report,
    )
    return report

