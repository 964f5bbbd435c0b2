"""``runbook hub-emulator ...`` subcommands: build a store of demo repositories and serve it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hub-emulator`` command group."""
    group = subparsers.add_parser(
        "hub-emulator", help="Serve model repositories over the Hugging Face Hub API on loopback, for offline use."
    )
    commands = group.add_subparsers(dest="hub_emulator_command", metavar="SUBCOMMAND", required=True)

    serve = commands.add_parser("serve", help="Serve a store until interrupted (SIGINT or SIGTERM).")
    serve.add_argument("--root", type=Path, required=True, help="Store folder, as build-demo writes it.")
    serve.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 (default) picks a free one.")
    serve.add_argument(
        "--endpoint-file",
        type=Path,
        help="Write the endpoint URL into this file once serving, for a parent process to wait on.",
    )
    serve.add_argument("--faults", type=Path, help="YAML list of fault rules to inject, for tests.")
    serve.add_argument(
        "--token-env",
        default="HUB_EMULATOR_TOKEN",
        help="Environment variable holding the token private and gated repositories require (default: %(default)s).",
    )
    serve.set_defaults(handler=run_serve)

    build = commands.add_parser(
        "build-demo", help="Commit the demo models to a store as docling-project/docling-layout-heron and docling-models."
    )
    build.add_argument("--root", type=Path, required=True, help="Store folder to create or update.")
    build.add_argument("--models", type=Path, required=True, help="Folder written by 'runbook models demo'.")
    build.set_defaults(handler=run_build_demo)


def run_serve(args: argparse.Namespace) -> int:
    """Serve the store in the foreground."""
    from ._faults import load_faults
    from ._server import serve_forever

    if not args.root.is_dir():
        from ..errors import UsageError

        raise UsageError(f"Store folder {args.root} not found. Build one first: runbook hub-emulator build-demo.")

    faults = load_faults(args.faults) if args.faults else []
    serve_forever(
        args.root,
        args.port,
        token=os.environ.get(args.token_env) or None,
        faults=faults,
        endpoint_file=args.endpoint_file,
    )
    return 0


def run_build_demo(args: argparse.Namespace) -> int:
    """Build the demo store and print the commit ids."""
    from ._demo import build_demo_store

    commits = build_demo_store(args.models, args.root)
    for repo_id, commit in commits.items():
        print(f"{repo_id} {commit}")
    return 0
