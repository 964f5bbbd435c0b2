"""Stream a docling-serve ``multipart/form-data`` request (file in ``files``) into a private folder.

docling-serve takes its documents in the repeated ``files`` field and its options as
form fields. This service converts one document per request, so a second file is
rejected. The body is parsed while it arrives, and the file part is cut off as soon
as it passes ``max_upload_bytes``. The caller creates the folder and removes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from ..errors import ApiError, BadRequest, EmptyUpload, InvalidMultipart, MissingFile, UploadTooLarge
from ..metrics import Metrics
from ..uploads import MAX_FIELD_BYTES, MULTIPART_OVERHEAD_BYTES
from ._errors import TooManyFiles

FILES_FIELD = "files"

_CURL_EXAMPLE = 'curl -X POST http://HOST/v1/convert/file -F "files=@report.pdf"'


@dataclass
class FilesUpload:
    """The uploaded file on disk and the form fields that came with it.

    Attributes:
        path (`Path`): the uploaded bytes, inside the caller's folder.
        filename (`str`): the client's file name without folders, for messages and the result.
        size (`int`): bytes received.
        fields (`dict[str, list[str]]`): the other form fields by name.
    """

    path: Path
    filename: str = "upload"
    size: int = 0
    fields: dict[str, list[str]] = field(default_factory=dict)


class _FilesCollector:
    """python-multipart callbacks that write the one ``files`` part to disk and keep the other fields."""

    def __init__(self, target: Path, max_upload_bytes: int) -> None:
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

        if name == FILES_FIELD:
            if self.filename is not None:
                self._fail(
                    TooManyFiles(
                        "This service converts one file per request, and this request has more than one in "
                        f"'{FILES_FIELD}'. Send each file in its own request; DoclingServiceClient.convert_all "
                        "does that for a list of files.",
                        option=FILES_FIELD,
                    )
                )
                return
            self._is_file = True
            raw_name = (filename or b"upload").decode("utf-8", errors="replace")
            self.filename = PurePath(raw_name.replace("\\", "/")).name or "upload"
            self._stream = self.target.open("wb")
        elif filename is not None:
            self._fail(
                MissingFile(
                    f"The file was sent in form field {name!r}. Send it in the '{FILES_FIELD}' field, "
                    f"for example: {_CURL_EXAMPLE}.",
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
                self._fail(too_large(self.max_upload_bytes, self.filename))
                return
            self._stream.write(chunk)
        elif self._name is not None:
            self._field_bytes += len(chunk)
            if self._field_bytes > MAX_FIELD_BYTES:
                self._fail(BadRequest(f"The form fields other than '{FILES_FIELD}' exceed {MAX_FIELD_BYTES} bytes."))
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


def too_large(max_upload_bytes: int, filename: str | None = None) -> UploadTooLarge:
    """Return the 413 error for an upload over ``max_upload_bytes``."""
    name = f"{filename} is" if filename else "The upload is"
    return UploadTooLarge(
        f"{name} larger than this service's limit of {max_upload_bytes} bytes. "
        "Split the document or compress its images, then retry.",
        max_upload_bytes=max_upload_bytes,
    )


async def receive_files_upload(
    request: Request, max_upload_bytes: int, folder: Path, metrics: Metrics | None = None
) -> FilesUpload:
    """Parse a docling-serve multipart request, writing its one file into ``folder``.

    Args:
        request (`Request`): the incoming request; its body is consumed.
        max_upload_bytes (`int`): largest accepted file part.
        folder (`Path`): an existing private folder that receives the file as ``upload``.
        metrics (`Metrics`, *optional*): where an upload over the limit is counted as a rejection.

    Raises:
        InvalidMultipart: the request is not ``multipart/form-data`` or its body cannot be parsed.
        UploadTooLarge: the file part, or the announced body, is larger than the limit (413).
        TooManyFiles: the request has more than one file (422).
        MissingFile: there is no ``files`` part, or the file is in another field (400).
        EmptyUpload: the file is empty (400).

    Example:
        >>> upload = await receive_files_upload(request, 50 * 2**20, folder)  # doctest: +SKIP
        >>> upload.filename, upload.fields.get("to_formats")  # doctest: +SKIP
        ('report.pdf', ['md', 'json'])
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidMultipart(
            f"Send the document as multipart/form-data with the file in the '{FILES_FIELD}' field, "
            f"for example: {_CURL_EXAMPLE}.",
            content_type=request.headers.get("content-type"),
        )

    announced = request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > max_upload_bytes + MULTIPART_OVERHEAD_BYTES:
        _count_too_large(metrics)
        raise too_large(max_upload_bytes)

    upload = FilesUpload(path=folder / "upload")
    collector = _FilesCollector(upload.path, max_upload_bytes)
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
        raise InvalidMultipart(
            f"The multipart/form-data body is malformed. Send the file in the '{FILES_FIELD}' field, "
            f"for example: {_CURL_EXAMPLE}."
        ) from None
    finally:
        collector.close()

    if collector.filename is None:
        raise MissingFile(f"No '{FILES_FIELD}' field in the form. Send the document as {_CURL_EXAMPLE}.")

    upload.filename = collector.filename
    upload.size = collector.file_size
    upload.fields = collector.fields
    if upload.size == 0:
        raise EmptyUpload(
            f"{upload.filename} is empty (0 bytes). Send the document's content in the '{FILES_FIELD}' field.",
            filename=upload.filename,
        )
    return upload


def _count_too_large(metrics: Metrics | None) -> None:
    if metrics is not None:
        metrics.rejections.labels(reason="upload_too_large").inc()
