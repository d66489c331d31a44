"""The Kubernetes manifests: every document has the fields its kind needs, selectors match the
labels they select, names referenced exist, the image is ours, the ServiceMonitor and
PrometheusRule carry the `release` label kube-prometheus-stack selects on, the config inside the
ConfigMap loads, and no Secret with placeholder values is ever applied (the kustomization makes
it from the operator's files, built with `kubectl kustomize` where kubectl exists)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import __version__
from exporter.config.load import load_config

REPO = Path(__file__).parent.parent
KUBE = REPO / "deploy" / "kubernetes"
MANIFESTS = [
    KUBE / "rocketchat-exporter.yaml",
    KUBE / "sharded" / "rocketchat-exporter-sharded.yaml",
]
IMAGE = f"rocketchat-prometheus-exporter:{__version__}"
SECRET_KEYS = {"RC_USER_ID", "rc_token"}
REQUIRED = {  # kind -> dotted paths every such document must have
    "Secret": ["data"],
    "ConfigMap": ["data"],
    "Deployment": ["spec.selector.matchLabels", "spec.template.metadata.labels",
                   "spec.template.spec.containers"],
    "StatefulSet": ["spec.selector.matchLabels", "spec.template.metadata.labels",
                    "spec.template.spec.containers", "spec.serviceName"],
    "Service": ["spec.selector", "spec.ports"],
    "ServiceMonitor": ["spec.selector.matchLabels", "spec.endpoints"],
    "PrometheusRule": ["spec.groups"],
}  # fmt: skip
API = {
    "Secret": "v1", "ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1",
    "StatefulSet": "apps/v1", "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
}  # fmt: skip


def dig(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        assert isinstance(value, dict) and key in value, f"{document['kind']}: no {path}"
        value = value[key]
    return value


def documents(path: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for document in yaml.safe_load_all(path.read_text()):
        kind = document["kind"]
        assert document["apiVersion"] == API[kind], kind
        assert document["metadata"]["name"] == "rocketchat-exporter", kind
        for required in REQUIRED[kind]:
            assert dig(document, required), f"{kind}: empty {required}"
        assert kind not in found, f"two {kind}s"
        found[kind] = document
    return found


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_the_manifests_hang_together(path: Path) -> None:
    kinds = documents(path)
    workload = kinds.get("Deployment") or kinds["StatefulSet"]
    pod = workload["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == IMAGE
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes and mount.get("readOnly") is True
    assert "Secret" not in kinds, "a Secret in a manifest overwrites the operator's own"
    secret = SECRET_KEYS  # what the kustomization's secretGenerator makes (or the operator)
    assert volumes["config"]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert volumes["secrets"]["secret"]["secretName"] == "rocketchat-exporter"
    assert {item["key"] for item in volumes["secrets"]["secret"]["items"]} <= secret
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "rocketchat-exporter" and ref["key"] in secret
    service = kinds["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert all(p["targetPort"] in ports for p in service_ports.values())
    monitor = kinds["ServiceMonitor"]
    assert monitor["metadata"]["labels"]["release"]  # what kube-prometheus-stack selects on
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert all(e["port"] in service_ports for e in monitor["spec"]["endpoints"])
    # the job label comes from the Service's label: the alert rules expect this job name
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "rocketchat-exporter"
    # the config in the ConfigMap loads, and its token file is where the Secret is mounted
    config_file = Path(volumes["config"]["configMap"]["name"])  # a name only; written below
    config_text = kinds["ConfigMap"]["data"]["config.yaml"]
    config = yaml.safe_load(config_text)
    token_file = config["workspaces"][0]["auth"]["token_file"]
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert token_file == f"{mounted['secrets']}/rc_token"
    assert config_file.name == "rocketchat-exporter"


def test_the_configmaps_config_loads(tmp_path: Path) -> None:
    for path in MANIFESTS:
        text = documents(path)["ConfigMap"]["data"]["config.yaml"]
        (tmp_path / "config.yaml").write_text(text)
        config = load_config(tmp_path / "config.yaml", env={"RC_USER_ID": "u1"})
        assert [w.name for w in config.workspaces] == ["prod"]


def test_the_default_path_is_one_replica_with_the_rule_and_dashboard_and_a_release_label() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    assert resources == [
        "rocketchat-exporter.yaml",
        "prometheus-rule.yaml",
        "grafana-dashboard.yaml",
    ]
    assert all((KUBE / r).exists() for r in resources)
    assert documents(KUBE / "rocketchat-exporter.yaml")["Deployment"]["spec"]["replicas"] == 1
    rule = yaml.safe_load((KUBE / "prometheus-rule.yaml").read_text())
    assert rule["metadata"]["labels"]["release"]
    dashboard = yaml.safe_load((KUBE / "grafana-dashboard.yaml").read_text())
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    (label,) = kustomization["labels"]
    assert "release" in label["pairs"] and label["includeSelectors"] is False


def test_the_dockerfile_checks_the_address_it_listens_on_and_ships_no_pip() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    (healthcheck,) = [
        line for line in dockerfile.splitlines() if line.strip().startswith('CMD ["python"')
    ]
    assert "9877" not in healthcheck  # follows ROCKETCHAT_EXPORTER_LISTEN instead
    assert "ROCKETCHAT_EXPORTER_LISTEN=0.0.0.0:9877" in dockerfile
    assert "--without-pip" in dockerfile
    assert not [line for line in dockerfile.splitlines() if "add --system" in line]
    for arg in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        assert f"ARG {arg}" in dockerfile
    assert "deploy/docker/ca/" in dockerfile and (REPO / "deploy" / "docker" / "ca").is_dir()


def _generated_secret(folder: Path) -> dict[str, str]:
    """What the kustomization's secretGenerator makes, read as kustomize does (files only)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    (generator,) = kustomization["secretGenerator"]
    data = {}
    for entry in generator["files"]:
        key, _, source = entry.partition("=")
        path = folder / source
        if not path.exists():
            raise FileNotFoundError(f"{source}: no such file or directory")
        data[key] = path.read_text()
    return data


