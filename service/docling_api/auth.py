"""Optional API key: clients send it in the ``X-Api-Key`` header, the header docling's own service client uses.

The key comes from ``docling-api --api-key-file FILE`` (``DOCLING_API_KEY_FILE``) or from the
``DOCLING_API_KEY`` environment variable, both usually fed by a Kubernetes Secret. A key file
may contain several keys, one per line, so a new key can be added before the old one is removed.
The file is read again whenever it changes, because that is how a mounted Secret is updated.

Open without a key: ``/health`` and ``/ready`` (probes), ``/metrics`` (counters without
document data, scraped from inside the cluster) and the OpenAPI pages ``/docs`` and
``/openapi.json``. Every other route depends on :func:`require_api_key`.

Example, for a router of another module::

    from fastapi import APIRouter, Depends
    from docling_api.auth import require_api_key

    router = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)])
"""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from .errors import Unauthorized
from .settings import Settings

logger = logging.getLogger("docling_api.auth")

API_KEY_HEADER = "X-Api-Key"

# Declared as a security scheme, so /docs shows an "Authorize" button for the key.
_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The service's API key.")


class ApiKeyError(ValueError):
    """The configured key file is missing, unreadable or empty."""


class ApiKeys:
    """The accepted API keys, from the settings' key and key file.

    Args:
        key (`str`, *optional*): one key, from ``DOCLING_API_KEY``.
        key_file (`Path`, *optional*): a file with one key per line; read again when its
            modification time or size changes.

    Raises:
        ApiKeyError: the key file cannot be read or contains no key.

    Example:
        >>> keys = ApiKeys("s3cret", None)
        >>> keys.enabled, keys.matches("s3cret"), keys.matches("guess")
        (True, True, False)
    """

    def __init__(self, key: str | None, key_file: Path | None) -> None:
        self._key = key or None
        self._file = key_file
        self._file_keys: tuple[bytes, ...] = ()
        self._file_stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        if key_file is not None:
            self._reload(must_succeed=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiKeys:
        """Build the keys from ``api_key`` and ``api_key_file``.

        Raises:
            ApiKeyError: the key file cannot be read or contains no key.
        """
        key = settings.api_key.get_secret_value() if settings.api_key is not None else None
        return cls(key, settings.api_key_file)

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a key."""
        return self._key is not None or self._file is not None

    def matches(self, candidate: str | None) -> bool:
        """Return whether ``candidate`` is one of the keys, comparing in constant time."""
        if not candidate:
            return False
        if self._file is not None:
            self._reload(must_succeed=False)

        given = candidate.encode("utf-8")
        keys = list(self._file_keys)
        if self._key is not None:
            keys.append(self._key.encode("utf-8"))
        # Compare with every key, so the time taken does not tell which key came close.
        found = False
        for key in keys:
            found |= hmac.compare_digest(given, key)
        return found

    def _reload(self, must_succeed: bool) -> None:
        assert self._file is not None
        try:
            status = self._file.stat()
            stamp = (status.st_mtime_ns, status.st_size)
            if stamp == self._file_stamp:
                return
            lines = self._file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            if must_succeed:
                raise ApiKeyError(
                    f"Cannot read the API key file {self._file}: {exc}. Mount the Secret there or fix the path "
                    "given with --api-key-file / DOCLING_API_KEY_FILE."
                ) from None
            # Keep the keys read last time: a Secret update replaces the file in one step.
            logger.warning("Could not read the API key file again; keeping the previous keys", extra={"error": str(exc)})
            return

        keys = tuple(line.strip().encode("utf-8") for line in lines if line.strip())
        if not keys:
            if must_succeed:
                raise ApiKeyError(
                    f"The API key file {self._file} contains no key. Write one key per line into it, or drop "
                    "--api-key-file / DOCLING_API_KEY_FILE to run without a key."
                )
            logger.warning("The API key file is now empty; keeping the previous keys")
            return

        with self._lock:
            self._file_keys = keys
            self._file_stamp = stamp
        if not must_succeed:
            logger.info("Read the API key file again", extra={"keys": len(keys)})


async def require_api_key(request: Request, api_key: str | None = Security(_api_key_header)) -> None:
    """FastAPI dependency: let the request through when no key is configured or ``X-Api-Key`` matches.

    The application's state must carry the keys as ``request.app.state.service.api_keys``
    (an :class:`ApiKeys`), which :func:`docling_api.app.create_app` sets up.

    Raises:
        Unauthorized: the header is missing or contains a wrong key (401).

    Example:
        >>> @app.get("/private", dependencies=[Depends(require_api_key)])  # doctest: +SKIP
        ... async def private() -> dict: ...
    """
    state = request.app.state.service
    keys: ApiKeys = state.api_keys
    if not keys.enabled:
        return
    if keys.matches(api_key):
        return

    reason = "missing" if not api_key else "wrong"
    state.metrics.rejections.labels(reason="unauthorized").inc()
    logger.info("Refused a request without a valid API key", extra={"path": request.url.path, "key": reason})
    if reason == "missing":
        message = (
            f"This service requires an API key. Send it in the {API_KEY_HEADER} header, "
            f'for example: curl -H "{API_KEY_HEADER}: $KEY" ...'
        )
    else:
        message = f"The API key in the {API_KEY_HEADER} header is wrong. Send the key the service's operator gave you."
    raise Unauthorized(message, header=API_KEY_HEADER)
