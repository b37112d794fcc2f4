"""registry (real docker-registry) -> poll into dev -> promote to staging and prod, on the fake
GitHub and GitLab (real PyGithub / python-gitlab, real git over HTTP), with an injected clock."""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promoter.cli import main
from promoter.config import Config, parse_config
from promoter.demo.push import Pusher
from promoter.flows.poll import poll
from promoter.flows.promote import Decision, Report, promote
from promoter.forge import CommitStatus, PRState, StatusState
from promoter.gitrepo import GitWorkspace, HttpAuth
from promoter.registry.oci import OciRegistry
from tests.forge.harness import GitHubHarness, GitLabHarness
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)

OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# {env} overlay
images:
  - name: {image}
    newTag: "1.0.0"   # moved by promoter
    digest: {digest}
"""


def _config(kind: str, image: str, url: str, repo: str, staging: str, prs: str) -> str:
    key = "repository" if kind == "github" else "project"
    return f"""\
environments:
  - {{name: dev, paths: [overlays/dev]}}
  - name: staging
    paths: [overlays/staging]
    gates: {{{staging}}}
  - {{name: prod, paths: [overlays/prod]}}
images:
  - name: web
    repository: {image}
    policy: {{semver: "^1.0"}}
forge:
  type: {kind}
  url: {url}
  {key}: {repo}
  token-env: FORGE_TOKEN
