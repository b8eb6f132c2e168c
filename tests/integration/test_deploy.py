"""Deployment files, checked by parsing (no Docker engine or cluster here): valid YAML,
one port everywhere, probes on the service's /healthz and /readyz."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tailorkit.serve.app import ServiceSettings, create_app

DEPLOY = Path(__file__).parents[2] / "deploy"


def manifests() -> dict[str, dict]:
    documents = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"]] = document
    return documents


def test_manifests_are_valid_and_consistent():
    documents = manifests()
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= set(documents)
    deployment, service = documents["Deployment"], documents["Service"]
    for document in documents.values():
        assert document["apiVersion"] and document["metadata"]["name"]
    pod = deployment["spec"]["template"]
    assert (
        deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    )
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = container["args"]
    assert int(args[args.index("--port") + 1]) == ports["http"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    assert service["spec"]["ports"][0]["targetPort"] in ports
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    claim = documents["PersistentVolumeClaim"]["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounted = container["volumeMounts"][0]
    assert volumes[mounted["name"]]["persistentVolumeClaim"]["claimName"] == claim
    assert args[args.index("--workspace") + 1] == mounted["mountPath"]


def test_dockerfile_matches_the_manifests_and_the_app(tmp_path):
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and line[0].isalpha()]
    assert instructions[0] == "FROM" and "CMD" in instructions and "USER" in instructions
    exposed = int(re.search(r"^EXPOSE (\d+)$", text, re.M).group(1))
    container = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert exposed == container["ports"][0]["containerPort"]
    assert f"127.0.0.1:{exposed}/healthz" in text
    command = re.search(r"^CMD (\[.*\])$", text, re.M).group(1)
    assert yaml.safe_load(command) == container["args"]
    app = create_app(ServiceSettings(workspace=tmp_path / ".tailorkit"))
    paths = {route.path for route in app.routes}
    assert {"/healthz", "/readyz", "/metrics"} <= paths
