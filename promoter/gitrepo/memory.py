"""The in-memory :class:`~promoter.gitrepo.Workspace`, for flow tests."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from promoter.config import Identity
from promoter.errors import GitError, InputError
from promoter.gitrepo.base import (
    CommitInfo,
    RefUpdate,
    _lease_lost,
    _raise_first,
    _sign_off,
    check_branch_name,
    check_repo_path,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class _MemCommit:
    parent: str | None
    files: Mapping[str, str]
    message: str
    info: CommitInfo


_SEED = Identity(name="Seed", email="seed@example.com")


class MemoryWorkspace:
    """:class:`Workspace` in memory: commits are dicts of files, branches a dict of SHAs.

    SHAs are content hashes, so the same change gives the same SHA, as in git (the commit time,
    from ``clock``, is left out of the hash; the first commit of a content keeps its time).
    For flow tests.
    """

    def __init__(self, files: Mapping[str, str] | None = None, *, branch: str = "main",
                 author: Identity = _SEED, clock: Callable[[], float] = time.time) -> None:
        self._commits: dict[str, _MemCommit] = {}
        self.branches: dict[str, str] = {}
        self.clock = clock
        root = self._store(None, dict(files or {}), "initial commit", author)
        self.branches[branch] = root

    def _store(self, parent: str | None, files: dict[str, str], message: str,
               author: Identity) -> str:
        digest = hashlib.sha1(repr((parent, sorted(files.items()), message, str(author)))
                              .encode()).hexdigest()
        self._commits.setdefault(digest, _MemCommit(
            parent=parent, files=files, message=message, info=CommitInfo(
                sha=digest, author=author, committer=author,
                subject=message.split("\n", 1)[0], time=int(self.clock()))))
        return digest

    def _get(self, rev: str) -> _MemCommit:
        sha = self.resolve(rev)
        if sha is None:
            raise GitError(f"no such commit {rev!r}")
        return self._commits[sha]

    def fetch(self) -> None:
        return None

    def branch_head(self, branch: str) -> str | None:
        return self.branches.get(branch)

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        return rev if rev in self._commits else None

    def read(self, rev: str, path: str) -> str | None:
        path = check_repo_path(path)
        sha = self.resolve(rev)
        if sha is None:
            raise InputError(f"{rev}: not a commit")
        files = self._commits[sha].files
        if path not in files and any(f.startswith(path + "/") for f in files):
            raise InputError(f"{path}: is a directory at {rev[:12]}")
        return files.get(path)

    def list_files(self, rev: str, under: str = "") -> tuple[str, ...]:
        prefix = check_repo_path(under) + "/" if under else ""
        return tuple(sorted(f for f in self._get(rev).files if f.startswith(prefix)))

    def commit(self, *, parent: str, files: Mapping[str, str | None], message: str,
               author: Identity, sign_off: bool = False) -> str:
        base = self._get(parent)
        new = dict(base.files)
        for path, text in files.items():
            path = check_repo_path(path)
            if text is None:
                new.pop(path, None)
            else:
                new[path] = text
        if new == base.files:
            return base.info.sha
        text = _sign_off(message, author) if sign_off else message
        return self._store(base.info.sha, new, text, author)

    def message(self, sha: str) -> str:
        """The full message of a commit."""
        return self._commits[sha].message

    def push(self, branch: str, sha: str, *, expect: str | None) -> None:
        _raise_first(self.push_all((RefUpdate(branch=branch, sha=sha, expect=expect),)))

    def delete_branch(self, branch: str, *, expect: str) -> None:
        _raise_first(self.push_all((RefUpdate(branch=branch, sha=None, expect=expect),)))

    def push_all(self, updates: Sequence[RefUpdate]) -> tuple[GitError | None, ...]:
        results: list[GitError | None] = []
        for u in updates:
            check_branch_name(u.branch)
            if self.branches.get(u.branch) != u.expect:
                results.append(_lease_lost(u, "stale info"))
            elif u.sha is None:
                del self.branches[u.branch]
                results.append(None)
            else:
                self._get(u.sha)
                self.branches[u.branch] = u.sha
                results.append(None)
        return tuple(results)

    def _ancestry(self, rev: str) -> list[str]:
        out = []
        sha: str | None = self._get(rev).info.sha
        while sha is not None:
            out.append(sha)
            sha = self._commits[sha].parent
        return out

    def commits(self, base: str, head: str) -> tuple[CommitInfo, ...]:
        stop = set(self._ancestry(base))
        return tuple(self._commits[s].info for s in self._ancestry(head) if s not in stop)

    def history(self, rev: str, paths: Sequence[str], *, limit: int | None = None
                ) -> tuple[CommitInfo, ...]:
        if not paths or self.resolve(rev) is None:
            return ()
        prefixes = [check_repo_path(p) for p in paths]

        def touched(files: Mapping[str, str], before: Mapping[str, str]) -> bool:
            return any((f == p or f.startswith(p + "/")) and files.get(f) != before.get(f)
                       for f in {*files, *before} for p in prefixes)

        out: list[CommitInfo] = []
        for sha in self._ancestry(rev):
            c = self._commits[sha]
            before = self._commits[c.parent].files if c.parent else {}
            if touched(c.files, before):
                out.append(c.info)
        return tuple(out if limit is None else out[:max(limit, 0)])

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        sha = self.resolve(ancestor)
        return sha is not None and sha in self._ancestry(rev)

    def merge_base(self, a: str, b: str) -> str | None:
        if self.resolve(a) is None or self.resolve(b) is None:
            return None
        mine = set(self._ancestry(a))
        return next((sha for sha in self._ancestry(b) if sha in mine), None)

    def changed_files(self, a: str, b: str) -> tuple[str, ...]:
        x, y = self._get(a).files, self._get(b).files
        return tuple(sorted(p for p in {*x, *y} if x.get(p) != y.get(p)))

    def same_files(self, a: str, b: str) -> bool:
        return self._get(a).files == self._get(b).files
