"""Rendering and offline validation of the Kubernetes manifests."""

from __future__ import annotations

import re
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from runbook_lib.errors import ManifestValidationError, ModelSetError, ParameterError
from runbook_lib.k8s import K8S_DIR, load_manifest_dir, render_manifests, supported_versions, validate_manifests
from runbook_lib.k8s._render import MODEL_SET_KEY
from runbook_lib.models import default_model_set_path
from runbook_lib.params import EXAMPLE_PARAMS_FILE, load_params

AKS = {}
KIND = {"storage_class": "standard", "storage_access_mode": "ReadWriteOnce", "storage_account": None, "resource_group": None}
EXISTING_CLAIM = {"existing_pvc": "shared-models", "internal_load_balancer": True, "load_balancer_source_ranges": ["10.20.0.0/16", "2001:db8::/64"]}
LOCAL_COPY = {"copy_models_to_local_disk": True, "model_set_id": "4f2a9c1e", "replicas": 3, "namespace": "docling-staging",
              "cpu_request": "1", "cpu_limit": 2, "memory_request": "2Gi", "memory_limit": "6Gi", "hf_endpoint": "https://hub.example.internal"}
PARAMETER_SETS = {"aks": AKS, "kind": KIND, "existing-claim": EXISTING_CLAIM, "local-copy": LOCAL_COPY}

MOUNT_OPTIONS = ["dir_mode=0755", "file_mode=0644", "uid=1000", "gid=1000", "mfsymlinks", "cache=strict", "actimeo=30", "nosharesock", "nobrl"]


# An Azure storage account key: 64 random bytes in base64, 88 characters ending in "==".
BASE64_KEY = re.compile(r"[A-Za-z0-9+/]{86}==")


