"""The dashboard flow over in-memory ports (MemoryForge, MemoryWorkspace, MemoryRegistry) with
real polls: one issue kept in place, limits shown as waiting rows, and ticked boxes run for
writers only. End-to-end through PyGithub / python-gitlab: test_dashboard_e2e."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from promoter import dashboard as d
from promoter.config import Config, parse_config
from promoter.flows import dashboard
from promoter.flows.comment import Ports, Result
from promoter.flows.poll import poll
from promoter.forge import Permission
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import MemoryWorkspace
from promoter.registry.memory import MemoryRegistry
from promoter.webhooks import IssueEdit

BOT = "promoter-bot"
CONFIG = """\
environments:
  - {name: dev, paths: [dev]}
  - {name: prod, paths: [prod]}
images:
  - {name: api, repository: ghcr.io/acme/api}
  - {name: web, repository: ghcr.io/acme/web}
pull-requests: {max-open: 1}
dashboard: {title: Promotions}
"""
KUST = ("images:\n  - name: ghcr.io/acme/api\n    newTag: 1.0.0\n"
        "  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n")


@dataclass
class World:
    cfg: Config
    ws: MemoryWorkspace
    forge: MemoryForge
    registry: MemoryRegistry

    def ports(self) -> Ports:
        @contextlib.contextmanager
        def opener() -> Iterator[MemoryWorkspace]:
            yield self.ws

        return Ports(forge=self.forge, workspace=opener, registry=lambda: self.registry)

    def poll(self) -> dashboard.Result:
        return dashboard.refresh(self.cfg, self.forge, poll(self.cfg, self.ws, self.registry,
                                                            self.forge))

    def issue(self) -> str:
        [issue] = self.forge.issues.values()
        return issue.body

    def tick(self, user: str, action: str) -> dashboard.EditReport:
        [issue] = self.forge.issues.values()
        before = issue.body
        after = "".join(x.replace("- [ ]", "- [x]", 1)
                        if x.startswith(f"- [ ] <!-- promoter:{action}") else x
                        for x in before.splitlines(keepends=True))
        assert after != before
        self.forge.edit_issue_as(issue.number, after)
        return dashboard.on_edit(IssueEdit(number=issue.number, editor=user, before=before,
                                           after=after), self.cfg, self.ports())


@pytest.fixture
def world() -> World:
    reg = MemoryRegistry()
    reg.push("ghcr.io/acme/api:1.1.0")
    reg.push("ghcr.io/acme/web:1.2.0")
    ws = MemoryWorkspace({"dev/kustomization.yaml": KUST, "prod/kustomization.yaml": KUST,
                          ".promoter.yaml": CONFIG})
    forge = MemoryForge("acme/gitops", user=BOT, resolve=ws.branch_head)
    forge.permissions.update({"alice": Permission.WRITE, "rita": Permission.READ})
    return World(cfg=parse_config(CONFIG), ws=ws, forge=forge, registry=reg)


def test_limit_waits_and_the_dashboard_is_created_once_then_left_alone(world: World) -> None:
    first = world.poll()
    assert first.outcome is dashboard.Outcome.CREATED
    [pr] = world.forge.pulls.values()
    assert pr.head == "promoter/dev/api"
    assert world.ws.branch_head("promoter/dev/web") is None  # waiting: nothing pushed
    [issue] = world.forge.issues.values()
    assert (issue.title, issue.labels) == ("Promotions", (d.LABEL,))
    assert [(r.state, r.env, r.image, r.version, r.reason) for r in first.rows] == [
        (d.State.PENDING, "dev", "api", "1.1.0", ""),
        (d.State.WAITING, "dev", "web", "1.2.0", "max-open 1 reached")]
    assert f"- [ ] <!-- promoter:promote env=dev image=api pr={pr.number} -->" in issue.body
    assert "- [ ] <!-- promoter:poll env=dev image=web --> open the pull request for web " \
           "1.2.0 in dev: max-open 1 reached" in issue.body

    calls = len(world.forge.calls)
    again = world.poll()
    assert again.outcome is dashboard.Outcome.UNCHANGED
    assert len(world.forge.issues) == 1
    assert "update_issue" not in world.forge.calls[calls:]
    assert "create_issue" not in world.forge.calls[calls:]


def test_a_writer_ticking_a_waiting_box_opens_that_pull_request_past_the_limit(world: World
                                                                              ) -> None:
    world.poll()
    report = world.tick("alice", "poll")
    assert report.outcome is dashboard.EditOutcome.DONE
    assert [a.result for a in report.answers] == [Result.DONE]
    assert world.forge.find(head="promoter/dev/web", base="main") is not None
    body = world.issue()
    assert "## Waiting" not in body  # it ran: now it is pending
    assert "<!-- promoter:promote env=dev image=web" in body
    assert "[x]" not in body


def test_a_reader_ticking_a_box_runs_nothing_and_the_box_is_cleared(world: World) -> None:
    world.poll()
    before = world.issue()
    report = world.tick("rita", "poll")
    assert (report.outcome, report.reason) == (dashboard.EditOutcome.REFUSED, "no write access")
    assert world.forge.find(head="promoter/dev/web", base="main") is None
    assert world.issue() == before


def test_ticking_a_pending_box_is_promote_on_that_pull_request(world: World) -> None:
    world.poll()
    report = world.tick("alice", "promote")
    assert [a.result for a in report.answers] == [Result.DONE]
    pr = world.forge.find(head="promoter/dev/api", base="main")
    assert pr is not None and pr.auto_merge


def test_edits_by_bots_or_of_other_issues_are_ignored(world: World) -> None:
    world.poll()
    [issue] = world.forge.issues.values()
    other = world.forge.create_issue(title="x", body=issue.body, labels=())
    ticked = issue.body.replace("- [ ]", "- [x]")
    for edit, why in ((IssueEdit(number=issue.number, editor=BOT, before=issue.body,
                                 after=ticked), f"by a bot ({BOT})"),
                      (IssueEdit(number=other.number, editor="alice", before=issue.body,
                                 after=ticked), "not the dashboard issue"),
                      (IssueEdit(number=issue.number, editor="alice", before=issue.body,
                                 after=issue.body), "no box ticked")):
        report = dashboard.on_edit(edit, world.cfg, world.ports())
        assert (report.outcome, report.reason) == (dashboard.EditOutcome.IGNORED, why)
    assert len(world.forge.pulls) == 1


def test_waiting_is_listed_in_text_and_is_no_failure(world: World) -> None:
    from promoter.render.text import text

    report = poll(world.cfg, world.ws, world.registry, world.forge)
    assert report.ok and report.exit_code == 0
    assert text(report).splitlines()[-2:] == [
        "dev: promoter/dev/api: created opened #1 https://forge.invalid/acme/gitops/pull/1",
        "dev: promoter/dev/web: waiting: max-open 1 reached"]


def test_a_held_pull_request_is_a_held_row_and_its_box_unholds_it(world: World) -> None:
    world.poll()
    pr = world.forge.find(head="promoter/dev/api", base="main")
    assert pr is not None
    world.forge.add_labels(pr.number, ("promoter/hold",))
    again = world.poll()
    assert again.outcome is dashboard.Outcome.UPDATED  # rewritten in place, same issue
    assert [(r.state, r.image, r.action) for r in again.rows if r.image == "api"] == [
        (d.State.HELD, "api", d.Action.UNHOLD)]
    assert f"- [ ] <!-- promoter:unhold env=dev image=api pr={pr.number} --> unhold api " \
           "1.1.0 in dev" in world.issue()
    report = world.tick("alice", "unhold")
    assert [a.result for a in report.answers] == [Result.DONE]
    assert "promoter/hold" not in world.forge.get(pr.number).labels
    assert "<!-- promoter:promote env=dev image=api" in world.issue()  # pending again


def test_a_merged_pull_request_leaves_the_dashboard_and_the_next_one_opens(world: World
                                                                          ) -> None:
    world.poll()
    pr = world.forge.find(head="promoter/dev/api", base="main")
    assert pr is not None
    world.ws.branches["main"] = world.ws.branches[pr.head]
    world.forge.merge(pr.number)
    board = world.poll()
    assert board.outcome is dashboard.Outcome.UPDATED
    assert [(r.state, r.image) for r in board.rows] == [(d.State.PENDING, "web")]
    assert "max-open" not in world.issue()


def test_a_box_whose_pull_request_is_gone_fails_alone(world: World) -> None:
    world.poll()
    [issue] = world.forge.issues.values()
    pr = world.forge.find(head="promoter/dev/api", base="main")
    assert pr is not None
    del world.forge.pulls[pr.number]  # deleted on the forge since the dashboard was written
    report = world.tick("alice", "promote")
    assert [a.result for a in report.answers] == [Result.FAILED]
    assert report.answers[0].text == (f"failed: memory: acme/gitops: pull request "
                                      f"#{pr.number} not found")
    assert "[x]" not in world.issue() and issue.number in world.forge.issues
