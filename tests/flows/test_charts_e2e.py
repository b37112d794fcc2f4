"""Charts end to end: a real HTTP Helm repository (tests/servers/helm.py) and OCI charts pushed
into the real docker-registry -> poll / promote / status through the real wiring -> fake GitHub
and GitLab (PyGithub, python-gitlab, git over HTTP). Each diff touches exactly the version
lines."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promoter import wiring
from promoter.cli import main
from promoter.flows.poll import Report, poll
from promoter.flows.promote import Decision, promote
from promoter.flows.status import status
from promoter.registry import Registry
from promoter.registry.charts import ChartRegistry, HttpChartIndex
from promoter.registry.oci import OciRegistry
from tests.flows.test_promote_e2e import World as PromoteWorld
from tests.forge.harness import GitHubHarness, GitLabHarness
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.helm import HelmRepository, push_oci_chart
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)

RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo  # the app
spec:
  interval: 10m
  chart:
    spec:
      chart: podinfo
      version: "6.5.0"
      sourceRef: {{kind: HelmRepository, name: podinfo}}
  values:
    image:
      tag: keep-me
"""

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ingress
spec:
  source:
    repoURL: {helm}
    chart: ingress-nginx
    targetRevision: 4.10.0   # pinned
  destination: {{namespace: ingress}}
"""

CHART = """\
apiVersion: v2
name: umbrella
version: 1.0.0
dependencies:
  - name: podinfo
    version: 6.5.0
    repository: oci://{oci}
  - name: ingress-nginx
    version: ~4.10.0
    repository: {helm}
"""


def _config(kind: str, url: str, repo: str, oci: str, helm: str) -> str:
    key = "repository" if kind == "github" else "project"
    return f"""\
environments:
  - {{name: dev, paths: [dev]}}
  - {{name: prod, paths: [prod]}}
charts:
  - chart: podinfo
    repository: oci://{oci}
    policy: {{semver: ^6}}
  - name: ingress
    chart: ingress-nginx
    repository: {helm}
    policy: {{semver: ^4}}
forge:
  type: {kind}
  url: {url}
  {key}: {repo}
  token-env: FORGE_TOKEN
