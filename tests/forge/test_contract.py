"""The forge port's contract, run against every implementation.

``harness`` is parametrized over the in-memory forge, the GitHub adapter (PyGithub against the
fake GitHub) and the GitLab adapter (python-gitlab against the fake GitLab). A behaviour that one
implementation shows and another does not fails here, so the in-memory forge used by flow tests
cannot drift from the real clients.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from promoter.errors import ForgeError
from promoter.forge import (
    CommitStatus,
    Permission,
    PRState,
    Reaction,
    StatusState,
)
from tests.forge.harness import BOT, Harness

pytestmark = pytest.mark.integration


def _open(h: Harness, head: str = "promoter/dev/app", **kwargs: object) -> int:
    h.branch(head, {"dev/app.yaml": f"image: app:{head}\n"})
    return h.forge.create(head=head, base="main", title=f"Promote {head}", body="body",
                          **kwargs).number  # type: ignore[arg-type]


def test_create_then_find_returns_the_same_pull_request(harness: Harness) -> None:
    forge = harness.forge
    assert forge.find(head="promoter/dev/app", base="main") is None
    sha = harness.branch("promoter/dev/app", {"dev/app.yaml": "image: app:1.2.3\n"})
    pr = forge.create(head="promoter/dev/app", base="main", title="Promote app 1.2.3",
                      body="| image | from | to |")
    assert (pr.state, pr.title, pr.body, pr.head, pr.base, pr.head_sha, pr.author, pr.draft) == \
        (PRState.OPEN, "Promote app 1.2.3", "| image | from | to |", "promoter/dev/app",
         "main", sha, BOT, False)
    assert pr.url.endswith(str(pr.number)) and pr.is_open
    assert forge.find(head="promoter/dev/app", base="main") == pr
    assert forge.get(pr.number) == pr
    assert forge.list_open() == (pr,)


def test_create_twice_adopts_the_open_pull_request(harness: Harness) -> None:
    first = _open(harness)
    again = harness.forge.create(head="promoter/dev/app", base="main", title="other",
                                 body="other")
    assert again.number == first
    assert again.title == "Promote promoter/dev/app"  # adopted unchanged
    assert [p.number for p in harness.forge.list_open()] == [first]


def test_find_matches_the_exact_head_and_base_only(harness: Harness) -> None:
    _open(harness, "promoter/dev/app")
    harness.branch("release", {"x": "1"})
    assert harness.forge.find(head="promoter/dev", base="main") is None
    assert harness.forge.find(head="promoter/dev/app", base="release") is None
    assert harness.forge.find(head="promoter/dev/ap", base="main") is None


def test_find_prefers_the_open_one_then_the_newest_closed(harness: Harness) -> None:
    forge = harness.forge
    first = _open(harness)
    forge.close(first)
    second = _open(harness)
    assert second != first
    found = forge.find(head="promoter/dev/app", base="main")
    assert found is not None and (found.number, found.state) == (second, PRState.OPEN)
    forge.close(second)
    found = forge.find(head="promoter/dev/app", base="main")
    assert found is not None and (found.number, found.state) == (second, PRState.CLOSED)


def test_head_sha_follows_the_branch(harness: Harness) -> None:
    number = _open(harness)
    newer = harness.branch("promoter/dev/app", {"dev/app.yaml": "image: app:2\n"},
                           base="promoter/dev/app")
    assert harness.forge.get(number).head_sha == newer


def test_list_open_is_newest_first_and_filters_by_base(harness: Harness) -> None:
    harness.branch("staging", {"s": "1"})
    a = _open(harness, "promoter/a")
    b = _open(harness, "promoter/b")
    harness.branch("promoter/c", {"c": "1"}, base="staging")
    c = harness.forge.create(head="promoter/c", base="staging", title="c", body="").number
    assert [p.number for p in harness.forge.list_open()] == [c, b, a]
    assert [p.number for p in harness.forge.list_open(base="main")] == [b, a]
    harness.forge.close(b)
    assert [p.number for p in harness.forge.list_open()] == [c, a]


def test_update_changes_what_is_given_and_replaces_labels(harness: Harness) -> None:
    number = _open(harness)
    harness.forge.add_labels(number, ("promotion",))
    pr = harness.forge.update(number, title="Promote app 1.2.4", labels=("env:dev", "auto"))
    assert (pr.title, pr.body, pr.labels) == ("Promote app 1.2.4", "body", ("auto", "env:dev"))
    pr = harness.forge.update(number, body="new body")
    assert (pr.title, pr.body, pr.labels) == ("Promote app 1.2.4", "new body",
                                              ("auto", "env:dev"))
    assert harness.forge.get(number) == pr


def test_update_without_changes_sends_nothing(harness: Harness) -> None:
    number = _open(harness)
    harness.forge.update(number, title="t", body="b", labels=("x",))
    before = harness.writes()
    pr = harness.forge.update(number, title="t", body="b", labels=("x",))
    harness.forge.update(number)
    assert harness.writes() == before
    assert (pr.title, pr.body, pr.labels) == ("t", "b", ("x",))


def test_add_labels_keeps_the_present_ones(harness: Harness) -> None:
    number = _open(harness)
    harness.forge.add_labels(number, ("b", "a"))
    harness.forge.add_labels(number, ("a", "c"))
    assert harness.forge.get(number).labels == ("a", "b", "c")


def test_close_with_comment_then_close_again(harness: Harness) -> None:
    number = _open(harness)
    pr = harness.forge.close(number, comment="app 1.2.3 is already in dev: closing")
    assert pr.state is PRState.CLOSED and not pr.is_open
    assert [c.body for c in harness.forge.comments(number)] == \
        ["app 1.2.3 is already in dev: closing"]
    assert harness.forge.close(number).state is PRState.CLOSED
    assert harness.forge.list_open() == ()


def test_merged_reads_back_as_merged(harness: Harness) -> None:
    number = _open(harness)
    harness.merge(number)
    pr = harness.forge.get(number)
    assert pr.state is PRState.MERGED
    assert harness.forge.find(head="promoter/dev/app", base="main") == pr
    assert harness.forge.close(number).state is PRState.MERGED


def test_comments_in_order_with_their_authors(harness: Harness) -> None:
    number = _open(harness)
    mine = harness.forge.comment(number, "1.4.2 -> 1.4.3 superseded")
    theirs = harness.comment_by(number, "alice", "/promote prod")
    assert (mine.author, mine.body, mine.number) == (BOT, "1.4.2 -> 1.4.3 superseded", number)
    assert harness.forge.me() == BOT
    listed = harness.forge.comments(number)
    assert [(c.id, c.author, c.body) for c in listed] == [
        (mine.id, BOT, "1.4.2 -> 1.4.3 superseded"), (theirs, "alice", "/promote prod")]
    got = harness.forge.get_comment(number, theirs)
    assert (got.author, got.body, got.system) == ("alice", "/promote prod", False)


def test_get_comment_of_another_pull_request_fails(harness: Harness) -> None:
    a = _open(harness, "promoter/a")
    b = _open(harness, "promoter/b")
    cid = harness.comment_by(a, "alice", "/hold")
    with pytest.raises(ForgeError):
        harness.forge.get_comment(b, cid)


def test_react_twice_is_one_reaction(harness: Harness) -> None:
    number = _open(harness)
    cid = harness.comment_by(number, "alice", "/promote")
    harness.forge.react(number, cid, Reaction.EYES)
    harness.forge.react(number, cid, Reaction.EYES)
    harness.forge.react(number, cid, Reaction.HOORAY)
    assert harness.reactions(cid) == [Reaction.EYES, Reaction.HOORAY]


def test_reviewers_are_added_and_assignees_replaced(harness: Harness) -> None:
    for user in ("alice", "bob", "carol"):
        harness.grant(user, Permission.WRITE)
    number = _open(harness)
    harness.forge.request_reviewers(number, ("alice",))
    harness.forge.request_reviewers(number, ("bob", "alice"))
    harness.forge.set_assignees(number, ("carol",))
    harness.forge.set_assignees(number, ("alice", "bob"))
    assert harness.reviewers(number) == ["alice", "bob"]
    assert harness.assignees(number) == ["alice", "bob"]


def test_auto_merge_is_enabled_once(harness: Harness) -> None:
    number = _open(harness)
    assert harness.forge.get(number).auto_merge is False
    harness.forge.enable_auto_merge(number)
    before = harness.writes()
    harness.forge.enable_auto_merge(number)
    assert harness.writes() == before
    pr = harness.forge.get(number)
    assert pr.auto_merge is True and pr.state is PRState.OPEN


def test_auto_merge_on_a_closed_pull_request_fails(harness: Harness) -> None:
    number = _open(harness)
    harness.forge.close(number)
    with pytest.raises(ForgeError):
        harness.forge.enable_auto_merge(number)


def test_draft(harness: Harness) -> None:
    number = _open(harness, draft=True)
    pr = harness.forge.get(number)
    assert (pr.draft, pr.title) == (True, "Promote promoter/dev/app")
    pr = harness.forge.update(number, title="Promote app 2")
    assert (pr.draft, pr.title) == (True, "Promote app 2")


def test_statuses_newest_per_context(harness: Harness) -> None:
    sha = harness.branch("promoter/dev/app", {"a": "1"})
    forge = harness.forge
    assert forge.statuses(sha) == ()
    forge.set_status(sha, CommitStatus(context="promoter/gates", state=StatusState.PENDING,
                                       description="soak: 23 min left"))
    forge.set_status(sha, CommitStatus(context="ci/build", state=StatusState.FAILURE,
                                       description="red", target_url="https://ci.invalid/1"))
    forge.set_status(sha, CommitStatus(context="promoter/gates", state=StatusState.SUCCESS,
                                       description="all gates pass"))
    read = forge.statuses(sha)
    assert [dataclasses.replace(s, updated_at=None) for s in read] == [
        CommitStatus(context="ci/build", state=StatusState.FAILURE, description="red",
                     target_url="https://ci.invalid/1"),
        CommitStatus(context="promoter/gates", state=StatusState.SUCCESS,
                     description="all gates pass")]


def test_statuses_tell_when_they_were_set(harness: Harness) -> None:
    """The health gate's soak counts from when the last health status turned green."""
    sha = harness.branch("promoter/dev/app", {"a": "1"})
    before = datetime.now(UTC).replace(microsecond=0)
    harness.forge.set_status(sha, CommitStatus(context="argocd/web-dev",
                                               state=StatusState.SUCCESS))
    [status] = harness.forge.statuses(sha)
    assert status.updated_at is not None
    assert before - timedelta(seconds=1) <= status.updated_at <= datetime.now(UTC)


