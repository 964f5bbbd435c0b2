"""``runbook azure ...`` subcommands: preflight, plan, apply, roles, build, kubeconfig and teardown."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..params import add_parameter_options

SUBCOMMANDS = {
    "preflight": "Check sign-in, subscription, resource providers, VM size, quota and names.",
    "plan": "Show each resource's current versus desired state; changes nothing.",
    "apply": "Create or update the resource group, registry, storage account, file share and AKS cluster.",
    "roles": "Grant the AKS kubelet identity its roles on the registry and the storage account.",
    "build": "Build and push the API image with ACR Tasks (or only print it with --skip-build).",
    "kubeconfig": "Write the AKS cluster user kubeconfig to a file.",
    "teardown": "Delete the resource group when -p confirm=<its name>; otherwise list what would go.",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``azure`` command group."""
    group = subparsers.add_parser("azure", help="Provision and tear down the Azure resources with the Azure SDK.")
    commands = group.add_subparsers(dest="azure_command", metavar="SUBCOMMAND", required=True)

    for name, help_text in SUBCOMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        add_parameter_options(command)
        command.add_argument("--json", action="store_true", help="Print the result as JSON instead of a table.")
        command.set_defaults(handler=run_azure_command)

        if name == "build":
            command.add_argument("--context", type=Path, default=Path("."), help="Build context folder; default '.'.")
            command.add_argument("--dockerfile", default="service/Dockerfile", help="Dockerfile path inside the context.")
            command.add_argument("--skip-build", action="store_true", help="Skip the build and print the image reference.")
        if name == "kubeconfig":
            command.add_argument("--output", type=Path, required=True, help="File to write the kubeconfig to (mode 0600).")


def run_azure_command(args: argparse.Namespace) -> int:
    """Run one ``runbook azure`` subcommand and print its result."""
    from .. import azure
    from ..params import load_params, parse_override

    overrides = dict(parse_override(text) for text in args.parameter)
    overrides.setdefault("target", "aks")
    if getattr(args, "skip_build", False):
        overrides["skip_build"] = True
    params = load_params(args.params, overrides)
    command = args.azure_command

    if command == "kubeconfig":
        data = azure.get_aks_kubeconfig(params)
        args.output.touch(mode=0o600)
        args.output.chmod(0o600)
        args.output.write_bytes(data)
        print(f"Wrote the kubeconfig of the AKS cluster to {args.output}.")
        return 0

    runners = {
        "preflight": lambda: azure.preflight(params),
        "plan": lambda: azure.plan(params),
        "apply": lambda: azure.apply(params),
        "roles": lambda: azure.assign_kubelet_roles(params),
        "build": lambda: azure.build_image(params, context_dir=args.context, dockerfile=args.dockerfile),
        "teardown": lambda: azure.teardown(params),
    }
    result = runners[command]()

    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(result.render())

    if command == "preflight" and not result.ok:
        return 1
    return 0
