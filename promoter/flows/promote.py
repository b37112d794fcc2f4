"""``promoter promote``: what an environment runs moves to the next one, through gated PRs.

For each step of the promotion graph (a target with all of its sources: the one before it in a
plain list, several for a fan-in), or the one asked for:

1. read both environments' files at their branch heads and locate every image (pure);
2. compare: a target that already runs the source's tag and digest is settled; one that runs a
   version ahead of the source, or one the source never ran, gets nothing (order is law: a
   version enters an environment only from the one before it; going back is ``rollback``);
3. gather the gates' facts: when the version reached the source's branch (git history: the
   commit that first set the source's files to it, and the commit that brought it onto the
   branch's first-parent line, e.g. a merge), the checks on that commit, the hold label on the
   target's open promoter PRs, approvals, the source's health on its branch head (statuses,
   its Argo CD Application through ``argocd``), the clock (``now``, injected);
4. evaluate the gates (:mod:`promoter.gates`, pure); plan the edits that set the target to
   exactly the source's tag and digest (:func:`promoter.plan.plan_updates`);
5. publish branches and open or update PRs with the poll flow's pieces, the gates in the body;
   then post the ``promoter/gates`` status on each PR head and, when every gate passes and
   ``pull-requests.auto-merge`` is set, turn on the forge's auto-merge.

A fan-in moves an image only when every source runs the same version, each source's gates
evaluated on its own (:func:`lagging`, :func:`joined`); a release bundle moves whole, in one
pull request, or not at all (:func:`whole_bundles`).

A hold label or a freeze window stops a step: nothing is pushed or opened for it, and its open
promotion PRs get a status that says why. A failure in one image or one PR is reported in the
:class:`Report` and never stops the others.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promoter import gates, render
from promoter.argocd import Applications, Connect, Reading, read
from promoter.config import ArgoCD, Config, Environment, Group
from promoter.errors import InputError, Problem, PromoterError, exit_code
from promoter.flows import limits, publish
from promoter.flows.publish import Outcome, PRResult
from promoter.flows.snapshots import History, Snapshots, same_version
from promoter.forge import (
    CommitStatus,
    Forge,
    MergeMethod,
    PRState,
    PullRequest,
    StatusState,
)
from promoter.gates import Facts, GateResult, GateState
from promoter.gitrepo import CommitInfo, Workspace
from promoter.plan import (
    Located,
    Plan,
    PullRequestPlan,
    SiteFinder,
    Wanted,
    branch_name,
    hold_untagged,
    locate,
    plan_updates,
    with_bundles,
)
from promoter.policy import TagPolicy, update_of
from promoter.progress import Progress, quiet
from promoter.secrets import redact
from promoter.signature_checks import SignatureChecks
from promoter.versions import UpdateType, parse_version

log = logging.getLogger(__name__)

#: how many commits of a source's files the history walk reads at most
HISTORY_LIMIT = 50
_STATUS = {GateState.PASS: StatusState.SUCCESS, GateState.PENDING: StatusState.PENDING,
           GateState.FAIL: StatusState.FAILURE}


class Decision(enum.StrEnum):
    """What happened to one image in one step (its value is the JSON and text spelling)."""

    PROMOTE = "promote"  # a PR sets the target to the source's version
    UP_TO_DATE = "up-to-date"  # the target runs it already
    WAITING = "waiting"  # the auto gate holds it back until /promote, or the source's Argo CD
    # application is not Synced to its branch head and Healthy yet
    STOPPED = "stopped"  # a hold label or freeze window stops the target
    REFUSED = "refused"  # the signature gate: unsigned, wrongly signed, or not readable yet
    SKIPPED = "skipped"  # ahead, diverging, not found: see reason
    BLOCKED = "blocked"  # ready, but another member of its bundle is not: see reason


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageStep:
    """One image in one step: from what to what, its gates, and what promoter decided."""

    image: str
    source: str
    target: str
    from_tag: str | None
    from_digest: str | None
    to_tag: str | None
    to_digest: str | None
    update: UpdateType
    decision: Decision
    reason: str = ""
    since: datetime | None = None  # when the version reached the source's branch
    commit: str | None = None  # the source commit the version arrived with (checks are read)
    gates: tuple[GateResult, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusPosted:
    number: int
    sha: str
    state: StatusState
    description: str
    auto_merge: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    steps: tuple[tuple[str, str], ...]
    images: tuple[ImageStep, ...] = ()
    plan: Plan = Plan(pull_requests=())
    results: tuple[PRResult, ...] = ()
    statuses: tuple[StatusPosted, ...] = ()
    errors: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.outcome is not Outcome.FAILED for r in self.results)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The errors and each pull request that could not be published."""
        return self.errors + tuple(r.problem for r in self.results
                                   if r.outcome is Outcome.FAILED)

    @property
    def exit_code(self) -> int:
        """0, or 1 (3 when a registry or forge alone is to blame), see :mod:`promoter.errors`."""
        return exit_code(self.problems)


