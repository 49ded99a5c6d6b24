"""Exceptions with messages meant for the person running the pipeline."""


class SeqcastError(Exception):
    """Base class for every error seqcast raises on purpose."""


class InputError(SeqcastError):
    """A source cannot be used at all (structural failure): nothing is published.

    The message names the file and the problem, e.g.
    ``data.csv: missing required column(s) 'bus'``.
    """


class CleaningError(SeqcastError):
    """The cleaned series would not be trustworthy (e.g. a gap longer than allowed)."""


class ModelError(SeqcastError):
    """A model cannot be fitted or asked for a forecast with the given inputs."""


class UsageError(SeqcastError):
    """Command-line options that do not go together (the CLI exits with status 2, as for
    argparse's own usage errors)."""


def parse_problem(exc: Exception) -> str:
    """One line for a YAML or JSON parse error: the problem and where (line, column; 1-based).

    PyYAML's message spans several lines (the context, then a caret excerpt of the
    file); a user error must reach the console as one ``seqcast: error:`` line.

    >>> import json
    >>> try:
    ...     json.loads('{"a" 1}')
    ... except ValueError as exc:
    ...     parse_problem(exc)
    "Expecting ':' delimiter at line 1, column 6"
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:  # yaml.MarkedYAMLError
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    if hasattr(exc, "lineno") and hasattr(exc, "colno") and hasattr(exc, "msg"):  # json.JSONDecodeError
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return one_line(str(exc))


def one_line(message: str) -> str:
    """``message`` with its line breaks folded: ``a\\n  b`` -> ``a b``."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())
