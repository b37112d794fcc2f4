"""``promoter status``: which version of every image each environment runs, since when, what is
pending, and where an environment runs a version that never passed through the one before it.

The matrix is read from git only: each environment's files at its branch head (the version),
the history of those files (when that version arrived; the versions it ran before) and, when a
forge is configured, promoter's open pull requests (their hidden metadata says which image goes
to which version where). :func:`env_history` is shared with ``promoter rollback`` (the version
to go back to) and ``promoter check``.

Drift: an environment runs a version that never appeared in the history of the environment
before it (someone edited the files by hand instead of promoting). Rollbacks do not drift: they
go back to a version the previous environment ran earlier.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from promoter import render
from promoter.config import Config, DiscoverTarget, Image
from promoter.edit import Site
from promoter.edit.ops import matches
from promoter.errors import PromoterError
from promoter.forge import PullRequests
from promoter.gitrepo import CommitInfo, Workspace
from promoter.plan import Located, cached_finder, locate
from promoter.secrets import redact

ROLLBACK_LABEL = "promoter/rollback"
HISTORY_LIMIT = 200  # commits per (image, environment) looked at for ages and drift
_GLOB_CHARS = "*?["


# --- history ------------------------------------------------------------------------------------

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


class Snapshots:
    """Located images per commit, with file lists, texts, parsed sites, image matches and
    histories cached across images and environments (histories of one repository share most
    commits, and each file holds many images)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._files: dict[str, tuple[str, ...]] = {}
        self._texts: dict[tuple[str, str], str | None] = {}
        self._located: dict[tuple[str, str, str], Located] = {}
        self._parse = cached_finder()  # each text parsed once, for every image
        self._matches: dict[tuple[str, str | None, str, str, str], bool] = {}
        self._history: dict[tuple[str, tuple[str, ...], int | None], tuple[CommitInfo, ...]] = {}

    def history(self, rev: str, paths: tuple[str, ...], limit: int | None
                ) -> tuple[CommitInfo, ...]:
        key = (rev, paths, limit)
        if key not in self._history:
            self._history[key] = self.ws.history(rev, paths, limit=limit)
        return self._history[key]

    def read(self, sha: str, path: str) -> str | None:
        """``ws.read``, each file at each commit read once."""
        if (sha, path) not in self._texts:
            self._texts[(sha, path)] = self.ws.read(sha, path)
        return self._texts[(sha, path)]

    def locate(self, image: Image, env: str, sha: str) -> Located:
        key = (sha, image.name, env)
        if key not in self._located:
            if sha not in self._files:
                self._files[sha] = self.ws.list_files(sha)
            read = functools.partial(self.read, sha)
            wanted = str(image.repository)

            def find(text: str, path: str, helm_paths: tuple[str, ...]) -> tuple[Site, ...]:
                sites = self._parse(text, path, helm_paths)
                if helm_paths:  # an explicit key path: locate decides by the path
                    return sites
                return tuple(x for x in sites if self._match(x, wanted))

            self._located[key] = locate(image, env, self._files[sha], read, find=find)
        return self._located[key]

    def _match(self, site: Site, wanted: str) -> bool:
        key = (site.name, site.new_name, site.ref.registry, site.ref.repository, wanted)
        if key not in self._matches:
            self._matches[key] = matches(site, wanted)
        return self._matches[key]


def env_history(snap: Snapshots, image: Image, env: str, rev: str, *,
                limit: int = HISTORY_LIMIT) -> tuple[Run, ...]:
    """The versions ``image`` ran in ``env`` up to commit ``rev``, newest first; consecutive
    commits with the same version are one run, dated by the first of them."""
    runs: list[Run] = []
    for commit in snap.history(rev, image_paths(image, env), limit):
        loc = snap.locate(image, env, commit.sha)
        if runs and same_version(runs[-1].tag, runs[-1].digest, loc.tag, loc.digest):
            runs[-1] = replace(runs[-1], since=commit,
                               digest=runs[-1].digest or loc.digest)
        else:
            runs.append(Run(tag=loc.tag, digest=loc.digest, since=commit))
    return tuple(runs)


