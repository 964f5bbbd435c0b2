"""Model sets: download over Xet, verification, atomic publishing to the share, and demo models.

The public API, imported lazily so that ``runbook --help`` stays quick:

- :func:`load_model_set`, :func:`default_model_set_path`: read a model set file.
- :func:`download_model_set` -> :class:`PublishResult`: download, verify and publish a set.
- :func:`plan_model_set`: resolve a set and list its files without downloading (dry run).
- :func:`verify_model_set` -> :class:`VerifyReport`: re-check a published set on the share.
- :func:`pin_model_set`: rewrite branch and tag revisions in a model set file to commit ids.
- :func:`active_set_path`, :func:`read_current`, :func:`read_manifest`: read the published layout.

Example:
    >>> from runbook_lib.models import download_model_set, verify_model_set
    >>> result = download_model_set(None, "/mnt/models")  # doctest: +SKIP
    >>> verify_model_set("/mnt/models").ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "ModelSet": "._model_set",
    "RepositorySpec": "._model_set",
    "compute_set_id": "._model_set",
    "default_model_set_path": "._model_set",
    "load_model_set": "._model_set",
    "parse_model_set": "._model_set",
    "DownloadPlan": "._plan",
    "PublishResult": "._download",
    "download_model_set": "._download",
    "plan_model_set": "._download",
    "RetryPolicy": "._hub",
    "VerifyReport": "._verify",
    "FileCheck": "._verify",
    "verify_model_set": "._verify",
    "PinChange": "._pin",
    "pin_model_set": "._pin",
    "Manifest": "._share",
    "active_set_path": "._share",
    "read_current": "._share",
    "read_manifest": "._share",
    "ShareLease": "._lease",
    "configure_xet": "._transfer",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