def build(folder: Path) -> tuple[bool, str, dict[str, str]]:
    """(built, error, Secret data) of `kubectl kustomize folder`; without kubectl, its
    secretGenerator read as kustomize reads it."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        try:
            return True, "", _generated_secret(folder)
        except FileNotFoundError as exc:
            return False, str(exc), {}
    done = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        return False, done.stderr, {}
    (secret,) = [d for d in yaml.safe_load_all(done.stdout) if d["kind"] == "Secret"]
    assert secret["metadata"]["name"] == "rocketchat-exporter"
    return True, "", {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_the_kustomization_refuses_to_build_without_the_operators_secret_files(
    tmp_path: Path,
) -> None:
    """`kubectl apply -k` with nothing written applies nothing (no placeholder overwrites a
    Secret); with the two files it makes the Secret the Deployment mounts, from them."""
    folder = tmp_path / "kubernetes"
    shutil.copytree(KUBE, folder, ignore=shutil.ignore_patterns("user_id", "rc_token"))
    built, error, _ = build(folder)
    assert not built and "secrets/user_id" in error
    (folder / "secrets" / "user_id").write_text("exporterUserId001")
    (folder / "secrets" / "rc_token").write_text("a-personal-access-token")
    built, error, data = build(folder)
    assert built, error
    assert data == {"RC_USER_ID": "exporterUserId001", "rc_token": "a-personal-access-token"}
    assert set(data) == SECRET_KEYS
    texts = [p.read_text() for p in KUBE.rglob("*.yaml")]
    assert not [t for t in texts if "REPLACE" in t]
    ignored = (REPO / ".gitignore").read_text()
    assert "deploy/kubernetes/secrets/*" in ignored
