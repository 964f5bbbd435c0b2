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
    "runbook_lib.hub_emulator.cli",
    "runbook_lib.runner.cli",
    "runbook_lib.smoke.cli",
    "runbook_lib.k8s.cli",
    "runbook_lib.azure.cli",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the argument parser with the registered subcommands.

    Args:
        command (`str`, *optional*): the command about to run. Registration stops at the
            module that adds it, so a command does not pay for importing the others.
            Without it, or when no module adds it, every module is registered.
    """
    parser = argparse.ArgumentParser(prog="runbook", description="Deploy and operate the Docling conversion API.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug records.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
        if command is not None and command in subparsers.choices:
            break
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``runbook`` command and return its exit code."""
    arguments = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in arguments if not arg.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(arguments)
    configure_logging(verbose=args.verbose)

    try:
        return int(args.handler(args) or 0)
    except RunbookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # A path the operator passed is unusable: name it and the reason, without a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot use{where}: {exc.strerror or exc}. Check the path and its permissions.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
