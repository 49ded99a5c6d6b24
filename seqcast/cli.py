"""The ``seqcast`` command line.

Every sub-command lives in ``seqcast/commands/<name>.py`` with a
``register(subparsers)`` function; heavy imports happen inside the handlers, so
``seqcast --help`` answers in a fraction of a second.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys

from seqcast import __version__
from seqcast.errors import SeqcastError, UsageError, one_line

# Sub-command modules, in the order --help lists them.
COMMANDS = ("run", "forecasts", "backtest", "windows", "train", "alerts", "monitor", "docs")

# Options naming a file or folder: an empty value is an unset variable (`--source "$SRC"`),
# never the default it would fall back to (run's embedded sample, ./ as data dir, the
# default models) nor '.' (Path('') is the current folder).
PATH_OPTIONS = ("source", "mapping", "data_dir", "models_file", "spec_file", "clean", "out")


def _check_paths(args: argparse.Namespace) -> None:
    for dest in PATH_OPTIONS:
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            raise UsageError(f"--{dest.replace('_', '-')}: empty (an unset variable?); give a path")
    series = getattr(args, "series", None)  # forecasts show --series "": every series was shown
    if any(isinstance(v, str) and not v.strip() for v in (series if isinstance(series, list) else [series])):
        raise UsageError("--series: empty (an unset variable?); give a series id, or leave it out for every series")
    for dest in ("targets", "inputs"):  # windows build / train: '' was the default targets, silently
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip(" ,"):
            raise UsageError(f"--{dest}: empty (an unset variable?); give series ids, or leave it out for the default")


class _Formatter(argparse.HelpFormatter):
    """Help text with each option's default, unless the text already gives it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text and default not in (None, False, argparse.SUPPRESS)
                and not isinstance(action, argparse._HelpAction | argparse._VersionAction)):
            text += " (default: %(default)s)"
        return text


class _StoreOnce(argparse._StoreAction):
    """A one-value option given twice with different values is a usage error.

    argparse keeps the last value silently: ``forecasts show --series a --series b``
    showed ``b`` alone, as if ``a`` had never been asked for. Options that take
    several values say so (``action="append"``) and are not affected.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        given = namespace.__dict__.setdefault("_given_once", {})
        if self.dest in given and given[self.dest][1] != values:
            first, before = given[self.dest]
            parser.error(f"{option_string} given twice ({first} {before!s} and {option_string} {values!s}); "
                         "it takes one value")
        given[self.dest] = (option_string, values)
        super().__call__(parser, namespace, values, option_string)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``seqcast: error:`` line, exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)

    def error(self, message: str):
        self.exit(2, f"seqcast: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seqcast",
        description="Batch forecasting of daily series: ingest, validate, clean, forecast, publish.",
    )
    parser.add_argument("--version", action="version", version=f"seqcast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"seqcast.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"seqcast.commands.{name}":
                continue  # that capability has not landed yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    import os

    # TensorFlow's C++ runtime logs to stderr before Python can (e.g. an "E0000 ...
    # node_def_util" line about a graph attribute, harmless): the console keeps the
    # one-line contract. The environment still wins; Python errors are unaffected.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # and its Python logger's warnings are for TensorFlow developers ("5 out of the last 17
    # calls ... triggered tf.function retracing" once per few refits of a network backtest:
    # each refit is a new network with its own predict function); errors still show
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        _check_paths(args)
        return int(args.handler(args) or 0)
    except SeqcastError as exc:
        print(f"seqcast: error: {one_line(str(exc))}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1
    except BrokenPipeError:  # the reader closed the pipe (`| head`): stop quietly, like cat
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    except KeyboardInterrupt:
        print("seqcast: error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user error: the traceback goes to a log file
        log = _log_traceback(getattr(args, "data_dir", None))
        print(f"seqcast: error: internal error {type(exc).__name__}: {_first_line(exc)} "
              f"(traceback: {log}; please report it)", file=sys.stderr)
        return 1
    finally:
        if argv is None:  # the `seqcast` script: the process ends next
            # Skip the collector's last pass over every object the run left (pandas,
            # Prefect, statsmodels: ~0.9 s at exit); the memory goes back to the OS anyway.
            gc.freeze()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def _log_traceback(data_dir: str | None) -> str:
    import tempfile
    import traceback
    from pathlib import Path

    folder = Path(data_dir) / "logs" if data_dir else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "seqcast-error.log"
        path.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        return "unavailable"
    return str(path)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
