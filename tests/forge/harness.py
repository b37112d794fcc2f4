"""Fixtures for forge tests: fake servers (one per session), and a :class:`Harness` per kind.

``tests/forge/conftest.py`` registers them; tests elsewhere (flows, CLI) can do the same with
``from tests.forge.harness import gh_fake, github_server, ...`` in their own conftest, or use
:class:`GitHubHarness` / :class:`GitLabHarness` directly.

A harness is the forge under test plus what a test needs from the world around it: a branch with
a commit on it, another user's comment, a person merging, the permissions of users, and a count of
write requests (to prove that an idempotent call sent nothing). The contract tests only talk to
the port and the harness, so one test module runs against every implementation.

Every test that used a fake GitHub fails if the fake answered an endpoint it does not implement,
or if any of its responses does not match GitHub's OpenAPI description.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from promoter.forge import GITLAB_EMOJI, Forge, Permission, Reaction, open_forge
from promoter.forge.memory import MemoryForge
from tests.forge import github_graphql, openapi
from tests.servers.fake_github import FakeGitHub, load_spec
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.git_http import FakeForgeServer, commit_to

BOT = "promoter-bot"
KINDS = ("memory", "github", "gitlab")
_names = itertools.count(1)
_GITHUB_ROLES = {Permission.READ: "read", Permission.TRIAGE: "triage",
                 Permission.WRITE: "write", Permission.MAINTAIN: "maintain",
                 Permission.ADMIN: "admin"}
_GITLAB_LEVELS = {Permission.READ: 10, Permission.TRIAGE: 20, Permission.WRITE: 30,
                  Permission.MAINTAIN: 40, Permission.ADMIN: 50}


class Harness:
    """The forge under test and the world around it. ``kind`` names the implementation."""

    kind: str
    forge: Forge
    token: str = ""

    def branch(self, name: str, files: dict[str, str], *, base: str = "main") -> str:
        """Commit ``files`` on top of ``base`` to branch ``name``; returns the commit SHA."""
        raise NotImplementedError

    def grant(self, user: str, permission: Permission | None) -> None:
        raise NotImplementedError

    def add_member(self, team_or_group: str, user: str) -> None:
        """Make ``user`` a member of a team (GitHub ``org/slug``) or group (GitLab path)."""
        raise NotImplementedError

    def comment_by(self, number: int, user: str, body: str) -> int:
        raise NotImplementedError

    def merge(self, number: int) -> None:
        raise NotImplementedError

    def approve(self, number: int, user: str, state: str = "APPROVED") -> None:
        """A review by ``user``; ``state`` is GitHub's (GitLab and memory know only approvals,
        so tests pass other states only where the kind is github)."""
        raise NotImplementedError

    def reactions(self, comment_id: int) -> list[Reaction]:
        raise NotImplementedError

    def reviewers(self, number: int) -> list[str]:
        raise NotImplementedError

    def assignees(self, number: int) -> list[str]:
        raise NotImplementedError

    def writes(self) -> int:
        """How many state-changing requests the forge has received so far."""
        raise NotImplementedError

    def fail_next_create(self, status: int) -> None:
        """Make the next "create pull request" fail with HTTP ``status``."""
        raise NotImplementedError


class MemoryHarness(Harness):
    kind = "memory"

    def __init__(self) -> None:
        self.mem = MemoryForge("acme/gitops", user=BOT, clock=lambda: datetime.now(UTC))
        self.mem.set_branch("main", "0" * 40)
        self.forge = self.mem

    def branch(self, name: str, files: dict[str, str], *, base: str = "main") -> str:
        seed = f"{self.mem.branches.get(base, '')}{name}{sorted(files.items())}{next(_names)}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        self.mem.set_branch(name, sha)
        return sha

    def grant(self, user: str, permission: Permission | None) -> None:
        if permission is None:
            self.mem.permissions.pop(user, None)
        else:
            self.mem.permissions[user] = permission

    def add_member(self, team_or_group: str, user: str) -> None:
        self.mem.teams.setdefault(team_or_group, set()).add(user)

    def comment_by(self, number: int, user: str, body: str) -> int:
        return self.mem.add_comment(number, user, body).id

    def merge(self, number: int) -> None:
        self.mem.merge(number)

    def approve(self, number: int, user: str, state: str = "APPROVED") -> None:
        self.mem.approve(number, user)

    def reactions(self, comment_id: int) -> list[Reaction]:
        return [r for _, r in self.mem.reactions.get(comment_id, [])]

    def reviewers(self, number: int) -> list[str]:
        return list(self.mem.reviewers.get(number, []))

    def assignees(self, number: int) -> list[str]:
        return list(self.mem.assignees.get(number, ()))

    def writes(self) -> int:
        reads = {"find", "list_open", "statuses"}
        return sum(1 for c in self.mem.calls if c not in reads)

    def fail_next_create(self, status: int) -> None:
        self.mem.fail_next("create", f"{status} injected")


class _ServerHarness(Harness):
    server: FakeForgeServer

    def writes(self) -> int:
        return sum(1 for method, _, _ in self.server.requests if method != "GET")


class GitHubHarness(_ServerHarness):
    kind = "github"

    def __init__(self, server: FakeGitHub, *, url: str | None = None, **open_kwargs: Any
                 ) -> None:
        self.server = self.gh = server
        self.name = f"acme/gitops-{next(_names)}"
        self.repo = server.add_repo(self.name, files={"README.md": "# gitops\n"})
        self.repo.required_contexts = ("ci/build",)  # protected main, as auto-merge expects
        self.token = server.add_user(BOT, token=f"ghp-test-token-{self.name.split('-')[-1]}")
        server.set_permission(self.name, BOT, "write")
        self.forge = open_forge("github", repo=self.name, url=url or server.url,
                                token=self.token, retries=0, throttle=False, **open_kwargs)

    def branch(self, name: str, files: dict[str, str], *, base: str = "main") -> str:
        return commit_to(self.repo.path, name, files, base=base)

    def grant(self, user: str, permission: Permission | None) -> None:
        self.gh.set_permission(self.name, user,
                               None if permission is None else _GITHUB_ROLES.get(permission))
        if permission is Permission.NONE:
            self.gh.set_permission(self.name, user, None)

    def add_member(self, team_or_group: str, user: str) -> None:
        self.gh.add_team_member(team_or_group, user)

    def comment_by(self, number: int, user: str, body: str) -> int:
        return self.gh.add_comment(self.name, number, user, body)

    def merge(self, number: int) -> None:
        """A person merges once CI is green (branch protection requires ``ci/build``)."""
        auth = _headers({"Authorization": f"token {self.gh.add_user(self.repo.owner)}"})
        sha = self.repo.resolve(f"refs/heads/{self.repo.pulls[number].head}")
        for context in self.repo.required_contexts:
            self.gh.dispatch("POST", f"/repos/{self.name}/statuses/{sha}",
                             json.dumps({"state": "success", "context": context}).encode(),
                             auth)
        status, body, _ = self.gh.dispatch("PUT", f"/repos/{self.name}/pulls/{number}/merge",
                                           b"{}", auth)
        assert status == 200, body

    def approve(self, number: int, user: str, state: str = "APPROVED") -> None:
        self.gh.add_review(self.name, number, user, state)

    def reactions(self, comment_id: int) -> list[Reaction]:
        c = self.repo.comments[comment_id]
        return [Reaction(content) for _, _, content in c.reactions]

    def reviewers(self, number: int) -> list[str]:
        return list(self.repo.pulls[number].reviewers)

    def assignees(self, number: int) -> list[str]:
        return list(self.repo.pulls[number].assignees)

    def fail_next_create(self, status: int) -> None:
        self.gh.fail_next("POST", rf"/repos/{self.name}/pulls$", status=status)


class GitLabHarness(_ServerHarness):
    kind = "gitlab"

    def __init__(self, server: FakeGitLab) -> None:
        self.server = self.gl = server
        self.name = f"acme/gitops-{next(_names)}"
        self.project = server.add_project(self.name, files={"README.md": "# gitops\n"})
        self.project.required_approvals = 1  # an approval rule, so auto-merge has to wait
        self.token = server.add_user(BOT, token=f"glpat-test-token-{self.name.split('-')[-1]}")
        server.set_access(self.name, BOT, 30)
        self.forge = open_forge("gitlab", repo=self.name, url=server.url, token=self.token,
                                retries=0)

    def branch(self, name: str, files: dict[str, str], *, base: str = "main") -> str:
        return commit_to(self.project.bare, name, files, base=base)

    def grant(self, user: str, permission: Permission | None) -> None:
        self.gl.set_access(self.name, user, None if permission in (None, Permission.NONE)
                           else _GITLAB_LEVELS[permission])

    def add_member(self, team_or_group: str, user: str) -> None:
        self.gl.add_group_member(team_or_group, user)

    def comment_by(self, number: int, user: str, body: str) -> int:
        return self.gl.add_note(self.name, number, user, body)

    def merge(self, number: int) -> None:
        """A person approves and merges."""
        owner = self.name.split("/")[0]
        self.gl.approve(self.name, number, owner)
        status, body, _ = self.gl.dispatch(
            "PUT", f"/api/v4/projects/{self.project.id}/merge_requests/{number}/merge", b"{}",
            _headers({"PRIVATE-TOKEN": self.gl.add_user(owner)}))
        assert status == 200, body

    def approve(self, number: int, user: str, state: str = "APPROVED") -> None:
        self.gl.approve(self.name, number, user)

    def reactions(self, comment_id: int) -> list[Reaction]:
        by_name = {v: k for k, v in GITLAB_EMOJI.items()}
        return [by_name[name] for _, _, name in self.project.notes[comment_id].emoji]

    def reviewers(self, number: int) -> list[str]:
        return [self.gl._username(i) for i in self.project.mrs[number].reviewer_ids]

    def assignees(self, number: int) -> list[str]:
        return [self.gl._username(i) for i in self.project.mrs[number].assignee_ids]

    def fail_next_create(self, status: int) -> None:
        self.gl.fail_next("POST", rf"/projects/{self.project.id}/merge_requests$", status=status)


def _headers(values: dict[str, str]) -> Message:
    m = Message()
    for k, v in values.items():
        m[k] = v
    return m


# ------------------------------------------------------------------------------ fixtures ------
@pytest.fixture(scope="session")
def github_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path_factory.mktemp("fake-github"), spec=load_spec()) as server:
        yield server


@pytest.fixture(scope="session")
def gitlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGitLab]:
    with FakeGitLab(tmp_path_factory.mktemp("fake-gitlab")) as server:
        yield server


def check_server(server: FakeForgeServer, start: int, unknown_start: int) -> None:
    """Fail on endpoints the fake does not know and on responses GitHub would not send."""
    unknown = server.unknown[unknown_start:]
    assert not unknown, f"the fake does not implement: {unknown}"
    if isinstance(server, FakeGitHub) and openapi.available():
        problems = openapi.validate_all(server.recorded[start:])
        assert not problems, "responses that break GitHub's OpenAPI description:\n" + \
            "\n".join(problems[:20])
    if isinstance(server, FakeGitHub) and github_graphql.available():
        for rec in server.recorded[start:]:
            if rec.op == "graphql":
                request = rec.request or {}
                problems = github_graphql.errors(request.get("query", ""),
                                                 request.get("variables"))
                assert not problems, f"a GraphQL request GitHub would refuse: {problems}"


@pytest.fixture
def gh_fake(github_server: FakeGitHub) -> Iterator[FakeGitHub]:
    """The session's fake GitHub, checked after the test (unknown endpoints, OpenAPI)."""
    start, unknown = len(github_server.recorded), len(github_server.unknown)
    yield github_server
    check_server(github_server, start, unknown)


@pytest.fixture
def gl_fake(gitlab_server: FakeGitLab) -> Iterator[FakeGitLab]:
    start, unknown = len(gitlab_server.recorded), len(gitlab_server.unknown)
    yield gitlab_server
    check_server(gitlab_server, start, unknown)


@pytest.fixture(params=KINDS)
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return MemoryHarness()
    if request.param == "github":
        return GitHubHarness(request.getfixturevalue("gh_fake"))
    return GitLabHarness(request.getfixturevalue("gl_fake"))


@pytest.fixture
def spec_path() -> Path:
    from tests.servers.fake_github import SPEC_PATH

    if not SPEC_PATH.is_file():
        pytest.skip("@octokit/openapi is not installed (scripts/setup installs it)")
    return SPEC_PATH
