"""The comment flow over in-memory ports (MemoryForge, MemoryWorkspace, MemoryRegistry), with
a real poll opening the pull requests the commands act on. Replies are compared verbatim."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from promoter import commands, ignores
from promoter.config import Config, parse_config
from promoter.flows.comment import (
    CommentEvent,
    Outcome,
    Ports,
    Report,
    Result,
    handle,
    refusal,
)
from promoter.flows.poll import poll
from promoter.forge import Permission, PRState, Reaction
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import MemoryWorkspace
from promoter.registry.memory import MemoryRegistry

BOT = "promoter-bot"
CONFIG = """\
environments:
  - {name: dev, paths: [dev]}
  - name: prod
    paths: [prod]
    allowed-commenters: {users: [sre-sam], teams: [acme/sre]}
images:
  - {name: api, repository: ghcr.io/acme/api}
  - {name: web, repository: ghcr.io/acme/web}
"""
KUST = ("images:\n  - name: ghcr.io/acme/api\n    newTag: 1.0.0\n"
        "  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n")


@dataclass
class World:
    cfg: Config
    ws: MemoryWorkspace
    forge: MemoryForge
    registry: MemoryRegistry
    teams: dict[str, set[str]]

    def ports(self, *, workspace: bool = True) -> Ports:
        @contextlib.contextmanager
        def opener() -> Iterator[MemoryWorkspace]:
            yield self.ws

        return Ports(forge=self.forge, workspace=opener if workspace else None,
                     registry=lambda: self.registry,
                     member_of=lambda user, team: user in self.teams.get(team, set()))

    def say(self, number: int, user: str, body: str, **kw: object) -> tuple[int, Report]:
        cid = self.forge.add_comment(number, user, body).id
        event = CommentEvent(number=number, comment_id=cid, author=user, body=body,
                             **kw)  # type: ignore[arg-type]
        return cid, handle(event, self.cfg, self.ports())

    def pr_of(self, image: str, env: str = "dev") -> int:
        pr = self.forge.find(head=f"promoter/{env}/{image}", base="main")
        assert pr is not None
        return pr.number


@pytest.fixture
def world() -> World:
    reg = MemoryRegistry()
    for tag in ("1.0.0", "1.0.1", "2.0.0"):
        reg.push(f"ghcr.io/acme/api:{tag}")
    reg.push("ghcr.io/acme/web:1.1.0")
    ws = MemoryWorkspace({"dev/kustomization.yaml": KUST, "prod/kustomization.yaml": KUST,
                          ".promoter.yaml": CONFIG})
    forge = MemoryForge("acme/gitops", user=BOT, resolve=ws.branch_head)
    forge.permissions.update({"alice": Permission.WRITE, "rita": Permission.READ,
                              "sre-sam": Permission.MAINTAIN, "tina": Permission.WRITE})
    cfg = parse_config(CONFIG)
    report = poll(cfg, ws, reg, forge)
    assert {r.branch for r in report.results} == {"promoter/dev/api", "promoter/dev/web"}
    return World(cfg=cfg, ws=ws, forge=forge, registry=reg, teams={"acme/sre": {"tina"}})


def last_comment(w: World, number: int) -> str:
    return w.forge.comments(number)[-1].body


def test_promote_turns_on_auto_merge_and_answers_once(world: World) -> None:
    n = world.pr_of("api")
    cid, report = world.say(n, "alice", "Looks good.\n/promote")
    assert report.outcome is Outcome.DONE
    assert world.forge.get(n).auto_merge
    assert world.forge.reactions[cid] == [(BOT, Reaction.EYES)]
    assert [c.author for c in world.forge.comments(n)] == ["alice", BOT]
    assert last_comment(world, n) == (
        "@alice\n- `/promote`: auto-merge is on: the forge merges this pull request once its "
        "required checks and reviews pass.\n")


@pytest.mark.parametrize(("user", "kw", "why"), [
    (BOT, {}, "by a bot (promoter-bot)"),
    ("dependabot[bot]", {}, "by a bot (dependabot[bot])"),
    ("project_7_bot_3f2a", {}, "by a bot (project_7_bot_3f2a)"),
    ("ci", {"author_is_bot": True}, "by a bot (ci)"),
    ("alice", {"edited": True}, "an edit"),
    ("alice", {"system": True}, "a system note"),
    ("alice", {"on_pull_request": False}, "not on a pull request"),
])
def test_ignored_comments_get_no_reaction_and_no_reply(world: World, user: str,
                                                      kw: dict[str, bool], why: str) -> None:
    n = world.pr_of("api")
    world.forge.permissions[user] = Permission.ADMIN
    cid, report = world.say(n, user, "/promote", **kw)
    assert (report.outcome, report.reason) == (Outcome.IGNORED, why)
    assert cid not in world.forge.reactions
    assert [c.author for c in world.forge.comments(n)] == [user]
    assert not world.forge.get(n).auto_merge


def test_comments_without_commands_are_ignored(world: World) -> None:
    n = world.pr_of("api")
    cid, report = world.say(n, "alice", "> /promote\n```\n/promote\n```\nnot now")
    assert report.outcome is Outcome.IGNORED
    assert cid not in world.forge.reactions


@pytest.mark.parametrize("user", ["rita", "stranger"])
def test_read_only_users_and_strangers_are_refused_politely(world: World, user: str) -> None:
    n = world.pr_of("api")
    cid, report = world.say(n, user, "/promote\n/promoter ignore this version")
    assert report.outcome is Outcome.REFUSED
    assert world.forge.reactions[cid] == [(BOT, Reaction.EYES)]
    assert last_comment(world, n) == refusal(user)
    assert "permission" not in refusal(user) and "read" not in refusal(user)
    assert not world.forge.get(n).auto_merge
    assert world.ws.branch_head("promoter/ignore") is None


def test_allowlists_narrow_write_access_per_environment(world: World) -> None:
    # a promoter PR into prod (as a promotion would open): alice has write but is not SRE
    head = world.ws.branch_head("promoter/dev/api")
    assert head is not None
    world.ws.push("promoter/prod/api", head, expect=None)
    pr = world.forge.create(head="promoter/prod/api", base="main", title="Promote api to prod",
                            body='x\n<!-- promoter:meta {"env":"prod","images":{"api":"2.0.0"},'
                                 '"source":null} -->\n')
    _, report = world.say(pr.number, "alice", "/promote")
    assert report.outcome is Outcome.REFUSED
    assert last_comment(world, pr.number) == (
        "@alice\n- `/promote`: refused: commands for **prod** are limited to the people its "
        "configuration allows.\n")
    assert not world.forge.get(pr.number).auto_merge
    for user in ("sre-sam", "tina"):  # listed by name; member of the listed team
        _, report = world.say(pr.number, user, "/promote")
        assert report.outcome is Outcome.DONE, user
    assert world.forge.get(pr.number).auto_merge
    # an explicit environment is checked too, wherever the comment is
    _, report = world.say(world.pr_of("web"), "alice", "/hold prod\n/promoter help")
    assert [a.result for a in report.answers] == [
        Result.REFUSED, Result.DONE]


def test_hold_and_unhold_use_the_hold_label_and_hold_blocks_promote(world: World) -> None:
    n = world.pr_of("api")
    world.say(n, "alice", "/hold")
    assert "promoter/hold" in world.forge.get(n).labels
    _, report = world.say(n, "alice", "/promote")
    assert not world.forge.get(n).auto_merge
    assert last_comment(world, n) == (
        "@alice\n- `/promote`: not done: this pull request is on hold (label `promoter/hold`); "
        "`/unhold` first\n")
    world.say(n, "alice", "/unhold\n/promote")
    pr = world.forge.get(n)
    assert "promoter/hold" not in pr.labels and pr.auto_merge
    assert last_comment(world, n) == (
        "@alice\n- `/unhold`: released: label `promoter/hold` removed.\n"
        "- `/promote`: auto-merge is on: the forge merges this pull request once its required "
        "checks and reviews pass.\n")


def test_pr_commands_refuse_pull_requests_promoter_did_not_open(world: World) -> None:
    world.ws.push("feature", world.ws.branch_head("main") or "", expect=None)
    fork = world.forge.create(head="feature", base="main", title="mine", body="hi")
    world.forge.pulls[fork.number] = dataclasses.replace(
        fork, author="mallory",
        body='<!-- promoter:meta {"env":"dev","images":{"api":"9"},"source":null} -->')
    _, report = world.say(fork.number, "alice", "/promote\n/hold\n/promoter ignore this version")
    assert {a.text for a in report.answers} == {
        "not done: this works only on pull requests promoter opened"}
    assert not world.forge.get(fork.number).auto_merge


def test_ignore_this_version_opens_a_pr_with_the_rules_and_closes_this_one(world: World) -> None:
    n = world.pr_of("api")
    _, report = world.say(n, "alice", "/promoter ignore major")
    assert report.outcome is Outcome.DONE, report
    ignore_pr = world.forge.find(head="promoter/ignore", base="main")
    assert ignore_pr is not None and ignore_pr.is_open
    assert world.forge.get(n).state is PRState.CLOSED
    text = world.ws.read(world.ws.branch_head("promoter/ignore") or "", ignores.PATH)
    assert ignores.parse(text) == {"api": ignores.Rule(majors=(2,))}
    assert last_comment(world, n) == (
        f"@alice\n- `/promoter ignore major`: later polls skip `api` major version of 2.0.0 "
        f"once #{ignore_pr.number} is merged ({ignore_pr.url}). This pull request is closed.\n")
    # a second ignore goes onto the same pending branch and PR
    _, report = world.say(world.pr_of("web"), "alice", "/promoter ignore this version")
    text = world.ws.read(world.ws.branch_head("promoter/ignore") or "", ignores.PATH)
    assert ignores.parse(text) == {"api": ignores.Rule(majors=(2,)),
                                   "web": ignores.Rule(versions=("1.1.0",))}
    assert [p.number for p in world.forge.list_open() if p.head == "promoter/ignore"] == [
        ignore_pr.number]
    # once merged, the next poll proposes api 1.0.1 and nothing for web
    world.forge.merge(ignore_pr.number)
    world.ws.push("main", world.ws.branch_head("promoter/ignore") or "",
                  expect=world.ws.branch_head("main"))
    report2 = poll(world.cfg, world.ws, world.registry, world.forge)
    assert {u.image: u.new_tag for pr in report2.plan.pull_requests for u in pr.updates} == {
        "api": "1.0.1"}


def test_unknown_commands_get_the_help_text(world: World) -> None:
    n = world.pr_of("api")
    _, report = world.say(n, "alice", "/promoter deploy")
    assert report.outcome is Outcome.DONE
    assert last_comment(world, n) == (
        "@alice\n- `/promoter deploy`:\n\nnot done: unknown command 'deploy'. "
        + commands.HELP.rstrip() + "\n")


def test_rollback_opens_the_rollback_pr(world: World) -> None:
    merge(world, world.pr_of("api"))  # dev ran 1.0.0, now runs 2.0.0
    n = world.pr_of("web")
    _, report = world.say(n, "alice", "/rollback dev api")
    assert [a.result for a in report.answers] == [Result.DONE], report
    pr = world.forge.find(head="promoter/rollback/dev/api", base="main")
    assert pr is not None and pr.is_open
    assert f"dev: api 2.0.0 -> 1.0.0: promoter/rollback/dev/api: created opened #{pr.number}" \
        in report.answers[0].text
    assert "/rollback by @alice on #" in pr.body
    _, report = world.say(n, "alice", "/rollback")  # this PR's environment, every image
    assert report.answers[0].result is Result.DONE
    _, report = world.say(n, "alice", "/rollback staging")
    assert report.answers[0].text.startswith("not done: unknown environment 'staging'")


def test_hold_an_environment_labels_its_open_promoter_prs(world: World) -> None:
    n = world.pr_of("api")
    _, report = world.say(n, "alice", "/hold dev")
    numbers = [p.number for p in world.forge.list_open()]  # newest first
    assert report.answers[0].text == (
        f"**dev** on hold: label `promoter/hold` on its open pull requests "
        f"({', '.join(f'#{x}' for x in numbers)}).")
    assert all("promoter/hold" in p.labels for p in world.forge.list_open())
    _, report = world.say(n, "alice", "/unhold dev")
    assert not any("promoter/hold" in p.labels for p in world.forge.list_open())
    _, report = world.say(n, "sre-sam", "/hold prod")
    assert report.answers[0].text.startswith("no open promoter pull request into **prod**")


def merge(world: World, number: int) -> None:
    pr = world.forge.get(number)
    world.ws.push("main", pr.head_sha, expect=world.ws.branch_head("main"))
    world.forge.merge(number)


def test_promote_env_runs_the_promote_flow_and_status_shows_the_matrix(world: World) -> None:
    merge(world, world.pr_of("api"))  # dev now runs api 2.0.0
    n = world.pr_of("web")
    _, report = world.say(n, "sre-sam", "/promote prod api\n/promoter status")
    assert [a.result for a in report.answers] == [Result.DONE, Result.DONE], report
    prod = world.forge.find(head="promoter/prod/api", base="main")
    assert prod is not None and prod.is_open
    promote_text, status_text = (a.text for a in report.answers)
    assert "dev -> prod: api 1.0.0 -> 2.0.0 (major) promote" in promote_text
    assert f"#{prod.number}" in promote_text
    assert status_text.startswith("\n| image | dev | prod |")
    assert "| `api` | **2.0.0**" in status_text
    # "/promote api" on a dev PR names the image, aimed at this PR's environment
    _, report = world.say(n, "alice", "/promote api=1.0.1")
    assert report.answers[0].result is Result.DECLINED


def test_recreate_rebuilds_the_branch_without_human_commits(world: World) -> None:
    n = world.pr_of("api")
    head = world.ws.branch_head("promoter/dev/api") or ""
    from promoter.config import Identity

    human = world.ws.commit(parent=head, files={"dev/notes.txt": "mine\n"}, message="hand edit",
                            author=Identity(name="Al", email="al@example.com"))
    world.ws.push("promoter/dev/api", human, expect=head)
    _, report = world.say(n, "alice", "/promoter rebase")
    assert report.answers[0].text.startswith("`promoter/dev/api`: human")
    _, report = world.say(n, "alice", "/promoter recreate")
    assert report.answers[0].text.startswith("`promoter/dev/api`: created")
    assert world.ws.read(world.ws.branch_head("promoter/dev/api") or "", "dev/notes.txt") is None


def test_commands_needing_a_checkout_say_so_without_one(world: World) -> None:
    n = world.pr_of("api")
    cid = world.forge.add_comment(n, "alice", "/promoter ignore this version").id
    report = handle(CommentEvent(number=n, comment_id=cid, author="alice",
                                 body="/promoter ignore this version"),
                    world.cfg, world.ports(workspace=False))
    assert report.answers[0].text == (
        "not done: `ignore` needs a checkout of the repository, which this run has not")


def test_forge_failures_are_answered_not_raised(world: World) -> None:
    n = world.pr_of("api")
    world.forge.fail_next("enable_auto_merge", "502 Bad Gateway")
    _, report = world.say(n, "alice", "/promote")
    assert report.outcome is Outcome.FAILED
    assert last_comment(world, n) == (
        "@alice\n- `/promote`: failed: the forge said: memory: acme/gitops: enable_auto_merge: "
        "502 Bad Gateway\n")
