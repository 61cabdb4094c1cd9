"""deploy/kubernetes/: the manifests are valid against the Kubernetes API schemas (core kinds,
strict) and prometheus-operator's CRD schemas (ServiceMonitor, PrometheusRule, no unknown
field); they agree with each other (kustomization, labels and selectors, ports, probes); the
exporter accepts the arguments and environment its container gets; the security context and
resources are set; and prometheusrule.yaml is what tools/prometheusrule.py writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pydantic
import pytest
import yaml

from redis_ha_exporter import __version__
from tests.conftest import ROOT
from tools import prometheusrule

K8S = ROOT / "deploy" / "kubernetes"
SHARDED = K8S / "sharded"
# Files of the directory that `kubectl apply -k` must not apply.
NOT_APPLIED = {"secret.example.yaml"}
# The newest Kubernetes version whose OpenAPI schemas kubernetes-validate ships.
K8S_VERSION: str = kubernetes_validate.latest_version()
# prometheus-operator's kinds, checked against the models generated from its CRD schemas.
CRD_KINDS = ("PrometheusRule", "ServiceMonitor")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
UID = 65532
PORT = 9121
PORT_NAME = "http-metrics"
MOUNT_SECRET = "/etc/redis-ha-exporter/secret"


@cache
def crd_model(kind: str) -> type[pydantic.BaseModel]:
    """The model of one CRD kind; imported on first use, since the module takes seconds."""
    from cloudcoil.models.prometheus_operator import v1

    models: dict[str, type[pydantic.BaseModel]] = {
        "PrometheusRule": v1.PrometheusRule,
        "ServiceMonitor": v1.ServiceMonitor,
    }
    return models[kind]


# --- loading -------------------------------------------------------------------------------------


@cache
def load(path: Path) -> dict[str, Any]:
    """One file, one document."""
    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    assert len(docs) == 1, f"{path.relative_to(ROOT)}: expected one document, got {len(docs)}"
    doc = docs[0]
    assert isinstance(doc, dict)
    return doc


def manifest_files() -> list[Path]:
    """Every resource manifest under deploy/kubernetes (kustomizations are not resources)."""
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def _name(path: Path) -> str:
    return str(path.relative_to(K8S))


def _kind(kind: str) -> list[Path]:
    return [p for p in manifest_files() if load(p)["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    (path,) = _kind(kind)
    return load(path)


def kustomization() -> dict[str, Any]:
    return load(K8S / "kustomization.yaml")


def component() -> dict[str, Any]:
    return load(SHARDED / "kustomization.yaml")


def _deleted_by(patches: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of every resource a `$patch: delete` strategic merge patch removes."""
    deleted = set()
    for entry in patches:
        patch = yaml.safe_load(entry["patch"])
        assert patch.get("$patch") == "delete", f"unexpected patch in sharded/: {patch}"
        deleted.add((patch["kind"], patch["metadata"]["name"]))
    return deleted


def variants() -> dict[str, list[dict[str, Any]]]:
    """What kustomize builds: the default, and with the sharded component turned on."""
    base = [load(K8S / name) for name in kustomization()["resources"]]
    deleted = _deleted_by(component().get("patches", []))
    sharded = [doc for doc in base if (doc["kind"], doc["metadata"]["name"]) not in deleted]
    sharded += [load(SHARDED / name) for name in component()["resources"]]
    return {"default": base, "sharded": sharded}


def workloads() -> list[dict[str, Any]]:
    return [one(kind) for kind in WORKLOAD_KINDS]


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    assert isinstance(only, dict)
    return only


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert isinstance(labels, dict)
    return labels


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# --- files and kustomization ---------------------------------------------------------------------