# --- the matrix -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """An open promoter pull request that moves ``image`` in ``env`` to ``tag``."""

    number: int
    url: str
    tag: str
    rollback: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One image in one environment."""

    image: str
    env: str
    tag: str | None
    digest: str | None
    since: datetime | None = None  # when this version arrived (git history)
    commit: str | None = None  # the commit that set it
    pending: tuple[Pending, ...] = ()
    drift: str | None = None  # the warning, when the version skipped the previous environment
    problems: tuple[str, ...] = ()

    def age(self, now: datetime) -> timedelta | None:
        return None if self.since is None else max(now - self.since, timedelta(0))


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    generated: datetime
    environments: tuple[str, ...]
    images: tuple[str, ...]
    repositories: Mapping[str, str]  # image name -> registry/repository
    cells: tuple[Cell, ...]
    errors: tuple[str, ...] = ()
    forge: bool = False  # whether pending pull requests were asked for

    def cell(self, image: str, env: str) -> Cell | None:
        return next((c for c in self.cells if c.image == image and c.env == env), None)

    @property
    def drifts(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.drift)

    def as_json(self) -> dict[str, Any]:
        return {
            "generated": self.generated.isoformat(),
            "environments": list(self.environments),
            "images": [{
                "name": name, "repository": self.repositories.get(name),
                "environments": {c.env: {
                    "tag": c.tag, "digest": c.digest,
                    "since": c.since.isoformat() if c.since else None,
                    "age_seconds": _seconds(c.age(self.generated)), "commit": c.commit,
                    "pending": [{"number": p.number, "url": p.url, "tag": p.tag,
                                 "rollback": p.rollback} for p in c.pending],
                    "drift": c.drift, "problems": list(c.problems)}
                    for c in self.cells if c.image == name}}
                for name in self.images],
            "errors": list(self.errors),
        }


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def pending_prs(cfg: Config, forge: PullRequests) -> dict[tuple[str, str], list[Pending]]:
    """promoter's open pull requests by (image, environment), from their hidden metadata."""
    out: dict[tuple[str, str], list[Pending]] = {}
    for pr in forge.list_open():
        meta = render.read_meta(pr.body)
        if meta is None or not isinstance(meta.get("images"), dict):
            continue
        env = str(meta.get("env") or "")
        rollback = ROLLBACK_LABEL in pr.labels or bool(meta.get("rollback"))
        for image, tag in sorted(meta["images"].items()):
            out.setdefault((str(image), env), []).append(
                Pending(number=pr.number, url=pr.url, tag=str(tag), rollback=rollback))
    return out


def status(cfg: Config, ws: Workspace, forge: PullRequests | None, *, now: datetime,
           images: Sequence[str] | None = None, limit: int = HISTORY_LIMIT) -> Status:
    """The matrix of ``cfg``'s images (or those named) x environments at the branch heads."""
    snap = Snapshots(ws)
    errors: list[str] = []
    heads: dict[str, str | None] = {}
    for env in cfg.environments:
        heads[env.name] = ws.branch_head(env.branch)
        if heads[env.name] is None:
            errors.append(f"{env.name}: branch {env.branch} does not exist")
    pending: dict[tuple[str, str], list[Pending]] = {}
    if forge is not None:
        try:
            pending = pending_prs(cfg, forge)
        except PromoterError as e:
            errors.append(f"pending pull requests: {redact(str(e))}")
    chosen = [cfg.image(n) for n in images] if images else list(cfg.images)
    cells: list[Cell] = []
    for image in chosen:
        histories: dict[str, tuple[Run, ...]] = {}
        for env in cfg.environments:
            head = heads[env.name]
            if env.name not in image.environments or head is None:
                continue
            try:
                cells.append(_cell(cfg, snap, image, env.name, head, heads, histories,
                                   pending.get((image.name, env.name), []), limit))
            except PromoterError as e:
                errors.append(f"{image.name} in {env.name}: {redact(str(e))}")
    return Status(generated=now, environments=cfg.env_names,
                  images=tuple(i.name for i in chosen),
                  repositories={i.name: i.repository.name for i in chosen},
                  cells=tuple(cells), errors=tuple(errors), forge=forge is not None)


