"""The forge port: what promoter asks of GitHub, GitLab (or the in-memory forge).

The port is a few small :class:`~typing.Protocol` classes over neutral, frozen values, so flows
never see a PyGithub or python-gitlab object:

* :class:`PullRequests` - find, create, update, close, comment on, label and auto-merge pull
  requests (merge requests on GitLab; "pull request" and "number" mean the MR and its ``iid``);
* :class:`Statuses` - commit statuses (plus a check run with a Markdown summary on GitHub);
* :class:`Comments` - read comments, react to them, and ask what a user may do (and which
  teams or groups they belong to);
* :class:`Issues` - find, create, read and rewrite issues (the dashboard issue);
* :class:`Forge` - all four, which is what :func:`open_forge` returns.

Implementations: :mod:`promoter.forge.github` (PyGithub, GitHub and GitHub Enterprise),
:mod:`promoter.forge.gitlab` (python-gitlab, gitlab.com and self-managed) and
:mod:`promoter.forge.memory` (stateful, in memory; for flow tests). One contract test module
(``tests/forge/test_contract.py``) runs against all three, the real ones against local fake
servers, so the in-memory forge and the fakes cannot drift from the real clients.

Typical use (the poll flow adopts an open PR before it creates one, so runs are idempotent)::

    forge = open_forge("github", repo="acme/gitops", token=token)   # or url=, app_id=, ...
    pr = forge.find(head=branch, base="main")
    if pr is None or not pr.is_open:
        pr = forge.create(head=branch, base="main", title=title, body=body)
    forge.update(pr.number, title=title, body=body, labels=labels)   # sends nothing if equal
    forge.set_status(pr.head_sha, CommitStatus(context="promoter/gates",
                                               state=StatusState.PENDING,
                                               description="soak: 23 min left"))

A reply to a comment command is :meth:`PullRequests.comment` (issue comments on GitHub, notes on
GitLab); :meth:`Comments.react` acknowledges the command first.

Errors: every SDK or HTTP failure leaves an implementation as :class:`promoter.errors.ForgeError`
with a one-line message that names the forge, the repository and the operation, and never a
token. Tokens and private keys are registered with :func:`promoter.secrets.register` as soon as
an adapter receives them.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from promoter.errors import ForgeError, InputError


class PRState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"  # closed without merging
    MERGED = "merged"


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    """A pull request (GitHub) or merge request (GitLab), as promoter sees it.

    ``number`` is what users see and what every method takes (GitLab's ``iid``); ``url`` is the
    page for people; ``title`` never carries GitLab's ``Draft:`` prefix (see ``draft``);
    ``labels`` are sorted.
    """

    number: int
    url: str
    state: PRState
    title: str
    body: str
    head: str  # source branch name, without "refs/heads/" or "owner:"
    base: str  # target branch name
    head_sha: str
    labels: tuple[str, ...] = ()
    author: str = ""
    draft: bool = False
    auto_merge: bool = False
    same_repo: bool = True  # the head branch is in this repository, not in a fork
    created_at: datetime | None = None  # when it was opened (UTC), as the forge says

    @property
    def is_open(self) -> bool:
        return self.state is PRState.OPEN


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    """An issue (not a pull request), as promoter sees it; ``labels`` are sorted."""

    number: int
    url: str
    title: str
    body: str
    is_open: bool = True
    labels: tuple[str, ...] = ()
    author: str = ""


class StatusState(enum.Enum):
    """Commit status states. GitLab's ``running`` reads back as PENDING, ``failed`` and
    ``canceled`` as FAILURE."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitStatus:
    """One named status on a commit (``context`` on GitHub, ``name`` on GitLab).

    ``summary`` (Markdown) is published as a check run of the same name on GitHub; GitLab has no
    place for it and ignores it. Statuses read back never carry a summary.

    ``updated_at`` is only read back (setting ignores it): when the forge recorded this state
    (GitHub: the status's ``updated_at``, a check run's ``completed_at``; GitLab:
    ``finished_at``, else ``created_at``); None where the forge does not say.
    """

    context: str
    state: StatusState
    description: str = ""
    target_url: str | None = None
    summary: str | None = None
    updated_at: datetime | None = None


class Permission(enum.IntEnum):
    """What a user may do in the repository, ordered so ``p >= Permission.WRITE`` works.

    GitHub roles map one to one (``role_name``; a custom role falls back to the legacy
    ``permission``). GitLab access levels: Guest and Planner -> READ, Reporter -> TRIAGE,
    Developer -> WRITE, Maintainer -> MAINTAIN, Owner -> ADMIN.
    """

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


class Reaction(enum.Enum):
    """Reactions every forge offers; the value is GitHub's name, :data:`GITLAB_EMOJI` GitLab's."""

    THUMBS_UP = "+1"
    THUMBS_DOWN = "-1"
    LAUGH = "laugh"
    CONFUSED = "confused"
    HEART = "heart"
    HOORAY = "hooray"
    ROCKET = "rocket"
    EYES = "eyes"


GITLAB_EMOJI: dict[Reaction, str] = {
    Reaction.THUMBS_UP: "thumbsup",
    Reaction.THUMBS_DOWN: "thumbsdown",
    Reaction.LAUGH: "laughing",
    Reaction.CONFUSED: "confused",
    Reaction.HEART: "heart",
    Reaction.HOORAY: "tada",
    Reaction.ROCKET: "rocket",
    Reaction.EYES: "eyes",
}


class MergeMethod(enum.Enum):
    MERGE = "merge"
    SQUASH = "squash"
    REBASE = "rebase"


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment:
    """A comment on a pull request (a GitLab note). ``system`` marks GitLab's own notes."""

    id: int
    number: int
    author: str
    body: str
    system: bool = False


class PullRequests(Protocol):
    def find(self, *, head: str, base: str) -> PullRequest | None:
        """The pull request from branch ``head`` into ``base`` in this repository, or None.

        Only an exact head branch of this repository matches (never a fork's branch of the same
        name). Open pull requests come first, then the newest closed or merged one, so a caller
        can adopt an open PR and learn that a merged one exists. No side effects.
        """
        ...

    def get(self, number: int) -> PullRequest:
        """The pull request ``number``; ForgeError when it does not exist."""
        ...

    def list_open(self, *, base: str | None = None) -> tuple[PullRequest, ...]:
        """Every open pull request (into ``base`` when given), newest first, all pages."""
        ...

    def created_since(self, since: datetime) -> tuple[PullRequest, ...]:
        """Every pull request (open, closed or merged) opened at or after ``since``, newest
        first; for ``pull-requests.max-per-hour``. Each carries ``created_at``."""
        ...

    def create(self, *, head: str, base: str, title: str, body: str,
               draft: bool = False) -> PullRequest:
        """Open a pull request from the existing branch ``head`` into ``base``.

        Idempotent under races: if an open pull request for (head, base) already exists (another
        poll made it a moment ago), that one is returned unchanged instead of an error.
        """
        ...

    def update(self, number: int, *, title: str | None = None, body: str | None = None,
               labels: tuple[str, ...] | None = None) -> PullRequest:
        """Change what is given (``labels`` replaces the whole set); None leaves a field alone.

        Sends nothing when nothing would change. Returns the pull request as it now is.
        """
        ...

    def close(self, number: int, *, comment: str | None = None) -> PullRequest:
        """Close without merging, after posting ``comment`` when given. Closing a closed or
        merged pull request changes nothing (the comment is still posted)."""
        ...

    def comment(self, number: int, body: str) -> Comment:
        """Post a new comment (a note on GitLab) and return it."""
        ...

    def add_labels(self, number: int, labels: tuple[str, ...]) -> None:
        """Add labels (creating them in the repository when missing); present ones stay."""
        ...

    def request_reviewers(self, number: int, users: tuple[str, ...]) -> None:
        """Ask ``users`` (logins/usernames) for review, in addition to those already asked."""
        ...

    def approvals(self, number: int) -> tuple[str, ...]:
        """Who approves the pull request now, sorted: on GitHub the users whose latest
        approving-or-requesting-changes review is an approval (the forge's own settings decide
        whether a push dismisses it); on GitLab the MR's ``approved_by``."""
        ...

    def set_assignees(self, number: int, users: tuple[str, ...]) -> None:
        """Make ``users`` the assignees, replacing the previous ones."""
        ...

    def enable_auto_merge(self, number: int, *, method: MergeMethod = MergeMethod.MERGE) -> None:
        """Let the forge merge once its own rules pass (GitHub auto-merge, GitLab auto-merge /
        "merge when the pipeline succeeds"). Never merges around branch protection. Idempotent.

        GitHub refuses (ForgeError "... is in clean status") when nothing is left to wait for;
        GitLab then merges at once.
        """
        ...


class Statuses(Protocol):
    def set_status(self, sha: str, status: CommitStatus) -> None:
        """Set the status named ``status.context`` on commit ``sha``; the newest one wins.

        Idempotent: setting the state and description a context already has sends nothing
        (GitLab rejects a repeated ``pending``). With ``summary``, GitHub also gets a check run
        of the same name (created once per commit, then updated).
        """
        ...

    def statuses(self, sha: str) -> tuple[CommitStatus, ...]:
        """The newest status per context on ``sha``, sorted by context. On GitHub completed or
        running check runs are included as statuses named after the run."""
        ...


class Comments(Protocol):
    def me(self) -> str:
        """The login/username promoter acts as (to ignore its own comments)."""
        ...

    def get_comment(self, number: int, comment_id: int) -> Comment:
        """One comment of pull request ``number``; ForgeError when missing."""
        ...

    def comments(self, number: int) -> tuple[Comment, ...]:
        """Every comment of pull request ``number``, oldest first, all pages."""
        ...

    def react(self, number: int, comment_id: int, reaction: Reaction) -> None:
        """Add promoter's reaction to a comment; reacting twice is not an error."""
        ...

    def permission(self, user: str) -> Permission:
        """What ``user`` may do in the repository; NONE for strangers and unknown users."""
        ...

    def member_of(self, user: str, team_or_group: str) -> bool:
        """Whether ``user`` is an active member of a team (GitHub ``org/team-slug``) or a group
        (GitLab group path; memberships inherited from parent groups count, at any level).

        False for unknown users, teams and groups (and for a GitHub name without ``/``);
        ForgeError when the forge refuses to answer (a token that may not read the org).
        """
        ...


class Issues(Protocol):
    """Issues that are not pull requests (GitHub issues, GitLab project issues); the dashboard
    keeps one per repository."""

    def find_issue(self, *, label: str) -> Issue | None:
        """The open issue carrying ``label`` with the lowest number, or None (all pages).
        Never a pull request. No side effects."""
        ...

    def get_issue(self, number: int) -> Issue:
        """Issue ``number``; ForgeError when it does not exist."""
        ...

    def create_issue(self, *, title: str, body: str, labels: tuple[str, ...] = ()) -> Issue:
        """Open a new issue with ``labels`` (created in the repository when missing)."""
        ...

    def update_issue(self, number: int, *, title: str | None = None,
                     body: str | None = None) -> Issue:
        """Rewrite what is given; sends nothing when nothing would change. Returns the issue as
        it now is."""
        ...


class Forge(PullRequests, Statuses, Comments, Issues, Protocol):
    """Everything a forge offers promoter. ``kind`` is the key in :data:`FORGES`; ``repo`` the
    repository (``owner/name``) or project path it works on."""

    kind: str
    repo: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgeOptions:
    """How to reach one repository on one forge; built from config and environment.

    ``url`` is the API base: ``https://api.github.com``, ``https://ghe.example/api/v3``,
    ``https://gitlab.com`` or a self-managed GitLab root (python-gitlab adds ``/api/v4``).
    GitHub takes either ``token`` or ``app_id`` + ``private_key`` (PEM); the installation is
    looked up for ``repo`` unless ``installation_id`` is given.
    """

    repo: str
    url: str | None = None
    token: str | None = None
    app_id: int | None = None
    private_key: str | None = None
    installation_id: int | None = None
    timeout: float = 30.0
    retries: int = 2
    throttle: bool = True  # GitHub: PyGithub's pauses between requests (off in tests)


Opener = Callable[[ForgeOptions], Forge]

# kind -> "module:function" taking ForgeOptions; modules are imported only when used, so the
# SDKs never load for a run that does not need them.
FORGES: dict[str, str] = {
    "github": "promoter.forge.github:open_github",
    "gitlab": "promoter.forge.gitlab:open_gitlab",
    "memory": "promoter.forge.memory:open_memory",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Listed:
    """A repository as a forge lists it under an organisation or group."""

    full_name: str  # owner/name (GitLab: group/.../project)
    clone_url: str  # HTTPS
    topics: tuple[str, ...] = ()
    archived: bool = False


def create_or_adopt(forge: PullRequests, create: Callable[[], PullRequest], *, head: str,
                    base: str) -> PullRequest:
    """Run ``create``; when the forge says a pull request for (head, base) already exists
    (another run was faster), return that open one instead. Other errors pass through."""
    try:
        return create()
    except ForgeError as exc:
        if "already exists" not in str(exc):
            raise
        existing = forge.find(head=head, base=base)
        if existing is None or not existing.is_open:
            raise
        return existing


def open_forge(kind: str, *, repo: str, url: str | None = None, token: str | None = None,
               app_id: int | None = None, private_key: str | None = None,
               installation_id: int | None = None, timeout: float = 30.0,
               retries: int = 2, throttle: bool = True) -> Forge:
    """The :class:`Forge` for ``kind`` (a key of :data:`FORGES`) on ``repo``.

    InputError for an unknown kind or missing credentials; ForgeError when the forge cannot be
    reached or refuses the credentials (GitHub and GitLab check them once, here).
    """
    target = FORGES.get(kind)
    if target is None:
        raise InputError(f"forge: unknown kind {kind!r} (expected one of: {', '.join(FORGES)})")
    options = ForgeOptions(repo=repo, url=url, token=token, app_id=app_id,
                           private_key=private_key, installation_id=installation_id,
                           timeout=timeout, retries=retries, throttle=throttle)
    module, _, attr = target.partition(":")
    opener: Opener = getattr(importlib.import_module(module), attr)
    return opener(options)