def test_set_status_twice_sends_it_once(harness: Harness) -> None:
    sha = harness.branch("promoter/dev/app", {"a": "1"})
    pending = CommitStatus(context="promoter/gates", state=StatusState.PENDING,
                           description="soak: 23 min left")
    harness.forge.set_status(sha, pending)
    before = harness.writes()
    harness.forge.set_status(sha, pending)  # GitLab would answer 400 to a second pending
    assert harness.writes() == before
    harness.forge.set_status(sha, CommitStatus(context="promoter/gates",
                                               state=StatusState.PENDING,
                                               description="soak: 10 min left"))
    assert [s.state for s in harness.forge.statuses(sha)] == [StatusState.PENDING]
    harness.forge.set_status(sha, CommitStatus(context="promoter/gates",
                                               state=StatusState.SUCCESS, description="ok"))
    harness.forge.set_status(sha, pending)  # after a final state a new round may begin
    assert [s.state for s in harness.forge.statuses(sha)] == [StatusState.PENDING]


def test_status_with_a_summary_reads_back_as_a_status(harness: Harness) -> None:
    sha = harness.branch("promoter/dev/app", {"a": "1"})
    harness.forge.set_status(sha, CommitStatus(
        context="promoter/gates", state=StatusState.FAILURE, description="freeze window",
        summary="## Gates\n\n| gate | state |\n| --- | --- |\n| freeze | closed |\n"))
    [status] = harness.forge.statuses(sha)
    assert (status.context, status.state, status.summary) == \
        ("promoter/gates", StatusState.FAILURE, None)


