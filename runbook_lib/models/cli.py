"""``runbook models ...`` subcommands."""

from __future__ import annotations

import argparse
import json
import sys
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

    _register_download(commands)
    _register_verify(commands)
    _register_pin(commands)


def _add_hub_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", help="Hub or mirror URL (default: HF_ENDPOINT, else https://huggingface.co)."
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help="File holding the access token for private or gated repositories, such as a mounted secret "
        "(default: HF_TOKEN, else HF_TOKEN_PATH).",
    )
    parser.add_argument("--retries", type=int, default=5, help="Attempts per request for 5xx responses and dropped connections (default: %(default)s).")
    parser.add_argument("--retry-delay", type=float, default=1.0, help="Seconds before the first retry; doubles after each (default: %(default)s).")


def _register_download(commands: argparse._SubParsersAction) -> None:
    download = commands.add_parser(
        "download",
        help="Download a model set over Xet, verify every file and publish it to DEST/sets/<set id>, then DEST/current.",
    )
    download.add_argument("--model-set", type=Path, help="Model set YAML file (default: the committed default set).")
    download.add_argument("--dest", type=Path, required=True, help="Share folder to publish into (the Azure Files mount in the Job).")
    download.add_argument(
        "--staging",
        type=Path,
        help="Local folder to download into, never on the share (default: RUNBOOK_MODEL_STAGING, else a temp folder).",
    )
    _add_hub_options(download)
    download.add_argument("--max-workers", type=int, default=8, help="Files transferred at once (default: %(default)s).")
    download.add_argument(
        "--xet-high-performance", action="store_true", help="Set HF_XET_HIGH_PERFORMANCE: more parallel range requests and larger buffers."
    )
    download.add_argument(
        "--xet-download-concurrency", type=int, help="Set HF_XET_FIXED_DOWNLOAD_CONCURRENCY: parallel range requests to the Xet CAS."
    )
    download.add_argument(
        "--xet-concurrent-files", type=int, help="Set HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS: files reconstructed at once per download group."
    )
    download.add_argument(
        "--progress", choices=("auto", "bar", "log", "none"), default="auto",
        help="Progress display: a bar on a terminal, one-line log records otherwise (default: %(default)s).",
    )
    download.add_argument("--log-interval", type=float, default=10.0, help="Seconds between progress log records (default: %(default)s).")
    download.add_argument("--lease-wait", type=float, default=600.0, help="Seconds to wait for another run's lease on the share (default: %(default)s).")
    download.add_argument(
        "--lease-stale-after", type=float, default=600.0,
        help="Seconds without renewal after which another run's lease is taken over (default: %(default)s).",
    )
    download.add_argument("--keep-staging", action="store_true", help="Keep the staged files after publishing.")
    download.add_argument("--dry-run", action="store_true", help="Resolve revisions and list the files and sizes, without downloading.")
    download.set_defaults(handler=run_download)


def _register_verify(commands: argparse._SubParsersAction) -> None:
    verify = commands.add_parser(
        "verify",
        help="Re-check a published set on the share: sizes, sha256, missing and extra files. Exit 0 all good, 1 mismatch, 2 error.",
    )
    verify.add_argument("--dest", type=Path, required=True, help="Share folder the set was published into.")
    verify.add_argument("--set", dest="set_id", help="Set id to check (default: the one DEST/current names).")
    verify.add_argument("--json", action="store_true", help="Print the report as JSON instead of a table.")
    verify.set_defaults(handler=run_verify)


def _register_pin(commands: argparse._SubParsersAction) -> None:
    pin = commands.add_parser("pin", help="Rewrite branch and tag revisions in a model set file to the commit ids they resolve to.")
    pin.add_argument("--model-set", type=Path, required=True, help="Model set YAML file to rewrite in place.")
    _add_hub_options(pin)
    pin.add_argument("--dry-run", action="store_true", help="Print the commit ids without changing the file.")
    pin.set_defaults(handler=run_pin)