def walk(node, keys: set, values: list) -> None:
    """Collect every mapping key and string value in a manifest tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            keys.add(key)
            walk(value, keys, values)
    elif isinstance(node, list):
        for item in node:
            walk(item, keys, values)
    elif isinstance(node, str):
        values.append(node)


def render(**overrides):
    return render_manifests(load_params(EXAMPLE_PARAMS_FILE, overrides))


def pod_spec(manifests, kind):
    return manifests.get(kind)["spec"]["template"]["spec"]


def api_container(manifests):
    return next(c for c in pod_spec(manifests, "Deployment")["containers"] if c["name"] == "api")


def all_containers(manifests):
    for kind in ("Job", "Deployment"):
        spec = pod_spec(manifests, kind)
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


@pytest.mark.parametrize("version", ["1.25", "1.33", supported_versions()[-1]])
@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_rendered_manifests_pass_strict_schemas(name, version):
    manifests = render(**PARAMETER_SETS[name])

    for doc in manifests.documents():
        assert kubernetes_validate.validate(doc, version, strict=True) == version
    assert validate_manifests(manifests.documents(), version) == version


def test_committed_manifests_pass_strict_schemas():
    committed = load_manifest_dir(K8S_DIR)

    assert validate_manifests(committed.documents(), "1.33") == "1.33"
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert kustomization["resources"] == list(committed.files)


def test_fixed_names():
    manifests = render()

    assert manifests.get("Namespace")["metadata"]["name"] == "docling"
    assert manifests.get("Job")["metadata"]["name"] == "download-docling-model"
    assert manifests.get("Deployment")["metadata"]["name"] == "docling-model"
    assert manifests.get("Service")["metadata"]["name"] == "docling-model-service"
    for doc in manifests.documents():
        if doc["kind"] not in ("Namespace", "PersistentVolume"):
            assert doc["metadata"]["namespace"] == "docling", doc["kind"]


def test_azure_files_volume():
    manifests = render()
    pv = manifests.get("PersistentVolume")
    pvc = manifests.get("PersistentVolumeClaim")

    assert pv["spec"]["csi"]["driver"] == "file.csi.azure.com"
    assert pv["spec"]["csi"]["volumeAttributes"] == {
        "resourceGroup": "rg-docling-example",
        "storageAccount": "stdoclingexample",
        "shareName": "models",
        "getLatestAccountKey": "true",
    }
    assert pv["spec"]["csi"]["volumeHandle"] == "rg-docling-example#stdoclingexample#models"
    assert pv["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pv["spec"]["mountOptions"] == MOUNT_OPTIONS
    assert pv["spec"]["claimRef"] == {"namespace": "docling", "name": "docling-models"}
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]
    assert pvc["spec"]["storageClassName"] == ""


def test_get_latest_account_key_stays_a_string(tmp_path):
    render().write(tmp_path)

    text = (tmp_path / "storage.yaml").read_text()
    assert "getLatestAccountKey: 'true'" in text
    pv = next(doc for doc in yaml.safe_load_all(text) if doc and doc["kind"] == "PersistentVolume")
    assert pv["spec"]["csi"]["volumeAttributes"]["getLatestAccountKey"] == "true"
    assert isinstance(pv["spec"]["csi"]["volumeAttributes"]["getLatestAccountKey"], str)


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_no_secrets_in_manifests(name):
    manifests = render(**PARAMETER_SETS[name])
    keys, values = set(), []
    walk(manifests.documents(), keys, values)

    assert not manifests.select("Secret")
    forbidden = {"nodestagesecretref", "accountkey", "azurestorageaccountkey", "storageaccountkey", "secretname", "password"}
    assert not {key.lower() for key in keys} & forbidden
    assert not [value for value in values if BASE64_KEY.search(value)]
    for container in all_containers(manifests):
        for env in container.get("env", []):
            if "secretKeyRef" in env.get("valueFrom", {}):
                assert env == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token", "optional": True}}}
            assert "token" not in env.get("value", "").lower()


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_containers_run_as_non_root(name):
    manifests = render(**PARAMETER_SETS[name])

    for kind in ("Job", "Deployment"):
        spec = pod_spec(manifests, kind)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 1000
        assert spec["securityContext"]["runAsGroup"] == 1000
        assert spec["automountServiceAccountToken"] is False
    for container in all_containers(manifests):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]


def test_api_mounts_share_read_only_with_probes():
    manifests = render()
    spec = pod_spec(manifests, "Deployment")
    container = api_container(manifests)

    assert container["command"] == ["docling-api", "--models-dir", "/models"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in container["volumeMounts"]
    models_volume = next(v for v in spec["volumes"] if v["name"] == "models")
    assert models_volume["persistentVolumeClaim"] == {"claimName": "docling-models", "readOnly": True}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert next(v for v in spec["volumes"] if v["name"] == "tmp")["emptyDir"]

    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}


def test_default_resources_and_replicas():
    manifests = render()

    assert manifests.get("Deployment")["spec"]["replicas"] == 1
    assert api_container(manifests)["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi"}}


def test_parameters_reach_deployment():
    manifests = render(**LOCAL_COPY)
    deployment = manifests.get("Deployment")
    container = api_container(manifests)

    assert deployment["metadata"]["namespace"] == "docling-staging"
    assert deployment["spec"]["replicas"] == 3
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "6Gi"}}
    assert container["image"] == "crdoclingexample.azurecr.io/docling-api:0.1.0"
    assert deployment["spec"]["template"]["metadata"]["annotations"]["docling-runbook/model-set-id"] == "4f2a9c1e"


def test_local_copy_init_container():
    manifests = render(**LOCAL_COPY)
    spec = pod_spec(manifests, "Deployment")
    container = api_container(manifests)
    (init,) = spec["initContainers"]

    assert init["name"] == "copy-models"
    assert init["command"][:2] == ["sh", "-c"]
    assert 'cp -R "/models/sets/$set_id/." /local-models/' in init["command"][2]
    assert {"name": "MODEL_SET_ID", "value": "4f2a9c1e"} in init["env"]
    assert {"name": "models", "mountPath": "/models", "readOnly": True} in init["volumeMounts"]
    assert container["command"] == ["docling-api", "--models-dir", "/local-models"]
    assert all(mount["name"] != "models" for mount in container["volumeMounts"])
    assert {"name": "local-models", "mountPath": "/local-models", "readOnly": True} in container["volumeMounts"]
    assert next(v for v in spec["volumes"] if v["name"] == "local-models")["emptyDir"] == {"sizeLimit": "20Gi"}


def test_local_copy_script_follows_current(tmp_path):
    init = pod_spec(render(copy_models_to_local_disk=True), "Deployment")["initContainers"][0]
    script = init["command"][2]
    assert "env" not in init

    share, local = tmp_path / "models", tmp_path / "local-models"
    (share / "sets" / "abc123" / "docling-project--docling-layout-heron").mkdir(parents=True)
    (share / "sets" / "abc123" / "manifest.json").write_text("{}")
    (share / "sets" / "abc123" / "docling-project--docling-layout-heron" / "config.json").write_text("{}")
    (share / "current").write_text("abc123\n")
    local.mkdir()
    runnable = script.replace("/local-models", "@LOCAL@").replace("/models", str(share)).replace("@LOCAL@", str(local))

    done = subprocess.run(["sh", "-c", runnable], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (local / "manifest.json").exists()
    assert (local / "docling-project--docling-layout-heron" / "config.json").exists()

    (share / "current").write_text("../etc\n")
    rejected = subprocess.run(["sh", "-c", runnable], capture_output=True, text=True)
    assert rejected.returncode == 1
    assert "invalid model set id" in rejected.stderr

    (share / "current").unlink()
    missing = subprocess.run(["sh", "-c", runnable], capture_output=True, text=True)
    assert missing.returncode == 1
    assert "run the model download Job first" in missing.stderr


def test_model_set_id_pins_the_set():
    container = api_container(render(model_set_id="4f2a9c1e"))
    assert container["command"] == ["docling-api", "--models-dir", "/models/sets/4f2a9c1e"]


def test_download_job():
    manifests = render(hf_endpoint="https://hub.example.internal")
    job = manifests.get("Job")
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]

    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] == 3600
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert pod["restartPolicy"] == "Never"
    assert container["command"] == ["runbook", "models", "download", "--model-set", "/config/model-set.yaml",
                                    "--dest", "/models", "--staging", "/staging"]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert {"name": "HF_ENDPOINT", "value": "https://hub.example.internal"} in container["env"]
    assert {"name": "HF_HUB_OFFLINE", "value": "0"} in container["env"]
    assert {"name": "models", "mountPath": "/models"} in container["volumeMounts"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["staging"]["emptyDir"] == {"sizeLimit": "20Gi"}
    assert volumes["model-set"]["configMap"] == {"name": "docling-model-set"}
    assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "docling-models"}
    assert len(job["metadata"]["annotations"]["docling-runbook/spec-sha256"]) == 64


def test_model_set_configmap(tmp_path):
    model_set = tmp_path / "set.yaml"
    model_set.write_text("repositories:\n  - repo: org/model\n    revision: 0123456789abcdef0123456789abcdef01234567\n")

    default = render()
    custom = render(model_set=str(model_set))

    assert custom.get("ConfigMap")["data"] == {MODEL_SET_KEY: model_set.read_text()}
    assert default.get("ConfigMap")["data"] == {MODEL_SET_KEY: default_model_set_path().read_text()}
    job_hash = lambda m: m.get("Job")["metadata"]["annotations"]["docling-runbook/spec-sha256"]  # noqa: E731
    assert job_hash(custom) != job_hash(default)
    assert job_hash(render()) == job_hash(default)


def test_committed_configmap_matches_default_set():
    committed = yaml.safe_load((K8S_DIR / "model-set-configmap.yaml").read_text())

    assert committed["data"][MODEL_SET_KEY] == default_model_set_path().read_text()


def test_other_cluster_storage_class():
    manifests = render(**KIND)

    assert not manifests.select("PersistentVolume")
    pvc = manifests.get("PersistentVolumeClaim")
    assert pvc["spec"]["storageClassName"] == "standard"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "volumeName" not in pvc["spec"]


def test_existing_claim_renders_no_storage(tmp_path):
    manifests = render(**EXISTING_CLAIM)

    assert "storage.yaml" not in manifests.files
    assert not manifests.select("PersistentVolume", "PersistentVolumeClaim")
    for kind in ("Job", "Deployment"):
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_spec(manifests, kind)["volumes"] if "persistentVolumeClaim" in v]
        assert claims == ["shared-models"]
    manifests.write(tmp_path)
    assert yaml.safe_load((tmp_path / "kustomization.yaml").read_text())["resources"] == [
        "namespace.yaml", "model-set-configmap.yaml", "download-job.yaml", "deployment.yaml"]


def test_service_options():
    default = render().get("Service")
    internal = render(**EXISTING_CLAIM).get("Service")

    assert default["spec"]["type"] == "LoadBalancer"
    assert default["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert "annotations" not in default["metadata"]
    assert "loadBalancerSourceRanges" not in default["spec"]
    assert internal["metadata"]["annotations"] == {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
    assert internal["spec"]["loadBalancerSourceRanges"] == ["10.20.0.0/16", "2001:db8::/64"]


def test_render_is_deterministic(tmp_path):
    render().write(tmp_path / "a")
    render().write(tmp_path / "b")

    for path in (tmp_path / "a").iterdir():
        assert path.read_text() == (tmp_path / "b" / path.name).read_text()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"storage_class": "standard", "existing_pvc": "x"}, "storage_class 'standard' and existing_pvc 'x' are both set"),
        ({"storage_account": None}, "storage_account missing"),
        ({"storage_account": "Not_Valid"}, "storage_account 'Not_Valid' is not a storage account name"),
        ({"share_name": "a"}, "share_name 'a' is not an Azure Files share name"),
        ({"memory_limit": "lots"}, "memory_limit 'lots' is not a Kubernetes quantity"),
        ({"cpu_request": "8"}, "cpu_request '8' exceeds cpu_limit '4'"),
        ({"download_memory_request": "0"}, "download_memory_request '0' must be greater than zero"),
        ({"load_balancer_source_ranges": ["10.0.0.1/8"]}, "load_balancer_source_ranges entry '10.0.0.1/8' is not a CIDR range"),
        ({"model_set_id": "../current"}, "model_set_id '../current' is not a model set id"),
        ({"namespace": "Docling_NS"}, "namespace 'Docling_NS' is not a valid Kubernetes name"),
        ({"image": "docling api"}, "image 'docling api' is not a valid image reference"),
        ({"existing_pvc": "Bad Claim"}, "existing_pvc 'Bad Claim' is not a valid Kubernetes name"),
    ],
)
def test_invalid_parameters_named(overrides, expected):
    with pytest.raises(ParameterError) as caught:
        render(**overrides)

    assert expected in str(caught.value)


def test_missing_model_set_file(tmp_path):
    with pytest.raises(ModelSetError, match="Model set file .*missing.yaml not found"):
        render(model_set=str(tmp_path / "missing.yaml"))


def test_invalid_model_set_rejected(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("repositories:\n  - repo: not a repo id\n    revision: main\n")

    with pytest.raises(ModelSetError, match="Invalid model set in .*bad.yaml"):
        render(model_set=str(path))


def test_version_read_as_number_rejected():
    with pytest.raises(ParameterError, match=r'quoted string, such as "1.30"'):
        load_params(overrides={"kubernetes_version": 1.30})


def test_quantities_read_as_numbers_accepted():
    params = load_params(overrides={"cpu_limit": 4, "cpu_request": 0.5})

    assert (params.cpu_limit, params.cpu_request) == ("4", "0.5")


@pytest.mark.parametrize("version", ["1.12", "2.0", "latest"])
def test_unsupported_version_named(version):
    with pytest.raises(ParameterError, match=f"kubernetes_version '{version}'"):
        validate_manifests(render().documents(), version)


def test_newer_cluster_clamped_to_newest_schemas():
    newest = supported_versions()[-1]
    assert validate_manifests(render().documents(), "v1.99.0", clamp_newer=True) == newest


def test_invalid_manifest_reported():
    docs = render().documents()
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    job = next(doc for doc in docs if doc["kind"] == "Job")
    job["spec"]["template"]["spec"]["containers"][0]["unknownField"] = True

    with pytest.raises(ManifestValidationError) as caught:
        validate_manifests(docs, "1.33")

    message = str(caught.value)
    assert "2 manifest problem(s) against the Kubernetes 1.33 schemas" in message
    assert "Deployment docling-model: spec.template.spec.containers.0.ports.0.containerPort: 'eight thousand'" in message
    assert "Job download-docling-model: spec.template.spec.containers.0" in message
    assert "unknownField" in message


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "runbook_lib.cli", *args], capture_output=True, text=True, timeout=120)


def test_cli_render_writes_validated_manifests(tmp_path):
    out = tmp_path / "rendered"
    done = run_cli("k8s", "render", "--out", str(out), "--kubernetes-version", "1.33")

    assert done.returncode == 0, done.stderr
    assert "validated against Kubernetes 1.33 (strict)" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["namespace.yaml", "storage.yaml", "model-set-configmap.yaml", "download-job.yaml", "deployment.yaml", "kustomization.yaml"])
    assert load_manifest_dir(out).documents() == render().documents()


def test_cli_render_with_params_file(tmp_path):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"target": "kubeconfig", "image": "registry.local/docling-api:2", "storage_class": "standard",
                                           "replicas": 2}))
    out = tmp_path / "rendered"

    done = run_cli("k8s", "render", "--params", str(params_file), "-p", "replicas=3", "--out", str(out))

    assert done.returncode == 0, done.stderr
    deployment = next(d for d in yaml.safe_load_all((out / "deployment.yaml").read_text()) if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.local/docling-api:2"
    assert not (out / "storage.yaml").read_text().count("PersistentVolume\n")


def test_cli_render_bad_parameter_exit_code(tmp_path):
    done = run_cli("k8s", "render", "--out", str(tmp_path / "out"), "-p", "cpu_request=9")

    assert done.returncode == 2
    assert "cpu_request '9' exceeds cpu_limit '4'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_validate_reports_broken_manifest(tmp_path):
    render().write(tmp_path)
    service = tmp_path / "deployment.yaml"
    service.write_text(service.read_text().replace("port: 80\n", "port: eighty\n"))

    done = run_cli("k8s", "validate", str(tmp_path), "--kubernetes-version", "1.33")

    assert done.returncode == 2
    assert "Service docling-model-service: spec.ports.0.port: 'eighty'" in done.stderr


def test_cli_validate_missing_folder(tmp_path):
    done = run_cli("k8s", "validate", str(tmp_path / "nowhere"))

    assert done.returncode == 2
    assert "not found" in done.stderr


def test_service_keeps_clients_on_one_pod():
    service = render(replicas=3).get("Service")

    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["spec"]["externalTrafficPolicy"] == "Local"


def test_api_key_secret_mounted_as_file():
    manifests = render(api_key_secret="docling-api-key")
    spec = pod_spec(manifests, "Deployment")
    container = api_container(manifests)
    [volume] = [v for v in spec["volumes"] if v["name"] == "api-key"]

    assert volume["secret"] == {"secretName": "docling-api-key", "items": [{"key": "api-key", "path": "api-key"}]}
    assert {"name": "api-key", "mountPath": "/etc/docling-api", "readOnly": True} in container["volumeMounts"]
    assert {"name": "DOCLING_API_KEY_FILE", "value": "/etc/docling-api/api-key"} in container["env"]
    validate_manifests(manifests.documents(), "1.33")


def test_no_api_key_by_default():
    container = api_container(render())

    assert all(item["name"] != "DOCLING_API_KEY_FILE" for item in container["env"])
