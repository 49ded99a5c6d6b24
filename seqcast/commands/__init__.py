"""Sub-commands of the ``seqcast`` CLI, one module each (see :mod:`seqcast.cli`)."""

from __future__ import annotations

import argparse
from datetime import date


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a bad value is a usage error, exit status 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def iso_date(text: str) -> date:
    """argparse type: a ``YYYY-MM-DD`` day."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def split_spec(text: str) -> tuple[str, str | None, str | None]:
    """argparse type: a ``--split NAME=START:END`` (either day may be empty: the data's
    first / last), each day ``YYYY-MM-DD``; checked before any data is read.

    Returns ``(name, start, end)``, an empty day as ``None``."""
    name, sep, span = text.partition("=")
    start, colon, end = span.partition(":")
    example = "e.g. train=2016-01-01:2018-12-31 or valid=2019-01-01:"
    if not sep or not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=START:END, {example}")
    for day in (start, end):
        if day:
            try:
                date.fromisoformat(day)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r}: {day!r} is not a date (YYYY-MM-DD), {example}") from None
    if start and end and start > end:
        raise argparse.ArgumentTypeError(f"{text!r}: starts after it ends")
    return name, start or None, end or None


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def output_path(path: str | None, suffixes: tuple[str, ...]) -> str | None:
    """Check an ``--output`` path before any work is done; returns it (or None).

    Raises :class:`seqcast.errors.UsageError` for an empty path, a folder, or a suffix
    not in ``suffixes`` (the format follows the suffix: a ``.txt`` must not get Parquet
    bytes), and :class:`seqcast.errors.InputError` for a folder that does not exist.
    """
    import os

    from seqcast.errors import InputError, UsageError

    if path is None:
        return None
    if not path.strip():
        raise UsageError("--output: empty path")
    if os.path.isdir(path):
        raise UsageError(f"--output {path}: a folder; give a file name ending {' or '.join(suffixes)}")
    if not path.lower().endswith(suffixes):
        raise UsageError(f"--output {path}: the file name must end {' or '.join(suffixes)} (it sets the format)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(f"--output {path}: no folder {parent}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"--output {path}: the folder {parent} is not writable")
    return path