def _cell(cfg: Config, snap: Snapshots, image: Image, env: str, head: str,
          heads: Mapping[str, str | None], histories: dict[str, tuple[Run, ...]],
          pending: Sequence[Pending], limit: int) -> Cell:
    loc = snap.locate(image, env, head)
    problems = tuple(loc.problems)
    if not loc.pins:
        problems += (f"not found in {env}",)
    runs = histories.setdefault(env, env_history(snap, image, env, head, limit=limit))
    current = runs[0] if runs and same_version(runs[0].tag, runs[0].digest, loc.tag,
                                               loc.digest) else None
    drift = None
    prev = cfg.previous(env)
    if prev is not None and loc.pins and prev.name in image.environments:
        prev_head = heads.get(prev.name)
        if prev_head is not None:
            if prev.name not in histories:
                histories[prev.name] = env_history(snap, image, prev.name, prev_head,
                                                   limit=limit)
            before = histories[prev.name]
            if before and not any(same_version(r.tag, r.digest, loc.tag, loc.digest)
                                  for r in before):
                drift = (f"{env} runs {loc.tag or loc.digest}, which {prev.name} never ran: "
                         "changed by hand, not promoted")
    return Cell(image=image.name, env=env, tag=loc.tag, digest=loc.digest,
                since=current.when if current else None,
                commit=current.since.sha if current else None,
                pending=tuple(pending), drift=drift, problems=problems)


# --- text and Markdown ----------------------------------------------------------------------------

def format_age(delta: timedelta | None) -> str:
    """``45s``, ``12 min``, ``5h 10m``, ``3d 4h``; empty when unknown."""
    if delta is None:
        return ""
    s = int(delta.total_seconds())
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _version(cell: Cell) -> str:
    if cell.tag:
        return cell.tag
    return cell.digest[:19] if cell.digest else "-"


def status_text(st: Status) -> str:
    header = ["image", *st.environments]
    rows = [header]
    for name in st.images:
        row = [name]
        for env in st.environments:
            c = st.cell(name, env)
            if c is None:
                row.append("")
                continue
            age = format_age(c.age(st.generated))
            text = _version(c) + (f" ({age})" if age else "")
            text += "".join(f" -> {p.tag} #{p.number}" for p in c.pending)
            row.append(text + (" !" if c.drift else ""))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
           for r in rows]
    out += [f"drift: {c.image}: {c.drift}" for c in st.drifts]
    out += [f"problem: {c.image} in {c.env}: {p}" for c in st.cells for p in c.problems]
    out += [f"error: {e}" for e in st.errors]
    return "\n".join(out) + "\n"


def status_markdown(st: Status) -> str:
    def cell(c: Cell | None) -> str:
        if c is None:
            return ""
        age = format_age(c.age(st.generated))
        parts = [f"**{_version(c)}**" + (f" ({age})" if age else "")]
        parts += [f"{'rollback' if p.rollback else 'pending'} [#{p.number}]({p.url}) "
                  f"-> {p.tag}" for p in c.pending]
        if c.drift:
            parts.append(":warning: drift")
        return "<br>".join(p.replace("|", "\\|") for p in parts)

    out = ["| image | " + " | ".join(st.environments) + " |",
           "| --- |" + " --- |" * len(st.environments)]
    for name in st.images:
        out.append(f"| `{name}` | " + " | ".join(cell(st.cell(name, e))
                                                  for e in st.environments) + " |")
    if st.drifts:
        out += ["", "**Drift**", ""] + [f"- `{c.image}`: {c.drift}" for c in st.drifts]
    problems = [f"- `{c.image}` in {c.env}: {p}" for c in st.cells for p in c.problems]
    problems += [f"- {e}" for e in st.errors]
    if problems:
        out += ["", "**Problems**", "", *problems]
    return "\n".join(out) + "\n"
