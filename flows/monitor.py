"""The monitor flow: drift checks on a clean Parquet file, alerts, events, artifacts.

The nightly flow calls :func:`tasks.monitor.monitor_task` after publishing; this flow
runs the same task on demand (the manual ``monitor`` deployment).
"""

from __future__ import annotations

from datetime import date

from prefect import flow, runtime
from pydantic import BaseModel, Field

from seqcast.drift import DriftConfig
from tasks.monitor import monitor_task

_DEFAULTS = DriftConfig()


class DriftThresholds(BaseModel):
    """Windows and thresholds of the drift checks (see docs/drift.md); defaults from DriftConfig."""

    recent_days: int = Field(_DEFAULTS.recent_days, ge=7, description="Recent window (days)")
    reference: str = Field(_DEFAULTS.reference, pattern="^(seasonal|trailing)$",
                           description="seasonal: same weeks a year earlier; trailing: the days before")
    ks_alpha: float = Field(_DEFAULTS.ks_alpha, gt=0, lt=1, description="KS significance level")
    wasserstein_threshold: float = Field(_DEFAULTS.wasserstein_threshold, gt=0)
    spread_threshold: float = Field(_DEFAULTS.spread_threshold, gt=1)
    level_threshold: float = Field(_DEFAULTS.level_threshold, gt=0,
                                   description="level_shift threshold (day-to-day noise units)")
    persist_nights: int = Field(_DEFAULTS.persist_nights, ge=1,
                                description="Nights in a row above a threshold before a data check fires")
    holidays: str | None = Field(_DEFAULTS.holidays, description="Holiday calendar, e.g. US-IL "
                                 "(holidays and their neighbours leave the compared windows)")
    error_window: int = Field(_DEFAULTS.error_window, ge=1)
    error_ratio_threshold: float = Field(_DEFAULTS.error_ratio_threshold, gt=0)
    error_consecutive_days: int = Field(_DEFAULTS.error_consecutive_days, ge=1)
    clear_after_days: int = Field(_DEFAULTS.clear_after_days, ge=1)

    def overrides(self) -> dict:
        """The fields that differ from DriftConfig's defaults."""
        return {k: v for k, v in self.model_dump().items() if getattr(_DEFAULTS, k) != v}




class MonitorParams(BaseModel):
    """Parameters of one monitor run (a form in the Prefect UI)."""

    clean_path: str = Field(description="Clean Parquet: series_id, ds, y, day_type, is_imputed")
    data_dir: str = Field("data", description="Data dir holding published/forecasts and published/alerts")
    as_of: date | None = Field(None, description="Night to check; empty = last day of the clean data")
    since: date | None = Field(
        None, description="First night to evaluate when the alerts table is still empty"
    )
    backtest_path: str | None = Field(
        None, description="Backtest table (file or folder); empty = <data_dir>/backtests"
    )
    notify_block: str | None = Field(
        None, description="Saved notification block for new alerts, e.g. slack-webhook/seqcast-alerts"
    )
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)


@flow(name="monitor", log_prints=True)
def monitor(params: MonitorParams) -> dict:
    run_id = str(runtime.flow_run.id or "local")
    summary = monitor_task(
        params.clean_path,
        params.data_dir,
        as_of=params.as_of,
        run_id=run_id,
        backtest_path=params.backtest_path,
        config=params.thresholds.overrides(),
        since=params.since,
        notify_block=params.notify_block,
    )
    print(
        f"monitor {summary['as_of']}: {summary['new_alerts']} new alert(s), "
        f"{summary['open_alerts']} open; table {summary['alerts_path']}"
    )
    return summary