pull-requests:
  labels: [promoter]
{prs}
"""


@dataclass
class World:
    h: GitHubHarness | GitLabHarness
    ref: str  # host/repository as the files name it
    digests: dict[str, str]
    tmp: Path

    @property
    def kind(self) -> str:
        return self.h.kind

    @property
    def bare(self) -> Path:
        return self.h.repo.path if isinstance(self.h, GitHubHarness) else self.h.project.bare

    @property
    def clone_url(self) -> str:
        return f"{self.h.server.url}/{self.h.name}.git"

    def workspace(self) -> GitWorkspace:
        user = "oauth2" if self.kind == "gitlab" else "x-access-token"
        return GitWorkspace.clone(self.clone_url, self.tmp / f"clone-{next(_n)}",
                                  auth=HttpAuth(username=user, token=self.h.token))

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", "--git-dir", str(self.bare), *args], capture_output=True,
                              text=True, check=True).stdout

    def config(self) -> Config:
        return parse_config(self._git("show", "main:.promoter.yaml"))

    def poll(self) -> int:
        """dev follows the registry: poll opens its PR; returns the number."""
        with self.workspace() as ws:
            report = poll(self.config(), ws, OciRegistry(), self.h.forge)
        assert report.ok, report
        return report.results[0].number or 0

    def promote(self, *, now: datetime | None = None, **kw: Any) -> Report:
        with self.workspace() as ws:
            return promote(self.config(), ws, self.h.forge, now=now or datetime.now(UTC), **kw)

    def show(self, env: str, rev: str = "main") -> tuple[str, str]:
        """(tag, digest) of ``env`` on branch ``rev``."""
        text = self._git("show", f"{rev}:overlays/{env}/kustomization.yaml")
        tag = text.split('newTag: "', 1)[1].split('"', 1)[0]
        return tag, text.split("digest: ", 1)[1].split()[0]

    def main_head(self) -> str:
        return self._git("rev-parse", "refs/heads/main").strip()

    def gate_status(self, number: int) -> CommitStatus:
        sha = self.h.forge.get(number).head_sha
        return next(s for s in self.h.forge.statuses(sha) if s.context == "promoter/gates")


def _world(kind: str, server: FakeGitHub | FakeGitLab, registry: LocalRegistry, pusher: Pusher,
           tmp: Path, monkeypatch: pytest.MonkeyPatch, *, staging: str = "",
           prs: str = "") -> World:
    h = GitHubHarness(server) if isinstance(server, FakeGitHub) else GitLabHarness(server)
    path = f"e2e/promote{next(_n)}"
    ref = f"{registry.host}/{path}"
    digests = {tag: pusher.push(path, tag) for tag in ("1.0.0", "1.1.0")}
    files = {f"overlays/{env}/kustomization.yaml":
             OVERLAY.format(env=env, image=ref, digest=digests["1.0.0"])
             for env in ("dev", "staging", "prod")}
    files[".promoter.yaml"] = _config(kind, ref, server.url, h.name, staging, prs)
    h.branch("main", files)
    monkeypatch.setenv("FORGE_TOKEN", h.token)
    return World(h, ref, digests, tmp)


@pytest.fixture(params=["github", "gitlab"])
def world(request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    server = request.getfixturevalue(request.param)
    yield _world(request.param, server, registry, pusher, tmp_path, monkeypatch)


def test_a_tag_flows_dev_staging_prod_through_three_prs(world: World) -> None:
    world.h.merge(world.poll())  # the registry's 1.1.0 into dev
    assert world.show("dev") == ("1.1.0", world.digests["1.1.0"])

    report = world.promote()
    assert report.ok, report
    assert [(i.target, i.decision) for i in report.images] == [
        ("staging", Decision.PROMOTE), ("prod", Decision.UP_TO_DATE)]
    [staging] = report.results
    assert (staging.branch, staging.action) == ("promoter/staging/web", "opened")
    pr = world.h.forge.get(staging.number or 0)
    assert pr.title == "Promote web to 1.1.0 in staging"
    assert "| 1.0.0 | **1.1.0** | minor |" in pr.body
    assert "| `web` | soak | pass | not required |" in pr.body
    assert f"| `web` | 1.0.0@{world.digests['1.0.0'][:19]} | " \
           f"**1.1.0@{world.digests['1.1.0'][:19]}** | minor | dev since 20" in pr.body
    assert world.gate_status(pr.number).state is StatusState.SUCCESS
    if isinstance(world.h, GitHubHarness):  # and a check run with the gates as its summary
        [run] = [r for r in world.h.repo.check_runs.values()
                 if r["name"] == "promoter/gates" and r["head_sha"] == pr.head_sha]
        assert (run["status"], run["conclusion"]) == ("completed", "success")
        assert run["output"]["title"] == "all gates pass"
        assert "| `web` | require-checks | pass | none required |" in run["output"]["summary"]
    # exactly the source's tag and digest, nothing else in the file moved
    assert world.show("staging", "promoter/staging/web") == ("1.1.0", world.digests["1.1.0"])
    assert world.show("prod", "promoter/staging/web") == ("1.0.0", world.digests["1.0.0"])

    # prod comes from staging only: nothing for prod until staging runs it
    assert world.promote(target="prod").results == ()
    world.h.merge(pr.number)
    report = world.promote()
    assert [(r.branch, r.action) for r in report.results] == [("promoter/prod/web", "opened")]
    world.h.merge(report.results[0].number or 0)
    assert world.show("prod") == ("1.1.0", world.digests["1.1.0"])
    again = world.promote()
    assert again.results == () and {i.decision for i in again.images} == {Decision.UP_TO_DATE}


@pytest.fixture(params=["github", "gitlab"])
def gated_world(request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A factory: a world with staging's gates and pull-request settings, dev already at 1.1.0
    through a merged poll PR."""
    server = request.getfixturevalue(request.param)

    def make(staging: str = "", prs: str = "") -> World:
        w = _world(request.param, server, registry, pusher, tmp_path, monkeypatch,
                   staging=staging, prs=prs)
        number = w.poll()
        with contextlib.suppress(AssertionError):  # auto-merge: the green ci/build merged it
            w.h.merge(number)
        assert w.h.forge.get(number).state is PRState.MERGED
        return w

    yield make  # type: ignore[misc]


