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

import numpy as np
import pandas as pd

from seqcast.clean import CleanPolicy, clean
from seqcast.errors import CleaningError
from seqcast.ingest import (
    Mapping,
    Snapshot,
    fetch_bytes,
    ingest,
    load_mapping,
    read_snapshot,
    read_table,
    source_format,
)
from seqcast.io import write_json_atomic, write_parquet_atomic
from seqcast.layout import DataDir
from seqcast.partitions import write_partitioned
from seqcast.validate import ROW, CleanSchema, validate


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


def dropped_series(report: dict) -> dict[str, str]:
    """The series cleaning dropped, ``series_id -> reason``, from a clean or run report."""
    return dict(zip(report.get("series_quarantined") or [], report.get("series_quarantine_reasons") or [],
                    strict=False))


def dropped_series_problem(outcome: CleanOutcome | dict, wanted, name: str) -> str | None:
    """The message for series asked for by name that cleaning dropped (with its reason), or None.
    ``outcome``: a clean outcome or its report.

    >>> out = CleanOutcome(pd.DataFrame(), pd.DataFrame(), {"series_quarantined": ["rail"],
    ...                    "series_quarantine_reasons": ["series rail: no value on any of the 9 days"]})
    >>> dropped_series_problem(out, ["rail"], "x.csv")
    'x.csv: series rail was dropped while cleaning: no value on any of the 9 days'
    """
    reasons = dropped_series(outcome.report if isinstance(outcome, CleanOutcome) else outcome)
    lost = [str(s) for s in wanted or [] if str(s) in reasons]
    if not lost:
        return None
    def why(s: str) -> str:  # the reason starts "series <id>: ..." itself
        return reasons[s].removeprefix(f"series {s}: ")

    return f"{name}: series {', '.join(lost)} was dropped while cleaning: " + "; ".join(why(s) for s in lost)


def _validate_and_clean(raw, mapping, name, as_of, today, policy) -> CleanOutcome:
    checked = validate(raw, mapping, as_of=as_of, today=today, name=name)
    cleaned = _clean_named(checked.valid, mapping, policy, name)
    CleanSchema.validate(cleaned.clean, lazy=True)
    quarantine = _with_conflicts(checked.quarantine, cleaned, raw)
    _note_lost_series(cleaned, checked.parsed, quarantine)
    report = {
        "source": name,
        "rows_in": checked.rows_in,
        "rows_after_as_of": checked.rows_after_as_of,
        **_quarantined(quarantine),
        "series_ids_trimmed": checked.ids_trimmed,
        "rows_kept": _rows_kept(checked.rows_in, checked.rows_after_as_of, quarantine, cleaned),
        **cleaned.report,
    }
    return CleanOutcome(cleaned.clean, quarantine.reset_index(drop=True), report, checked.parsed)


# --------------------------------------------------------------------------- stages on disk


def run_ingest(source: str | Path, data_dir: str | Path) -> Snapshot:
    return ingest(source, data_dir)


def open_snapshot(snapshot_dir: str | Path) -> Snapshot:
    snap_dir = Path(snapshot_dir)
    manifest = json.loads((snap_dir / "manifest.json").read_text())
    return Snapshot(snap_dir, manifest["sha256"], manifest)


def run_validate(
    snapshot_dir: str | Path,
    data_dir: str | Path,
    *,
    mapping: str | Path | None = None,
    as_of: date | None = None,
    today: date | None = None,
) -> dict:
    """Validate a snapshot: write the valid rows and the quarantine; return the counts.

    The quarantine goes beside the snapshot (``raw/<hash>/quarantine-asof-<date>.parquet``).
    """
    snapshot = open_snapshot(snapshot_dir)
    m = load_mapping(mapping)
    effective = as_of or today or date.today()
    raw = read_snapshot(snapshot, m)
    checked = validate(raw, m, as_of=as_of, today=today, name=snapshot.manifest["source"])
    stage = DataDir(data_dir).clean(snapshot.sha256, effective)
    valid_path = write_parquet_atomic(checked.valid, stage / "valid.parquet")
    parsed_path = write_parquet_atomic(checked.parsed, stage / "parsed.parquet")
    quarantine_path = _write_quarantine(checked.quarantine, snapshot, effective)
    return {
        "source": snapshot.manifest["source"],
        "data_hash": snapshot.data_hash,
        "as_of": effective.isoformat(),
        "rows_in": checked.rows_in,
        "rows_after_as_of": checked.rows_after_as_of,
        **_quarantined(checked.quarantine),
        "series_ids_trimmed": checked.ids_trimmed,
        "valid_path": str(valid_path),
        "parsed_path": str(parsed_path),
        "quarantine_path": str(quarantine_path),
        "snapshot_dir": str(snapshot.directory),
    }


