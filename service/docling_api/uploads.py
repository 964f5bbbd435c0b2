"""Stream a ``multipart/form-data`` request body into a private temporary folder.

The body is parsed while it arrives, so an upload over the size limit is
rejected as soon as its file part passes the limit, without reading the rest.
The caller removes the folder with :meth:`SpooledUpload.remove`. Folder names carry
the web process's id, so :func:`remove_stale_spools` can delete what a killed
process left behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from .errors import ApiError, BadRequest, EmptyUpload, InvalidMultipart, MissingFile, UploadTooLarge
from .metrics import Metrics

logger = logging.getLogger("docling_api.uploads")

FILE_FIELD = "file"

SPOOL_PREFIX = "docling-api-"
# Spool folders are named docling-api-<pid>-<random>, worker folders docling-api-<pid>-worker-<slot>-<random>,
# with the web process's id.

# Form fields other than the file are options, which together may not exceed this many bytes.
MAX_FIELD_BYTES = 64 * 1024

# Room for multipart headers and option fields when the Content-Length is compared with the limit.
MULTIPART_OVERHEAD_BYTES = MAX_FIELD_BYTES + 16 * 1024


@dataclass
class SpooledUpload:
    """An uploaded file on disk plus the form fields that came with it.

    Attributes:
        folder (`Path`): private folder (mode 0700) holding the upload; removed by :meth:`remove`.
        path (`Path`): the uploaded bytes.
        filename (`str`): the client's file name without folders, for messages only.
        size (`int`): bytes received.
        fields (`dict[str, list[str]]`): the other form fields by name.
    """

    folder: Path
    path: Path
    filename: str
    size: int = 0
    fields: dict[str, list[str]] = field(default_factory=dict)

    def remove(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


class _PartCollector:
    """python-multipart callbacks that write the ``file`` part to disk and keep the other fields."""

    def __init__(self, target: Path, max_upload_bytes: int):
        self.target = target
        self.max_upload_bytes = max_upload_bytes
        self.error: ApiError | None = None

        self.fields: dict[str, list[str]] = {}
        self.filename: str | None = None
        self.file_size = 0

        self._field_bytes = 0
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._name: str | None = None
        self._is_file = False
        self._value = bytearray()
        self._stream: BinaryIO | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._is_file = False
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        filename = params.get(b"filename")
        self._name = name

        if name == FILE_FIELD:
            if self.filename is not None:
                self._fail(BadRequest("Send one file per request in the 'file' field. This request has two."))
                return
            self._is_file = True
            raw_name = (filename or b"upload").decode("utf-8", errors="replace")
            self.filename = PurePath(raw_name.replace("\\", "/")).name or "upload"
            self._stream = self.target.open("wb")
        elif filename is not None:
            self._fail(
                MissingFile(
                    f"The file was sent in form field {name!r}. Send it in the 'file' field, "
                    'for example -F "file=@report.pdf".',
                    field=name,
                )
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return

        chunk = data[start:end]
        if self._is_file and self._stream is not None:
            self.file_size += len(chunk)
            if self.file_size > self.max_upload_bytes:
                self._fail(_too_large(self.max_upload_bytes, self.filename))
                return
            self._stream.write(chunk)
        elif self._name is not None:
            self._field_bytes += len(chunk)
            if self._field_bytes > MAX_FIELD_BYTES:
                self._fail(BadRequest(f"The form fields other than 'file' exceed {MAX_FIELD_BYTES} bytes."))
                return
            self._value += chunk

    def on_part_end(self) -> None:
        if self._is_file and self._stream is not None:
            self._stream.close()
            self._stream = None
        elif self._name:
            value = self._value.decode("utf-8", errors="replace")
            self.fields.setdefault(self._name, []).append(value)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _fail(self, error: ApiError) -> None:
        if self.error is None:
            self.error = error


def _too_large(max_upload_bytes: int, filename: str | None = None) -> UploadTooLarge:
    name = f"{filename} is" if filename else "The upload is"
    return UploadTooLarge(
        f"{name} larger than this service's limit of {max_upload_bytes} bytes. "
        "Split the document or compress its images, then retry.",
        max_upload_bytes=max_upload_bytes,
    )


async def receive_upload(
    request: Request, max_upload_bytes: int, temp_parent: Path | None, metrics: Metrics | None = None
) -> SpooledUpload:
    """Parse a multipart request into a spooled upload.

    Args:
        request (`Request`): the incoming request; its body is consumed.
        max_upload_bytes (`int`): largest accepted file part.
        temp_parent (`Path`, *optional*): where the private folder is created.
        metrics (`Metrics`, *optional*): where an upload over the limit is counted as a rejection.

    Raises:
        InvalidMultipart: the request is not ``multipart/form-data`` or its body cannot be parsed.
        UploadTooLarge: the file part, or the announced body, is larger than the limit.
        MissingFile: there is no ``file`` part.
        EmptyUpload: the ``file`` part is empty.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidMultipart(
            "Send the document as multipart/form-data with the file in the 'file' field, "
            'for example: curl -X POST http://HOST/convert -F "file=@report.pdf".',
            content_type=request.headers.get("content-type"),
        )

    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > max_upload_bytes + MULTIPART_OVERHEAD_BYTES:
        _count_too_large(metrics)
        raise _too_large(max_upload_bytes)

    folder = Path(tempfile.mkdtemp(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=temp_parent))
    upload = SpooledUpload(folder=folder, path=folder / "upload", filename="upload")
    collector = _PartCollector(upload.path, max_upload_bytes)

    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
            if collector.error is not None:
                if isinstance(collector.error, UploadTooLarge):
                    _count_too_large(metrics)
                raise collector.error
        parser.finalize()
    except MultipartParseError:
        upload.remove()
        raise InvalidMultipart(
            "The multipart/form-data body is malformed. Send the file in the 'file' field, "
            'for example: curl -X POST http://HOST/convert -F "file=@report.pdf".'
        ) from None
    except BaseException:
        upload.remove()
        raise
    finally:
        collector.close()

    upload.fields = collector.fields
    upload.size = collector.file_size

    if collector.filename is None:
        upload.remove()
        raise MissingFile("No 'file' field in the form. Send the document as -F \"file=@report.pdf\".")

    upload.filename = collector.filename
    if upload.size == 0:
        upload.remove()
        raise EmptyUpload(
            f"{upload.filename} is empty (0 bytes). Send the document's content in the 'file' field.",
            filename=upload.filename,
        )
    return upload


