"""registry (real docker-registry) -> poll with pull-requests.max-open -> fake GitHub / GitLab
(real PyGithub, python-gitlab, real git over HTTP) -> the dashboard issue, and its checkboxes
ticked through real webhook payloads (``@octokit/webhooks-examples`` ``issues.edited``, a GitLab
``Issue Hook``)."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from promoter import dashboard as d
from promoter.config import Config, parse_config
from promoter.demo.push import Pusher
from promoter.flows import dashboard
from promoter.flows.comment import Ports
from promoter.flows.poll import Report, poll
from promoter.forge import Forge, open_forge
from promoter.gitrepo import GitWorkspace, HttpAuth, Workspace
from promoter.registry.oci import OciRegistry
from promoter.webhooks import JobKind, github_job, gitlab_job
from tests.forge import openapi
from tests.serve.worlds import example, examples_available
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)
NAMES = ("a", "b", "c")


def _config(kind: str, prefix: str, url: str, repo: str) -> str:
    key = "repository" if kind == "github" else "project"
    images = "".join(f"  - {{name: {x}, repository: {prefix}-{x}, policy: {{semver: '^1.0'}}}}\n"
                     for x in NAMES)
    return f"""\
environments:
  - {{name: dev, paths: [dev]}}
images:
{images}forge: {{type: {kind}, url: "{url}", {key}: {repo}, token-env: FORGE_TOKEN}}
pull-requests: {{max-open: 2}}
dashboard: true
"""


@dataclass
class World:
    kind: str
    server: FakeGitHub | FakeGitLab
    name: str
    bare: Path
    token: str
    tmp: Path

    def forge(self) -> Forge:
        return open_forge(self.kind, repo=self.name, url=self.server.url, token=self.token,
                          retries=0, throttle=False)

    def config(self) -> Config:
        return parse_config(subprocess.run(
            ["git", "--git-dir", str(self.bare), "show", "main:.promoter.yaml"],
            capture_output=True, text=True, check=True).stdout)

    @contextlib.contextmanager
    def checkout(self) -> Iterator[Workspace]:
        user = "oauth2" if self.kind == "gitlab" else "x-access-token"
        with GitWorkspace.clone(f"{self.server.url}/{self.name}.git",
                                self.tmp / f"clone-{next(_n)}",
                                auth=HttpAuth(username=user, token=self.token)) as ws:
            yield ws

    def poll(self) -> tuple[Report, dashboard.Result]:
        cfg, forge = self.config(), self.forge()
        with self.checkout() as ws:
            report = poll(cfg, ws, OciRegistry(), forge)  # type: ignore[arg-type]
        return report, dashboard.refresh(cfg, forge, report)

    def branch(self, name: str) -> str | None:
        r = subprocess.run(["git", "--git-dir", str(self.bare), "rev-parse", "--verify", "-q",
                            f"refs/heads/{name}"], capture_output=True, text=True)
        return r.stdout.strip() or None

    def issue_writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.server.requests
                if m != "GET" and "/issues" in p and "/comments" not in p]

    def tick(self, user: str, number: int, action: str) -> dashboard.EditReport:
        """``user`` ticks the first box of ``action`` in the web UI; the forge's webhook runs
        the dashboard flow (as ``promoter serve`` does)."""
        before = self.forge().get_issue(number).body
        after = "".join(x.replace("- [ ]", "- [x]", 1)
                        if x.startswith(f"- [ ] <!-- promoter:{action}") else x
                        for x in before.splitlines(keepends=True))
        assert after != before
        if isinstance(self.server, FakeGitHub):
            self.server.edit_issue(self.name, number, after)
            job = github_job("issues", f"d-{next(_n)}", _github_edit(self, number, user,
                                                                     before, after))
        else:
            self.server.edit_issue(self.name, number, after)
            job = gitlab_job("Issue Hook", f"d-{next(_n)}", _gitlab_edit(self, number, user,
                                                                         before, after))
        assert job is not None and job.kind is JobKind.DASHBOARD and job.edit is not None
        assert job.repo == self.name
        cfg, forge = self.config(), self.forge()
        with self.checkout() as ws:
            @contextlib.contextmanager
            def opener() -> Iterator[Workspace]:
                ws.fetch()
                yield ws

            ports = Ports(forge=forge, workspace=opener, registry=OciRegistry)
            return dashboard.on_edit(job.edit, cfg, ports)


def _github_edit(w: World, number: int, user: str, before: str, after: str) -> dict[str, Any]:
    """The real ``issues.edited`` example, re-pointed at ``w``'s dashboard issue: the
    repository, the issue's number and body, what the body was, and who edited it."""
    payload = example("issues", "edited")
    owner, repo = w.name.split("/")
    payload["repository"].update(full_name=w.name, name=repo)
    payload["repository"]["owner"]["login"] = owner
    payload["issue"].update(number=number, body=after)
    payload["changes"] = {"body": {"from": before}}
    payload["sender"].update(login=user, type="User")
    return payload


def _gitlab_edit(w: World, number: int, user: str, before: str, after: str) -> dict[str, Any]:
    """An ``Issue Hook`` as GitLab documents it for an edited description."""
    return {"object_kind": "issue", "event_type": "issue",
            "user": {"id": 9, "name": user.title(), "username": user},
            "project": {"id": 1, "path_with_namespace": w.name},
            "object_attributes": {"iid": number, "action": "update", "description": after,
                                  "state": "opened"},
            "changes": {"description": {"previous": before, "current": after}}}


