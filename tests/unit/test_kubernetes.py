"""deploy/kubernetes, checked offline: every manifest against the Kubernetes API schemas that
kubernetes-validate ships (no cluster, no network), KEDA's ScaledObjects against a JSON schema
of their own below, and what an operator would notice: a worker per queue, grace periods past
the hard time limits, one beat, ai and reports scaling to zero, no secret in the ConfigMap.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from app.runtime.processes import worker_plans
from app.settings import QUEUES
from config.celery_config import HARD_TIME_LIMITS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# The API version the manifests target; kubernetes-validate falls back to the newest schemas
# it has that are not newer than this.
KUBERNETES_VERSION = "1.33.0"
FILES = sorted(DEPLOY.rglob("*.yaml"))
DOCUMENTS = [
    (path, doc) for path in FILES for doc in yaml.safe_load_all(path.read_text()) if doc
]
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"
KEDA = "keda.sh/v1alpha1"


def _named(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in DOCUMENTS if d["kind"] == kind}


DEPLOYMENTS = _named("Deployment")
SCALED_OBJECTS = _named("ScaledObject")

# KEDA's ScaledObject is a CRD, which kubernetes-validate has no schema for. This is the part of
# keda.sh/v1alpha1 these manifests use (field names and types from KEDA's ScaledObject spec),
# closed with additionalProperties so that a misspelt field fails instead of being ignored.
SCALED_OBJECT_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": KEDA},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers", "minReplicaCount", "maxReplicaCount"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "apiVersion": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "additionalProperties": False,
                    "properties": {
                        "failureThreshold": {"type": "integer", "minimum": 1},
                        "replicas": {"type": "integer", "minimum": 0},
                    },
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                "behavior": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "scaleUp": {"$ref": "#/$defs/rules"},
                                        "scaleDown": {"$ref": "#/$defs/rules"},
                                    },
                                },
                            },
                        },
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "prometheus"},
                            "metricType": {"enum": ["AverageValue", "Value"]},
                            "metadata": {
                                "type": "object",
                                "required": ["serverAddress", "query", "threshold"],
                                # KEDA reads trigger metadata as strings: 100 unquoted is an error.
                                "additionalProperties": {"type": "string"},
                                "properties": {
                                    "serverAddress": {"type": "string", "pattern": "^https?://"},
                                    "threshold": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
                                    "activationThreshold": {
                                        "type": "string", "pattern": r"^\d+(\.\d+)?$"
                                    },
                                    "ignoreNullValues": {"enum": ["true", "false"]},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "$defs": {
        # autoscaling/v2 HPAScalingRules, as KEDA passes them to the HPA.
        "rules": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
                "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
                "policies": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "value", "periodSeconds"],
                        "properties": {
                            "type": {"enum": ["Pods", "Percent"]},
                            "value": {"type": "integer", "minimum": 1},
                            "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800},
                        },
                    },
                },
            },
        },
    },
}


def _id(item: tuple[Path, dict]) -> str:
    path, doc = item
    return f"{path.relative_to(DEPLOY)}:{doc['kind']}/{doc['metadata'].get('name', '')}"


KUBERNETES_DOCS = [d for d in DOCUMENTS if d[1]["apiVersion"] not in (KUSTOMIZE, KEDA)]


@pytest.mark.parametrize("item", KUBERNETES_DOCS, ids=[_id(d) for d in KUBERNETES_DOCS])
def test_every_manifest_is_valid_for_the_kubernetes_api(item: tuple[Path, dict]) -> None:
    _, doc = item
    # strict: fields the API does not know fail too (kubectl would drop them silently).
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_what_the_api_would() -> None:
    broken = yaml.safe_load(yaml.safe_dump(DEPLOYMENTS["beat"]))
    broken["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = yaml.safe_load(yaml.safe_dump(DEPLOYMENTS["beat"]))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 30  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", sorted(SCALED_OBJECTS))
def test_every_scaled_object_matches_the_keda_schema(name: str) -> None:
    jsonschema.validate(SCALED_OBJECTS[name], SCALED_OBJECT_SCHEMA)


def test_the_keda_schema_rejects_a_misspelt_field_and_an_unquoted_threshold() -> None:
    scaled = yaml.safe_load(yaml.safe_dump(SCALED_OBJECTS["worker-files"]))
    scaled["spec"]["minReplicas"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)
    scaled = yaml.safe_load(yaml.safe_dump(SCALED_OBJECTS["worker-files"]))
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 50
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)


def test_the_kustomizations_list_every_manifest_but_the_example_secret() -> None:
    listed = set()
    for path in DEPLOY.rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text())
        assert kustomization["namespace"] == "nexus"
        listed |= {(path.parent / name).resolve() for name in kustomization["resources"]}
    manifests = {p.resolve() for p in FILES if p.name != "kustomization.yaml"}
    assert manifests - listed == {(DEPLOY / "secret.example.yaml").resolve()}
    assert listed <= manifests


def _container(deployment: dict) -> dict:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_every_queue_has_a_worker_that_reads_only_that_queue() -> None:
    workers = {n for n in DEPLOYMENTS if n.startswith("worker-")}
    assert workers == {f"worker-{q}" for q in QUEUES}
    for queue in QUEUES:
        deployment = DEPLOYMENTS[f"worker-{queue}"]
        command = _container(deployment)["command"]
        assert command[command.index("-Q") + 1] == queue
        # An explicit -c: os.cpu_count() in a pod is the node's, not the CPU limit.
        assert "-c" in command and "-E" in command
        # The queue's own prefetch, as `make run` and compose use (app.runtime.processes).
        prefetch = command[command.index("--prefetch-multiplier") + 1]
        assert prefetch == str(worker_plans()[queue].prefetch)
        resources = _container(deployment)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) & set(resources["limits"])
        # KEDA owns the replica count; a `replicas` here would be reset by every apply.
        assert "replicas" not in deployment["spec"], queue


def test_every_worker_outlives_its_longest_task_on_sigterm() -> None:
    for queue in QUEUES:
        spec = DEPLOYMENTS[f"worker-{queue}"]["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] > HARD_TIME_LIMITS[queue], queue


def test_every_queue_scales_on_its_own_queue_length_gauge() -> None:
    assert set(SCALED_OBJECTS) == {f"worker-{q}" for q in QUEUES}
    for queue in QUEUES:
        spec = SCALED_OBJECTS[f"worker-{queue}"]["spec"]
        assert spec["scaleTargetRef"]["name"] in DEPLOYMENTS
        assert spec["scaleTargetRef"]["name"] == f"worker-{queue}"
        [trigger] = spec["triggers"]
        assert trigger["type"] == "prometheus"  # not redis: priorities are several lists
        assert re.fullmatch(rf'sum\(nexus_queue_length\{{queue="{queue}"\}}\)',
                            trigger["metadata"]["query"]), trigger["metadata"]["query"]
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert spec["cooldownPeriod"] >= 60  # never to zero between two jobs of a batch


def test_ai_and_reports_scale_to_zero_and_the_rest_keep_a_worker() -> None:
    for queue in QUEUES:
        low = SCALED_OBJECTS[f"worker-{queue}"]["spec"]["minReplicaCount"]
        assert low == (0 if queue in ("ai", "reports") else 1), queue
        # The first waiting job wakes a queue at zero.
        trigger = SCALED_OBJECTS[f"worker-{queue}"]["spec"]["triggers"][0]["metadata"]
        assert trigger["activationThreshold"] == "0"


def test_beat_is_one_replica_that_is_never_doubled_by_an_update() -> None:
    beat = DEPLOYMENTS["beat"]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"]["type"] == "Recreate"
    assert _container(DEPLOYMENTS["beat"])["command"][:4] == [
        "celery", "-A", "config.celery_config", "beat"
    ]
    assert "worker-beat" not in SCALED_OBJECTS and "beat" not in SCALED_OBJECTS


def test_web_api_flower_and_metrics_have_services_and_probes() -> None:
    services = _named("Service")
    for name in ("web", "api", "flower", "metrics"):
        container = _container(DEPLOYMENTS[name])
        assert "readinessProbe" in container and "livenessProbe" in container, name
        port_names = {p["name"] for p in container["ports"]}
        assert {p["targetPort"] for p in services[name]["spec"]["ports"]} <= port_names, name
    # A queue scaled to zero must not take the API out of its Service.
    assert _container(DEPLOYMENTS["api"])["readinessProbe"]["httpGet"]["path"] == "/health/live"


def test_secrets_stay_out_of_the_config_map() -> None:
    [config] = _named("ConfigMap").values()
    [secret] = _named("Secret").values()
    values = secret["stringData"]
    assert not set(values) & set(config["data"]), "a secret key is set in the ConfigMap"
    for key, value in values.items():
        for name, setting in config["data"].items():
            assert value not in setting, f"the Secret's {key} appears in the ConfigMap's {name}"
    for name in ("REDIS_URL", "SECRETS_KEY", "S3_SECRET_ACCESS_KEY", "FLOWER_PASSWORD",
                 "OIDC_CLIENT_SECRET", "AUTH_COOKIE_SECRET", "SMTP_PASSWORD"):
        assert name in values, name
    # No password in any URL the ConfigMap holds.
    assert not any(re.search(r"://[^/@\s]*:[^/@\s]*@", v) for v in config["data"].values())
    assert config["data"]["STORAGE_URL"].startswith("s3://")


def test_every_app_pod_reads_the_config_and_the_secret() -> None:
    for name, deployment in DEPLOYMENTS.items():
        sources = _container(deployment)["envFrom"]
        assert {"configMapRef": {"name": "nexus-config"}} in sources, name
        assert {"secretRef": {"name": "nexus-secrets"}} in sources, name
        # Nothing shared between pods: only per-pod emptyDirs.
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            assert "emptyDir" in volume, f"{name} mounts {volume}"
