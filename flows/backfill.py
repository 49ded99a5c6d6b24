"""Backfill: replay the nightly flow day by day over a date range (``as_of`` = each day).

Each night is a subflow run that sees only the data up to its day, so a replay
gives the tables those nights would have published; re-running replaces them.
"""

from __future__ import annotations

from datetime import date, timedelta

from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from pydantic import BaseModel, Field, model_validator

from flows.nightly import ModelSpec, NightlyParams, nightly


class BackfillParams(BaseModel):
    """A date range to replay (a form in the Prefect UI)."""

    start: date = Field(description="First night to replay (as-of date)")
    end: date = Field(description="Last night to replay (inclusive)")
    source: str | None = Field(None, description="Path or URL; empty = embedded sample")
    mapping: str | None = None
    data_dir: str = "data"
    horizon: int = Field(14, ge=1, le=366)
    models: list[ModelSpec] = Field(
        default_factory=lambda: NightlyParams().models, description="Candidate models, as in nightly"
    )
    holidays: str | None = Field(None, description="As in nightly: COUNTRY[-SUBDIV], empty = the mapping's")
    backtest_days: int = Field(28, ge=1, description="As in nightly")
    champion_days: int = Field(56, ge=1, description="As in nightly")
    interval_gamma: float = Field(0.01, ge=0, lt=1, description="As in nightly")
    refit_every: int = Field(7, ge=1, description="As in nightly")
    monitor: bool = Field(True, description="As in nightly")

    @model_validator(mode="after")
    def _ordered(self) -> BackfillParams:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if (self.end - self.start).days > 3660:
            raise ValueError("replay at most ten years in one run")
        return self


@flow(name="backfill", log_prints=True)
def backfill(params: BackfillParams) -> list[dict]:
    days = [params.start + timedelta(days=i) for i in range((params.end - params.start).days + 1)]
    progress = create_progress_artifact(0.0, key="backfill-progress", description="nights replayed")
    results = []
    for i, day in enumerate(days, start=1):
        night = NightlyParams(
            source=params.source,
            mapping=params.mapping,
            data_dir=params.data_dir,
            horizon=params.horizon,
            as_of=day,
            models=params.models,
            holidays=params.holidays,
            backtest_days=params.backtest_days,
            champion_days=params.champion_days,
            interval_gamma=params.interval_gamma,
            refit_every=params.refit_every,
            monitor=params.monitor,
        )
        summary = nightly.with_options(flow_run_name=f"nightly-asof-{day.isoformat()}")(night)
        results.append({"as_of": day.isoformat(), "published": summary.get("published")})
        update_progress_artifact(progress, 100.0 * i / len(days))
    print(f"replayed {len(days)} night(s) {params.start} .. {params.end}")
    return results