def _count_too_large(metrics: Metrics | None) -> None:
    if metrics is not None:
        metrics.rejections.labels(reason="upload_too_large").inc()


def remove_stale_spools(temp_parent: Path | None) -> int:
    """Remove upload spools and worker folders that a web process which no longer runs left behind.

    A folder is stale when the web process id in its name is not running, or is this
    process's own id (a restarted container reuses its process ids). Call it at
    start-up, before any worker exists.

    Args:
        temp_parent (`Path`, *optional*): the spool parent folder; the system's temporary folder when None.

    Returns:
        `int`: folders removed.

    Example:
        >>> remove_stale_spools(Path("/tmp/docling-spool"))  # doctest: +SKIP
        0
    """
    parent = Path(temp_parent or tempfile.gettempdir())
    try:
        entries = list(parent.iterdir())
    except OSError:
        return 0

    removed = 0
    for entry in entries:
        if not entry.is_dir() or not entry.name.startswith(SPOOL_PREFIX):
            continue
        owner = _spool_owner(entry.name)
        if owner is None or (owner != os.getpid() and _process_exists(owner)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1

    if removed:
        logger.info("Removed temporary folders left by an earlier run", extra={"folders": removed})
    return removed


def _spool_owner(name: str) -> int | None:
    pid_text = name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
    return int(pid_text) if pid_text.isdigit() else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
