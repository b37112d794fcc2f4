"""The git port: the :class:`Workspace` protocol, what flows hand it and get back, and
publishing branches over any implementation (:mod:`promoter.gitrepo.real` runs git,
:mod:`promoter.gitrepo.memory` keeps everything in dicts for flow tests).

Flows work with commit SHAs: they ask for a branch's head, read files at that SHA, build a new
commit on a parent and push it with a lease, so a branch that moved since promoter looked is
never overwritten.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from promoter.config import Identity, valid_branch_name
from promoter.errors import GitError, InputError

log = logging.getLogger(__name__)

_ZERO = "0" * 40


class LeaseLost(GitError):
    """A push or delete found the branch somewhere else than expected (someone moved it)."""
_REGULAR = ("100644", "100755")
_TREE = 0o040000
_EMPTY_TREE = bytes.fromhex("4b825dc642cb6eb9a060e54bf8d69288fbee4904")


def _tree_order(name: str, entry: tuple[bytes, int]) -> bytes:
    """git sorts tree entries by name, a subtree as if its name ended in '/'."""
    return (name + "/" if entry[1] == _TREE else name).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitInfo:
    sha: str
    author: Identity
    committer: Identity
    subject: str
    time: int = 0  # committer time, seconds since the epoch (UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAuth:
    """HTTP basic credentials for git over HTTPS: ``x-access-token`` (GitHub) or ``oauth2``
    (GitLab) and a token."""

    username: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RefUpdate:
    """Set ``branch`` to ``sha`` (None deletes it) if it is now at ``expect`` (None: absent)."""

    branch: str
    sha: str | None
    expect: str | None


class Workspace(Protocol):
    """A git repository promoter reads from and writes branches to."""

    def fetch(self) -> None:
        """Bring every remote branch up to date (prune deleted ones). No-op in local mode."""
        ...

    def branch_head(self, branch: str) -> str | None:
        """SHA of ``branch`` on the remote (as of the last fetch/push), None when absent."""
        ...

    def resolve(self, rev: str) -> str | None:
        """SHA of the commit ``rev`` names (SHA, branch, tag), None when it names nothing."""
        ...

    def read(self, rev: str, path: str) -> str | None:
        """Text (UTF-8) of ``path`` at commit ``rev``; None when there is no such file.

        Raises :class:`InputError` for a directory, a symlink or a file that is not UTF-8.
        """
        ...

    def list_files(self, rev: str, under: str = "") -> tuple[str, ...]:
        """Regular files at ``rev`` below the folder ``under`` ("" = all), sorted.
        Symlinks and submodules are left out."""
        ...

    def commit(self, *, parent: str, files: Mapping[str, str | None], message: str,
               author: Identity, sign_off: bool = False) -> str:
        """A new commit on ``parent`` with ``files`` set (None deletes); returns its SHA.

        No ref moves. When the files are already so, nothing is written and ``parent`` is
        returned. The author is also the committer.
        """
        ...

    def push(self, branch: str, sha: str, *, expect: str | None) -> None:
        """Set ``branch`` to ``sha`` if it is now at ``expect`` (None: must not exist).

        Raises :class:`GitError` when the lease is lost; nothing changes then.
        """
        ...

    def delete_branch(self, branch: str, *, expect: str) -> None:
        """Delete ``branch`` if it is at ``expect``; :class:`GitError` otherwise."""
        ...

    def push_all(self, updates: Sequence[RefUpdate]) -> tuple[GitError | None, ...]:
        """Apply many updates, each with its lease, in one round trip where possible.

        Not atomic: one result per update, None when done, else its error
        (:class:`LeaseLost` when the branch moved); the others are applied regardless.
        """
        ...

    def commits(self, base: str, head: str) -> tuple[CommitInfo, ...]:
        """Commits reachable from ``head`` and not from ``base``, newest first."""
        ...

    def history(self, rev: str, paths: Sequence[str], *, limit: int | None = None
                ) -> tuple[CommitInfo, ...]:
        """Commits reachable from ``rev`` that changed a file at or below one of ``paths``
        (plain paths, no globs), newest first, at most ``limit``. An empty ``paths`` gives
        nothing. For the age of a version and the versions an environment ran before."""
        ...

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        """Whether ``ancestor`` is ``rev`` or one of its ancestors."""
        ...

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of commits ``a`` and ``b`` (where a pull request forked),
        None when they share no history."""
        ...

    def changed_files(self, a: str, b: str) -> tuple[str, ...]:
        """Paths whose content differs between commits ``a`` and ``b`` (added, changed or
        deleted), sorted."""
        ...

    def same_files(self, a: str, b: str) -> bool:
        """Whether commits ``a`` and ``b`` hold exactly the same files (same tree)."""
        ...


