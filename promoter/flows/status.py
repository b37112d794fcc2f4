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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from promoter import render
from promoter.config import Config, Image
from promoter.errors import Problem, PromoterError, exit_code
from promoter.flows.promote import lagging
from promoter.flows.publish import ROLLBACK_LABEL
from promoter.flows.snapshots import HISTORY_LIMIT, Run, Snapshots, env_history, same_version
from promoter.forge import PullRequests
from promoter.gitrepo import Workspace
from promoter.plan import branch_name, slug
from promoter.progress import Progress, quiet
from promoter.refs import ImageRef
from promoter.signature_checks import SignatureChecks

# --- the matrix -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """An open promoter pull request that moves ``image`` in ``env`` to ``tag``."""

    number: int | None  # None: a local branch (forge.type local), no pull request
    url: str
    tag: str
    rollback: bool = False
    branch: str | None = None


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
    #: the signature gate's words for the version run here, in an environment with one
    signature: str | None = None
    #: a fan-in whose sources run different versions of the image: which of them lag
    lagging: str | None = None

    def age(self, now: datetime) -> timedelta | None:
        return None if self.since is None else max(now - self.since, timedelta(0))


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    generated: datetime
    environments: tuple[str, ...]
    images: tuple[str, ...]
    repositories: Mapping[str, str]  # image name -> registry/repository
    cells: tuple[Cell, ...]
    errors: tuple[Problem, ...] = ()
    forge: bool = False  # whether pending pull requests were asked for
    #: (environment, its sources) for every environment, in topological order
    graph: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def sources(self, env: str) -> tuple[str, ...]:
        return next((s for e, s in self.graph if e == env), ())

    @property
    def linear(self) -> bool:
        """Whether each environment is promoted from the one before it (no ``from:`` graph)."""
        order = self.environments
        return not self.graph or all(self.sources(e) == ((order[i - 1],) if i else ())
                   for i, e in enumerate(order))

    @property
    def lagging(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.lagging)

    def depth(self, env: str) -> int:
        """0 for an environment without sources, else one more than its deepest source."""
        return max((self.depth(s) + 1 for s in self.sources(env)), default=0)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """What could not be read, and every cell's problem (``image in env: ...``)."""
        return self.errors + tuple(Problem(message=f"{c.image} in {c.env}: {p}", image=c.image)
                                   for c in self.cells for p in c.problems)

    @property
    def exit_code(self) -> int:
        """0, 1 when a problem is listed (3 when a forge alone did not answer)."""
        return exit_code(self.problems)

    def cell(self, image: str, env: str) -> Cell | None:
        return next((c for c in self.cells if c.image == image and c.env == env), None)

    @property
    def drifts(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.drift)


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


def local_branches(cfg: Config, ws: Workspace, snap: Snapshots,
                   images: Sequence[str] | None = None) -> dict[tuple[str, str], list[Pending]]:
    """Without a forge (``forge.type: local``), promoter's branches are what is pending: the
    update branch (``pull-requests.branch``) and the rollback branch of each image in each
    environment, with the version they hold."""
    from promoter.flows.rollback import BRANCH as ROLLBACK_BRANCH

    out: dict[tuple[str, str], list[Pending]] = {}
    chosen = [cfg.image(n) for n in images] if images else list(cfg.images)
    for env in cfg.environments:
        for image in chosen:
            if env.name not in image.environments:
                continue
            for branch, rollback in ((branch_name(cfg, env, image.name), False),
                                     (ROLLBACK_BRANCH.format(env=env.name,
                                                             image=slug(image.name)), True)):
                sha = ws.branch_head(branch)
                if sha is None or sha == ws.branch_head(env.branch):
                    continue
                tag = snap.locate(image, env.name, sha).tag
                if tag is not None:
                    out.setdefault((image.name, env.name), []).append(
                        Pending(number=None, url="", tag=tag, rollback=rollback, branch=branch))
    return out


def status(cfg: Config, ws: Workspace, forge: PullRequests | None, *, now: datetime,
           images: Sequence[str] | None = None, limit: int = HISTORY_LIMIT,
           signatures: SignatureChecks | None = None, progress: Progress = quiet) -> Status:
    """The matrix of ``cfg``'s images (or those named) x environments at the branch heads;
    ``progress`` shows the images read; with ``signatures``, what the signature gate says of
    each version a gated environment runs (a refused one is also listed among the cell's
    problems)."""
    snap = Snapshots(ws)
    errors: list[Problem] = []
    heads: dict[str, str | None] = {}
    for env in cfg.environments:
        heads[env.name] = ws.branch_head(env.branch)
        if heads[env.name] is None:
            errors.append(Problem(message=f"{env.name}: branch {env.branch} does not exist"))
    pending: dict[tuple[str, str], list[Pending]] = {}
    if forge is None:
        pending = local_branches(cfg, ws, snap, images)
    else:
        try:
            pending = pending_prs(cfg, forge)
        except PromoterError as e:
            errors.append(Problem.of(e, "pending pull requests"))
    chosen = [cfg.image(n) for n in images] if images else list(cfg.images)
    cells: list[Cell] = []
    with progress("images read", len(chosen)) as bar:
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
                    errors.append(Problem.of(e, f"{image.name} in {env.name}",
                                             image=image.name))
            bar.advance()
    if signatures is not None:
        cells = _signed(cfg, signatures, cells)
    return Status(generated=now, environments=cfg.env_names,
                  images=tuple(i.name for i in chosen),
                  repositories={i.name: i.repository.name for i in chosen},
                  cells=tuple(cells), errors=tuple(errors), forge=forge is not None,
                  graph=tuple((e.name, e.sources) for e in cfg.order()))


def _signed(cfg: Config, signatures: SignatureChecks, cells: Sequence[Cell]) -> list[Cell]:
    """``cells`` with the signature gate of each version run in a gated environment, all
    checked at once."""
    def ask(c: Cell) -> tuple[str, ImageRef, str | None]:
        return (c.env, cfg.image(c.image).repository.with_tag(c.tag), c.digest)

    gated = [signatures.required(c.env) and bool(c.tag or c.digest) for c in cells]
    signatures.prefetch(ask(c) for c, g in zip(cells, gated, strict=True) if g)
    out = []
    for c, g in zip(cells, gated, strict=True):
        if g:
            gate = signatures.gate(*ask(c))
            c = replace(c, signature=gate.detail, problems=c.problems + (
                () if gate.passed else (gate.detail,)))
        out.append(c)
    return out


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
    sources = [e for e in cfg.sources(env) if e.name in image.environments and loc.pins]
    for prev in sources:
        prev_head = heads.get(prev.name)
        if prev_head is None:
            continue
        if prev.name not in histories:
            histories[prev.name] = env_history(snap, image, prev.name, prev_head, limit=limit)
        before = histories[prev.name]
        if before and not any(same_version(r.tag, r.digest, loc.tag, loc.digest)
                              for r in before):
            drift = (f"{env} runs {loc.tag or loc.digest}, which {prev.name} never ran: "
                     "changed by hand, not promoted")
            break
    lag = None
    if len(sources) > 1:
        lag = lagging([snap.locate(image, e.name, h) for e in sources
                       if (h := heads.get(e.name)) is not None]) or None
    return Cell(image=image.name, env=env, tag=loc.tag, digest=loc.digest,
                since=current.when if current else None,
                commit=current.since.sha if current else None,
                pending=tuple(pending), drift=drift, problems=problems, lagging=lag)