def test_every_file_is_applied_by_the_kustomization_or_explicitly_not() -> None:
    top = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    resources = kustomization()["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == top - NOT_APPLIED, "list the new file in kustomization.yaml"
    assert top >= NOT_APPLIED
    assert sorted(p.name for p in SHARDED.iterdir()) == ["kustomization.yaml", "statefulset.yaml"]
    assert component()["kind"] == "Component"
    assert component()["resources"] == ["statefulset.yaml"]
    # Turned on by uncommenting it: kept in the file, off by default.
    assert "components" not in kustomization()
    assert "# components:\n#   - sharded\n" in (K8S / "kustomization.yaml").read_text()


def test_one_resource_per_file_and_one_kind_per_file() -> None:
    kinds = [load(p)["kind"] for p in manifest_files()]
    assert len(kinds) == len(set(kinds)), kinds
    assert set(kinds) == {
        "Deployment",
        "StatefulSet",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "Secret",
    }


def test_the_namespace_is_set_once_by_the_kustomization() -> None:
    assert kustomization()["namespace"] == "monitoring"
    applied = [p for p in manifest_files() if p.name not in NOT_APPLIED]
    for path in applied:
        assert "namespace" not in load(path)["metadata"], _name(path)
    # The example is applied on its own with kubectl, so it names the namespace itself.
    assert load(K8S / "secret.example.yaml")["metadata"]["namespace"] == "monitoring"


def test_the_sharded_component_replaces_the_deployment_with_the_statefulset() -> None:
    built = variants()
    for name, docs in built.items():
        kinds = [doc["kind"] for doc in docs]
        assert sorted(kinds) == sorted(set(kinds)), name
        assert sum(kind in WORKLOAD_KINDS for kind in kinds) == 1, (name, kinds)
    assert "Deployment" in {doc["kind"] for doc in built["default"]}
    assert "StatefulSet" in {doc["kind"] for doc in built["sharded"]}
    assert _deleted_by(component()["patches"]) == {
        ("Deployment", one("Deployment")["metadata"]["name"])
    }


# --- schemas -------------------------------------------------------------------------------------


def core_manifests() -> list[Path]:
    return [p for p in manifest_files() if load(p)["kind"] not in CRD_KINDS]


@pytest.mark.parametrize("path", core_manifests(), ids=_name)
def test_core_manifest_is_valid_against_the_kubernetes_schema_in_strict_mode(path: Path) -> None:
    try:
        kubernetes_validate.validate(load(path), K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(f"{_name(path)} at {list(err.path)}: {err.message}")


def test_strict_schema_validation_rejects_an_unknown_field() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(one("Deployment")))
    container(deployment)["livenesProbe"] = container(deployment)["livenessProbe"]
    kubernetes_validate.validate(one("Deployment"), K8S_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def differences(given: Any, dumped: Any, path: str = "") -> Iterator[str]:
    """Where the model's dump differs from what was given: a key the model dropped is a field
    it does not know; a value it changed is one it coerced (say "yes" into true)."""
    if isinstance(given, dict) and isinstance(dumped, dict):
        for key, value in given.items():
            if key not in dumped:
                yield f"{path}.{key}: unknown field"
            else:
                yield from differences(value, dumped[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(dumped, list) and len(given) == len(dumped):
        for i, (value, dumped_value) in enumerate(zip(given, dumped, strict=True)):
            yield from differences(value, dumped_value, f"{path}[{i}]")
    elif type(given) is not type(dumped) or given != dumped:
        yield f"{path}: {given!r} became {dumped!r}"


def crd_problems(doc: dict[str, Any]) -> list[str]:
    """What prometheus-operator's CRD schema, through its generated models, rejects in `doc`.

    The models check types and required fields but ignore unknown fields, so the dump of what
    they parsed is compared with the input as well."""
    try:
        parsed = crd_model(doc["kind"]).model_validate(doc)
    except pydantic.ValidationError as err:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()]
    dumped = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return list(differences(doc, dumped))


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_crd_manifest_is_valid_against_prometheus_operator_schema(kind: str) -> None:
    assert one(kind)["apiVersion"] == "monitoring.coreos.com/v1"
    assert crd_problems(one(kind)) == []


def test_the_crd_check_rejects_unknown_fields_wrong_types_and_coercions() -> None:
    def monitor_with(**endpoint: Any) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(one("ServiceMonitor")))
        doc["spec"]["endpoints"][0].update(endpoint)
        return doc

    assert crd_problems(monitor_with(honourLabels=True)) == [
        ".spec.endpoints[0].honourLabels: unknown field"
    ]
    assert crd_problems(monitor_with(honorLabels="yes")) == [
        ".spec.endpoints[0].honorLabels: 'yes' became True"
    ]
    assert crd_problems(monitor_with(port=["http-metrics"])) != []
    rule: dict[str, Any] = yaml.safe_load(yaml.safe_dump(one("PrometheusRule")))
    rule["spec"]["groups"][0]["rules"][0]["recrod"] = "x"
    assert crd_problems(rule) == [".spec.groups[0].rules[0].recrod: unknown field"]
    del rule["spec"]["groups"][0]["name"]
    assert any("groups.0.name" in problem for problem in crd_problems(rule))


# --- consistency ---------------------------------------------------------------------------------


def test_workloads_service_monitor_and_network_policy_select_the_same_pods() -> None:
    service, monitor, policy = one("Service"), one("ServiceMonitor"), one("NetworkPolicy")
    deployment, statefulset = workloads()
    for workload in workloads():
        labels = pod_labels(workload)
        assert selects(workload["spec"]["selector"]["matchLabels"], labels)
        assert selects(workload["metadata"]["labels"], labels)
        assert selects(service["spec"]["selector"], labels)
        assert selects(policy["spec"]["podSelector"]["matchLabels"], labels)
    # The two workloads never adopt each other's pods.
    assert not selects(deployment["spec"]["selector"]["matchLabels"], pod_labels(statefulset))
    assert not selects(statefulset["spec"]["selector"]["matchLabels"], pod_labels(deployment))
    # The ServiceMonitor picks the Service (in its own namespace), and nothing else.
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert "namespaceSelector" not in monitor["spec"]
    assert "matchExpressions" not in monitor["spec"]["selector"]
    for doc in (service, monitor, policy, one("PrometheusRule"), *workloads()):
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "redis-ha-exporter"


def test_ports_line_up_from_the_container_to_the_service_monitor() -> None:
    service, monitor = one("Service"), one("ServiceMonitor")
    for workload in workloads():
        assert container(workload)["ports"] == [
            {"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}
        ]
    (port,) = service["spec"]["ports"]
    assert port == {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == PORT_NAME
    assert endpoint.get("path", "/metrics") == "/metrics"


def test_service_monitor_honors_labels_every_30s() -> None:
    (endpoint,) = one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["interval"] == "30s"


def test_statefulset_is_governed_by_the_headless_service() -> None:
    service, statefulset = one("Service"), one("StatefulSet")
    assert statefulset["metadata"]["name"] == "redis-ha-exporter-sharded"
    assert statefulset["spec"]["replicas"] == 2
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert one("Deployment")["spec"]["replicas"] == 1


def test_network_policy_admits_only_prometheus_and_reaches_only_redis_sentinel_and_dns() -> None:
    spec = one("NetworkPolicy")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = spec["ingress"]
    # One peer with both selectors: Prometheus pods in that namespace (two peers would be "any
    # pod of the namespace, or Prometheus pods anywhere").
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": PORT}]
    egress = {(port["protocol"], port["port"]) for out in spec["egress"] for port in out["ports"]}
    assert egress == {("TCP", 6379), ("TCP", 26379), ("UDP", 53), ("TCP", 53)}
    for out in spec["egress"]:
        assert out["to"], "every egress rule names its peers"


def test_probes_hit_health_and_ready_on_the_container_port() -> None:
    for workload in workloads():
        spec = container(workload)
        ports = {PORT_NAME, PORT}
        assert spec["livenessProbe"]["httpGet"]["path"] == "/health"
        assert spec["livenessProbe"]["httpGet"]["port"] in ports
        assert spec["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert spec["readinessProbe"]["httpGet"]["port"] in ports


def test_security_context_is_restricted() -> None:
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        context = container(workload)["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == UID
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == UID
        assert pod["securityContext"]["fsGroup"] == UID
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False
        # A read-only root filesystem needs a writable /tmp.
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        (tmp,) = [m for m in container(workload)["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]]


def quantity(text: str) -> float:
    units = {"m": 1e-3, "": 1.0, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    assert match is not None and match.group(2) in units, text
    return float(match.group(1)) * units[match.group(2)]


def test_resources_are_set_and_the_readme_gives_the_same_figures() -> None:
    readme = (K8S / "README.md").read_text()
    resources = container(one("Deployment"))["resources"]
    for workload in workloads():
        assert container(workload)["resources"] == resources
    for resource in ("cpu", "memory"):
        request, limit = resources["requests"][resource], resources["limits"][resource]
        assert quantity(request) <= quantity(limit)
        assert f"`{request}`" in readme and f"`{limit}`" in readme


def test_the_image_and_version_label_are_the_exporters_version() -> None:
    for workload in workloads():
        assert container(workload)["image"] == f"redis-ha-exporter:{__version__}"
        assert pod_labels(workload)["app.kubernetes.io/version"] == __version__
        assert workload["metadata"]["labels"]["app.kubernetes.io/version"] == __version__


def test_both_workloads_run_the_same_container_but_for_the_shard() -> None:
    deployment, statefulset = (container(w) for w in workloads())
    env = [var for var in statefulset["env"] if var["name"] != "POD_INDEX"]
    args = [
        arg for arg in statefulset["args"] if not arg.startswith(("--shard=", "--total-shards="))
    ]
    assert {**statefulset, "env": env, "args": args} == deployment
    (pod_index,) = [var for var in statefulset["env"] if var["name"] == "POD_INDEX"]
    assert pod_index["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    deployment_pod, statefulset_pod = (w["spec"]["template"]["spec"] for w in workloads())
    assert {**statefulset_pod, "containers": []} == {**deployment_pod, "containers": []}


def test_the_secret_is_mounted_and_the_example_holds_only_a_placeholder() -> None:
    example = load(K8S / "secret.example.yaml")
    assert set(example["stringData"].values()) == {"CHANGE-ME"}
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        (volume,) = [v for v in pod["volumes"] if "secret" in v]
        assert volume["secret"]["secretName"] == example["metadata"]["name"]
        (mount,) = [m for m in container(workload)["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["mountPath"] == MOUNT_SECRET
        assert mount["readOnly"] is True
        env = {var["name"]: var.get("value") for var in container(workload)["env"]}
        assert env["REDIS_EXPORTER_REDIS_PASSWORD_FILE"] == f"{MOUNT_SECRET}/password"
        assert "REDIS_PASSWORD" not in env


# --- the exporter accepts what the container gets ------------------------------------------------


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in args; $$ escapes."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        text,
    )


def check_config(
    spec: dict[str, Any], secret_dir: Path, pod_index: int = 1
) -> subprocess.CompletedProcess[str]:
    """`redis-ha-exporter check-config` with the container's args and environment, the Secret's
    keys (from the example) as files in `secret_dir` instead of its mount, as the pod with
    ordinal `pod_index`."""
    for key in load(K8S / "secret.example.yaml")["stringData"]:
        (secret_dir / key).write_text("not-a-real-password\n")
    env: dict[str, str] = {}
    for var in spec.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"].replace(MOUNT_SECRET, str(secret_dir))
        else:  # from the downward API: POD_INDEX is the pod's ordinal
            assert var["name"] == "POD_INDEX", var
            env[var["name"]] = str(pod_index)
    assert "command" not in spec, "the image's ENTRYPOINT is redis-ha-exporter"
    args = [expand(arg, env) for arg in spec.get("args", [])]
    return subprocess.run(
        [sys.executable, "-m", "redis_ha_exporter", *args, "check-config"],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("kind", WORKLOAD_KINDS)
def test_the_exporter_accepts_the_containers_args_and_environment(
    kind: str, tmp_path: Path
) -> None:
    result = check_config(container(one(kind)), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    assert '"effective_redis_password": "********"' in result.stdout


def test_every_pod_of_the_statefulset_is_one_shard_of_as_many_as_there_are_replicas(
    tmp_path: Path,
) -> None:
    statefulset = one("StatefulSet")
    spec, replicas = container(statefulset), statefulset["spec"]["replicas"]
    assert "--shard=$(POD_INDEX)" in spec["args"]
    assert f"--total-shards={replicas}" in spec["args"]
    for ordinal in range(replicas):
        result = check_config(spec, tmp_path, pod_index=ordinal)
        assert result.returncode == 0, result.stderr
        settings = json.loads(result.stdout)
        assert (settings["shard"], settings["total_shards"]) == (ordinal, replicas)
    # One pod more than --total-shards says would not start: the two must move together.
    result = check_config(spec, tmp_path, pod_index=replicas)
    assert result.returncode == 2
    assert "--total-shards" in result.stderr


def test_expand_follows_kubernetes() -> None:
    env = {"POD_INDEX": "3"}
    assert expand("--shard=$(POD_INDEX)", env) == "--shard=3"
    assert expand("$$(POD_INDEX) $(UNSET)", env) == "$(POD_INDEX) $(UNSET)"


# --- the PrometheusRule is generated -------------------------------------------------------------


def test_prometheusrule_is_what_the_generator_writes() -> None:
    assert (K8S / "prometheusrule.yaml").read_text() == prometheusrule.render(), (
        "deploy/kubernetes/prometheusrule.yaml is out of date: "
        "run `.venv/bin/python -m tools.prometheusrule`"
    )


def test_prometheusrule_wraps_the_rules_files_groups_unchanged() -> None:
    rules = yaml.safe_load((ROOT / "alerts" / "redis-ha-exporter.rules.yml").read_text())
    doc = one("PrometheusRule")
    assert doc["kind"] == "PrometheusRule"
    assert doc["spec"] == rules
    assert (K8S / "prometheusrule.yaml").read_text().startswith("# GENERATED by ")


def test_generator_check_fails_on_drift_and_writing_fixes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prometheusrule.yaml"
    monkeypatch.setattr(prometheusrule, "OUTPUT", out)
    assert prometheusrule.main(["--check"]) == 1
    assert not out.exists()
    assert prometheusrule.main([]) == 0
    assert prometheusrule.main(["--check"]) == 0
    out.write_text(out.read_text().replace("for: 1m", "for: 2m", 1))
    assert prometheusrule.main(["--check"]) == 1
    assert "python -m tools.prometheusrule" in capsys.readouterr().err


def test_generator_refuses_a_rules_file_with_more_than_groups() -> None:
    with pytest.raises(ValueError, match="groups"):
        prometheusrule.render("groups: []\nother: 1\n")
    with pytest.raises(ValueError, match="groups"):
        prometheusrule.render("rules: []\n")