# --- which steps ------------------------------------------------------------------------------

#: one promotion into a target: its sources (several for a fan-in) and the target
Step = tuple[tuple[Environment, ...], Environment]


def select_steps(cfg: Config, source: str | None, target: str | None) -> tuple[Step, ...]:
    """The steps to walk, each target with all of its sources (:meth:`Config.sources`): every
    target in topological order, the one into ``target``, those out of ``source``, or exactly
    into ``target`` when ``source`` is one of its sources (InputError when it is not: nothing
    skips a stage, nothing moves backwards). A fan-in target always waits for all sources."""
    if target is not None:
        tgt = cfg.environment(target)
        sources = cfg.sources(tgt.name)
        if not sources:
            raise InputError(f"{tgt.name} is the first environment; nothing is promoted into it "
                             "(it follows the registry)")
        if source is not None and cfg.environment(source).name not in tgt.sources:
            raise InputError(f"{tgt.name} is promoted from {_names(sources)} only, not from "
                             f"{source} (nothing skips a stage or moves backwards; see rollback)")
        return ((sources, tgt),)
    if source is not None:
        src = cfg.environment(source)
        step = tuple((cfg.sources(t.name), t) for t in cfg.targets(src.name))
        if not step:
            raise InputError(f"{src.name} is the last environment; there is nothing after it"
                             if cfg.linear else f"no environment is promoted from {src.name}")
        return step
    return tuple((cfg.sources(t.name), t) for t in cfg.order() if t.sources)


def _names(envs: Sequence[Environment]) -> str:
    return ", ".join(e.name for e in envs)


# --- history ----------------------------------------------------------------------------------

Version = tuple[str | None, str | None]  # (tag, digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """When the source's current version arrived on its branch."""

    commit: str | None  # the commit on the branch's first-parent line that brought it
    since: datetime | None


def _version_at(ws: History, sha: str, loc: Located, find: SiteFinder | None) -> Version:
    files = tuple(sorted({p.file for p in loc.pins}))
    found = locate(loc.image, loc.env, files, functools.partial(ws.read, sha), find=find)
    return (found.tag, found.digest)


def _versions(ws: History, head: str, loc: Located, limit: int, find: SiteFinder | None
              ) -> Iterator[tuple[CommitInfo, Version]]:
    """The commits that changed ``loc``'s files from ``head`` back, newest first, each with the
    version the files held after it (``find``: a shared :func:`~promoter.plan.cached_finder`,
    so images in the same files parse each version of a file once)."""
    for c in ws.history(head, sorted({p.file for p in loc.pins}), limit=limit):
        yield c, _version_at(ws, c.sha, loc, find)


def arrival(ws: History, head: str, loc: Located, *, limit: int = HISTORY_LIMIT,
            find: SiteFinder | None = None) -> Arrival:
    """Walk the history of ``loc``'s files from ``head``, newest first: the oldest commit of the
    newest run holding the current version set it; the commit that brought that one onto the
    branch's first-parent line (itself, or a merge) is when it arrived. Within ``limit``
    changes: a version older than that counts from the oldest one read."""
    current: Version = (loc.tag, loc.digest)
    first: CommitInfo | None = None
    for c, version in _versions(ws, head, loc, limit, find):
        if version != current:
            break
        first = c
    if first is None:
        return Arrival(commit=None, since=None)
    landed = _landed(ws, head, first)
    return Arrival(commit=landed.sha, since=datetime.fromtimestamp(landed.time, UTC))


def ran_before(ws: History, head: str, loc: Located, tag: str | None, digest: str | None,
               *, limit: int = HISTORY_LIMIT, find: SiteFinder | None = None) -> bool:
    """Whether ``loc``'s environment ran ``tag`` (and ``digest``, when both are known) in its
    last ``limit`` changes."""
    return any(t == tag and (d is None or digest is None or d == digest)
               for _, (t, d) in _versions(ws, head, loc, limit, find))