@pytest.mark.parametrize("permission", list(Permission))
def test_permission(harness: Harness, permission: Permission) -> None:
    harness.grant("dana", permission)
    assert harness.forge.permission("dana") is permission


def test_permission_of_unknown_users_is_none(harness: Harness) -> None:
    assert harness.forge.permission("nobody-at-all") is Permission.NONE
    harness.grant("erin", Permission.WRITE)
    harness.grant("erin", None)
    assert harness.forge.permission("erin") is Permission.NONE


def test_missing_pull_request_is_a_forge_error(harness: Harness) -> None:
    with pytest.raises(ForgeError, match="999"):
        harness.forge.get(999)


@pytest.mark.parametrize("status", [500, 422])
def test_a_failing_create_is_one_line_without_the_token(harness: Harness, status: int) -> None:
    harness.branch("promoter/dev/app", {"a": "1"})
    harness.fail_next_create(status)
    with pytest.raises(ForgeError) as info:
        harness.forge.create(head="promoter/dev/app", base="main", title="t", body="b")
    message = str(info.value)
    assert "\n" not in message and str(status) in message
    assert harness.kind in message
    if harness.token:
        assert harness.token not in message
    assert harness.forge.list_open() == ()  # nothing half-made


def test_create_on_a_missing_branch_fails(harness: Harness) -> None:
    with pytest.raises(ForgeError):
        harness.forge.create(head="no/such/branch", base="main", title="t", body="b")
    assert harness.forge.list_open() == ()


def test_two_polls_creating_at_once_get_one_pull_request(harness: Harness) -> None:
    harness.branch("promoter/dev/app", {"a": "1"})
    results: list[int] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            results.append(harness.forge.create(head="promoter/dev/app", base="main",
                                                title="t", body="b").number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 4
    assert [p.number for p in harness.forge.list_open()] == results[:1]


def test_approvals(harness: Harness) -> None:
    number = _open(harness)
    assert harness.forge.approvals(number) == ()
    harness.approve(number, "zoe")
    harness.approve(number, "alice")
    harness.approve(number, "alice")
    assert harness.forge.approvals(number) == ("alice", "zoe")


def test_update_with_no_labels_removes_them_all(harness: Harness) -> None:
    number = _open(harness)
    harness.forge.add_labels(number, ("a", "b"))
    assert harness.forge.update(number, labels=()).labels == ()
    assert harness.forge.get(number).labels == ()


def test_member_of_teams_and_groups(harness: Harness) -> None:
    team = f"acme/sre-{uuid.uuid4().hex[:8]}"
    harness.add_member(team, "sam")
    harness.add_member(f"{team}-other", "olga")
    member_of, writes = harness.forge.member_of, harness.writes()
    assert member_of("sam", team)
    assert not member_of("olga", team)  # a member of another team
    assert not member_of("nobody-at-all", team)  # an unknown user
    assert not member_of("sam", f"acme/nope-{uuid.uuid4().hex[:8]}")  # an unknown team
    assert harness.writes() == writes  # asking changes nothing
