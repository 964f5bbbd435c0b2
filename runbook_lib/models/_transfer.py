"""One file's transfer through huggingface_hub: Xet reconstruction with hf_xet, or plain HTTP.

huggingface_hub picks Xet for a file whose metadata carries a Xet hash when hf_xet is
installed and ``HF_HUB_DISABLE_XET`` is not set. This module makes the same choice from the
tree listing, calls the same transfer functions (``xet_get``, ``http_get``) and records
which one ran.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.file_download import http_get, xet_get
from huggingface_hub.utils import build_hf_headers
from huggingface_hub.utils._runtime import is_xet_available
from huggingface_hub.utils._xet import XetFileData, XetTokenType, is_valid_xet_hash, xet_connection_info_refresh_url

from .. import __version__
from ._hub import RemoteFile, TransientDownloadError

TRANSPORT_XET = "xet"
TRANSPORT_HTTP = "http"

# Environment variables hf_xet 1.8 reads when a process creates its first Xet session.
XET_ENV_HIGH_PERFORMANCE = "HF_XET_HIGH_PERFORMANCE"
XET_ENV_DOWNLOAD_CONCURRENCY = "HF_XET_FIXED_DOWNLOAD_CONCURRENCY"
XET_ENV_CONCURRENT_FILES = "HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS"


def xet_enabled() -> bool:
    """Return whether Xet files go through hf_xet: it is installed and ``HF_HUB_DISABLE_XET`` is not set."""
    return is_xet_available() and not constants.HF_HUB_DISABLE_XET


def configure_xet(
    *,
    high_performance: bool | None = None,
    download_concurrency: int | None = None,
    concurrent_files: int | None = None,
) -> None:
    """Set hf_xet's concurrency settings through its environment variables.

    hf_xet reads them when the process creates its first Xet session, so call this before
    the first download in the process. Later calls have no effect on a running session.

    Args:
        high_performance (`bool`, *optional*): ``HF_XET_HIGH_PERFORMANCE``, more parallel
            range requests and larger buffers.
        download_concurrency (`int`, *optional*): ``HF_XET_FIXED_DOWNLOAD_CONCURRENCY``,
            parallel range requests to the CAS, instead of hf_xet's adaptive value.
        concurrent_files (`int`, *optional*): ``HF_XET_DATA_MAX_CONCURRENT_FILE_DOWNLOADS``,
            files hf_xet reconstructs at once within one download group.
    """
    if high_performance:
        os.environ[XET_ENV_HIGH_PERFORMANCE] = "1"
    if download_concurrency is not None:
        os.environ[XET_ENV_DOWNLOAD_CONCURRENCY] = str(download_concurrency)
    if concurrent_files is not None:
        os.environ[XET_ENV_CONCURRENT_FILES] = str(concurrent_files)


def fetch_file(
    *,
    repo: str,
    commit: str,
    remote: RemoteFile,
    target: Path,
    endpoint: str,
    token: str | None,
    progress_class: type,
) -> str:
    """Download one file to ``target`` and return the transport used, ``"xet"`` or ``"http"``.

    ``target`` is written in place; the caller gives a temporary path and renames it once
    the contents are verified.

    Raises:
        TransientDownloadError: the file on disk has another size than the tree listing gives.
        huggingface_hub and httpx errors: the caller retries or translates them.
    """
    headers = build_hf_headers(token=token, library_name="docling-aks-runbook", library_version=__version__)
    target.parent.mkdir(parents=True, exist_ok=True)
    url = hf_hub_url(repo, remote.path, revision=commit, endpoint=endpoint)

    xet_data = None
    if xet_enabled():
        if remote.xet_hash is not None and is_valid_xet_hash(remote.xet_hash):
            refresh_route = xet_connection_info_refresh_url(
                token_type=XetTokenType.READ, repo_id=repo, repo_type="model", revision=commit, endpoint=endpoint
            )
            xet_data = XetFileData(file_hash=remote.xet_hash, refresh_route=refresh_route)
        elif remote.is_lfs:
            # Some mirrors list LFS files without their Xet hash and announce Xet only in the
            # HEAD response, where huggingface_hub looks for it too.
            metadata = get_hf_file_metadata(url, token=token, endpoint=endpoint, headers=headers)
            xet_data = metadata.xet_file_data
            if xet_data is None and urlsplit(metadata.location).hostname != urlsplit(url).hostname:
                # A redirect to a CDN: the signed URL needs no Hub token, and it must not leak there.
                url = metadata.location
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}

    if xet_data is not None:
        transport = TRANSPORT_XET
        xet_get(
            incomplete_path=target,
            xet_file_data=xet_data,
            headers=headers,
            expected_size=remote.size,
            displayed_filename=remote.path,
            tqdm_class=progress_class,
        )
    else:
        transport = TRANSPORT_HTTP
        with open(target, "wb") as handle:
            http_get(
                url,
                handle,
                headers=headers,
                expected_size=remote.size,
                displayed_filename=remote.path,
                tqdm_class=progress_class,
            )

    size = target.stat().st_size
    if size != remote.size:
        raise TransientDownloadError(
            f"Downloaded {remote.path} from {repo} has {size} bytes, the Hub lists {remote.size}."
        )
    return transport
