"""Fixed object names, labels and annotation keys of the Kubernetes rollout.

The names are part of the operator contract: runbooks, dashboards and the
troubleshooting commands in docs/kubernetes.md use them as they are.
"""

from __future__ import annotations

NAMESPACE = "docling"
JOB_NAME = "download-docling-model"
DEPLOYMENT_NAME = "docling-model"
SERVICE_NAME = "docling-model-service"
CONFIGMAP_NAME = "docling-model-set"
PVC_NAME = "docling-models"
PV_NAME_PREFIX = "docling-models-"

API_CONTAINER = "api"
JOB_CONTAINER = "download"
COPY_CONTAINER = "copy-models"

FIELD_MANAGER = "docling-runbook"
ROLLBACK_FIELD_MANAGER = "docling-runbook-rollback"

PART_OF_LABEL = {"app.kubernetes.io/part-of": "docling-runbook"}
API_SELECTOR = {"app.kubernetes.io/name": DEPLOYMENT_NAME}

# Annotation keys; "docling-runbook" is a valid DNS label, so it is a valid key prefix.
SPEC_HASH_ANNOTATION = "docling-runbook/spec-sha256"
MODEL_SET_HASH_ANNOTATION = "docling-runbook/model-set-sha256"
MODEL_SET_ID_ANNOTATION = "docling-runbook/model-set-id"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"

# Fixed by the image: the API and the download Job run as this user and group.
CONTAINER_UID = 1000
API_PORT = 8000
SERVICE_PORT = 80
