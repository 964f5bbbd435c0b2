"""The optional API key: X-Api-Key from a key file or DOCLING_API_KEY, open probes, 401 otherwise.

These services start without model folders, so no worker loads: a request that passes
the key check then gets 503 ``not_ready``, which shows it got past authentication.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from test_service_api import metric_value

pytestmark = pytest.mark.timeout(300)

FILE_KEY = "file-key-1b7e4d2a"
ROTATED_KEY = "file-key-9c3f0e51"
ENV_KEY = "env-key-5d8a6b3c"


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "api-key"
    path.write_text(f"{FILE_KEY}\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def auth_service(start_service, tmp_path_factory, key_file):
    models = tmp_path_factory.mktemp("no-models")
    return start_service(
        models, env={"DOCLING_API_KEY_FILE": str(key_file), "DOCLING_API_KEY": ENV_KEY}, wait_ready=False
    )


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/docs", "/openapi.json"])
def test_probes_metrics_and_docs_are_open(auth_service, path):
    response = auth_service.client.get(path)

    assert response.status_code != 401, response.text


def test_missing_key_gets_401(auth_service):
    response = auth_service.client.get("/")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert "X-Api-Key" in error["message"]
    assert "requires an API key" in error["message"]


def test_wrong_key_gets_401(auth_service):
    response = auth_service.client.get("/", headers={"X-Api-Key": "guess"})

    assert response.status_code == 401
    assert "is wrong" in response.json()["error"]["message"]


def test_convert_without_key_is_refused_before_the_upload(auth_service):
    response = auth_service.client.post("/convert", files={"file": ("a.pdf", b"%PDF-1.4 not read")})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("key", [FILE_KEY, ENV_KEY])
def test_key_from_file_or_environment_is_accepted(auth_service, key):
    headers = {"X-Api-Key": key}

    root = auth_service.client.get("/", headers=headers)
    convert = auth_service.client.post("/convert", headers=headers, files={"file": ("a.pdf", b"%PDF-1.4")})

    assert root.status_code == 200, root.text
    # Past the key check: no worker exists, so the conversion is refused as not ready.
    assert convert.status_code == 503
    assert convert.json()["error"]["code"] == "not_ready"


def test_key_file_is_read_again_when_it_changes(auth_service, key_file):
    key_file.write_text(f"{ROTATED_KEY}\n", encoding="utf-8")
    stamp = key_file.stat().st_mtime_ns
    os.utime(key_file, ns=(stamp + 10**9, stamp + 10**9))

    old = auth_service.client.get("/", headers={"X-Api-Key": FILE_KEY})
    new = auth_service.client.get("/", headers={"X-Api-Key": ROTATED_KEY})

    assert old.status_code == 401
    assert new.status_code == 200


def test_refusals_are_counted_and_keys_never_logged(auth_service):
    auth_service.client.get("/", headers={"X-Api-Key": "guess"})

    metrics = auth_service.client.get("/metrics").text
    log = auth_service.log_path.read_text(encoding="utf-8")

    assert metric_value(metrics, "docling_api_rejections_total", {"reason": "unauthorized"}) >= 3
    for key in (FILE_KEY, ROTATED_KEY, ENV_KEY, "guess"):
        assert key not in log


def test_openapi_declares_the_key_header(auth_service):
    schemes = auth_service.client.get("/openapi.json").json()["components"]["securitySchemes"]

    assert {"type": "apiKey", "in": "header", "name": "X-Api-Key"}.items() <= next(iter(schemes.values())).items()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DOCLING_API")}
    return subprocess.run(
        [sys.executable, "-m", "docling_api", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **(env or {})},
    )


def test_missing_key_file_stops_the_start(tmp_path):
    missing = tmp_path / "nothing-here"

    completed = run_cli("--models-dir", str(tmp_path), "--api-key-file", str(missing))

    assert completed.returncode == 2
    assert str(missing) in completed.stderr
    assert "--api-key-file" in completed.stderr


def test_empty_key_file_stops_the_start(tmp_path):
    empty = tmp_path / "api-key"
    empty.write_text("\n", encoding="utf-8")

    completed = run_cli("--models-dir", str(tmp_path), env={"DOCLING_API_KEY_FILE": str(empty)})

    assert completed.returncode == 2
    assert "contains no key" in completed.stderr
