"""A loopback HTTP server for the Hugging Face Hub requests that huggingface_hub sends.

Endpoints (model repositories only)::

    GET  /api/models/{repo}                          repository info at main
    GET  /api/models/{repo}/revision/{revision}      repository info at a branch, tag or commit
    GET  /api/models/{repo}/tree/{revision}[/{path}] tree listing, ?recursive=true, paged with Link rel="next"
    GET  /api/models/{repo}/xet-read-token/{revision} Xet CAS URL and token, in headers and JSON
    HEAD /{repo}/resolve/{revision}/{path}           file metadata headers
    GET  /{repo}/resolve/{revision}/{path}           file contents, with Range support

Any other request gets a 404 and is recorded in :attr:`HubEmulator.unexpected_requests`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ..errors import EmulatorError
from ._faults import Fault, FaultPlan
from ._store import Commit, Repository, RepositoryStore, TreeFile, iter_tree

logger = logging.getLogger("runbook_lib.hub_emulator")

TOKEN_LIFETIME_S = 3600
_CHUNK = 1024 * 1024


@dataclass
class RequestRecord:
    """One request the emulator received, with its response status (None while in progress)."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorized: bool
    status: int | None = None
    fault: str | None = None


class _HttpError(Exception):
    def __init__(self, status: int, message: str, error_code: str | None = None, commit: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.commit = commit


class HubEmulator:
    """A Hugging Face Hub emulator on loopback, serving a :class:`RepositoryStore`.

    Args:
        root (`Path`): the store folder (see :class:`RepositoryStore`).
        port (`int`): TCP port on 127.0.0.1; 0 picks a free one.
        token (`str`, *optional*): the access token private and gated repositories require.
            Requests with another bearer token get 401 "Invalid credentials".
        tree_page_size (`int`): entries per tree listing page.
        list_xet_hashes (`bool`): include ``xetHash`` in tree listings; without it, as on
            some mirrors, clients learn about Xet only from the HEAD response.
        list_lfs (`bool`): include ``lfs`` (sha256, size) in tree listings.

    Example:
        >>> with HubEmulator(Path("/tmp/hub")) as hub:  # doctest: +SKIP
        ...     snapshot_download("acme/tiny-model", endpoint=hub.endpoint, local_dir="/tmp/out")
    """

    def __init__(
        self,
        root: Path,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        token: str | None = None,
        tree_page_size: int = 100,
        list_xet_hashes: bool = True,
        list_lfs: bool = True,
    ) -> None:
        if tree_page_size < 1:
            raise EmulatorError(f"Invalid tree page size {tree_page_size}: expected at least 1.")
        self.store = RepositoryStore(root)
        self.faults = FaultPlan()
        self.token = token
        self.tree_page_size = tree_page_size
        self.list_xet_hashes = list_xet_hashes
        self.list_lfs = list_lfs
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._records: list[RequestRecord] = []
        self._condition = threading.Condition()
        self._decoys: dict[str, str] = {}
        self._reader: Any = None
        self._reader_lock = threading.Lock()

    # Lifecycle.

    @property
    def endpoint(self) -> str:
        """The base URL to pass as ``HF_ENDPOINT`` or ``endpoint=``."""
        if self._server is None:
            raise EmulatorError("The Hub emulator is not running. Call start() first.")
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> "HubEmulator":
        """Start serving in a background thread and return self."""
        if self._server is not None:
            return self

        handler = type("_BoundHandler", (_Handler,), {"emulator": self})
        try:
            self._server = ThreadingHTTPServer((self._host, self._port), handler)
        except OSError as exc:
            raise EmulatorError(
                f"Could not listen on {self._host}:{self._port}: {exc}. Pick another port or pass 0."
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-emulator", daemon=True)
        self._thread.start()
        logger.info("Hub emulator serving %s from %s", self.endpoint, self.store.root)
        return self

    def stop(self) -> None:
        """Stop serving and delete the CAS replicas handed to clients."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.remove_replicas()
        logger.info("Hub emulator stopped")

    def __enter__(self) -> "HubEmulator":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # Faults and request records.

    def add_fault(self, fault: Fault) -> Fault:
        """Add a fault rule; for ``corrupt`` rules, upload the decoys of matching Xet files now.

        NOTE: uploading a decoy writes to the store's CAS, which fails while another process
        that wrote to it is still running, because hf_xet 1.8 keeps the CAS lock until exit.
        """
        if fault.kind == "corrupt":
            self._prepare_decoys(fault)
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self.faults.clear()

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of every request received so far."""
        with self._condition:
            return list(self._records)

    @property
    def unexpected_requests(self) -> list[RequestRecord]:
        """Requests that matched no emulated endpoint."""
        return [r for r in self.requests if r.fault == "unexpected"]

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._condition:
            self._records.clear()

    def wait_for_request(self, predicate: Callable[[RequestRecord], bool], timeout: float = 30) -> RequestRecord:
        """Block until a received request matches ``predicate`` and return it.

        Raises:
            EmulatorError: no matching request arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                for record in self._records:
                    if predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EmulatorError(f"No matching request reached the Hub emulator within {timeout} s.")
                self._condition.wait(remaining)

    def _record(self, record: RequestRecord) -> None:
        with self._condition:
            self._records.append(record)
            self._condition.notify_all()

    def _mark(self, record: RequestRecord, fault: str) -> None:
        with self._condition:
            record.fault = fault
            self._condition.notify_all()

    def _finish(self, record: RequestRecord, status: int, fault: str | None = None) -> None:
        with self._condition:
            record.status = status
            if fault is not None:
                record.fault = fault
            self._condition.notify_all()

    # Xet helpers.

    def _prepare_decoys(self, fault: Fault) -> None:
        import fnmatch

        for repo_id in self.store.repo_ids():
            repo = self.store.get(repo_id)
            assert repo is not None
            for commit in repo.commits.values():
                for entry in commit.files:
                    if entry.xet_hash is None or entry.xet_hash in self._decoys:
                        continue
                    if fnmatch.fnmatchcase(f"{repo_id}/{entry.path}", fault.path):
                        data = bytearray(b"".join(self.read_xet(entry)))
                        data[0] ^= 0xFF
                        self._decoys[entry.xet_hash] = self.store.upload_bytes(bytes(data))

    def advertised_xet_hash(self, repo_id: str, entry: TreeFile) -> str | None:
        """Return the Xet hash to advertise for a file: the decoy's while a ``corrupt`` rule covers it."""
        if entry.xet_hash is not None and self.faults.corrupts(repo_id, entry.path):
            return self._decoys.get(entry.xet_hash, entry.xet_hash)
        return entry.xet_hash

    def read_xet(self, entry: TreeFile, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Yield a Xet file's bytes from ``start`` to ``end`` (exclusive), read from the CAS."""
        import hf_xet

        with self._reader_lock:
            if self._reader is None:
                replica = self.store.make_cas_replica()
                session = hf_xet.XetSession()
                self._reader = session.new_download_stream_group(endpoint=f"local://{replica}")
            reader = self._reader

        info = hf_xet.XetFileInfo(entry.xet_hash, entry.size)
        yield from reader.download_stream(info, start=start, end=end if end is not None else entry.size)


class _Handler(BaseHTTPRequestHandler):
    emulator: HubEmulator
    protocol_version = "HTTP/1.1"
    server_version = "HubEmulator/1"
    # Headers and body go out in separate writes. With Nagle's algorithm on, the body
    # waits for the client's delayed ACK of the headers, about 40 ms per response.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # Dispatch.

    def _dispatch(self, method: str) -> None:
        emulator = self.emulator
        split = urlsplit(self.path)
        segments = [unquote(s) for s in split.path.split("/")[1:]]
        path = "/" + "/".join(segments)
        record = RequestRecord(method, path, parse_qs(split.query), self._authorized())
        emulator._record(record)
        self._record_ = record

        delay = emulator.faults.take(method, path, ("delay",))
        if delay is not None:
            emulator._mark(record, "delay")
            time.sleep(delay.delay_s)

        rule = emulator.faults.take(method, path, ("status", "drop"))
        if rule is not None and rule.kind == "drop":
            emulator._finish(record, 0, "drop")
            self._drop()
            return
        if rule is not None:
            emulator._finish(record, rule.status, "status")
            self._send_error(_HttpError(rule.status, f"Injected {rule.status} error.", rule.error_code))
            return

        try:
            self._route(method, segments)
        except _HttpError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - an emulator bug must answer 500, not hang the client
            logger.exception("Hub emulator failed on %s %s", method, path)
            self._send_error(_HttpError(500, f"Emulator error: {exc}"))

    def _route(self, method: str, segments: list[str]) -> None:
        if len(segments) >= 3 and segments[0] == "api" and segments[1] == "models" and method == "GET":
            if len(segments) == 4:
                return self._repo_info(f"{segments[2]}/{segments[3]}", "main")
            if len(segments) == 6 and segments[4] == "revision":
                return self._repo_info(f"{segments[2]}/{segments[3]}", segments[5])
            if len(segments) >= 6 and segments[4] == "tree":
                return self._tree(f"{segments[2]}/{segments[3]}", segments[5], "/".join(segments[6:]))
            if len(segments) == 6 and segments[4] == "xet-read-token":
                return self._xet_token(f"{segments[2]}/{segments[3]}", segments[5])

        if len(segments) >= 5 and segments[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(method, f"{segments[0]}/{segments[1]}", segments[3], "/".join(segments[4:]))

        self.emulator._finish(self._record_, 404, "unexpected")
        raise _HttpError(404, f"Not found: {method} {self.path}")

    # Access control.

    def _bearer(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return None

    def _authorized(self) -> bool:
        return self.emulator.token is not None and self._bearer() == self.emulator.token

    def _repository(self, repo_id: str) -> Repository:
        emulator = self.emulator
        bearer = self._bearer()
        if bearer is not None and emulator.token is not None and bearer != emulator.token:
            raise _HttpError(401, "Invalid credentials in Authorization header")

        repo = emulator.store.get(repo_id)
        if repo is None:
            raise _HttpError(404, "Repository not found", "RepoNotFound")
        if repo.access == "private" and not self._authorized():
            raise _HttpError(401, "Repository not found", "RepoNotFound")
        if repo.access == "gated" and not self._authorized():
            raise _HttpError(
                401,
                f"Access to model {repo_id} is restricted. You must have access to it and be authenticated.",
                "GatedRepo",
            )
        return repo

    def _commit(self, repo: Repository, revision: str) -> Commit:
        sha = repo.resolve(revision)
        if sha is None:
            raise _HttpError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[sha]

    # Endpoints.

    def _repo_info(self, repo_id: str, revision: str) -> None:
        repo = self._repository(repo_id)
        commit = self._commit(repo, revision)
        blobs = self._query_flag("blobs")

        siblings = []
        for entry in commit.files:
            sibling: dict[str, Any] = {"rfilename": entry.path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.oid)
                if entry.sha256 is not None:
                    sibling["lfs"] = {"sha256": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
            siblings.append(sibling)

        body = {
            "_id": repo_id,
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit.sha,
            "lastModified": commit.created_at,
            "createdAt": commit.created_at,
            "private": repo.access == "private",
            "gated": "manual" if repo.access == "gated" else False,
            "disabled": False,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(f.size for f in commit.files),
        }
        self._send_json(body)

    def _tree(self, repo_id: str, revision: str, prefix: str) -> None:
        repo = self._repository(repo_id)
        commit = self._commit(repo, revision)
        recursive = self._query_flag("recursive")
        entries = list(iter_tree(commit, prefix, recursive))
        if prefix and not entries:
            raise _HttpError(404, f"Path {prefix} not found in {repo_id}@{revision}", "EntryNotFound")

        for entry in entries:
            if entry["type"] == "file" and "xetHash" in entry:
                tree_file = commit.file(entry["path"])
                assert tree_file is not None
                entry["xetHash"] = self.emulator.advertised_xet_hash(repo_id, tree_file)
                if not self.emulator.list_xet_hashes:
                    del entry["xetHash"]
            if not self.emulator.list_lfs:
                entry.pop("lfs", None)

        cursor = self._query_int("cursor", 0)
        page = entries[cursor : cursor + self.emulator.tree_page_size]
        headers = {}
        next_cursor = cursor + len(page)
        if next_cursor < len(entries):
            url = self._base_url() + quote(urlsplit(self.path).path)
            query = f"recursive={str(recursive).lower()}&expand=false&cursor={next_cursor}"
            headers["Link"] = f'<{url}?{query}>; rel="next"'
        self._send_json(page, headers)

    def _xet_token(self, repo_id: str, revision: str) -> None:
        repo = self._repository(repo_id)
        self._commit(repo, revision)

        replica = self.emulator.store.make_cas_replica()
        cas_url = f"local://{replica}"
        token = f"xet-emulator-{uuid.uuid4().hex}"
        expires = int(time.time()) + TOKEN_LIFETIME_S
        headers = {
            "X-Xet-Cas-Url": cas_url,
            "X-Xet-Access-Token": token,
            "X-Xet-Token-Expiration": str(expires),
        }
        self._send_json({"casUrl": cas_url, "accessToken": token, "exp": expires}, headers)

    def _resolve(self, method: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._repository(repo_id)
        commit = self._commit(repo, revision)
        entry = commit.file(path)
        if entry is None:
            raise _HttpError(404, f"Entry {path} not found in {repo_id}@{revision}", "EntryNotFound", commit.sha)

        headers = {
            "X-Repo-Commit": commit.sha,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if entry.xet_hash is not None:
            base = self._base_url()
            token_url = f"{base}/api/models/{repo_id}/xet-read-token/{commit.sha}"
            headers.update(
                {
                    "ETag": f'"{entry.sha256}"',
                    "X-Linked-Etag": f'"{entry.sha256}"',
                    "X-Linked-Size": str(entry.size),
                    "X-Xet-Hash": self.emulator.advertised_xet_hash(repo_id, entry) or "",
                    "Link": f'<{token_url}>; rel="xet-auth"',
                }
            )
        else:
            headers["ETag"] = f'"{entry.oid}"'

        start, end = self._range(entry.size)
        length = end - start
        status = 206 if (start, end) != (0, entry.size) else 200
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{entry.size}"

        if method == "HEAD":
            self._send(status, headers, b"", declared_length=entry.size if status == 200 else length)
            return

        corrupt = self.emulator.faults.corrupts(repo_id, entry.path)
        if entry.xet_hash is not None:
            body: Iterable[bytes] = self.emulator.read_xet(entry, start, end)
        else:
            data = self.emulator.store.blob_path(repo_id, entry.oid).read_bytes()
            body = [data[start:end]]
        if corrupt:
            body = _flip_first_byte(body)
        self._send(status, headers, body, declared_length=length)

    # Response helpers.

    def _range(self, size: int) -> tuple[int, int]:
        header = self.headers.get("Range")
        if not header:
            return 0, size
        try:
            unit, _, spec = header.partition("=")
            first, _, last = spec.split(",")[0].strip().partition("-")
            if unit.strip() != "bytes":
                raise ValueError(unit)
            if first == "":
                start, end = max(size - int(last), 0), size
            else:
                start = int(first)
                end = min(int(last) + 1, size) if last else size
        except ValueError:
            raise _HttpError(416, f"Invalid Range header {header!r}") from None
        if start >= size or start >= end:
            raise _HttpError(416, f"Range {header!r} not satisfiable for {size} bytes")
        return start, end

    def _send_json(self, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        self._send(200, headers, [body], declared_length=len(body))

    def _send_error(self, error: _HttpError) -> None:
        body = json.dumps({"error": error.message}).encode()
        headers = {"Content-Type": "application/json", "X-Error-Message": error.message}
        if error.error_code:
            headers["X-Error-Code"] = error.error_code
        if error.commit:
            headers["X-Repo-Commit"] = error.commit
        if self._record_.status is None:
            self.emulator._finish(self._record_, error.status)
        self._send(error.status, headers, [body] if self.command != "HEAD" else b"", declared_length=len(body))

    def _send(self, status: int, headers: dict[str, str], body: Iterable[bytes], declared_length: int) -> None:
        record = self._record_
        truncate: Fault | None = None
        if self.command == "GET" and status < 300:
            truncate = self.emulator.faults.take(self.command, record.path, ("truncate",))

        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(declared_length))
        self.end_headers()

        if record.status is None:
            self.emulator._finish(record, status, "truncate" if truncate else None)

        if self.command == "HEAD":
            return

        limit = int(declared_length * truncate.fraction) if truncate else None
        sent = 0
        for chunk in body:
            if limit is not None and sent + len(chunk) >= limit:
                self.wfile.write(chunk[: limit - sent])
                self.wfile.flush()
                self._drop()
                return
            self.wfile.write(chunk)
            sent += len(chunk)
        if limit is not None:
            self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _base_url(self) -> str:
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        return f"http://{host}"

    def _query_flag(self, name: str) -> bool:
        values = parse_qs(urlsplit(self.path).query).get(name, ["false"])
        return values[-1].lower() in ("1", "true", "yes")

    def _query_int(self, name: str, default: int) -> int:
        values = parse_qs(urlsplit(self.path).query).get(name)
        if not values:
            return default
        try:
            return max(int(values[-1]), 0)
        except ValueError:
            raise _HttpError(400, f"Invalid {name} {values[-1]!r}: expected an integer.") from None


def _flip_first_byte(chunks: Iterable[bytes]) -> Iterator[bytes]:
    first = True
    for chunk in chunks:
        if first and chunk:
            chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            first = False
        yield chunk


def serve_forever(
    root: Path,
    port: int,
    *,
    token: str | None = None,
    faults: list[Fault] | None = None,
    endpoint_file: Path | None = None,
) -> None:
    """Run an emulator in the foreground until SIGINT or SIGTERM, printing its endpoint first.

    Args:
        root (`Path`): the store folder.
        port (`int`): TCP port on 127.0.0.1; 0 picks a free one.
        token (`str`, *optional*): the token private and gated repositories require.
        faults (`list[Fault]`, *optional*): fault rules to apply from the start.
        endpoint_file (`Path`, *optional*): file to write the endpoint URL into once serving,
            so that a parent process can wait for it.
    """
    import signal

    stopped = threading.Event()
    emulator = HubEmulator(root, port, token=token)
    for fault in faults or []:
        emulator.add_fault(fault)

    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    emulator.start()
    try:
        if endpoint_file is not None:
            tmp = Path(endpoint_file).with_name(f".{Path(endpoint_file).name}.tmp")
            tmp.write_text(emulator.endpoint + "\n", encoding="utf-8")
            tmp.replace(endpoint_file)
        print(f"Hub emulator serving {emulator.endpoint} from {emulator.store.root}", flush=True)
        while not stopped.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
        signal.signal(signal.SIGTERM, previous)
