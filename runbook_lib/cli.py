"""The ``runbook`` command: one entry point, with a subcommand module per area.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds
its subcommands and sets ``handler`` to a function taking the parsed arguments
and returning an exit code. Heavy imports stay inside the handlers so that
``runbook --help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import RunbookError
from .logs import configure_logging

COMMAND_MODULES = (
    "runbook_lib.models.cli",
    "runbook_lib.runner.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="runbook", description="Deploy and operate the Docling conversion API.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug records.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``runbook`` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(verbose=args.verbose)

    try:
        return int(args.handler(args) or 0)
    except RunbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
