"""A stateful in-memory forge (the ``memory`` kind), for flow tests and dry runs.

It keeps real state - pull requests, comments, reactions, labels, statuses, permissions - and
follows the same contracts as the GitHub and GitLab adapters (the contract tests prove it).
Branches are resolved through ``resolve`` (for example a real git repository's
``rev-parse``); without one, tests set heads with :meth:`MemoryForge.set_branch`.

Test helpers that are not part of the port: :meth:`set_branch`, :meth:`merge`,
:meth:`add_comment` (a comment by someone else), :meth:`approve` (a review by someone else),
:meth:`fail_next` (the next call of a method raises ForgeError), and the attributes ``labels``,
``reviewers``, ``assignees``, ``reactions``, ``approved`` and ``calls`` for assertions
(``teams`` maps a team or group to its members, for :meth:`member_of`; ``clock`` stamps
``created_at``, so tests can open pull requests "an hour ago"; ``issues`` holds the issues).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from promoter import forge
from promoter.errors import ForgeError


class MemoryForge:
    kind = "memory"

    def __init__(self, repo: str = "owner/repo", *, user: str = "promoter[bot]",
                 resolve: Callable[[str], str | None] | None = None,
                 url: str = "https://forge.invalid",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.repo = repo
        # stamps each status set (``updated_at``; None: no time) and each pull request
        # created (``created_at``; None: the real clock)
        self.clock = clock
        self.user = user
        self.url = url.rstrip("/")
        self._resolve = resolve
        self._lock = threading.Lock()
        self.branches: dict[str, str] = {}
        self.pulls: dict[int, forge.PullRequest] = {}
        self.all_comments: dict[int, forge.Comment] = {}
        self.reactions: dict[int, list[tuple[str, forge.Reaction]]] = {}
        self.reviewers: dict[int, list[str]] = {}
        self.approved: dict[int, set[str]] = {}
        self.assignees: dict[int, tuple[str, ...]] = {}
        self.status_log: dict[str, list[forge.CommitStatus]] = {}
        self.permissions: dict[str, forge.Permission] = {user: forge.Permission.WRITE}
        self.teams: dict[str, set[str]] = {}  # team (org/slug) or group path -> members
        self.labels: set[str] = set()
        self.calls: list[str] = []
        self._failures: dict[str, list[ForgeError]] = {}
        self._next_id = 1000
        self.issues: dict[int, forge.Issue] = {}

    # -- test helpers --------------------------------------------------------------------------
    def set_branch(self, name: str, sha: str) -> None:
        self.branches[name] = sha

    def fail_next(self, method: str, message: str = "injected failure", *, times: int = 1
                  ) -> None:
        """Make the next ``times`` calls of port method ``method`` raise ForgeError."""
        self._failures.setdefault(method, []).extend(
            ForgeError(f"memory: {self.repo}: {method}: {message}") for _ in range(times))

    def merge(self, number: int) -> forge.PullRequest:
        """Merge as a person would (the bot never merges itself); the base moves to the head."""
        pr = self.get(number)
        self.branches[pr.base] = pr.head_sha
        return self._put(dataclasses.replace(pr, state=forge.PRState.MERGED))

    def approve(self, number: int, user: str) -> None:
        """A review that approves, by someone else."""
        self.get(number)
        self.approved.setdefault(number, set()).add(user)

    def add_comment(self, number: int, author: str, body: str) -> forge.Comment:
        """A comment by someone else (a command for the comment flow)."""
        self.get(number)
        return self._new_comment(number, author, body)

    # -- internals -----------------------------------------------------------------------------
    def _enter(self, method: str) -> None:
        self.calls.append(method)
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _sha(self, branch: str) -> str | None:
        if self._resolve is not None:
            return self._resolve(branch)
        return self.branches.get(branch)

    def _put(self, pr: forge.PullRequest) -> forge.PullRequest:
        self.pulls[pr.number] = pr
        return pr

    def _new_comment(self, number: int, author: str, body: str) -> forge.Comment:
        c = forge.Comment(id=self._id(), number=number, author=author, body=body)
        self.all_comments[c.id] = c
        return c

    def _fresh(self, pr: forge.PullRequest) -> forge.PullRequest:
        """An open PR's head follows its branch, as on the real forges."""
        if pr.is_open:
            sha = self._sha(pr.head)
            if sha and sha != pr.head_sha:
                return self._put(dataclasses.replace(pr, head_sha=sha))
        return pr

    # -- PullRequests --------------------------------------------------------------------------
    def find(self, *, head: str, base: str) -> forge.PullRequest | None:
        self._enter("find")
        found = [p for p in self.pulls.values() if p.head == head and p.base == base]
        found.sort(key=lambda p: (p.is_open, p.number), reverse=True)
        return self._fresh(found[0]) if found else None

    def get(self, number: int) -> forge.PullRequest:
        pr = self.pulls.get(number)
        if pr is None:
            raise ForgeError(f"memory: {self.repo}: pull request #{number} not found")
        return self._fresh(pr)

    def list_open(self, *, base: str | None = None) -> tuple[forge.PullRequest, ...]:
        self._enter("list_open")
        return tuple(self._fresh(p) for p in sorted(self.pulls.values(), key=lambda p: -p.number)
                     if p.is_open and (base is None or p.base == base))

    def created_since(self, since: datetime) -> tuple[forge.PullRequest, ...]:
        self._enter("created_since")
        return tuple(self._fresh(p) for p in sorted(self.pulls.values(), key=lambda p: -p.number)
                     if p.created_at is not None and p.created_at >= since)

    def _number(self) -> int:
        return max([*self.pulls, *self.issues, 0]) + 1

    def create(self, *, head: str, base: str, title: str, body: str,
               draft: bool = False) -> forge.PullRequest:
        with self._lock:
            self._enter("create")
            for p in self.pulls.values():
                if p.is_open and p.head == head and p.base == base:
                    return self._fresh(p)
            sha = self._sha(head)
            if sha is None:
                raise ForgeError(f"memory: {self.repo}: create pull request: "
                                 f"head branch {head!r} does not exist")
            if self._sha(base) is None:
                raise ForgeError(f"memory: {self.repo}: create pull request: "
                                 f"base branch {base!r} does not exist")
            number = self._number()
            return self._put(forge.PullRequest(
                number=number, url=f"{self.url}/{self.repo}/pull/{number}",
                state=forge.PRState.OPEN, title=title, body=body, head=head, base=base,
                head_sha=sha, author=self.user, draft=draft,
                created_at=(self.clock or _now)()))

    def update(self, number: int, *, title: str | None = None, body: str | None = None,
               labels: tuple[str, ...] | None = None) -> forge.PullRequest:
        pr = self.get(number)
        new = dataclasses.replace(
            pr, title=pr.title if title is None else title, body=pr.body if body is None else body,
            labels=pr.labels if labels is None else tuple(sorted(set(labels))))
        if new == pr:
            return pr
        self._enter("update")
        self.labels.update(new.labels)
        return self._put(new)

    def close(self, number: int, *, comment: str | None = None) -> forge.PullRequest:
        pr = self.get(number)
        if comment is not None:
            self.comment(number, comment)
        if not pr.is_open:
            return pr
        self._enter("close")
        return self._put(dataclasses.replace(pr, state=forge.PRState.CLOSED, auto_merge=False))

    def comment(self, number: int, body: str) -> forge.Comment:
        self.get(number)
        self._enter("comment")
        return self._new_comment(number, self.user, body)

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        pr = self.get(number)
        self._enter("add_labels")
        self.labels.update(labels)
        self._put(dataclasses.replace(pr, labels=tuple(sorted({*pr.labels, *labels}))))

    def request_reviewers(self, number: int, users: tuple[str, ...]) -> None:
        self.get(number)
        self._enter("request_reviewers")
        have = self.reviewers.setdefault(number, [])
        have.extend(u for u in users if u not in have)

    def approvals(self, number: int) -> tuple[str, ...]:
        self.get(number)
        return tuple(sorted(self.approved.get(number, ())))

    def set_assignees(self, number: int, users: tuple[str, ...]) -> None:
        self.get(number)
        self._enter("set_assignees")
        self.assignees[number] = tuple(users)

    def enable_auto_merge(self, number: int, *,
                          method: forge.MergeMethod = forge.MergeMethod.MERGE) -> None:
        pr = self.get(number)
        if pr.auto_merge and pr.is_open:
            return
        self._enter("enable_auto_merge")
        if not pr.is_open:
            raise ForgeError(f"memory: {self.repo}: enable auto-merge: "
                             f"pull request #{number} is {pr.state.value}")
        self._put(dataclasses.replace(pr, auto_merge=True))

    # -- Statuses ------------------------------------------------------------------------------
    def set_status(self, sha: str, status: forge.CommitStatus) -> None:
        log = self.status_log.setdefault(sha, [])
        current = next((s for s in reversed(log) if s.context == status.context), None)
        if (current is not None and current.state == status.state
                and current.description == status.description
                and current.target_url == status.target_url and status.summary is None):
            return
        self._enter("set_status")
        log.append(dataclasses.replace(status, updated_at=self.clock() if self.clock else None))

    def statuses(self, sha: str) -> tuple[forge.CommitStatus, ...]:
        self._enter("statuses")
        latest: dict[str, forge.CommitStatus] = {}
        for s in self.status_log.get(sha, []):
            latest[s.context] = dataclasses.replace(s, summary=None)
        return tuple(latest[k] for k in sorted(latest))

    # -- Comments ------------------------------------------------------------------------------
    def me(self) -> str:
        return self.user

    def get_comment(self, number: int, comment_id: int) -> forge.Comment:
        c = self.all_comments.get(comment_id)
        if c is None or c.number != number:
            raise ForgeError(f"memory: {self.repo}: comment {comment_id} on #{number} not found")
        return c

    def comments(self, number: int) -> tuple[forge.Comment, ...]:
        self.get(number)
        return tuple(c for c in sorted(self.all_comments.values(), key=lambda c: c.id)
                     if c.number == number)

    def react(self, number: int, comment_id: int, reaction: forge.Reaction) -> None:
        self.get_comment(number, comment_id)
        self._enter("react")
        have = self.reactions.setdefault(comment_id, [])
        if (self.user, reaction) not in have:
            have.append((self.user, reaction))

    def permission(self, user: str) -> forge.Permission:
        return self.permissions.get(user, forge.Permission.NONE)

    def member_of(self, user: str, team_or_group: str) -> bool:
        return user in self.teams.get(team_or_group, ())

    # -- Issues --------------------------------------------------------------------------------
    def find_issue(self, *, label: str) -> forge.Issue | None:
        self._enter("find_issue")
        return next((i for n, i in sorted(self.issues.items())
                     if i.is_open and label in i.labels), None)

    def get_issue(self, number: int) -> forge.Issue:
        issue = self.issues.get(number)
        if issue is None:
            raise ForgeError(f"memory: {self.repo}: issue #{number} not found")
        return issue

    def create_issue(self, *, title: str, body: str, labels: tuple[str, ...] = ()
                     ) -> forge.Issue:
        with self._lock:
            self._enter("create_issue")
            number = self._number()
            self.labels.update(labels)
            issue = forge.Issue(number=number, url=f"{self.url}/{self.repo}/issues/{number}",
                                title=title, body=body, labels=tuple(sorted(set(labels))),
                                author=self.user)
            self.issues[number] = issue
            return issue

    def update_issue(self, number: int, *, title: str | None = None,
                     body: str | None = None) -> forge.Issue:
        issue = self.get_issue(number)
        new = dataclasses.replace(issue, title=issue.title if title is None else title,
                                  body=issue.body if body is None else body)
        if new == issue:
            return issue
        self._enter("update_issue")
        self.issues[number] = new
        return new

    def edit_issue_as(self, number: int, body: str) -> forge.Issue:
        """Someone else rewrites the body (a ticked checkbox); not counted as promoter's call."""
        issue = dataclasses.replace(self.get_issue(number), body=body)
        self.issues[number] = issue
        return issue


def open_memory(options: forge.ForgeOptions) -> forge.Forge:
    """The ``memory`` kind: a fresh, empty forge for ``options.repo``."""
    return MemoryForge(options.repo, url=options.url or "https://forge.invalid")


def _check(forge: MemoryForge) -> forge.Forge:  # mypy proves MemoryForge satisfies the port
    return forge


def _now() -> datetime:
    return datetime.now(UTC)