"""


@dataclass
class World(PromoteWorld):
    """test_promote_e2e's world (forge harness, clones, git), with chart repositories."""

    helm: HelmRepository
    registry: LocalRegistry
    oci: str  # host/path of the OCI charts

    def poll(self, registry: Registry | None = None  # type: ignore[override]
             ) -> Report:  # the report, not a PR number
        cfg = self.config()
        with self.workspace() as ws:  # the real adapters, as the CLI wires them
            return poll(cfg, ws, registry or wiring.registry(cfg, {}), self.h.forge)

    def diff(self, branch: str) -> list[str]:
        out = self._git("diff", "--unified=0", f"main...{branch}")
        return [line for line in out.splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture(params=["github", "gitlab"])
def world(request: pytest.FixtureRequest, registry: LocalRegistry, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    server: FakeGitHub | FakeGitLab = request.getfixturevalue(request.param)
    h = GitHubHarness(server) if isinstance(server, FakeGitHub) else GitLabHarness(server)
    path = f"charts{next(_n)}"
    for version in ("6.5.0", "6.6.0", "7.0.0"):
        push_oci_chart(registry.url, path, "podinfo", version)
    (tmp_path / "helm").mkdir()
    with HelmRepository(tmp_path / "helm") as helm:
        for version in ("4.10.0", "4.11.3", "5.0.0"):
            helm.add("ingress-nginx", version)
        oci = f"{registry.host}/{path}"
        files = {".promoter.yaml": _config(h.kind, server.url, h.name, oci, helm.url)}
        for env in ("dev", "prod"):
            files[f"{env}/release.yaml"] = RELEASE.format()
            files[f"{env}/app.yaml"] = APP.format(helm=helm.url)
            files[f"{env}/umbrella/Chart.yaml"] = CHART.format(oci=oci, helm=helm.url)
        h.branch("main", files)
        monkeypatch.setenv("FORGE_TOKEN", h.token)
        yield World(h, oci, {}, tmp_path, helm, registry, oci)


def test_poll_opens_a_pr_per_chart_touching_only_version_lines(world: World) -> None:
    report = world.poll()
    assert report.ok, report
    assert sorted((r.branch, r.action) for r in report.results) == [
        ("promoter/dev/ingress", "opened"), ("promoter/dev/podinfo", "opened")]
    assert world.diff("promoter/dev/podinfo") == [
        '-      version: "6.5.0"', '+      version: "6.6.0"',
        "-    version: 6.5.0", "+    version: 6.6.0"]
    assert world.diff("promoter/dev/ingress") == [
        "-    targetRevision: 4.10.0   # pinned", "+    targetRevision: 4.11.3   # pinned"]
    pr = world.h.forge.find(head="promoter/dev/podinfo", base="main")
    assert pr is not None and pr.title == "Promote podinfo to 6.6.0 in dev"
    assert "| 6.5.0 | **6.6.0** | minor |" in pr.body
    index_reads = len(list(world.helm.index_requests()))
    assert index_reads == 1  # one index.yaml for the whole run

    again = world.poll()
    assert sorted((r.branch, r.action) for r in again.results) == [
        ("promoter/dev/ingress", "kept"), ("promoter/dev/podinfo", "kept")]


def test_promote_carries_a_chart_version_to_prod_and_status_shows_it(world: World) -> None:
    for result in world.poll().results:
        world.h.merge(result.number or 0)
    with world.workspace() as ws:
        report = promote(world.config(), ws, world.h.forge, now=datetime.now(UTC))
    assert report.ok, report
    assert sorted((i.image, i.target, i.decision) for i in report.images) == [
        ("ingress", "prod", Decision.PROMOTE), ("podinfo", "prod", Decision.PROMOTE)]
    assert world.diff("promoter/prod/podinfo") == [
        '-      version: "6.5.0"', '+      version: "6.6.0"',
        "-    version: 6.5.0", "+    version: 6.6.0"]
    with world.workspace() as ws:
        matrix = status(world.config(), ws, world.h.forge, now=datetime.now(UTC))
    tags = {(c.image, c.env): c.tag for c in matrix.cells}
    assert tags == {("podinfo", "dev"): "6.6.0", ("podinfo", "prod"): "6.5.0",
                    ("ingress", "dev"): "4.11.3", ("ingress", "prod"): "4.10.0"}


def test_cli_plan_lists_both_charts(world: World, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.h.token)
    url = f"{world.h.server.url}/{world.h.name}.git"
    code = main(["plan", "--clone", url, "--output", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    plan = json.loads(out)["plan"]
    assert sorted((p["branch"], [(u["image"], u["from"], u["to"]) for u in p["updates"]])
                  for p in plan) == [
        ("promoter/dev/ingress", [("ingress", "4.10.0", "4.11.3")]),
        ("promoter/dev/podinfo", [("podinfo", "6.5.0", "6.6.0")])]


def test_build_metadata_travels_as_underscore_in_oci_and_plus_in_files(world: World) -> None:
    """Helm pushes 6.7.0+build.1 as the OCI tag 6.7.0_build.1: the file gets the version."""
    push_oci_chart(world.registry.url, world.oci.split("/", 1)[1], "podinfo", "6.7.0+build.1")
    report = world.poll()
    assert report.ok, report
    assert world.diff("promoter/dev/podinfo") == [
        '-      version: "6.5.0"', '+      version: "6.7.0+build.1"',
        "-    version: 6.5.0", "+    version: 6.7.0+build.1"]


def test_an_unreachable_helm_repository_fails_that_chart_only(world: World) -> None:
    world.helm.__exit__(None, None, None)  # the repository goes away; the OCI chart still moves
    charts = [i.chart for i in world.config().images if i.chart is not None]
    report = world.poll(ChartRegistry(OciRegistry(), HttpChartIndex(retries=0), charts))
    assert not report.ok
    assert [(e.image, e.retryable) for e in report.errors] == [("ingress", True)]
    assert report.errors[0].message == (f"ingress: {world.helm.url}/index.yaml: cannot fetch "
                                        "the index: ConnectError (after 1 attempt)")
    assert [(r.branch, r.action) for r in report.results] == [("promoter/dev/podinfo", "opened")]


def test_the_signature_gate_is_for_images_charts_pass_it(world: World) -> None:
    """dev with a signature gate: the (unsigned) charts still get their pull requests; the
    gate would refuse them if it looked at their digests."""
    from tests.signing import cosign

    text = world._git("show", "main:.promoter.yaml").replace(
        "  - {name: dev, paths: [dev]}",
        "  - {name: dev, paths: [dev], gates: {signature: {keys: [keys/cosign.pub]}}}")
    world.h.branch("main", {".promoter.yaml": text,
                            "keys/cosign.pub": cosign.public_pem(cosign.ec_key()).decode()})
    assert world.config().environment("dev").gates.signature is not None
    report = world.poll()
    assert report.ok, report
    assert report.plan.skipped == ()
    assert sorted(r.branch for r in report.results) == ["promoter/dev/ingress",
                                                        "promoter/dev/podinfo"]
