"""Atomic file writes: a reader never sees a half-written table."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden temp name in the same directory: same filesystem (so os.replace is
    # atomic) and skipped by pyarrow's dataset discovery while it exists.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_parquet_atomic(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path`` as Parquet (zstd) via a temp file and a rename."""
    return _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False, compression="zstd"))


def write_bytes_atomic(data: bytes, path: str | Path) -> Path:
    return _atomic(Path(path), lambda tmp: tmp.write_bytes(data))


def write_json_atomic(obj: Any, path: str | Path) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return write_bytes_atomic(text.encode("utf-8"), path)


@contextmanager
def file_lock(path: str | Path):
    """Hold an exclusive advisory lock on ``path`` (created if needed) for a read-modify-write
    that two runs sharing a data dir might otherwise interleave."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