def _landed(ws: History, head: str, first: CommitInfo, *, limit: int = 1000) -> CommitInfo:
    """The commit on ``head``'s first-parent line that brought ``first`` in: ``first`` itself
    when it was committed on the branch, else the merge whose first parent lacks it.

    The line is walked by parent lookups while it stays among the commits after ``first``;
    "holds ``first``" only turns false going back on it, so a binary search finds the landing
    with a few ancestry checks. After ``limit`` commits the oldest one seen stands in (the
    version arrived before it, so the soak is under-counted, never over-counted)."""
    after = {c.sha: c for c in ws.commits(first.sha, head)}
    line: list[str] = []
    sha: str | None = ws.resolve(head)
    while sha is not None and sha in after and len(line) < limit:
        line.append(sha)
        sha = ws.resolve(f"{sha}^1")  # None at a root, or where revisions have no parent
        # syntax (the in-memory workspace, whose history is a line)
    if not line or sha == first.sha or (sha is None and len(line) < limit):
        return first
    if len(line) == limit:
        return after[line[-1]]
    low, high = 0, len(line) - 1  # line[low] holds first (it is head); find the last that does
    while low < high:
        mid = (low + high + 1) // 2
        if ws.is_ancestor(first.sha, line[mid]):
            low = mid
        else:
            high = mid - 1
    return after[line[low]]


# --- comparing --------------------------------------------------------------------------------

def _key(policy: TagPolicy, tag: str | None) -> Any:
    if tag is None:
        return None
    value = policy.comparable(tag)
    version = parse_version(value) if value is not None else None
    return version.key if version is not None else None


def compare(src: Located, tgt: Located, ran: Callable[[str | None, str | None], bool]
            ) -> tuple[Decision, str]:
    """(decision, reason) for moving ``tgt`` to what ``src`` runs, before any gate: PROMOTE,
    UP_TO_DATE or SKIPPED (order is law). Versions are compared by the image's policy; where
    that cannot order them (not versions, or one version with another digest), ``ran(tag,
    digest)`` says whether the source ran the target's version before (so it is behind)."""
    name = src.image.name
    if not src.pins or src.tag is None:
        return Decision.SKIPPED, f"{name} is not found in {src.env}"
    if not tgt.pins:
        return Decision.SKIPPED, f"{name} is not found in {tgt.env}"
    if tgt.digest and not src.digest and tgt.tag != src.tag:
        return Decision.SKIPPED, (f"{tgt.env} pins {name} by digest and {src.env} does not; "
                                  "pin the digest in the source first")
    same_digest = src.digest is None or tgt.digest == src.digest
    if tgt.tag == src.tag and same_digest:
        return Decision.UP_TO_DATE, ""
    ours, theirs = _key(src.image.policy, tgt.tag), _key(src.image.policy, src.tag)
    if ours is not None and theirs is not None and ours != theirs:
        if ours > theirs:
            return Decision.SKIPPED, (f"{tgt.env} runs {name} {tgt.tag}, ahead of {src.env}'s "
                                      f"{src.tag}; promotion never moves backwards (rollback)")
        return Decision.PROMOTE, ""
    if ran(tgt.tag, tgt.digest):
        return Decision.PROMOTE, ""
    return Decision.SKIPPED, (f"{tgt.env} runs {name} {_show(tgt.tag, tgt.digest)}, which "
                              f"{src.env} never ran (in its last {HISTORY_LIMIT} changes); "
                              "left alone")


def _show(tag: str | None, digest: str | None) -> str:
    return f"{tag or ''}{'@' + digest[:19] if digest else ''}" or "nothing"


# --- the flow ---------------------------------------------------------------------------------

def promote(cfg: Config, ws: Workspace, forge: Forge | None, *, source: str | None = None,
            target: str | None = None, images: Sequence[str] | None = None,
            dry_run: bool = False, now: datetime, override: bool = False,
            signatures: SignatureChecks | None = None, argocd: Connect | None = None,
            progress: Progress = quiet) -> Report:
    """Promote along the steps asked for (see :func:`select_steps`); ``now`` is the clock;
    ``signatures`` checks the candidates of environments with a signature gate (without it
    their gate stays pending and nothing opens there); ``argocd`` reaches the Argo CD
    Applications of environments with ``health.argocd`` (without it their gate stays
    pending and nothing is promoted out of them)."""
    steps = select_steps(cfg, source, target)
    if images:
        for name in images:
            cfg.image(name)  # InputError for an unknown name
    ws.fetch()
    out = _Run(cfg=cfg, ws=ws, forge=forge, now=now, override=override, dry_run=dry_run,
               only=with_bundles(cfg, images) if images else None, signatures=signatures,
               argocd=argocd)
    with progress("promotion steps", len(steps)) as bar:
        for srcs, tgt in steps:
            try:
                out.step(srcs, tgt)
            except PromoterError as e:
                out.errors.append(Problem.of(e, f"{'+'.join(s.name for s in srcs)} -> "
                                                f"{tgt.name}"))
            bar.advance()
    return Report(steps=tuple((s.name, t.name) for srcs, t in steps for s in srcs),
                  images=tuple(out.found),
                  plan=Plan(pull_requests=tuple(out.plans), skipped=tuple(out.skipped)),
                  results=tuple(out.results), statuses=tuple(out.statuses),
                  errors=tuple(out.errors))


