"""``runbook k8s ...`` subcommands: render and validate the manifests offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..params import add_parameter_options, params_from_options


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``k8s`` command group."""
    k8s = subparsers.add_parser("k8s", help="Render and validate the Kubernetes manifests.")
    commands = k8s.add_subparsers(dest="k8s_command", metavar="SUBCOMMAND", required=True)

    render = commands.add_parser(
        "render",
        help="Render k8s/ with the runbook parameters into a folder (validated offline unless --no-validate).",
    )
    add_parameter_options(render, "YAML file of runbook parameters; default params/example.yaml.")
    render.add_argument("--out", type=Path, required=True, help="Folder to write the manifests and a kustomization.yaml into.")
    render.add_argument(
        "--kubernetes-version",
        help="Kubernetes minor version to validate against, such as 1.33; default the kubernetes_version parameter, "
        "else the newest schemas kubernetes-validate ships.",
    )
    render.add_argument("--no-validate", action="store_true", help="Write the manifests without schema validation.")
    render.set_defaults(handler=run_render)

    validate = commands.add_parser("validate", help="Validate a folder of manifests strictly against the Kubernetes schemas.")
    validate.add_argument("directory", type=Path, help="Folder of YAML manifests, such as the output of render.")
    validate.add_argument("--kubernetes-version", help="Kubernetes minor version, such as 1.33; default the newest shipped.")
    validate.set_defaults(handler=run_validate)


def run_render(args: argparse.Namespace) -> int:
    """Render, validate and write the manifests, then print what was written."""
    from ..params import EXAMPLE_PARAMS_FILE
    from ._render import render_manifests
    from ._validate import validate_manifests

    params = params_from_options(args, EXAMPLE_PARAMS_FILE)
    manifests = render_manifests(params)

    version = None
    if not args.no_validate:
        version = validate_manifests(manifests.documents(), args.kubernetes_version or params.kubernetes_version)

    written = manifests.write(args.out)
    for path in written:
        print(path)
    checked = f"validated against Kubernetes {version} (strict)" if version else "not validated"
    print(f"Wrote {len(manifests.documents())} objects to {args.out}, {checked}. Apply with: kubectl apply --server-side -k {args.out}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    """Validate every manifest in a folder and print the version used."""
    from ._render import load_manifest_dir
    from ._validate import validate_manifests

    manifests = load_manifest_dir(args.directory)
    version = validate_manifests(manifests.documents(), args.kubernetes_version)
    print(f"{len(manifests.documents())} manifests in {args.directory} are valid for Kubernetes {version} (strict).")
    return 0
