"""A Hugging Face Hub emulator on loopback, for offline tests, benchmarks and the demo.

It serves model repositories from a local :class:`RepositoryStore` over the endpoints
huggingface_hub calls, with large files in a local Xet CAS written by hf_xet, so that
``snapshot_download`` and ``runbook models download`` run through real Xet reconstruction.

Example:
    >>> commits = build_demo_store(Path("/tmp/demo-models"), Path("/tmp/hub"))  # doctest: +SKIP
    >>> with HubEmulator(Path("/tmp/hub")) as hub:  # doctest: +SKIP
    ...     download_model_set(None, Path("/tmp/share"), endpoint=hub.endpoint)
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "DEMO_REPOSITORIES": "._demo",
    "build_demo_store": "._demo",
    "FAULT_KINDS": "._faults",
    "Fault": "._faults",
    "load_faults": "._faults",
    "HubEmulator": "._server",
    "RequestRecord": "._server",
    "serve_forever": "._server",
    "RepositoryStore": "._store",
    "git_blob_sha1": "._store",
    "write_synthetic_files": "._synthetic",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