@dataclass(slots=True, kw_only=True)
class _Run:
    cfg: Config
    ws: Workspace
    forge: Forge | None
    now: datetime
    override: bool
    dry_run: bool
    only: tuple[str, ...] | None  # image names asked for
    signatures: SignatureChecks | None = None
    argocd: Connect | None = None
    found: list[ImageStep] = field(default_factory=list)
    plans: list[PullRequestPlan] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    results: list[PRResult] = field(default_factory=list)
    statuses: list[StatusPosted] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    heads_read: dict[str, tuple[CommitStatus, ...]] = field(default_factory=dict)  # by sha
    apps_read: dict[tuple[str, str], Reading] = field(default_factory=dict)  # (env, sha)
    apps: dict[ArgoCD, Applications] = field(default_factory=dict)
    snap: Snapshots = field(init=False)  # one read, parse and git log per question
    room: limits.Budget | None = None  # counted at the first publish, shared by every step

    def __post_init__(self) -> None:
        self.snap = Snapshots(self.ws)

    def _budget(self) -> limits.Budget:
        """The pull request limits of this run; a command's promotion (``override``) is not
        limited."""
        if self.room is None:
            self.room = limits.Budget(env_order=self.cfg.env_names) if self.override else \
                limits.budget(self.cfg, self.forge, now=self.now)
        return self.room

    def step(self, srcs: Sequence[Environment], tgt: Environment) -> None:
        ws, cfg = self.ws, self.cfg
        heads: dict[str, str] = {}
        for env in (*srcs, tgt):
            sha = ws.branch_head(env.branch)
            if sha is None:
                raise InputError(f"{env.name}: branch {env.branch} does not exist")
            heads[env.name] = sha
        tgt_sha = heads[tgt.name]
        label = "+".join(s.name for s in srcs)
        # one PR per environment holds every image let in, so a run for one image looks at all
        only = self.only if cfg.pull_requests.group is Group.IMAGE else None
        # image -> where it is in each source that has it (a fan-in: several), in from: order
        sources: dict[str, list[Located]] = {}
        for src in srcs:
            for loc in self.snap.locate_env(cfg, src.name, heads[src.name], only):
                sources.setdefault(loc.image.name, []).append(loc)
        targets = self.snap.locate_env(cfg, tgt.name, tgt_sha, only)
        open_prs = self._open_promotions(tgt)
        held_by = tuple(pr.number for pr in open_prs if tgt.gates.hold_label in pr.labels)
        existing = {pr.head: pr for pr in open_prs}
        if self.signatures is not None and tgt.gates.signature is not None:
            # every candidate's digest at once, before any one image is decided
            candidates = [(loc, sources[loc.image.name][0]) for loc in targets
                          if loc.image.name in sources]
            self.signatures.prefetch(
                (tgt.name, have.ref, have.digest) for loc, have in candidates
                if have.tag is not None and have.image.chart is None
                and not (loc.tag == have.tag and have.digest in (None, loc.digest)))

        steps: list[tuple[ImageStep, Located]] = []
        refused: list[tuple[ImageStep, Located]] = []  # order says no: (step, source)
        for tgt_loc in targets:
            src_locs = sources.get(tgt_loc.image.name)
            if not src_locs:
                continue  # the image does not live in any source environment
            src_loc = src_locs[0]
            tgt_loc, untagged = hold_untagged(tgt_loc)
            self.skipped.extend((tgt_loc.image.name, note) for note in untagged)
            try:
                lag = lagging(src_locs)
                if lag:
                    log.info("image=%s %s -> %s: %s", tgt_loc.image.name, label, tgt.name, lag)
                    step = _step_of(src_locs, tgt_loc, decision=Decision.SKIPPED, reason=lag)
                else:
                    step = joined([self._image_step(s, tgt_loc, heads[s.env], held_by,
                                                    existing, tgt) for s in src_locs])
                if untagged and not tgt_loc.pins and src_loc.tag is not None:
                    step = dataclasses.replace(step, reason=(
                        f"{tgt_loc.image.name} has no tag or digest in {tgt.name}; left alone "
                        "(include-untagged: true on the image pins it)"))
                if step.decision == Decision.SKIPPED and not lag:
                    refused.append((step, src_loc))
            except PromoterError as e:  # one image never stops the others
                why = redact(str(e))
                self.errors.append(Problem.of(e, f"{tgt_loc.image.name} {label} -> {tgt.name}",
                                              image=tgt_loc.image.name))
                step = _step_of(src_locs, tgt_loc, decision=Decision.SKIPPED, reason=why)
            steps.append((step, tgt_loc))
        steps = list(zip(whole_bundles(cfg, [s for s, _ in steps]), [loc for _, loc in steps],
                         strict=True))
        for s, _ in steps:
            if s.decision is Decision.BLOCKED:
                log.info("image=%s %s -> %s: %s", s.image, s.source, s.target, s.reason)
        settled = [loc for s, loc in steps if s.decision == Decision.UP_TO_DATE]
        moves = [(loc, Wanted(tag=s.to_tag or "", digest=s.to_digest, pin=True), s.update)
                 for s, loc in steps if s.decision == Decision.PROMOTE]
        self.found.extend(s for s, _ in steps)
        for s, _ in steps:
            log.debug("image=%s step=%s->%s from=%s to=%s decision=%s", s.image, s.source,
                      s.target, s.from_tag, s.to_tag, s.decision.value)
        plan = plan_updates(cfg, moves, read=self.snap.reader(tgt_sha),
                            source_env=", ".join(s.name for s in srcs),
                            table=render.updates_table)
        self.plans.extend(plan.pull_requests)
        self.skipped.extend(plan.skipped)
        by_image = {s.image: s for s, _ in steps}
        stopped = [s for s, _ in steps if s.decision == Decision.STOPPED]
        if self.dry_run:
            return
        if stopped and self.forge is not None:
            self._post_stopped(tgt, open_prs, [r for r in stopped[0].gates
                                               if r.gate in (gates.Gate.FREEZE, gates.Gate.HOLD)])
        self._publish(plan, by_image)
        if self.forge is not None:
            self.results.extend(publish.close_unneeded(cfg, ws, self.forge, plan, settled))
            self._close_stale(tgt, existing, refused)

    def _close_stale(self, tgt: Environment, existing: Mapping[str, PullRequest],
                     refused: Sequence[tuple[ImageStep, Located]]) -> None:
        """Close an open promotion PR whose version the source no longer runs and that the
        order rule now refuses (the source was rolled back behind the target): merged, it
        would put into ``tgt`` a version its predecessor does not run."""
        assert self.forge is not None
        if self.cfg.pull_requests.group is not Group.IMAGE:
            return
        for step, src in refused:
            branch = branch_name(self.cfg, tgt, step.image)
            pr = existing.get(branch)
            wanted = ((render.read_meta(pr.body) or {}).get("images") or {}) if pr else {}
            version = wanted.get(step.image) if isinstance(wanted, dict) else None
            if pr is None or version is None or src.tag is None or version == src.tag:
                continue
            try:
                self.results.append(publish.close_pull_request(
                    self.forge, self.ws, env=tgt.name, pr=pr, images={step.image: str(version)},
                    comment=f"Closing: {src.env} no longer runs `{step.image}` {version} (it "
                            f"runs {src.tag}), so it may not enter {tgt.name}: {step.reason}."))
            except PromoterError as e:
                self.results.append(publish.failed(tgt.name, branch, e))

    # -- facts and gates -------------------------------------------------------------------

    def _open_promotions(self, tgt: Environment) -> tuple[PullRequest, ...]:
        """promoter's open pull requests into ``tgt`` (by the metadata in their bodies)."""
        if self.forge is None:
            return ()
        return tuple(pr for pr in self.forge.list_open(base=tgt.branch)
                     if (render.read_meta(pr.body) or {}).get("env") == tgt.name)

    def _image_step(self, src: Located, tgt: Located, src_sha: str, held_by: tuple[int, ...],
                    existing: Mapping[str, PullRequest], env: Environment) -> ImageStep:
        name = src.image.name
        base = ImageStep(image=name, source=src.env, target=tgt.env, from_tag=tgt.tag,
                         from_digest=tgt.digest, to_tag=src.tag, to_digest=src.digest,
                         update=_update(src, tgt), decision=Decision.SKIPPED)
        if not src.pins or src.tag is None:
            return dataclasses.replace(base, reason=f"{name} is not found in {src.env}")
        decision, reason = compare(src, tgt, functools.partial(ran_before, self.snap, src_sha,
                                                               src, find=self.snap.find))
        if decision != Decision.PROMOTE:
            return dataclasses.replace(base, decision=decision, reason=reason)
        came = arrival(self.snap, src_sha, src, find=self.snap.find)
        checks = None
        if self.forge is not None and came.commit is not None and env.gates.require_checks:
            checks = {s.context: s.state.value for s in self.forge.statuses(came.commit)}
        source = self.cfg.environment(src.env)
        health, health_checks, healthy_at = self._health_statuses(source, src_sha)
        app = self._application(source, src_sha)
        if app is not None and app.state is not None and app.state.runs(src_sha):
            at = app.state.healthy_at
            healthy_at = max(healthy_at, at) if healthy_at and at else healthy_at or at
        pr = existing.get(branch_name(self.cfg, env, name))
        # an open PR with this image in it was let in already (by auto or /promote)
        admitted = pr is not None and name in ((render.read_meta(pr.body) or {}).get("images")
                                               or {})
        approvals = 0
        if pr is not None and env.gates.min_approvals > 0 and self.forge is not None:
            approvals = len(self.forge.approvals(pr.number))
        facts = Facts(source=src.env, update=base.update, since=came.since, checks=checks,
                      approvals=approvals, held_by=held_by,
                      override=admitted or (self.override and (self.only is None
                                                               or name in self.only)),
                      signature=self.signatures.gate(env.name, src.ref, src.digest)
                      if self.signatures is not None and env.gates.signature
                      and src.image.chart is None else None,  # charts: image-only gate
                      health=health, health_checks=health_checks, head=src_sha, argocd=app,
                      healthy_at=healthy_at)
        results = gates.evaluate(env.gates, facts, now=self.now)
        decision = Decision.PROMOTE
        if not gates.may_open(results, open_already=admitted):
            opening = gates.OPENING - gates.NEW_ONLY if admitted else gates.OPENING
            blocked = [r for r in results if not r.passed and r.gate in opening]
            kinds = {r.gate for r in blocked}
            decision = (Decision.WAITING if kinds <= {gates.Gate.AUTO, gates.Gate.ARGOCD} else
                        Decision.REFUSED if gates.Gate.SIGNATURE in kinds and
                        not kinds & {gates.Gate.FREEZE, gates.Gate.HOLD} else Decision.STOPPED)
            reason = "; ".join(r.detail for r in blocked)
            if decision is Decision.REFUSED:
                log.warning("image=%s %s -> %s: no pull request: %s", name, src.env, env.name,
                            reason)
        return dataclasses.replace(base, decision=decision, reason=reason, since=came.since,
                                   commit=came.commit, gates=results)

    def _health_statuses(self, env: Environment, sha: str
                         ) -> tuple[tuple[str, ...], dict[str, str] | None, datetime | None]:
        """(``env``'s health statuses, context -> state on ``sha``, when the last of them turned
        green); read once per head for every image."""
        names = env.health_statuses
        if self.forge is None or not names:
            return names, None, None
        if sha not in self.heads_read:
            self.heads_read[sha] = self.forge.statuses(sha)
        found = self.heads_read[sha]
        checks = {s.context: s.state.value for s in found}
        return names, checks, gates.healthy_since(names, checks,
                                                  {s.context: s.updated_at for s in found})

    def _application(self, env: Environment, sha: str) -> Reading | None:
        """What ``env``'s Argo CD Application reports, asked once per head (None: it has
        none). A failure to ask is the reading's error, and a problem of the run."""
        setting = env.health_argocd
        if setting is None:
            return None
        key = (env.name, sha)
        if key in self.apps_read:
            return self.apps_read[key]
        if self.argocd is None:
            reading = Reading(app=setting.application, retryable=True,
                              error=f"application {setting.application}: no Argo CD client "
                                    "to ask")
        else:
            try:
                if setting not in self.apps:
                    self.apps[setting] = self.argocd(setting)
                reading = read(self.apps[setting], setting.application, setting.project)
            except PromoterError as e:  # the token's variable unset, say
                reading = Reading(app=setting.application, error=redact(str(e)),
                                  retryable=e.retryable)
            if reading.state is None:
                log.warning("env=%s %s", env.name, reading.error)
                self.errors.append(Problem(message=f"{env.name}: {reading.error}",
                                           retryable=reading.retryable))
        self.apps_read[key] = reading
        return reading

    # -- publishing ------------------------------------------------------------------------

    def _publish(self, plan: Plan, by_image: Mapping[str, ImageStep]) -> None:
        cfg = self.cfg
        gated = [[by_image[u.image] for u in pr.updates] for pr in plan.pull_requests]
        # auto-merge waits for the gates (see _gate_status)
        proposals = [publish.from_plan(cfg, pr, extra=gates_section(steps), auto_merge=False)
                     for pr, steps in zip(plan.pull_requests, gated, strict=True)]
        proposals, waiting = self._budget().admit(proposals)
        self.results.extend(waiting)
        held = {r.branch for r in waiting}
        kept = [(pr, steps) for pr, steps in zip(plan.pull_requests, gated, strict=True)
                if pr.branch not in held]
        published = publish.push(self.ws, proposals, author=cfg.commit.author,
                                 sign_off=cfg.commit.sign_off)
        results = publish.sync(self.forge, self.ws, proposals, published)
        for (pr, steps), pub, result in zip(kept, published, results, strict=True):
            self.results.append(result)
            if (self.forge is None or result.number is None or pub.sha is None
                    or result.outcome is Outcome.HUMAN):
                continue
            try:
                self.statuses.append(self._gate_status(result.number, pub.sha, steps))
            except PromoterError as e:
                self.errors.append(Problem.of(e, pr.branch))

    def _gate_status(self, number: int, sha: str, steps: Sequence[ImageStep]) -> StatusPosted:
        assert self.forge is not None
        results = [r for s in steps for r in s.gates]
        state, description = gates.verdict(results)
        auto_merge = False
        if self.cfg.pull_requests.auto_merge and state is GateState.PASS:
            env = self.cfg.environment(steps[0].target)
            approvals = gates.min_approvals(
                env.gates.min_approvals,
                len(self.forge.approvals(number)) if env.gates.min_approvals else 0)
            if approvals.passed:
                auto_merge = True
            else:
                description = f"all gates pass; auto-merge waits for {approvals.detail}"
        status = CommitStatus(context=gates.STATUS_CONTEXT, state=_STATUS[state],
                              description=description, summary=_summary(steps, description))
        if auto_merge:  # before the green status, so the forge has something to wait for
            try:
                self.forge.enable_auto_merge(
                    number, method=MergeMethod(self.cfg.pull_requests.merge_method))
            except PromoterError as e:  # e.g. GitHub: nothing left to wait for ("clean")
                auto_merge = False
                self.errors.append(Problem(
                    message=f"#{number}: auto-merge: {redact(str(e))} (make "
                            f"{gates.STATUS_CONTEXT} a required check so the forge waits for it)",
                    retryable=e.retryable))
        self.forge.set_status(sha, status)
        return StatusPosted(number=number, sha=sha, state=status.state,
                            description=description, auto_merge=auto_merge)

    def _post_stopped(self, tgt: Environment, open_prs: Sequence[PullRequest],
                      results: Sequence[GateResult]) -> None:
        """A held or frozen environment: its open promotion PRs say why, nothing else moves."""
        assert self.forge is not None
        state, description = gates.verdict(results)
        for pr in open_prs:
            if pr.state is not PRState.OPEN:
                continue
            try:
                self.forge.set_status(pr.head_sha, CommitStatus(
                    context=gates.STATUS_CONTEXT, state=_STATUS[state],
                    description=description, summary=f"**{tgt.name} is stopped**\n\n"
                    f"{description}\n"))
                self.statuses.append(StatusPosted(number=pr.number, sha=pr.head_sha,
                                                  state=_STATUS[state],
                                                  description=description))
            except PromoterError as e:
                self.errors.append(Problem.of(e, f"#{pr.number}"))


