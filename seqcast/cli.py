"""The ``seqcast`` command line.

Every sub-command lives in ``seqcast/commands/<name>.py`` with a
``register(subparsers)`` function; heavy imports happen inside the handlers, so
``seqcast --help`` answers in a fraction of a second.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from seqcast import __version__
from seqcast.errors import SeqcastError

# Sub-command modules, in the order --help lists them.
COMMANDS = ("run", "forecasts", "backtest", "windows", "train", "alerts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except SeqcastError as exc:
        print(f"seqcast: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