def foreign_commits(ws: Workspace, *, base: str, head: str, bot: Identity
                    ) -> tuple[CommitInfo, ...]:
    """Commits on ``head`` (not on ``base``) that promoter did not write: a human pushed.

    A branch with any of them is never force-pushed."""
    ours = bot.email.lower()
    return tuple(c for c in ws.commits(base, head)
                 if c.author.email.lower() != ours or c.committer.email.lower() != ours)


class Outcome(enum.Enum):
    CREATED = "created"
    UPDATED = "updated"  # new content on the same base
    RECREATED = "recreated"  # the base moved: rebuilt on it
    UNCHANGED = "unchanged"  # already so; nothing pushed
    NOT_NEEDED = "not-needed"  # the base already has the files; nothing pushed
    HUMAN = "human"  # someone else committed to the branch; left alone
    FAILED = "failed"  # see Published.error (publish_branches only)


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchChange:
    """What a branch should hold: the ``base`` branch plus ``files``, as one commit."""

    branch: str
    base: str
    files: Mapping[str, str | None]
    message: str
    author: Identity
    sign_off: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    outcome: Outcome
    branch: str
    sha: str | None  # the branch head afterwards (None: there is no branch)
    base: str | None  # the base commit the branch is (or would be) built on
    foreign: tuple[CommitInfo, ...] = ()
    error: str | None = None


def publish_branch(ws: Workspace, *, branch: str, base: str, files: Mapping[str, str | None],
                   message: str, author: Identity, sign_off: bool = False,
                   retries: int = 2) -> Published:
    """Make ``branch`` hold the ``base`` branch plus ``files``, as one commit by ``author``.

    Idempotent: a branch already holding exactly that is left alone (nothing is pushed). The
    branch is always one commit on the base's current head: when the base moved or the files
    changed, it is rebuilt and pushed with a lease on the head we saw. A branch with commits by
    anyone else is never touched (:attr:`Outcome.HUMAN`). When the lease is lost (another
    promoter run pushed first), the state is fetched again and the decision made anew, so two
    runs at once end with one branch. Errors are raised.
    """
    change = BranchChange(branch=branch, base=base, files=files, message=message,
                          author=author, sign_off=sign_off)
    for attempt in range(retries + 1):
        result, update = _decide(ws, change)
        if update is None:
            return result
        try:
            _raise_first(ws.push_all((update,)))
            return result
        except LeaseLost:
            if attempt == retries:
                raise
            log.info("branch=%s lease lost; fetching and deciding again", branch)
            ws.fetch()
    raise AssertionError("unreachable")


