"""Task that builds the windowed Parquet datasets the neural models train on."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from seqcast.partitions import read as read_clean
from seqcast.windows import WindowSpec, WindowSpecError, read_metadata, specs_from


def _file_sha256(path: str | Path) -> str:
    """Content hash of the clean data (a bucketed dataset or a plain Parquet file)."""
    from seqcast.partitions import content_hash

    return content_hash(path)


def _output_state(path: Path) -> str:
    try:
        meta = read_metadata(path)
    except (OSError, WindowSpecError, ValueError):
        return "missing"
    return f"{meta['spec_key']}:{meta['data_hash']}"


def windows_cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    """Clean file content + spec keys + what the output files record, or None.

    None (no caching) while an output is missing or was built from another
    spec: a cached list of paths must never stand in for a deleted file.
    """
    specs = specs_from(parameters["specs"])
    out_dir = Path(parameters["out_dir"])
    states = [_output_state(out_dir / f"{s.slug}.parquet") for s in specs]
    if parameters.get("force") or any(
        st == "missing" or not st.startswith(s.key) for st, s in zip(states, specs, strict=True)
    ):
        return None
    parts = {"clean": _file_sha256(parameters["clean_path"]), "outputs": states}
    return "windows-" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


@task(name="windows", cache_key_fn=windows_cache_key, persist_result=True)
def windows_task(
    clean_path: str,
    specs: list[dict[str, Any]] | list[WindowSpec],
    out_dir: str,
    force: bool = False,
) -> list[str]:
    """Build each spec's dataset from the clean long Parquet; return the dataset paths.

    ``specs`` are :class:`seqcast.windows.WindowSpec` objects or their dicts
    (``WindowSpec.to_dict()``, a config file). A dataset whose file already
    records the same spec key and data hash is not rebuilt.
    """

    from seqcast.windows import ensure_dataset

    in_run = TaskRunContext.get() is not None  # False under .fn() in tests
    logger = get_run_logger() if in_run else logging.getLogger(__name__)
    frame = read_clean(clean_path)
    paths, rows = [], []
    for spec in specs_from(specs):
        path, rebuilt = ensure_dataset(frame, spec, out_dir, force=force)
        meta = read_metadata(path)
        logger.info("%s %s", "built" if rebuilt else "up to date", path)
        paths.append(str(path))
        for name, info in meta["splits"].items():
            rows.append({"dataset": spec.slug, "split": name, "start": info["start"],
                         "end": info["end"], "windows": info["n_windows"],
                         "rebuilt": str(rebuilt)})
    if rows and in_run:
        table = {k: [r[k] for r in rows] for k in rows[0]}
        create_table_artifact(key="windowed-datasets", table=table,
                              description=f"Windowed datasets in {out_dir}")
    return paths
