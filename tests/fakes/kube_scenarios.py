"""Scripted cluster behaviour for the fake API server: what the kubelet and controllers would do.

Each ``script_*`` function registers a write hook on a :class:`FakeKubeApiServer`. When the runbook
applies the Job, Deployment or Service, the hook plays the scenario in a thread. Pods appear, change
state, and write logs and events, and the owner's status follows.
"""

from __future__ import annotations

import copy

from .kube_apiserver import FakeKubeApiServer, now

JOB = "download-docling-model"
DEPLOYMENT = "docling-model"
SERVICE = "docling-model-service"

DOWNLOAD_LOG = [
    "2026-12-04T10:00:00Z INFO runbook_lib.models Resolving docling-project/docling-layout-heron@main",
    "2026-12-04T10:00:02Z INFO runbook_lib.models Downloaded 2/2 files, 164.2 MB at 81.0 MB/s over xet",
    "2026-12-04T10:00:03Z INFO runbook_lib.models Published model set 4f2a9c1e to /models/sets/4f2a9c1e",
]


def container_status(name: str, image: str, *, waiting: tuple[str, str] | None = None, running: bool = False,
                     terminated: tuple[str, int] | None = None, ready: bool = False, restarts: int = 0,
                     last_terminated: tuple[str, int] | None = None) -> dict:
    """Build a core/v1 ContainerStatus with one of the states waiting, running or terminated."""
    if waiting is not None:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    elif terminated is not None:
        state = {"terminated": {"reason": terminated[0], "exitCode": terminated[1], "startedAt": now(), "finishedAt": now()}}
    else:
        state = {"running": {"startedAt": now()}} if running else {"waiting": {"reason": "ContainerCreating"}}
    status = {"name": name, "image": image, "imageID": "", "ready": ready, "restartCount": restarts, "started": running, "state": state}
    if last_terminated is not None:
        status["lastState"] = {"terminated": {"reason": last_terminated[0], "exitCode": last_terminated[1]}}
    return status


def pod_for(owner: dict, pod_name: str, phase: str, statuses: list[dict], *, extra_labels: dict | None = None) -> dict:
    """Build a pod from an owner's pod template (a Job or a ReplicaSet) with the given phase and statuses."""
    template = copy.deepcopy(owner["spec"]["template"])
    labels = dict(template["metadata"].get("labels", {}), **(extra_labels or {}))
    conditions = [{"type": "PodScheduled", "status": "True"}]
    if all(s.get("ready") for s in statuses) and statuses:
        conditions.append({"type": "Ready", "status": "True"})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
                                 "uid": owner["metadata"]["uid"], "controller": True}],
        },
        "spec": template["spec"],
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }


def _image(obj: dict) -> str:
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


# Jobs.


def script_job_success(server: FakeKubeApiServer, log_lines: list[str] = DOWNLOAD_LOG, pod_name: str = f"{JOB}-x7k2p") -> None:
    """The Job's pod starts, writes its log while the runbook follows it, exits 0, and the Job completes."""

    def play(server: FakeKubeApiServer, job: dict) -> None:
        ns, image = job["metadata"]["namespace"], _image(job)
        pod = server.put(pod_for(job, pod_name, "Pending", [container_status("download", image)]))
        server.set_status("jobs", ns, JOB, {"active": 1, "startTime": now()})
        server.put(dict(pod, status=dict(pod["status"], phase="Running",
                                         containerStatuses=[container_status("download", image, running=True, ready=True)])))

        server.append_log(ns, pod_name, log_lines[0] + "\n")
        server.wait_until(lambda: server.following_log(pod_name))
        for line in log_lines[1:]:
            server.append_log(ns, pod_name, line + "\n")
        server.close_log(ns, pod_name)

        server.put(dict(pod, status=dict(pod["status"], phase="Succeeded",
                                         containerStatuses=[container_status("download", image, terminated=("Completed", 0))])))
        server.set_status("jobs", ns, JOB, {
            "active": 0, "succeeded": 1, "completionTime": now(),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}],
        })

    server.on_write("Job", JOB, play)


def script_job_image_pull_backoff(server: FakeKubeApiServer, pod_name: str = f"{JOB}-pull1") -> None:
    """The kubelet cannot pull the image (401 from the registry): the pod stays in ImagePullBackOff."""

    def play(server: FakeKubeApiServer, job: dict) -> None:
        image = _image(job)
        server.set_status("jobs", job["metadata"]["namespace"], JOB, {"active": 1, "startTime": now()})
        pod = server.put(pod_for(job, pod_name, "Pending", [container_status("download", image)]))
        server.add_event(pod, "Pulling", f'Pulling image "{image}"', "Normal")
        server.add_event(pod, "Failed", f'Failed to pull image "{image}": failed to authorize: failed to fetch anonymous token: '
                                        "unexpected status from GET request: 401 Unauthorized")
        server.add_event(pod, "BackOff", f'Back-off pulling image "{image}"')
        server.put(dict(pod, status=dict(pod["status"], containerStatuses=[
            container_status("download", image, waiting=("ImagePullBackOff", f'Back-off pulling image "{image}"'))])))

    server.on_write("Job", JOB, play)


