"""Release bundles end to end: the real registry, real git over HTTP, the fake GitHub
(PyGithub). poll waits until every member has a new version, then opens one pull request for
the bundle; promote moves it whole or holds it with the blocking member named; ``promoter
check --pr`` refuses a hand-made pull request that moves half of it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.demo.push import Pusher
from promoter.flows.poll import poll
from promoter.flows.promote import Decision
from promoter.forge import StatusState
from promoter.gitrepo import GitWorkspace, HttpAuth
from promoter.registry.oci import OciRegistry
from tests.flows.test_promote_e2e import World, _n
from tests.forge.harness import GitHubHarness
from tests.servers.fake_github import FakeGitHub
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
MEMBERS = ("api", "worker")


def _overlay(ref: str, tags: dict[str, str], digests: dict[str, str]) -> str:
    return "images:\n" + "".join(
        f"  - name: {ref}/{m}\n    newTag: \"{tags[m]}\"\n    digest: {digests[f'{m}:{tags[m]}']}\n"
        for m in MEMBERS)


@dataclass
class BundleWorld(World):
    pusher: Pusher | None = None
    path: str = ""

    def push(self, member: str, tag: str) -> None:
        assert self.pusher is not None
        self.digests[f"{member}:{tag}"] = self.pusher.push(f"{self.path}/{member}", tag)


@pytest.fixture
def world(github: FakeGitHub, registry: LocalRegistry, pusher: Pusher, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> BundleWorld:
    h = GitHubHarness(github)
    path = f"e2e/bundle{next(_n)}"
    ref = f"{registry.host}/{path}"
    digests = {f"{m}:{t}": pusher.push(f"{path}/{m}", t) for m in MEMBERS for t in ("1.0.0",)}
    digests["api:1.1.0"] = pusher.push(f"{path}/api", "1.1.0")
    start = dict.fromkeys(MEMBERS, "1.0.0")
    files = {f"overlays/{env}/kustomization.yaml": _overlay(ref, start, digests)
             for env in ("dev", "staging")}
    files[".promoter.yaml"] = f"""\
environments:
  - {{name: dev, paths: [overlays/dev]}}
  - {{name: staging, paths: [overlays/staging]}}
images:
  - {{name: api, repository: {ref}/api, policy: {{semver: "^1.0"}}}}
  - {{name: worker, repository: {ref}/worker, policy: {{semver: "^1.0"}}}}
bundles:
  - {{name: backend, images: [api, worker]}}
forge: {{type: github, url: {github.url}, repository: {h.name}, token-env: FORGE_TOKEN}}
"""
    h.branch("main", files)
    monkeypatch.setenv("FORGE_TOKEN", h.token)
    return BundleWorld(h, ref, digests, tmp_path, pusher=pusher, path=path)


def _poll(world: BundleWorld) -> list[tuple[str, str]]:
    with world.workspace() as ws:
        report = poll(world.config(), ws, OciRegistry(), world.h.forge)
    assert not report.errors, report.errors
    return [(r.branch, str(r.action)) for r in report.results] + [
        (image, why) for image, why in report.plan.skipped]


def test_a_bundle_moves_whole_or_not_at_all(world: BundleWorld) -> None:
    # only api has a new version: the bundle waits, and says for what
    assert _poll(world) == [("api", "bundle backend moves whole; worker has no new version "
                                    "for dev, so no member moves")]
    world.push("worker", "1.1.0")
    assert _poll(world) == [("promoter/dev/backend", "opened")]
    pr = world.h.forge.find(head="promoter/dev/backend", base="main")
    assert pr is not None and pr.title == "Promote backend to 1.1.0 in dev"
    world.h.merge(pr.number)

    report = world.promote()
    assert [(r.branch, r.action) for r in report.results] == [
        ("promoter/staging/backend", "opened")]
    staged = world.h.forge.get(report.results[0].number or 0)
    assert "| `api` |" in staged.body and "| `worker` |" in staged.body
    assert world.gate_status(staged.number).state is StatusState.SUCCESS


def test_a_blocked_member_holds_the_bundle_back(world: BundleWorld) -> None:
    # staging's worker is pinned by hand to a version dev never ran: order refuses it, so api
    # (ready) is blocked as well
    world.push("worker", "1.1.0")
    world.h.branch("main", {"overlays/dev/kustomization.yaml": _overlay(
        world.ref, {"api": "1.1.0", "worker": "1.0.0"}, world.digests),
        "overlays/staging/kustomization.yaml": _overlay(
        world.ref, {"api": "1.0.0", "worker": "1.1.0"}, world.digests)})
    report = world.promote()
    steps = {i.image: i for i in report.images}
    assert steps["worker"].decision is Decision.SKIPPED
    assert (steps["api"].decision, steps["api"].reason.split(",")[0]) == (
        Decision.BLOCKED, "bundle backend moves whole")
    assert "worker is skipped (staging runs worker 1.1.0, ahead of dev's 1.0.0" in \
        steps["api"].reason
    assert report.results == ()


def test_check_refuses_a_pull_request_that_moves_half_a_bundle(
        world: BundleWorld, capsys: pytest.CaptureFixture[str]) -> None:
    world.push("worker", "1.1.0")
    world.h.branch("half", {"overlays/dev/kustomization.yaml": _overlay(
        world.ref, {"api": "1.1.0", "worker": "1.0.0"}, world.digests)})
    pr = world.h.forge.create(head="half", base="main", title="api only", body="")
    dest = world.tmp / "ci"
    GitWorkspace.clone(world.clone_url, dest, auth=HttpAuth(
        username="x-access-token", token=world.h.token)).close()
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", "main"], check=True)
    assert main(["check", "--pr", str(pr.number), "--repo", str(dest)]) == 1
    out = capsys.readouterr().out
    message = ("bundle backend: dev gets api but not worker; a bundle moves whole, in one "
               "change")
    assert f"bundle: {message}" in out
    [status] = [s for s in world.h.forge.statuses(pr.head_sha)
                if s.context == "promoter/verify"]
    assert (status.state, status.description) == (StatusState.FAILURE, message)
