"""Policies shared by the tasks."""

from __future__ import annotations

from seqcast.errors import SeqcastError


def retry_unless_input_error(task, task_run, state) -> bool:
    """Retry transient failures (network, disk), never a bad input: it fails the same way again."""
    try:
        state.result()
    except SeqcastError:
        return False
    except Exception:
        return True
    return True


def artifact_key(*parts: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    text = "-".join(parts).lower()
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")
