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


QUEUE = DEPLOY / "queue"


def _queue_kustomization() -> dict[str, Any]:
    doc = YAML(typ="safe").load((QUEUE / "kustomization.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def _worker() -> dict[str, Any]:
    (doc,) = _docs(QUEUE / "worker.yaml")
    return doc


def test_the_queue_overlay_adds_the_worker_and_points_serve_at_redis() -> None:
    k = _queue_kustomization()
    assert k["resources"] == ["../", "worker.yaml"]
    (patch,) = k["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "promoter-serve"}
    (op,) = YAML(typ="safe").load(patch["patch"])
    serve = _deployments()["promoter-serve"]
    assert op["path"] == "/spec/template/spec/containers/0/env/-"
    assert serve["spec"]["template"]["spec"]["containers"][0]["env"]  # the list exists
    # PROMOTER_QUEUE is the environment variable serve's and worker's --queue read
    for sub in ("serve", "worker"):
        command = cli.get_command(click.Context(cli), sub)
        assert command is not None
        (queue,) = [p for p in command.params if "--queue" in p.opts]
        assert queue.envvar == "PROMOTER_QUEUE"
    assert op["value"] == {"name": "PROMOTER_QUEUE",
                           "valueFrom": {"secretKeyRef": {"name": "promoter-queue", "key": "url"}}}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_worker_is_valid_for_kubernetes(version: str) -> None:
    kubernetes_validate.validate(_worker(), version, strict=True)


def test_the_worker_runs_restricted_with_secrets_from_references_and_real_options() -> None:
    spec = _worker()["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    c, = spec["containers"]
    assert c["securityContext"] == {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    for var in c["env"]:
        if any(w in var["name"] for w in ("TOKEN", "SECRET", "PASSWORD", "KEY", "QUEUE")):
            assert "value" not in var and set(var["valueFrom"]) == {"secretKeyRef"}, var
    sub, *args = c["args"]
    command = cli.get_command(click.Context(cli), sub)
    assert sub == "worker" and command is not None
    unknown = {a for a in args if a.startswith("--")} - _options(command)
    assert not unknown, f"promoter worker has no {unknown}"
