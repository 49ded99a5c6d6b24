"""The nightly stages as plain functions over paths (the Prefect tasks call these).

``ingest -> validate -> clean -> forecast -> publish``; each stage reads the
previous stage's files and writes its own atomically, so a failed stage leaves
no half-written table behind. :func:`clean_source` runs the data stages in
memory, for the CLI and notebooks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from seqcast.clean import CleanPolicy, clean
from seqcast.ingest import Mapping, Snapshot, fetch_bytes, ingest, load_mapping, read_snapshot, read_table, source_format
from seqcast.io import write_json_atomic, write_parquet_atomic
from seqcast.layout import DataDir
from seqcast.models import get_model
from seqcast.validate import CleanSchema, validate


@dataclass
class CleanOutcome:
    clean: pd.DataFrame
    quarantine: pd.DataFrame
    report: dict = field(default_factory=dict)
    parsed: pd.DataFrame | None = None  # every row as parsed, for the data-quality suite


def clean_source(
    source: str | Path,
    mapping: Mapping | str | Path | None = None,
    *,
    as_of: date | None = None,
    today: date | None = None,
    policy: CleanPolicy | None = None,
) -> CleanOutcome:
    """Read, validate and clean a source in memory (no files written).

    >>> out = clean_source("../shared/data/cta_ridership_daily.csv")  # doctest: +SKIP
    >>> out.report["days"], out.report["exact_duplicates_dropped"]  # doctest: +SKIP
    (7639, 62)
    """
    mapping = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    data = fetch_bytes(source)
    raw = read_table(data, mapping, str(source), source_format(source, data))
    return _validate_and_clean(raw, mapping, str(source), as_of, today, policy)


def _validate_and_clean(raw, mapping, name, as_of, today, policy) -> CleanOutcome:
    checked = validate(raw, mapping, as_of=as_of, today=today, name=name)
    cleaned = clean(checked.valid, mapping, policy)
    conflicts = cleaned.quarantine.merge(raw, on="line", how="left")
    quarantine = pd.concat([checked.quarantine, conflicts], ignore_index=True).sort_values("line")
    CleanSchema.validate(cleaned.clean, lazy=True)
    report = {
        "source": name,
        "rows_in": checked.rows_in,
        "rows_after_as_of": checked.rows_after_as_of,
        "rows_quarantined": int(len(quarantine)),
        "rows_kept": int(checked.rows_in - checked.rows_after_as_of - len(quarantine) - cleaned.report["exact_duplicates_dropped"]),
        **cleaned.report,
    }
    return CleanOutcome(cleaned.clean, quarantine.reset_index(drop=True), report, checked.parsed)


# --------------------------------------------------------------------------- stages on disk


def run_ingest(source: str | Path, data_dir: str | Path) -> Snapshot:
    return ingest(source, data_dir)


def run_prepare(
    snapshot_dir: str | Path,
    data_dir: str | Path,
    *,
    mapping: str | Path | None = None,
    as_of: date | None = None,
    today: date | None = None,
    policy: CleanPolicy | None = None,
) -> dict:
    """Validate and clean a snapshot; write the clean Parquet, the quarantine and a report.

    Returns the report, with ``clean_path``, ``quarantine_path`` and ``data_hash``.
    """
    snap_dir = Path(snapshot_dir)
    manifest = json.loads((snap_dir / "manifest.json").read_text())
    snapshot = Snapshot(snap_dir, manifest["sha256"], manifest)
    m = load_mapping(mapping)
    effective = as_of or today or date.today()
    raw = read_snapshot(snapshot, m)
    outcome = _validate_and_clean(raw, m, manifest["source"], as_of, today, policy)
    layout = DataDir(data_dir)
    out = layout.clean(snapshot.sha256, effective)
    quarantine_path = write_parquet_atomic(
        outcome.quarantine.astype({c: str for c in outcome.quarantine.columns if c not in ("line",)}),
        snap_dir / f"quarantine-asof-{effective.isoformat()}.parquet",
    )
    clean_path = write_parquet_atomic(outcome.clean, out / "clean.parquet")
    report = {
        **outcome.report,
        "data_hash": snapshot.data_hash,
        "as_of": effective.isoformat(),
        "clean_path": str(clean_path),
        "quarantine_path": str(quarantine_path),
        "mapping": m.to_dict(),
    }
    write_json_atomic(report, out / "report.json")
    report["_parsed"] = outcome.parsed  # not serialised: handed to the quality check in-process
    return report


def forecast(clean: pd.DataFrame, models: list[str], h: int) -> pd.DataFrame:
    """Fit each model on every series of ``clean`` and forecast ``h`` days.

    Returns ``series_id, ds, cutoff, h, model, mean``.
    """
    history = clean[["series_id", "ds", "y"]]
    frames = []
    for name in models:
        model = get_model(name).fit(history)
        fc = model.predict(h)
        fc["cutoff"] = fc["series_id"].map(model.cutoff_)
        fc["h"] = (fc["ds"] - fc["cutoff"]).dt.days.astype("int64")
        frames.append(fc[["series_id", "ds", "cutoff", "h", "model", "mean"]])
    return pd.concat(frames, ignore_index=True)