def run_clean(validated: dict, *, mapping: str | Path | None = None, policy: CleanPolicy | None = None) -> dict:
    """Clean the valid rows of :func:`run_validate`; conflicting duplicates join the quarantine.

    Writes the clean frame as a series-bucketed dataset ``clean/`` (see
    :mod:`seqcast.partitions`) and ``report.json`` next to ``valid.parquet``; returns the report.
    """
    m = load_mapping(mapping)
    valid = pd.read_parquet(validated["valid_path"])
    cleaned = _clean_named(valid, m, policy, validated["source"])
    CleanSchema.validate(cleaned.clean, lazy=True)
    quarantine_path = Path(validated["quarantine_path"])
    quarantine = pd.read_parquet(quarantine_path)
    if len(cleaned.quarantine):
        snapshot = open_snapshot(validated["snapshot_dir"])
        quarantine = _with_conflicts(quarantine, cleaned, read_snapshot(snapshot, m))
        _write_quarantine(quarantine, snapshot, date.fromisoformat(validated["as_of"]))
    if m.is_long:
        _note_lost_series(cleaned, pd.read_parquet(validated["parsed_path"], columns=["line", "series_id"]),
                          quarantine)
    stage = Path(validated["valid_path"]).parent
    clean_path = write_partitioned(cleaned.clean, stage / "clean")
    report = {
        **{k: v for k, v in validated.items() if not k.endswith("_path") and k != "snapshot_dir"},
        **_quarantined(quarantine),
        "rows_kept": _rows_kept(validated["rows_in"], validated["rows_after_as_of"], quarantine, cleaned),
        **cleaned.report,
        "clean_path": str(clean_path),
        "quarantine_path": str(quarantine_path),
    }
    write_json_atomic(report, stage / "report.json")
    return report


def _clean_named(valid: pd.DataFrame, mapping: Mapping, policy, name: str):
    """:func:`~seqcast.clean.clean`, its errors naming the source file."""
    try:
        return clean(valid, mapping, policy)
    except CleaningError as exc:
        raise CleaningError(f"{name}: {exc}") from None


def _note_lost_series(cleaned, parsed: pd.DataFrame, quarantine: pd.DataFrame) -> None:
    """Add to ``cleaned.report``'s ``series_quarantined`` (with reasons) the series of a long
    table whose every row validation rejected: they never reached cleaning, and must not
    vanish unreported (a warning, a stale_data alert)."""
    if "series_id" not in parsed or not len(parsed):
        return
    report = cleaned.report
    known = set(report.get("series", [])) | set(report.get("series_quarantined", []))
    lost = {}
    for sid, lines in parsed.groupby("series_id", sort=True)["line"]:
        if sid == "" or sid in known:
            continue
        why = quarantine.loc[quarantine["line"].isin(lines), "reason"]
        lost[sid] = (f"series {sid}: every one of its {len(lines)} rows was quarantined"
                     + (f", e.g. {why.iloc[0]}" if len(why) else ""))
    if lost:
        report["series_quarantined"] = [*report.get("series_quarantined", []), *lost]
        report["series_quarantine_reasons"] = [*report.get("series_quarantine_reasons", []), *lost.values()]


def _with_conflicts(quarantine: pd.DataFrame, cleaned, raw: pd.DataFrame) -> pd.DataFrame:
    """The validation quarantine plus the rows cleaning rejected, with their raw cells."""
    if not len(cleaned.quarantine):
        return quarantine
    conflicts = cleaned.quarantine.merge(raw, on="line", how="left")
    return pd.concat([quarantine, conflicts], ignore_index=True).sort_values("line")


def _quarantined(quarantine: pd.DataFrame) -> dict:
    """``rows_quarantined`` (lines rejected whole) and ``rows_partly_quarantined`` (lines of a
    wide table some of whose value cells were set aside, the others kept)."""
    whole = _whole_lines(quarantine)
    return {"rows_quarantined": len(whole),
            "rows_partly_quarantined": int((~quarantine["line"].drop_duplicates().isin(whole)).sum())}


def _whole_lines(quarantine: pd.DataFrame) -> set:
    if "scope" not in quarantine:
        return set(quarantine["line"])
    return set(quarantine.loc[quarantine["scope"].fillna(ROW).astype(str).eq(ROW), "line"])


def _rows_kept(rows_in: int, after_as_of: int, quarantine: pd.DataFrame, cleaned) -> int:
    """Rows in, less those not yet known, quarantined whole, or dropped as exact duplicates."""
    return int(rows_in - after_as_of - len(_whole_lines(quarantine)) - cleaned.report["exact_duplicates_dropped"])


def _write_quarantine(quarantine: pd.DataFrame, snapshot: Snapshot, as_of: date) -> Path:
    text = quarantine.astype({c: str for c in quarantine.columns if c != "line"})
    return write_parquet_atomic(text, snapshot.directory / f"quarantine-asof-{as_of.isoformat()}.parquet")


