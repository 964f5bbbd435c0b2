"""``runbook run``: execute the notebooks in order with papermill."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..params import add_parameter_options, params_from_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` command."""
    run = subparsers.add_parser("run", help="Run the runbook's notebooks in order with papermill.")
    run.add_argument("--target", choices=["local", "aks", "kubeconfig"], help="Where to deploy; default from --params, else local.")
    add_parameter_options(run)
    steps = run.add_mutually_exclusive_group()
    steps.add_argument("--only", help="Comma-separated step numbers to run, for example 03,05.")
    steps.add_argument("--from", dest="start", metavar="STEP", help="Step number to start from, for example 03.")
    run.add_argument("--out", type=Path, help="Folder for executed notebooks and reports; default runs/<timestamp>-<target>/.")
    run.add_argument("--skip-build", action="store_true", help="Reuse the existing API image instead of building it.")
    run.add_argument("--skip-model-wait", action="store_true", help="Do not wait for the model download Job.")
    run.add_argument("--notebooks", type=Path, help="Folder of notebooks; default the repository's notebooks/.")
    run.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the selected notebooks and print where the results are."""
    from ..paths import notebooks_dir, resolve
    from . import list_notebooks, run_runbook, select_notebooks

    overrides = {}
    if args.target:
        overrides["target"] = args.target
    if args.skip_build:
        overrides["skip_build"] = True
    if args.skip_model_wait:
        overrides["skip_model_wait"] = True
    params = params_from_options(args, overrides=overrides)

    notebooks = list_notebooks(args.notebooks or notebooks_dir())
    only = args.only.split(",") if args.only else None
    selected = select_notebooks(notebooks, only=only, start=args.start)

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_dir = resolve(args.out) if args.out else resolve("runs") / f"{stamp}-{params.target}"

    summary = run_runbook(selected, params, out_dir)

    for outcome in summary.notebooks:
        print(f"{outcome.status:>8}  {outcome.duration_s:7.1f} s  {outcome.name}")

    failed = summary.failed
    if failed is None:
        count = len(summary.notebooks)
        print(f"Runbook finished: {count} notebook{'s' if count != 1 else ''} succeeded. Results in {out_dir}")
        return 0

    print(f"\nNotebook {failed.name} failed in cell {failed.failure.cell_index}:", file=sys.stderr)
    print(indent(failed.failure.source), file=sys.stderr)
    print(f"{failed.failure.ename}: {failed.failure.evalue}", file=sys.stderr)
    print(f"Executed notebook: {failed.output}", file=sys.stderr)
    print(f"Summary: {out_dir / 'summary.json'}", file=sys.stderr)
    return 1


def indent(text: str) -> str:
    """Indent a cell's source for the terminal."""
    return "\n".join(f"    {line}" for line in text.splitlines())