# --- bundles -------------------------------------------------------------------------------

#: what a bundle member may be for the others to move: moving, or there already
_WHOLE = (Decision.PROMOTE, Decision.UP_TO_DATE)


def whole_bundles(cfg: Config, steps: Sequence[ImageStep]) -> list[ImageStep]:
    """``steps`` (one target) with every bundle whole: when a member cannot move (skipped,
    waiting, stopped, refused), its bundle's moving members are BLOCKED, naming it. A member
    running the source's version already counts as moved."""
    by_image = {s.image: s for s in steps}
    out = []
    for step in steps:
        bundle = cfg.bundle_of(step.image)
        if bundle is not None and step.decision is Decision.PROMOTE:
            blockers = [by_image[m] for m in bundle.images
                        if m in by_image and by_image[m].decision not in _WHOLE]
            if blockers:
                why = "; ".join(f"{b.image} is {b.decision.value}"
                                + (f" ({b.reason})" if b.reason else "") for b in blockers)
                step = dataclasses.replace(step, decision=Decision.BLOCKED, reason=(
                    f"bundle {bundle.name} moves whole, and {why}"))
        out.append(step)
    return out


# --- fan-in -------------------------------------------------------------------------------

def lagging(sources: Sequence[Located]) -> str:
    """Why a fan-in cannot move ``sources``' image (each source's location of it): "" when
    every source runs one version (or the image is missing from one: the step says so), else
    which sources lag behind the newest by the image's policy (or that they disagree)."""
    found = [s for s in sources if s.pins and s.tag is not None]
    if len(found) < len(sources) or all(
            same_version(s.tag, s.digest, found[0].tag, found[0].digest) for s in found):
        return ""
    name = found[0].image.name
    runs = ", ".join(f"{s.env} runs {_show(s.tag, s.digest)}" for s in found)
    keys = [_key(s.image.policy, s.tag) for s in found]
    if all(k is not None for k in keys) and len(set(keys)) > 1:
        newest = max(keys)
        behind = ", ".join(s.env for s, k in zip(found, keys, strict=True) if k != newest)
        why = f"{behind} lag{'s' if ',' not in behind else ''}"
    else:
        why = "they disagree"
    return (f"the sources disagree on {name}: {runs} ({why}); it moves only when every "
            "source runs the same version")


