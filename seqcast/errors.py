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