def publish_branches(ws: Workspace, changes: Sequence[BranchChange], *, retries: int = 2
                     ) -> tuple[Published, ...]:
    """:func:`publish_branch` for many branches, with all pushes in one round trip.

    One result per change, in order; a failing branch is reported (:attr:`Outcome.FAILED`,
    ``error``) and never stops the others. Branches whose lease was lost are decided again
    after one fetch, individually.
    """
    results: list[Published | None] = [None] * len(changes)
    pending: list[tuple[int, Published, RefUpdate]] = []
    for i, change in enumerate(changes):
        try:
            result, update = _decide(ws, change)
        except (GitError, InputError) as e:
            results[i] = _failed(change, e)
            continue
        if update is None:
            results[i] = result
        else:
            pending.append((i, result, update))
    errors = ws.push_all([u for _, _, u in pending])
    lost = []
    for (i, result, _), error in zip(pending, errors, strict=True):
        if error is None:
            results[i] = result
        elif isinstance(error, LeaseLost) and retries > 0:
            lost.append(i)
        else:
            results[i] = _failed(changes[i], error)
    if lost:
        ws.fetch()
        for i in lost:
            c = changes[i]
            try:
                results[i] = publish_branch(ws, branch=c.branch, base=c.base, files=c.files,
                                            message=c.message, author=c.author,
                                            sign_off=c.sign_off, retries=retries - 1)
            except (GitError, InputError) as e:
                results[i] = _failed(c, e)
    return tuple(r for r in results if r is not None)


def _failed(change: BranchChange, error: Exception) -> Published:
    return Published(outcome=Outcome.FAILED, branch=change.branch, sha=None, base=None,
                     error=str(error))


def _decide(ws: Workspace, c: BranchChange) -> tuple[Published, RefUpdate | None]:
    """What ``c`` needs: the result it will have, and the push that makes it so (if any)."""
    check_branch_name(c.branch)
    base_sha = ws.branch_head(c.base)
    if base_sha is None:
        raise GitError(f"base branch {c.base} does not exist")
    head = ws.branch_head(c.branch)
    if head is not None:
        foreign = foreign_commits(ws, base=base_sha, head=head, bot=c.author)
        if foreign:
            return Published(outcome=Outcome.HUMAN, branch=c.branch, sha=head, base=base_sha,
                             foreign=foreign), None
    new = ws.commit(parent=base_sha, files=c.files, message=c.message, author=c.author,
                    sign_off=c.sign_off)
    if new == base_sha:
        return Published(outcome=Outcome.NOT_NEEDED, branch=c.branch, sha=head,
                         base=base_sha), None
    if head is None:
        outcome = Outcome.CREATED
    elif not ws.is_ancestor(base_sha, head):
        outcome = Outcome.RECREATED
    elif ws.same_files(head, new):
        return Published(outcome=Outcome.UNCHANGED, branch=c.branch, sha=head,
                         base=base_sha), None
    else:
        outcome = Outcome.UPDATED
    return (Published(outcome=outcome, branch=c.branch, sha=new, base=base_sha),
            RefUpdate(branch=c.branch, sha=new, expect=head))


def check_repo_path(path: str) -> str:
    """``path`` as a clean repository-relative POSIX path; InputError when it could escape."""
    pure = PurePosixPath(path)
    if (not path or pure.is_absolute() or "\\" in path or "\x00" in path
            or any(p in ("..", ".git") for p in pure.parts) or str(pure) == "."):
        raise InputError(f"{path!r} is not a path inside the repository")
    return str(pure)


def _sign_off(message: str, author: Identity) -> str:
    trailer = f"Signed-off-by: {author}"
    body = message.rstrip("\n")
    if trailer in body.splitlines():
        return body + "\n"
    last = body.rsplit("\n\n", 1)[-1]
    trailers = all(re.match(r"^[A-Za-z][A-Za-z0-9-]*: ", line) for line in last.splitlines())
    sep = "\n" if "\n\n" in body and trailers else "\n\n"
    return f"{body}{sep}{trailer}\n"


def check_branch_name(name: str) -> str:
    """``name`` when git accepts ``refs/heads/<name>`` (git check-ref-format), else InputError."""
    if not valid_branch_name(name):
        raise InputError(f"{name!r} is not a valid branch name")
    return name


def _lease_lost(u: RefUpdate, why: str) -> LeaseLost:
    return LeaseLost(f"push of branch {u.branch} rejected: it moved since promoter looked "
                     f"(expected {(u.expect or 'no branch')[:12]}; {why})")


def _raise_first(results: Sequence[GitError | None]) -> None:
    for error in results:
        if error is not None:
            raise error
