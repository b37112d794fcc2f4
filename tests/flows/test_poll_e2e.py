"""registry (real docker-registry) -> poll -> fake GitHub / GitLab (real PyGithub, python-gitlab,
real git over HTTP): the pull requests a poll makes, and what it leaves alone."""

from __future__ import annotations

import itertools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.config import Config, parse_config
from promoter.demo.push import Pusher
from promoter.flows.poll import Report, poll
from promoter.forge import Forge, PRState, open_forge
from promoter.gitrepo import GitWorkspace, HttpAuth
from promoter.registry.oci import OciRegistry
from tests.forge import openapi
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.git_http import commit_to
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# dev overlay
images:
  - name: {image}
    newTag: "1.0.0"   # moved by promoter
  - name: other/untouched
    newTag: 9.9.9
"""

VALUES = """\
# api values
image:
  repository: {image}
  tag: '1.0.0'
  pullPolicy: IfNotPresent
"""


def _config(kind: str, image: str, url: str, repo: str) -> str:
    key = "repository" if kind == "github" else "project"
    return f"""\
environments:
  - name: dev
    paths: [overlays/dev, values-dev.yaml]
  - name: prod
    paths: [overlays/prod]
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
  labels: [promoter, dev]
"""


@dataclass
class World:
    kind: str
    server: FakeGitHub | FakeGitLab
    name: str
    bare: Path
    token: str
    image: str  # repository path in the registry
    ref: str  # registry host/repository, as the files name it
    pusher: Pusher
    tmp: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def clone_url(self) -> str:
        return f"{self.server.url}/{self.name}.git"

    def forge(self) -> Forge:
        return open_forge(self.kind, repo=self.name, url=self.server.url, token=self.token,
                          retries=0, **({"throttle": False} if self.kind == "github" else {}))

    def config(self) -> Config:
        text = subprocess.run(["git", "--git-dir", str(self.bare), "show",
                               "main:.promoter.yaml"], capture_output=True, text=True,
                              check=True).stdout
        return parse_config(text)

    def poll(self, **kw: object) -> Report:
        dest = self.tmp / f"clone-{next(_n)}"
        user = "oauth2" if self.kind == "gitlab" else "x-access-token"
        with GitWorkspace.clone(self.clone_url, dest,
                                auth=HttpAuth(username=user, token=self.token)) as ws:
            return poll(self.config(), ws, OciRegistry(), self.forge(), **kw)  # type: ignore[arg-type]

    def show(self, rev: str, path: str) -> str:
        return subprocess.run(["git", "--git-dir", str(self.bare), "show", f"{rev}:{path}"],
                              capture_output=True, text=True, check=True).stdout

    def head(self, branch: str) -> str | None:
        r = subprocess.run(["git", "--git-dir", str(self.bare), "rev-parse", "--verify", "-q",
                            f"refs/heads/{branch}"], capture_output=True, text=True)
        return r.stdout.strip() or None

    def diff(self, branch: str) -> list[str]:
        out = subprocess.run(["git", "--git-dir", str(self.bare), "diff", "--unified=0",
                              f"main...{branch}"], capture_output=True, text=True,
                             check=True).stdout
        return [line for line in out.splitlines()
                if line[:1] in "+-" and not line.startswith(("+++", "---"))]

    def writes(self) -> int:
        return sum(1 for method, _, _ in self.server.requests if method != "GET")


@pytest.fixture(params=["github", "gitlab"])
def world(request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    kind = request.param
    server: FakeGitHub | FakeGitLab = request.getfixturevalue(kind)
    i = next(_n)
    image = f"{registry.host}/e2e/web{i}"
    name = f"acme/gitops-{kind}-{i}"
    files = {"overlays/dev/kustomization.yaml": KUSTOMIZATION.format(image=image),
             "overlays/prod/kustomization.yaml": KUSTOMIZATION.format(image=image),
             "values-dev.yaml": VALUES.format(image=image),
             ".promoter.yaml": _config(kind, image, server.url, name)}
    if isinstance(server, FakeGitHub):
        bare = server.add_repo(name, files=files).path
        token = server.add_user("promoter-bot", token=f"ghp-e2e-token-{i}")
        server.set_permission(name, "promoter-bot", "write")
    else:
        bare = server.add_project(name, files=files).bare
        token = server.add_user("promoter-bot", token=f"glpat-e2e-token-{i}")
        server.set_access(name, "promoter-bot", 30)
    for tag in ("1.0.0", "1.1.0", "2.0.0"):
        pusher.push(f"e2e/web{i}", tag)
    monkeypatch.setenv("FORGE_TOKEN", token)
    start = len(server.recorded)
    yield World(kind, server, name, bare, token, f"e2e/web{i}", image, pusher, tmp_path,
                monkeypatch)
    openapi.assert_github_valid(server, start)


def test_poll_opens_one_pr_with_one_line_diffs_and_second_run_does_nothing(world: World
                                                                           ) -> None:
    report = world.poll()
    assert report.ok, report
    assert [(r.branch, r.outcome, r.action) for r in report.results] == [
        ("promoter/dev/web", "created", "opened")]
    assert world.diff("promoter/dev/web") == [
        '-    newTag: "1.0.0"   # moved by promoter', '+    newTag: "1.1.0"   # moved by promoter',
        "-  tag: '1.0.0'", "+  tag: '1.1.0'"]
    # prod is not tracked: it waits for promotion
    assert world.show("promoter/dev/web", "overlays/prod/kustomization.yaml") == \
        world.show("main", "overlays/prod/kustomization.yaml")
    pr = world.forge().find(head="promoter/dev/web", base="main")
    assert pr is not None and pr.state is PRState.OPEN
    assert pr.title == "Promote web to 1.1.0 in dev"
    assert set(pr.labels) >= {"promoter", "dev"}
    assert "| 1.0.0 | **1.1.0** | minor |" in pr.body

    head, writes = world.head("promoter/dev/web"), world.writes()
    again = world.poll()
    assert [(r.outcome, r.action) for r in again.results] == [("unchanged", "kept")]
    assert world.head("promoter/dev/web") == head
    assert world.writes() == writes  # nothing pushed, nothing created or edited


def test_newer_tag_updates_the_same_pr_and_says_superseded(world: World) -> None:
    first = world.poll().results[0]
    world.pusher.push(world.image, "1.2.0")
    second = world.poll().results[0]
    assert (second.number, second.action) == (first.number, "updated")
    pr = world.forge().get(second.number or 0)
    assert pr.title == "Promote web to 1.2.0 in dev"
    assert any("1.1.0 -> 1.2.0 superseded" in c.body
               for c in world.forge().comments(second.number or 0))
    assert '+    newTag: "1.2.0"   # moved by promoter' in world.diff("promoter/dev/web")
    assert len(world.forge().list_open()) == 1


def test_human_commit_on_the_branch_is_never_overwritten(world: World) -> None:
    first = world.poll().results[0]
    human = commit_to(world.bare, "promoter/dev/web", {"NOTES.md": "mine\n"},
                      message="a human fix")
    world.pusher.push(world.image, "1.3.0")
    result = world.poll().results[0]
    assert (result.outcome, result.action, result.number) == ("human", "commented", first.number)
    assert world.head("promoter/dev/web") == human
    comments = world.forge().comments(first.number or 0)
    assert sum("did not update this branch" in c.body for c in comments) == 1
    world.poll()  # asks once only
    assert sum("did not update this branch" in c.body
               for c in world.forge().comments(first.number or 0)) == 1


def test_pr_closed_when_the_base_was_bumped_by_hand(world: World) -> None:
    first = world.poll().results[0]
    commit_to(world.bare, "main", {
        "overlays/dev/kustomization.yaml":
            KUSTOMIZATION.format(image=world.ref).replace('"1.0.0"', '"1.1.0"'),
        "values-dev.yaml": VALUES.format(image=world.ref).replace("'1.0.0'", "'1.1.0'")},
        message="bump by hand")
    report = world.poll()
    assert [(r.outcome, r.number) for r in report.results] == [("closed", first.number)]
    pr = world.forge().get(first.number or 0)
    assert pr.state is PRState.CLOSED
    assert world.head("promoter/dev/web") is None


@pytest.mark.parametrize("status", [500, 422])
def test_forge_failure_leaves_no_half_made_pr_and_next_run_recovers(world: World,
                                                                    status: int) -> None:
    path = (rf"/repos/{world.name}/pulls$" if world.kind == "github"
            else r"/projects/\d+/merge_requests$")
    world.server.fail_next("POST", path, status=status)
    report = world.poll()
    assert not report.ok
    assert report.results[0].outcome == "failed"
    assert world.forge().list_open() == ()
    assert world.head("promoter/dev/web") is None  # no branch without its PR
    report = world.poll()
    assert report.ok and report.results[0].action == "opened"
    assert len(world.forge().list_open()) == 1


def test_push_rejected_by_the_remote_is_reported_and_opens_nothing(world: World) -> None:
    hook = world.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'rejected by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    try:
        report = world.poll()
    finally:
        hook.unlink()
    assert not report.ok
    assert report.results[0].outcome == "failed"
    assert world.head("promoter/dev/web") is None
    assert world.forge().list_open() == ()


def test_cli_poll_with_clone_and_plan_json(world: World, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    assert main(["plan", "--clone", world.clone_url, "--output", "json"]) == 0
    import json

    plan = json.loads(capsys.readouterr().out)["plan"]
    assert [(p["branch"], [(u["from"], u["to"]) for u in p["updates"]]) for p in plan] == [
        ("promoter/dev/web", [("1.0.0", "1.1.0")])]
    assert world.head("promoter/dev/web") is None  # plan writes nothing
    assert main(["poll", "--clone", world.clone_url]) == 0
    out = capsys.readouterr()
    assert "promoter/dev/web: created opened" in out.out
    assert world.token not in out.out + out.err


def test_unreachable_registry_is_a_clear_error_and_makes_nothing(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    text = world.show("main", ".promoter.yaml").replace(world.ref.split("/")[0], dead)
    kust = world.show("main", "overlays/dev/kustomization.yaml").replace(
        world.ref.split("/")[0], dead)
    commit_to(world.bare, "main", {".promoter.yaml": text,
                                   "overlays/dev/kustomization.yaml": kust}, message="moved")
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    assert main(["poll", "--clone", world.clone_url]) == 3  # retry later
    err = capsys.readouterr().err
    assert "web: " in err and dead in err
    assert world.head("promoter/dev/web") is None
    assert world.forge().list_open() == ()


def test_bad_config_is_exit_2_with_file_and_line(world: World, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bad = world.show("main", ".promoter.yaml").replace('semver: "^1.0"', "semver: 1.0")
    commit_to(world.bare, "main", {".promoter.yaml": bad}, message="oops")
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    assert main(["poll", "--clone", world.clone_url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promoter: error: .promoter.yaml:9:")
    assert "images[0].policy.semver" in err
    assert world.head("promoter/dev/web") is None


def test_two_polls_at_the_same_time_make_one_pr(world: World) -> None:
    import threading

    reports: list[Report] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        reports.append(world.poll())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2
    assert all(r.results and r.results[0].outcome != "failed" for r in reports), \
        [(x.outcome, x.error) for r in reports for x in r.results]
    assert len(world.forge().list_open()) == 1
    assert {r.results[0].number for r in reports} == {world.forge().list_open()[0].number}


def test_actions_github_token_notice(world: World, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if world.kind != "github":
        pytest.skip("a GitHub Actions matter")
    cfg = world.show("main", ".promoter.yaml").replace("FORGE_TOKEN", "GITHUB_TOKEN")
    commit_to(world.bare, "main", {".promoter.yaml": cfg}, message="use the Actions token")
    monkeypatch.setenv("GITHUB_TOKEN", world.token)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    assert main(["poll", "--clone", world.clone_url]) == 0
    err = capsys.readouterr().err
    assert "do not trigger other workflows" in err and "GitHub App" in err
    assert world.token not in err


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: more
spec:
  template:
    spec:
      containers:
{containers}
"""