def _step_of(sources: Sequence[Located], tgt: Located, *, decision: Decision,
             reason: str) -> ImageStep:
    src = sources[0]
    return ImageStep(image=tgt.image.name, source=", ".join(s.env for s in sources),
                     target=tgt.env, from_tag=tgt.tag, from_digest=tgt.digest, to_tag=src.tag,
                     to_digest=src.digest, update=UpdateType.OTHER, decision=decision,
                     reason=reason)


#: which decision of one source stands for a fan-in, worst first
_WORST = (Decision.SKIPPED, Decision.STOPPED, Decision.REFUSED, Decision.WAITING,
          Decision.UP_TO_DATE, Decision.PROMOTE)


def joined(steps: Sequence[ImageStep]) -> ImageStep:
    """One image step from the step out of each source (all on one version): it promotes only
    when the step out of every source does, with every source's gates (soak, health, checks
    are per source); otherwise the worst decision stands, with each blocking reason."""
    if len(steps) == 1:
        return steps[0]
    worst = min(steps, key=lambda s: _WORST.index(s.decision))
    reasons = dict.fromkeys(s.reason for s in steps if s.decision is worst.decision
                            and s.reason)
    arrived = [s for s in steps if s.since is not None]
    last = max(arrived, key=lambda s: s.since or datetime.min) if arrived else worst
    return dataclasses.replace(
        worst, source=", ".join(s.source for s in steps), reason="; ".join(reasons),
        since=last.since, commit=last.commit,
        gates=tuple(dict.fromkeys(r for s in steps for r in s.gates)))


def _update(src: Located, tgt: Located) -> UpdateType:
    if src.tag is None or tgt.tag is None or src.tag == tgt.tag:
        return UpdateType.OTHER
    try:
        return update_of(src.image.policy, tgt.tag, src.tag)
    except PromoterError:
        return UpdateType.OTHER


# --- rendering --------------------------------------------------------------------------------

def gates_section(steps: Sequence[ImageStep]) -> str:
    """The Markdown a promotion PR body carries about its gates."""
    if not steps:
        return ""
    rows = ["### Gates", "", "| image | from | to | update | on source since |",
            "| --- | --- | --- | --- | --- |"]
    for s in steps:
        since = s.since.strftime("%Y-%m-%d %H:%M UTC") if s.since else "unknown"
        rows.append(f"| `{s.image}` | {_show(s.from_tag, s.from_digest)} | "
                    f"**{_show(s.to_tag, s.to_digest)}** | {s.update.value} | "
                    f"{s.source} since {since} |")
    rows += ["", gates.table([(s.image, s.gates) for s in steps])]
    return "\n".join(rows)


def _summary(steps: Sequence[ImageStep], description: str) -> str:
    return f"{description}\n\n{gates_section(steps)}\n"

