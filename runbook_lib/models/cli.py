"""``runbook models ...`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` command group."""
    models = subparsers.add_parser("models", help="Download, verify, pin and generate model sets.")
    commands = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="Write tiny randomly initialised models in docling's artifacts layout (no download).",
    )
    demo.add_argument("--dest", type=Path, required=True, help="Folder to write the artifacts into.")
    demo.add_argument("--seed", type=int, default=0, help="Random seed; the same seed writes the same bytes.")
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Write the demo models and print where they went."""
    from .demo import write_demo_models

    written = write_demo_models(args.dest, seed=args.seed)
    print(f"Wrote demo models to {written}. Serve them with: docling-api --models-dir {written}")
    return 0
