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


def png_markdown(path, alt: str, max_bytes: int = 400_000) -> str:
    """A PNG embedded in artifact markdown as a base64 data URI (the Prefect UI cannot
    read the worker's disk); a larger file is named instead of bloating the artifact."""
    import base64
    from pathlib import Path

    data = Path(path).read_bytes()
    if len(data) > max_bytes:
        return f"(plot of {len(data) // 1000} kB not embedded: `{path}`)"
    return f"![{alt}](data:image/png;base64,{base64.b64encode(data).decode()})"


def group_name(kind: str):
    """Task run names such as ``forecast buckets 0-7`` (``backtest sarima bucket 3``)."""
    def name(parameters: dict) -> str:
        label = f"{parameters['label']} " if parameters.get("label") else ""
        b = parameters.get("buckets")
        if not b or b == [None]:
            return f"{kind} {label}all series"
        return f"{kind} {label}bucket {b[0]}" if len(b) == 1 else f"{kind} {label}buckets {b[0]}-{b[-1]}"
    return name
