"""deploy/kubernetes: every object valid against the Kubernetes OpenAPI schemas (the
kubernetes-validate package), before and after the kustomization's namespace and image
are applied; probes, a restricted security context, secrets only from Secret references,
Prometheus annotations, and promoter arguments that exist."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from promoter.cli import cli
from tests.ci.actions import ROOT
from tests.ci.gitlab import released

DEPLOY = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = DEPLOY / "kustomization.yaml"
# the newest schemas the package ships, and the oldest Kubernetes still commonly run
VERSIONS = (kubernetes_validate.latest_version(), "1.29.0")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d]


def _kustomization() -> dict[str, Any]:
    doc = YAML(typ="safe").load(KUSTOMIZATION.read_text())
    assert isinstance(doc, dict)
    return doc


def _objects() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in _kustomization()["resources"]:
        for doc in _docs(DEPLOY / name):
            yield name, doc


def _built() -> list[dict[str, Any]]:
    """What ``kubectl apply -k`` sends: the namespace, the labels and the image set."""
    k = _kustomization()
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in k["images"]}
    labels = {key: v for entry in k["labels"] for key, v in entry["pairs"].items()}
    out = []
    for _, doc in _objects():
        doc = copy.deepcopy(doc)
        meta = doc["metadata"]
        if doc["kind"] != "Namespace":
            meta["namespace"] = k["namespace"]
        meta.setdefault("labels", {}).update(labels)
        for c in _containers(doc):
            c["image"] = images.get(c["image"], c["image"])
        out.append(doc)
    return out


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] != "Deployment":
        return []
    containers: list[dict[str, Any]] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def _deployments() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in _objects() if d["kind"] == "Deployment"}


def test_the_kustomization_lists_every_file_and_the_released_image() -> None:
    k = _kustomization()
    files = sorted(p.name for p in DEPLOY.glob("*.yaml") if p != KUSTOMIZATION)
    assert sorted(k["resources"]) == files
    assert [i["newTag"] for i in k["images"]] == [released()]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_for_kubernetes(version: str) -> None:
    for obj in [d for _, d in _objects()] + _built():
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_refuses_a_broken_deployment() -> None:
    """The schemas this file relies on catch a misspelt field and a wrong type."""
    bad = copy.deepcopy(_deployments()["promoter-watch"])
    bad["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[0], strict=True)
    bad = copy.deepcopy(_deployments()["promoter-serve"])
    bad["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[0], strict=True)


@pytest.mark.parametrize("name", ["promoter-watch", "promoter-serve"])
def test_probes_ports_and_scrape_annotations(name: str) -> None:
    pod = _deployments()[name]["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"prometheus.io/scrape": "true",
                                              "prometheus.io/port": "8080",
                                              "prometheus.io/path": "/metrics"}
    c, = pod["spec"]["containers"]
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}


@pytest.mark.parametrize("name", ["promoter-watch", "promoter-serve"])
def test_the_restricted_pod_security_standard(name: str) -> None:
    spec = _deployments()[name]["spec"]["template"]["spec"]
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001  # the image's user
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    c, = spec["containers"]
    sc = c["securityContext"]
    assert sc == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                  "capabilities": {"drop": ["ALL"]}}
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/tmp", "/home/promoter"} <= mounts  # writable places for the clone and git


@pytest.mark.parametrize("name", ["promoter-watch", "promoter-serve"])
def test_secrets_come_only_from_secret_references(name: str) -> None:
    c, = _deployments()[name]["spec"]["template"]["spec"]["containers"]
    for var in c["env"]:
        if any(w in var["name"] for w in ("TOKEN", "SECRET", "PASSWORD", "KEY")):
            assert "value" not in var and set(var["valueFrom"]) == {"secretKeyRef"}, var
    names = {v["name"] for v in c["env"]}
    assert "GITHUB_TOKEN" in names
    for option, value in zip(c["args"], c["args"][1:], strict=False):
        if option.endswith("-env"):
            assert value in names, f"{option} {value}: no such variable in the pod"


def _options(command: click.Command) -> set[str]:
    return {o for p in command.params for o in p.opts}


@pytest.mark.parametrize("name", ["promoter-watch", "promoter-serve"])
def test_the_arguments_are_promoter_options(name: str) -> None:
    c, = _deployments()[name]["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "promoter"  # set by the kustomization
    sub, *args = c["args"]
    command = cli.get_command(click.Context(cli), sub)
    assert command is not None, sub
    unknown = {a for a in args if a.startswith("--")} - _options(command)
    if sub == "watch":
        i = args.index("--listen")
        assert args[i + 1] == "0.0.0.0:8080"
        # watch --listen comes with the /metrics work merged beside this one
        unknown -= {"--listen"}
    assert not unknown, f"promoter {sub} has no {unknown}"
    if sub == "serve":
        assert args[args.index("--host") + 1] == "0.0.0.0"
        assert args[args.index("--port") + 1] == "8080"


def test_one_replica_each_replaced_not_rolled() -> None:
    for d in _deployments().values():
        assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"] == {"type": "Recreate"}