def script_job_mount_failure(server: FakeKubeApiServer, pod_name: str = f"{JOB}-mnt01") -> None:
    """The Azure Files CSI driver cannot mount the share: the pod stays in ContainerCreating with FailedMount events."""

    def play(server: FakeKubeApiServer, job: dict) -> None:
        server.set_status("jobs", job["metadata"]["namespace"], JOB, {"active": 1, "startTime": now()})
        pod = server.put(pod_for(job, pod_name, "Pending", [container_status("download", _image(job))]))
        server.add_event(pod, "FailedMount",
                         'MountVolume.MountDevice failed for volume "docling-models-docling" : rpc error: code = Internal desc = '
                         "volume(rg-docling-example#stdoclingexample#models) mount failed: exit status 32: "
                         "mount error(13): Permission denied")

    server.on_write("Job", JOB, play)


def script_job_oom_killed(server: FakeKubeApiServer, pod_name: str = f"{JOB}-oom01") -> None:
    """The download runs out of memory: the container is OOMKilled and the Job fails after its retries."""

    def play(server: FakeKubeApiServer, job: dict) -> None:
        ns, image = job["metadata"]["namespace"], _image(job)
        pod = server.put(pod_for(job, pod_name, "Running", [container_status("download", image, running=True)]))
        server.append_log(ns, pod_name, DOWNLOAD_LOG[0] + "\n")
        server.close_log(ns, pod_name)
        server.put(dict(pod, status=dict(pod["status"], phase="Failed",
                                         containerStatuses=[container_status("download", image, terminated=("OOMKilled", 137))])))
        server.set_status("jobs", ns, JOB, {
            "active": 0, "failed": 3,
            "conditions": [{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"},
                           {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"}],
        })

    server.on_write("Job", JOB, play)


# Deployments and Services.


def _newest_replicaset(server: FakeKubeApiServer, deployment: dict) -> dict:
    ns = deployment["metadata"]["namespace"]
    revision = deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    return next(rs for rs in server.list("replicasets", ns)
                if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == revision)


def complete_rollout(server: FakeKubeApiServer, namespace: str = "docling", name: str = DEPLOYMENT) -> None:
    """Make the Deployment's newest ReplicaSet run ready pods and report the rollout complete."""
    deployment = server.get("deployments", namespace, name)
    rs = _newest_replicaset(server, deployment)
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    replicas = deployment["spec"]["replicas"]
    image = rs["spec"]["template"]["spec"]["containers"][0]["image"]

    for pod in server.list("pods", namespace):
        if pod["metadata"]["labels"].get("app.kubernetes.io/name") == name and pod["metadata"]["labels"].get("pod-template-hash") != pod_hash:
            server.set_status("pods", namespace, pod["metadata"]["name"], {"phase": "Succeeded"})
    for index in range(replicas):
        server.put(pod_for(rs, f"{rs['metadata']['name']}-r{index}", "Running",
                           [container_status("api", image, running=True, ready=True)]))

    server.set_status("replicasets", namespace, rs["metadata"]["name"], {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas})
    server.set_status("deployments", namespace, name, {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
        "conditions": [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "message": f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'},
        ],
    })


def script_rollout_available(server: FakeKubeApiServer) -> None:
    """Each applied pod template rolls out: pods become ready and the Deployment reports the rollout complete."""
    server.on_write("Deployment", DEPLOYMENT, lambda server, deployment: complete_rollout(server, deployment["metadata"]["namespace"]))


def script_rollout_never_available(server: FakeKubeApiServer) -> None:
    """New pods run but never pass the readiness probe (503), and the progress deadline passes."""

    def play(server: FakeKubeApiServer, deployment: dict) -> None:
        ns = deployment["metadata"]["namespace"]
        deployment = server.get("deployments", ns, DEPLOYMENT)
        rs = _newest_replicaset(server, deployment)
        image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
        pod = server.put(pod_for(rs, f"{rs['metadata']['name']}-n0", "Running", [container_status("api", image, running=True)]))
        server.add_event(pod, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
        server.set_status("deployments", ns, DEPLOYMENT, {
            "observedGeneration": deployment["metadata"]["generation"], "replicas": 1, "updatedReplicas": 1,
            "unavailableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'},
            ],
        })

    server.on_write("Deployment", DEPLOYMENT, play)


def script_service_address(server: FakeKubeApiServer, ip: str = "20.50.1.7") -> None:
    """The cloud controller assigns the LoadBalancer Service an external IP."""

    def play(server: FakeKubeApiServer, service: dict) -> None:
        server.wait_until(lambda: server.watching("services"))
        server.set_status("services", service["metadata"]["namespace"], SERVICE, {"loadBalancer": {"ingress": [{"ip": ip}]}})

    server.on_write("Service", SERVICE, play)


def script_service_pending(server: FakeKubeApiServer) -> None:
    """The cloud controller fails to create the load balancer and records why."""

    def play(server: FakeKubeApiServer, service: dict) -> None:
        server.add_event(service, "EnsuringLoadBalancer", "Ensuring load balancer", "Normal")
        server.add_event(service, "SyncLoadBalancerFailed",
                         "Error syncing load balancer: failed to ensure load balancer: PublicIPCountLimitReached: "
                         "Cannot create more than 10 public IP addresses for this subscription in this region.")

    server.on_write("Service", SERVICE, play)