@pytest.fixture(params=["github", "gitlab"])
def world(request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    if request.param == "github" and not examples_available():
        pytest.skip("@octokit/webhooks-examples not installed")
    kind = request.param
    server: FakeGitHub | FakeGitLab = request.getfixturevalue(kind)
    i = next(_n)
    prefix = f"{registry.host}/dash{i}/img"
    kust = "images:\n" + "".join(f"  - name: {prefix}-{x}\n    newTag: 1.0.0\n" for x in NAMES)
    name = f"acme/dash-{kind}-{i}"
    files = {"dev/kustomization.yaml": kust, ".promoter.yaml": _config(kind, prefix,
                                                                          server.url, name)}
    if isinstance(server, FakeGitHub):
        bare = server.add_repo(name, files=files).path
        token = server.add_user("promoter-bot", token=f"ghp-dash-token-{i}")
        server.set_permission(name, "promoter-bot", "write")
        server.set_permission(name, "alice", "write")
        server.set_permission(name, "rita", "read")
    else:
        bare = server.add_project(name, files=files).bare
        token = server.add_user("promoter-bot", token=f"glpat-dash-token-{i}")
        server.set_access(name, "promoter-bot", 30)
        server.set_access(name, "alice", 30)
        server.set_access(name, "rita", 20)
    for x in NAMES:
        pusher.push(f"dash{i}/img-{x}", "1.1.0")
    monkeypatch.setenv("FORGE_TOKEN", token)
    start = len(server.recorded)
    yield World(kind, server, name, bare, token, tmp_path)
    openapi.assert_github_valid(server, start)


def test_max_open_holds_back_the_third_and_the_dashboard_is_kept_in_place(world: World
                                                                         ) -> None:
    report, board = world.poll()
    assert report.exit_code == 0  # waiting is not a failure
    assert [(r.branch, r.outcome, r.reason) for r in report.results] == [
        ("promoter/dev/a", "created", None), ("promoter/dev/b", "created", None),
        ("promoter/dev/c", "waiting", "max-open 2 reached")]
    assert world.branch("promoter/dev/c") is None  # nothing pushed for it
    assert len(world.forge().list_open()) == 2
    assert board.outcome is dashboard.Outcome.CREATED and board.number is not None
    issue = world.forge().get_issue(board.number)
    assert issue.labels == (d.LABEL,) and issue.body.startswith(d.MARKER)
    assert "- [ ] <!-- promoter:poll env=dev image=c --> open the pull request for c 1.1.0 " \
           "in dev: max-open 2 reached" in issue.body
    assert issue.body.count("<!-- promoter:promote env=dev") == 2

    writes = len(world.issue_writes())
    again, board2 = world.poll()
    assert [r.outcome for r in again.results] == ["unchanged", "unchanged", "waiting"]
    assert (board2.outcome, board2.number) == (dashboard.Outcome.UNCHANGED, board.number)
    assert len(world.issue_writes()) == writes  # no second issue, no rewrite


def test_a_tick_by_a_reader_runs_nothing_and_a_tick_by_a_writer_opens_the_pull_request(
        world: World) -> None:
    _, board = world.poll()
    assert board.number is not None
    before = world.forge().get_issue(board.number).body

    refused = world.tick("rita", board.number, "poll")
    assert refused.outcome is dashboard.EditOutcome.REFUSED
    assert world.branch("promoter/dev/c") is None
    assert world.forge().get_issue(board.number).body == before  # the box is cleared again

    done = world.tick("alice", board.number, "poll")
    assert done.outcome is dashboard.EditOutcome.DONE, done
    pr = world.forge().find(head="promoter/dev/c", base="main")
    assert pr is not None and pr.is_open
    body = world.forge().get_issue(board.number).body
    assert "<!-- promoter:poll" not in body and "[x]" not in body
    assert f"<!-- promoter:promote env=dev image=c pr={pr.number} -->" in body


def test_cli_poll_reports_waiting_in_json_and_dashboard_keeps_the_issue(
        world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from promoter.cli import main

    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    url = f"{world.server.url}/{world.name}.git"
    assert main(["poll", "--clone", url, "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(p["branch"], p["outcome"], p["reason"]) for p in doc["pull_requests"]] == [
        ("promoter/dev/a", "created", None), ("promoter/dev/b", "created", None),
        ("promoter/dev/c", "waiting", "max-open 2 reached")]
    issue = world.forge().find_issue(label=d.LABEL)
    assert issue is not None and "max-open 2 reached" in issue.body

    writes = len(world.issue_writes())
    assert main(["dashboard", "--clone", url, "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "unchanged", out
    assert out["number"] == issue.number
    assert [(r["state"], r["image"]) for r in out["rows"]] == [
        ("pending", "a"), ("pending", "b")]
    assert len(world.issue_writes()) == writes
    assert world.forge().get_issue(issue.number).body == issue.body  # waiting row kept

    assert main(["poll", "--clone", url, "--output", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "### Waiting\n\n- `promoter/dev/c` (dev): `c` 1.1.0 - max-open 2 reached\n" in md


def test_cli_dashboard_event_runs_a_writers_tick_from_an_actions_event_file(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    import json

    from promoter.cli import main

    if world.kind != "github":
        pytest.skip("GitHub Actions event files")
    _, board = world.poll()
    assert board.number is not None
    before = world.forge().get_issue(board.number).body
    after = before.replace("- [ ] <!-- promoter:poll", "- [x] <!-- promoter:poll")
    assert isinstance(world.server, FakeGitHub)
    world.server.edit_issue(world.name, board.number, after)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(_github_edit(world, board.number, "alice", before, after)))
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    capsys.readouterr()
    assert main(["dashboard", "--event", str(event), "--clone",
                 f"{world.server.url}/{world.name}.git"]) == 0
    assert capsys.readouterr().out == "done\n- done: promoter/dev/c: created\n"
    assert world.forge().find(head="promoter/dev/c", base="main") is not None