def forecast(
    clean: pd.DataFrame,
    models: list,
    h: int,
    exog: pd.DataFrame | None = None,
    *,
    fit_cache: str | Path | None = None,
    refit_every: int = 1,
    anchor: str = "1970-01-01",
    stored: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each model on ``clean`` and forecast ``h`` days, through the model contract.

    ``models`` are specs (names or ``{"name": ..., "params": {...}}``, see
    :func:`seqcast.models.build`). Local models are fitted series by series;
    ``supports_multivariate`` models once on the whole panel. ``exog``
    (``series_id, ds`` + numeric features over the history and the ``h`` days
    ahead) goes to the models with ``supports_future_covariates``. A model that
    fails on a series (or a panel) is recorded and the rest go on.

    With ``fit_cache``, models that can be saved and updated (the networks) are
    fitted as the incremental backtest fits them: on the latest refit day
    (every ``refit_every`` days from ``anchor``; the same fit, loaded from the
    cache when the backtest made it) and brought to today with ``update``, no
    retraining in between. So tonight's forecast is what the backtest scores.

    ``stored``: whole forecasts the nightly backtest already made (``series_id, cutoff,
    ds, h, model, mean``, its forecasts store); a local model's forecast of a series from
    that series' last day, all ``h`` steps finite, is taken from it instead of fitting
    the same model to the same days again.

    Returns
    -------
    forecasts : ``series_id, ds, cutoff, h, model, mean, model_version``
    failures : ``series_id, model, error, members`` (the series the failed fit covered: one,
        or a panel's every series, whose ``series_id`` is then their ids joined by ``+``)
    """
    from seqcast.champion import model_version
    from seqcast.models import build, labels_for

    built = [build(spec) for spec in models]
    frames, failures = [], []
    hist_all = clean[["series_id", "ds", "y"]]
    made = _stored_forecasts(stored, hist_all, h)
    for model, label in zip(built, labels_for(built), strict=True):
        version = model_version(model.alias, model.get_params())
        x = exog if (exog is not None and model.supports_future_covariates) else None
        if model.supports_multivariate:
            groups = [("+".join(map(str, sorted(hist_all["series_id"].unique()))), hist_all)]
        else:
            groups = list(hist_all.groupby("series_id", sort=True))
        for sid, part in groups:
            if not model.supports_multivariate and (sid, label) in made:
                frames.append(made[(sid, label)].assign(model_version=version)[
                    ["series_id", "ds", "cutoff", "h", "model", "mean", "model_version"]])
                continue
            try:
                fitted = _fit_for_tonight(model, label, part, x, fit_cache, refit_every, anchor)
                fc = fitted.predict(h, exog_future=x)
                if not np.isfinite(fc["mean"].to_numpy(float)).all():
                    raise ValueError("forecast has non-finite values")
            except Exception as exc:  # one model on one series must not sink the night
                failures.append((sid, label, f"{type(exc).__name__}: {exc}",
                                 tuple(pd.unique(part["series_id"]).tolist())))
                continue
            fc["model"] = label
            fc["cutoff"] = fc["series_id"].map(fitted.cutoff_)
            fc["h"] = (fc["ds"] - fc["cutoff"]).dt.days.astype("int64")
            fc["model_version"] = version
            frames.append(fc[["series_id", "ds", "cutoff", "h", "model", "mean", "model_version"]])
    cols = ["series_id", "ds", "cutoff", "h", "model", "mean", "model_version"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    return out, pd.DataFrame(failures, columns=["series_id", "model", "error", "members"])


def _stored_forecasts(stored: pd.DataFrame | None, hist: pd.DataFrame, h: int) -> dict:
    """``(series_id, model) -> rows`` of the stored forecasts made from each series'
    last day that hold steps ``1..h``, all finite (anything less is fitted again)."""
    if stored is None or stored.empty:
        return {}
    last = pd.to_datetime(hist["ds"]).groupby(hist["series_id"]).max().rename("_last")
    rows = stored.join(last, on="series_id")
    rows = rows[(rows["cutoff"] == rows["_last"]) & (rows["h"] >= 1) & (rows["h"] <= h)]
    out = {}
    for key, part in rows.groupby(["series_id", "model"], sort=False):
        part = part.sort_values("h", ignore_index=True)
        if part["h"].tolist() == list(range(1, h + 1)) and np.isfinite(part["mean"].to_numpy(float)).all():
            out[key] = part[["series_id", "ds", "cutoff", "h", "model", "mean"]].astype(
                {"ds": "datetime64[ns]", "cutoff": "datetime64[ns]", "h": "int64", "mean": "float64"})
    return out


def _fit_for_tonight(model, label, part, x, fit_cache, refit_every, anchor):
    from seqcast.backtest import cached_fit

    last = part["ds"].max()
    past = None if x is None else x[x["ds"] <= last]
    if fit_cache is None or not model.supports_update or not hasattr(model, "save"):
        return model.clone().fit(part, past)
    from seqcast.models.base import check_history

    part = check_history(part, min_length=model.min_history, model=model.alias)  # as fit() would
    refit_day = last - pd.Timedelta(days=(last - pd.Timestamp(anchor)).days % int(refit_every))
    upto = part[part["ds"] <= refit_day]
    fitted = cached_fit(model, upto, None if x is None else x[x["ds"] <= refit_day], fit_cache, label)
    if refit_day < last:
        fitted.update(part, past)
    return fitted
