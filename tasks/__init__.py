"""Prefect tasks wrapping :mod:`seqcast` functions: retries, artifacts and I/O live here."""
