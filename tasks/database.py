"""The database publish task: the night's tables into PostgreSQL (see :mod:`seqcast.database`)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from seqcast.database import DatabaseUnavailable


def retry_if_unavailable(task, task_run, state) -> bool:
    """Retry only when the server could not be reached; a bad URL or a refused night fails
    the same way again."""
    try:
        state.result()
    except DatabaseUnavailable:
        return True
    except Exception:
        return False
    return False


def database_url(url: Any = None, secret_block: str | None = None) -> Any:
    """The URL to publish to: the parameter, else the named Prefect Secret block's value,
    else ``SEQCAST_DATABASE_URL``; ``None`` when none is configured."""
    import os

    if url:
        return url
    if secret_block:
        from prefect.blocks.system import Secret
        from pydantic import SecretStr

        return SecretStr(str(Secret.load(secret_block).get()))
    return os.environ.get("SEQCAST_DATABASE_URL") or None


@task(name="publish-database", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=retry_if_unavailable)
def publish_database_task(url: Any, summary: dict[str, Any], data_dir: str) -> dict[str, Any]:
    """Write the night of ``summary`` (the nightly flow's) into the database, in one transaction."""
    from seqcast import database
    from seqcast.alerts import read_alerts
    from seqcast.published import read_forecasts

    forecasts = read_forecasts(data_dir, run_date=summary["run_date"])
    scores = database.champion_scores(summary.get("scores_by_h", []), summary.get("champions", []))
    alerts = read_alerts(data_dir)  # mirrored whole: the database then matches the Parquet table
    written = database.publish_night(url, summary["run_date"], forecasts, run_row=database.run_row(summary),
                                     scores=scores, alerts=alerts)
    where = database.masked(database.plain_url(url))
    get_run_logger().info("database %s: night %s, %s", where, summary["run_date"],
                          ", ".join(f"{n} {t} row(s)" for t, n in written.items()))
    return {"url": where, "rows": written}