def test_soak_keeps_promoter_gates_pending_until_time_passes(gated_world: Any) -> None:
    world: World = gated_world(staging="soak: 2h")
    merged = datetime.now(UTC)
    report = world.promote(now=merged + timedelta(minutes=30))
    [result] = report.results
    status = world.gate_status(result.number or 0)
    assert status.state is StatusState.PENDING
    assert status.description.startswith("soak: 1h 30 min left (")
    body = world.h.forge.get(result.number or 0).body
    assert "| `web` | soak | pending | 1h 30 min left (" in body

    report = world.promote(now=merged + timedelta(hours=2, minutes=5))
    assert report.results[0].number == result.number
    status = world.gate_status(result.number or 0)
    assert (status.state, status.description) == (StatusState.SUCCESS, "all gates pass")


def test_a_failing_required_check_blocks_promotion(gated_world: Any) -> None:
    world: World = gated_world(staging="require-checks: [e2e]", prs="  auto-merge: true")
    dev_commit = world.main_head()  # the merge that brought 1.1.0 into dev
    world.h.forge.set_status(dev_commit, CommitStatus(context="e2e",
                                                      state=StatusState.FAILURE))
    report = world.promote(target="staging")
    [result] = report.results
    number = result.number or 0
    status = world.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.FAILURE, "require-checks: e2e failure on the source commit")
    pr = world.h.forge.get(number)
    assert pr.state is PRState.OPEN and not pr.auto_merge
    assert report.statuses[0].auto_merge is False

    world.h.forge.set_status(dev_commit, CommitStatus(context="e2e", state=StatusState.SUCCESS))
    report = world.promote(target="staging")
    assert world.gate_status(number).state is StatusState.SUCCESS
    assert report.statuses[0].auto_merge is True
    assert world.h.forge.get(number).auto_merge  # GitHub waits for ci/build, then merges


def test_a_hold_label_stops_the_environment(gated_world: Any, pusher: Pusher) -> None:
    world: World = gated_world()
    [first] = world.promote(target="staging").results
    number = first.number or 0
    world.h.forge.add_labels(number, ("promoter/hold",))
    world.digests["1.2.0"] = pusher.push(world.ref.split("/", 1)[1], "1.2.0")
    world.h.merge(world.poll())  # dev moves on to 1.2.0
    head = world.h.forge.get(number).head_sha

    report = world.promote(target="staging")
    assert [(i.decision, i.reason) for i in report.images] == [
        (Decision.STOPPED, f"hold: promoter/hold on #{number}")]
    assert report.results == ()
    pr = world.h.forge.get(number)
    assert pr.head_sha == head and pr.title == "Promote web to 1.1.0 in staging"  # untouched
    status = world.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.FAILURE, f"hold: promoter/hold on #{number}")

    world.h.forge.update(number, labels=("promoter",))  # someone lifts the hold
    report = world.promote(target="staging")
    assert [(r.number, r.action) for r in report.results] == [(number, "updated")]
    assert world.h.forge.get(number).title == "Promote web to 1.2.0 in staging"
    assert world.gate_status(number).state is StatusState.SUCCESS


def test_cli_promote_dry_run_then_for_real(gated_world: Any,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    world: World = gated_world(staging="auto: patch")
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.h.token)
    assert main(["promote", "--clone", world.clone_url, "--to", "staging", "--dry-run",
                 "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(i["image"], i["from"], i["to"], i["update"], i["decision"]) for i in out["images"]
            ] == [("web", "1.0.0", "1.1.0", "minor", "waiting")]
    assert out["pull_requests"] == []
    assert main(["promote", "--clone", world.clone_url]) == 0
    text = capsys.readouterr()
    assert "dev -> staging: web 1.0.0 -> 1.1.0 (minor) waiting: auto: minor update waits for " \
           "/promote (auto: patch)" in text.out
    assert world.h.forge.list_open() == ()
    assert world.h.token not in text.out + text.err
    assert main(["promote", "--clone", world.clone_url, "--from", "dev", "--to", "prod"]) == 2
    assert "prod is promoted from staging only, not from dev" in capsys.readouterr().err
