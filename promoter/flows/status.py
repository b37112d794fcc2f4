"""``promoter status``: which version of every image each environment runs, since when, what is
pending, and where an environment runs a version that never passed through the one before it.

The matrix is read from git only (through :mod:`promoter.flows.snapshots`, as ``promoter
rollback`` and ``promoter check`` read it): each environment's files at its branch head (the
version), the history of those files (when that version arrived; the versions it ran before)
and, when a forge is configured, promoter's open pull requests (their hidden metadata says
which image goes to which version where).

Drift: an environment runs a version that never appeared in the history of the environment
before it (someone edited the files by hand instead of promoting). Rollbacks do not drift: they
go back to a version the previous environment ran earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from promoter import render
from promoter.config import Config, Image
from promoter.errors import PromoterError
from promoter.flows.publish import ROLLBACK_LABEL
from promoter.flows.snapshots import HISTORY_LIMIT, Run, Snapshots, env_history, same_version
from promoter.forge import PullRequests
from promoter.gitrepo import Workspace
from promoter.secrets import redact

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