def test_many_prs_are_looked_up_with_one_listing_and_a_steady_poll_writes_nothing(
        world: World) -> None:
    """Four images, four pull requests. The poll lists the open pull requests once instead of
    looking each up, and a poll that finds nothing new asks nothing per pull request. A fork's
    pull request from a branch of the same name is not taken for ours."""
    names = ["api", "worker", "cron"]
    for name in names:
        for tag in ("1.0.0", "1.1.0"):
            world.pusher.push(f"{world.image}-{name}", tag)
    containers = "\n".join(f"        - name: {n}\n          image: {world.ref}-{n}:1.0.0"
                           for n in names)
    cfg = world.show("main", ".promoter.yaml").replace("forge:\n", "".join(
        f"  - name: {n}\n    repository: {world.ref}-{n}\n    policy: {{semver: \"^1.0\"}}\n"
        for n in names) + "forge:\n")
    commit_to(world.bare, "main", {".promoter.yaml": cfg,
                                   "overlays/dev/more.yaml": DEPLOYMENT.format(
                                       containers=containers)}, message="three more images")
    if isinstance(world.server, FakeGitHub):  # a fork's PR from a same-named branch
        fork = f"mallory/{world.name.split('/')[1]}"
        fork_path = world.server.add_repo(fork, files={"x": "1\n"}).path
        commit_to(fork_path, "promoter/dev/api", {"x": "2\n"}, base="main")
        world.server.add_fork_pull(world.name, fork, head="promoter/dev/api", base="main")

    start = len(world.server.requests)
    first = world.poll()
    assert first.ok, first
    assert sorted((r.branch, r.action) for r in first.results) == [
        (f"promoter/dev/{n}", "opened") for n in sorted([*names, "web"])]
    pr_paths = r"/(pulls|merge_requests)/\d+$"
    lookups = [p for m, p, _ in world.server.requests[start:]
               if m == "GET" and re.search(r"/(pulls|merge_requests)$", p)]
    assert len(lookups) == 1  # one listing, not one lookup per branch

    start, writes = len(world.server.requests), world.writes()
    again = world.poll()
    assert [r.action for r in again.results] == ["kept"] * 4
    assert world.writes() == writes
    asked = [(m, p) for m, p, _ in world.server.requests[start:]]
    assert not [p for _, p in asked if re.search(pr_paths, p)], asked
    assert len([p for _, p in asked if re.search(r"/(pulls|merge_requests)$", p)]) == 1
