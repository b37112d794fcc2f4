"""One cached reader of a repository's environments: their files at a commit, the images
located in them, and their history (the versions an environment ran, since when).

Every flow reads through one :class:`Snapshots` per run, so a file, a parse, a listing or a
``git log`` is asked for once however many images, environments and questions share it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from promoter.config import Config, DiscoverTarget, Image
from promoter.gitrepo import CommitInfo, Workspace
from promoter.plan import Located, SiteFinder, cached_finder, locate

HISTORY_LIMIT = 200  # commits per (image, environment) looked at for ages and drift
_GLOB_CHARS = "*?["


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One version an environment ran, from the commit that set it (``since``) on."""

    tag: str | None
    digest: str | None
    since: CommitInfo

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.since.time, UTC)


def same_version(a_tag: str | None, a_digest: str | None, b_tag: str | None,
                 b_digest: str | None) -> bool:
    """Equal tags, and equal digests where both are known."""
    return a_tag == b_tag and (a_digest is None or b_digest is None or a_digest == b_digest)


def image_paths(image: Image, env: str) -> tuple[str, ...]:
    """The files and folders holding ``image`` in ``env`` (for ``git log -- PATHS``); a glob
    stands for the folder before its first wildcard."""
    out: dict[str, None] = {}
    for target in image.targets_for(env):
        paths = target.paths if isinstance(target, DiscoverTarget) else (target.file,)
        for path in paths:
            parts = path.rstrip("/").split("/")
            fixed = []
            for part in parts:
                if any(c in part for c in _GLOB_CHARS):
                    break
                fixed.append(part)
            if fixed:
                out["/".join(fixed)] = None
    return tuple(out)


class History(Protocol):
    """What the history walks read of a repository: a :class:`~promoter.gitrepo.Workspace`,
    or the :class:`Snapshots` that remember one."""

    def read(self, rev: str, path: str) -> str | None: ...
    def resolve(self, rev: str) -> str | None: ...
    def history(self, rev: str, paths: Sequence[str], *, limit: int | None = None
                ) -> tuple[CommitInfo, ...]: ...
    def commits(self, base: str, head: str) -> tuple[CommitInfo, ...]: ...
    def is_ancestor(self, ancestor: str, rev: str) -> bool: ...


class Snapshots:
    """One run's reader of a repository: file lists, texts, located images, parsed sites,
    revisions and histories, each asked of the workspace once and shared across images,
    environments and flows (histories of one repository share most commits, and each file
    holds many images). A :class:`History`."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._files: dict[str, tuple[str, ...]] = {}
        self._texts: dict[tuple[str, str], str | None] = {}
        self._revs: dict[str, str | None] = {}
        self._located: dict[tuple[str, str, str], Located] = {}
        self.find: SiteFinder = cached_finder()  # each text parsed once, for every image
        self._history: dict[tuple[str, tuple[str, ...], int | None], tuple[CommitInfo, ...]] = {}

    def history(self, rev: str, paths: Sequence[str], *, limit: int | None = None
                ) -> tuple[CommitInfo, ...]:
        key = (rev, tuple(paths), limit)
        if key not in self._history:
            self._history[key] = self.ws.history(rev, paths, limit=limit)
        return self._history[key]

    def read(self, sha: str, path: str) -> str | None:
        """``ws.read``, each file at each commit read once."""
        if (sha, path) not in self._texts:
            self._texts[(sha, path)] = self.ws.read(sha, path)
        return self._texts[(sha, path)]

    def reader(self, sha: str) -> Callable[[str], str | None]:
        """:meth:`read` at ``sha``."""
        return functools.partial(self.read, sha)

    def files(self, sha: str) -> tuple[str, ...]:
        if sha not in self._files:
            self._files[sha] = self.ws.list_files(sha)
        return self._files[sha]

    def resolve(self, rev: str) -> str | None:
        if rev not in self._revs:
            self._revs[rev] = self.ws.resolve(rev)
        return self._revs[rev]

    def commits(self, base: str, head: str) -> tuple[CommitInfo, ...]:
        return self.ws.commits(base, head)

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        return self.ws.is_ancestor(ancestor, rev)

    def locate_env(self, cfg: Config, env: str, sha: str,
                   images: Sequence[str] | None = None) -> tuple[Located, ...]:
        """Every configured image of ``env`` (or those named) at commit ``sha``."""
        return tuple(self.locate(img, env, sha) for img in cfg.images
                     if env in img.environments and (images is None or img.name in images))

    def locate(self, image: Image, env: str, sha: str) -> Located:
        key = (sha, image.name, env)
        if key not in self._located:
            self._located[key] = locate(image, env, self.files(sha), self.reader(sha),
                                        find=self.find)
        return self._located[key]


def env_history(snap: Snapshots, image: Image, env: str, rev: str, *,
                limit: int = HISTORY_LIMIT) -> tuple[Run, ...]:
    """The versions ``image`` ran in ``env`` up to commit ``rev``, newest first; consecutive
    commits with the same version are one run, dated by the first of them."""
    runs: list[Run] = []
    for commit in snap.history(rev, image_paths(image, env), limit=limit):
        loc = snap.locate(image, env, commit.sha)
        if runs and same_version(runs[-1].tag, runs[-1].digest, loc.tag, loc.digest):
            runs[-1] = replace(runs[-1], since=commit,
                               digest=runs[-1].digest or loc.digest)
        else:
            runs.append(Run(tag=loc.tag, digest=loc.digest, since=commit))
    return tuple(runs)