def _read_token(args: argparse.Namespace) -> str | None:
    from ..errors import UsageError

    if args.token_file is None:
        return None
    try:
        token = args.token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise UsageError(f"Could not read the token file {args.token_file}: {exc.strerror}. Check the secret mount.") from None
    if not token:
        raise UsageError(f"Token file {args.token_file} is empty. Put the access token in it or drop --token-file.")
    return token


def _retry(args: argparse.Namespace):
    from ..errors import UsageError
    from ._hub import RetryPolicy

    if args.retries < 1 or args.retry_delay < 0:
        raise UsageError(f"Invalid retry settings: --retries {args.retries} must be at least 1 and --retry-delay {args.retry_delay} not negative.")
    return RetryPolicy(attempts=args.retries, base_delay_s=args.retry_delay)


def run_download(args: argparse.Namespace) -> int:
    """Download and publish a model set, or print the plan with --dry-run."""
    from ._download import download_model_set, plan_model_set
    from ._progress import format_bytes
    from ._transfer import configure_xet

    token = _read_token(args)
    retry = _retry(args)

    if args.dry_run:
        plan = plan_model_set(args.model_set, endpoint=args.endpoint, token=token, retry=retry)
        print(f"Set {plan.set_id} from {plan.endpoint}: {len(plan.files)} files, {format_bytes(plan.total_bytes)}")
        for spec, commit in plan.resolved:
            print(f"  {spec.repo}@{spec.revision} -> {commit} into {spec.folder}/")
        for planned in plan.files:
            kind = "xet" if planned.remote.xet_hash else "http"
            print(f"  {format_bytes(planned.remote.size):>10}  {kind:<4}  {planned.name}")
        return 0

    configure_xet(
        high_performance=args.xet_high_performance or None,
        download_concurrency=args.xet_download_concurrency,
        concurrent_files=args.xet_concurrent_files,
    )
    result = download_model_set(
        args.model_set,
        args.dest,
        staging=args.staging,
        endpoint=args.endpoint,
        token=token,
        progress=args.progress,
        log_interval_s=args.log_interval,
        max_workers=args.max_workers,
        retry=retry,
        lease_wait_s=args.lease_wait,
        lease_stale_after_s=args.lease_stale_after,
        keep_staging=args.keep_staging,
    )
    if result.already_published:
        print(f"Set {result.set_id} is already published at {result.path}; nothing downloaded.")
    else:
        print(
            f"Published set {result.set_id} at {result.path}: {format_bytes(result.bytes_downloaded)} downloaded "
            f"in {result.duration_s:.1f} s ({format_bytes(result.throughput_bytes_per_s)}/s), "
            f"{result.files_reused} files reused from staging."
        )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """Verify a published set and print a table; exit 1 on any mismatch."""
    from ._verify import verify_model_set

    report = verify_model_set(args.dest, args.set_id)
    if args.json:
        data = {
            "set_id": report.set_id,
            "path": str(report.path),
            "ok": report.ok,
            "bytes_hashed": report.bytes_hashed,
            "duration_s": round(report.duration_s, 3),
            "files": [{"name": c.name, "status": c.status, "size": c.size, "detail": c.detail} for c in report.checks],
        }
        json.dump(data, sys.stdout, indent=2)
        print()
    else:
        print(report.format_table())

    if not report.ok:
        print(
            f"Set {report.set_id} does not match its manifest. To repair it, move {report.path} aside "
            f"(pods that loaded it keep running), then run: runbook models download --dest {args.dest}",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


def run_pin(args: argparse.Namespace) -> int:
    """Pin the revisions of a model set file."""
    from ._pin import pin_model_set

    changes = pin_model_set(args.model_set, endpoint=args.endpoint, token=_read_token(args), retry=_retry(args), dry_run=args.dry_run)
    for change in changes:
        state = f"pinned from {change.revision}" if change.changed else "already pinned"
        print(f"{change.repo}: {change.commit} ({state})")
    if args.dry_run:
        print(f"Dry run: {args.model_set} is unchanged.")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """Write the demo models and print where they went."""
    from .demo import write_demo_models

    written = write_demo_models(args.dest, seed=args.seed)
    print(f"Wrote demo models to {written}. Serve them with: docling-api --models-dir {written}")
    return 0
