"""Atomic file writes: a reader never sees a half-written table.

Each write goes to a hidden temp file beside its target (``.<name>.<random>.tmp``:
never ``*.parquet``, so DuckDB's ``read_parquet('dir/*.parquet')``, which matches
dot-files, cannot pick up a half-written one) and is renamed into place. The
file is created like a plain ``open()`` would (``0o666`` less the umask, not
``mkstemp``'s ``0o600``), so a BI tool or a teammate running as another user can
read what was published. Temp files a killed run left behind are removed by a
later write to the same folder once they are an hour old (:func:`clean_stale_temp`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

STALE_TEMP_S = 3600.0
"""A temp file untouched this long belongs to a dead writer (a live one is written within seconds)."""

# Temp names seqcast writers use: this module's (now and before: mkstemp's 8 random
# characters) and the alerts writer's former ``.tmp-<random>.parquet``.
_TEMP_NAME = re.compile(r"^\..+\.(?:[0-9a-f]{12}|[a-z0-9_]{8})\.tmp$|^\.tmp-[a-z0-9_]{8}\.parquet$")
_CLEAN_EVERY_S = 600.0  # a folder is swept at most this often per process
_last_clean: dict[str, float] = {}


def temp_path(path: Path) -> Path:
    """The hidden temp name a write of ``path`` goes through (unique per call)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


def clean_stale_temp(directory: str | Path, max_age_s: float = STALE_TEMP_S) -> list[Path]:
    """Remove temp files of seqcast writers in ``directory`` not modified for ``max_age_s``.

    Only names seqcast's writers use are touched, and only plain files; one in use
    is being written, so its modification time is recent. Returns the removed paths.
    """
    removed = []
    cutoff = time.time() - max_age_s
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # another run removed it first, or it is not ours to remove
            continue
    return removed


def _sweep(directory: Path) -> None:
    key = str(directory.resolve())
    now = time.monotonic()
    last = _last_clean.get(key)
    if last is None or now - last >= _CLEAN_EVERY_S:
        _last_clean[key] = now
        clean_stale_temp(directory)


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path.parent)
    # Same directory: same filesystem, so os.replace is atomic; a hidden name is
    # skipped by pyarrow's dataset discovery while it exists. Created with 0o666 so
    # the umask decides the mode, as for any open().
    tmp = temp_path(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
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


def path_part(text: str) -> str:
    """A name made from the data (series ids in a dataset's or a trained model's name) as
    one file-name component: characters a path or a shell would act on become ``_`` and a
    short hash of the original is added, so ``id/é`` is not a folder ``id`` holding ``é``,
    ``..`` not the parent, and ``a/b`` and ``a_b`` not one file; a name too long for a file
    name (255 bytes) is cut, hash added. Plain names stay as they are.

    >>> path_part("rnn-rail"), path_part("rnn-we\\"ird, id/é."), path_part("..")
    ('rnn-rail', 'rnn-we_ird__id_é.-a33fda24', '_-5ec1f7e7')
    """
    import hashlib

    safe = re.sub(r"[^\w.+=@-]", "_", text).lstrip(".") or "_"
    if safe == text and len(text.encode("utf-8")) <= 120:
        return text
    # a file name holds 255 bytes: a long id (or many targets joined) keeps its first 120 bytes
    cut = safe.encode("utf-8")[:120].decode("utf-8", "ignore")
    return f"{cut}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"
