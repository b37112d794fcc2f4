"""``promoter plan`` and ``promoter poll``: registry tags become branches and pull requests.

The flow reads like the pipeline: read the tracked environments' files at their branch heads
(git), locate every image (pure), ask the registry for tags and pick by policy (edge + pure),
plan the edits (pure), then publish branches with leases (git) and open or update one pull
request per branch (forge). A failure in one image or one branch is reported in the
:class:`Report` and never stops the others; the exit status summarises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promoter import ignores, render
from promoter.config import Config
from promoter.errors import Problem, PromoterError, exit_code
from promoter.flows import limits, publish
from promoter.flows.publish import Outcome, PRResult
from promoter.flows.snapshots import Snapshots
from promoter.forge import PullRequests
from promoter.gitrepo import Workspace
from promoter.plan import (
    Located,
    Plan,
    PullRequestPlan,
    Wanted,
    hold_untagged,
    needs_update,
    plan_updates,
    with_bundles,
)
from promoter.policy import TagPolicy, select, update_of
from promoter.progress import SILENT, Progress, Tracker, quiet
from promoter.refs import ImageRef
from promoter.registry import Registry
from promoter.registry.choose import choose
from promoter.secrets import redact
from promoter.signature_checks import SignatureChecks
from promoter.versions import UpdateType

log = logging.getLogger(__name__)

class Phases(dict[str, float]):
    """Seconds spent per phase (locate, registry, edit, git, forge), for reports and benches."""

    @contextlib.contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self[phase] = self.get(phase, 0.0) + time.perf_counter() - start


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    plan: Plan
    results: tuple[PRResult, ...] = ()
    errors: tuple[Problem, ...] = ()  # per-image failures (registry, files)
    phases: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and all(r.outcome is not Outcome.FAILED for r in self.results)

    @property
    def exit_code(self) -> int:
        """0, or 1 (3 when a registry or forge alone is to blame), see :mod:`promoter.errors`."""
        return exit_code(self.problems)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The per-image errors and each pull request that could not be published."""
        return self.errors + tuple(r.problem for r in self.results
                                   if r.outcome is Outcome.FAILED)


# --- reading and choosing ---------------------------------------------------------------------

async def choose_all(registry: Registry, located: Sequence[Located], progress: Tracker = SILENT
                     ) -> list[tuple[Wanted, UpdateType] | Problem]:
    """For each located image: where the registry and its policy say it should go, or why
    not (a one-line reason). Never raises for one image.

    Images whose policy needs only the tag list go through :func:`promoter.registry.scan.scan`
    (one ``tags/list`` per repository, tokens for many repositories per request, a manifest
    HEAD only for the chosen tag and none when it already runs with a known digest); those
    that need build times or a platform through :func:`promoter.registry.choose.choose`.
    """
    from promoter.registry.scan import scan

    out: list[tuple[Wanted, UpdateType] | Problem] = [Problem(message="")] * len(located)
    refs = [_scan_ref(loc) for loc in located]
    by_ref: dict[ImageRef, tuple[TagPolicy, str | None]] = {}
    scanned: list[int] = []
    chosen_one: list[int] = []
    for i, loc in enumerate(located):
        if not loc.pins:
            out[i] = Problem(message=f"{loc.image.name}: not found in {loc.env}",
                             image=loc.image.name)
            continue
        policy = loc.image.policy
        simple = (not policy.needs_created and loc.image.platform is None
                  and policy.min_age is None)
        if simple and by_ref.get(refs[i], (policy,))[0] == policy:
            by_ref[refs[i]] = (policy, _current(loc))
            scanned.append(i)
        else:
            chosen_one.append(i)

    def pick(image: ImageRef, tags: tuple[str, ...]) -> tuple[str, ...]:
        policy, current = by_ref[image]
        best = select(policy, tags, current=current)
        return (best,) if best else ()

    for i, result in zip(scanned, await scan([refs[i] for i in scanned], registry, pick=pick),
                         strict=True):
        name = located[i].image.name
        if result.error:
            out[i] = Problem(message=f"{name}: {result.error}", image=name,
                             retryable=result.retryable)
        elif not result.manifests:
            out[i] = Problem(message=f"{name}: no tag matches the policy", image=name)
        else:
            tag, info = next(iter(result.manifests.items()))
            out[i] = _wanted(located[i], tag, info.digest)
    progress.advance(len(scanned))

    gate = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        loc = located[i]
        try:
            async with gate:
                choice = await choose(registry, refs[i], loc.image.policy,
                                      current=_current(loc), platform=loc.image.platform)
        except PromoterError as e:
            out[i] = Problem.of(e, loc.image.name, image=loc.image.name)
            return
        except Exception as e:  # one image never stops the others
            log.debug("choose failed", exc_info=True)
            out[i] = Problem(message=f"{loc.image.name}: unexpected error: "
                                     f"{redact(f'{type(e).__name__}: {e}')}",
                             image=loc.image.name)
            return
        for tag, built in choice.too_young:
            log.info("image=%s tag=%s waits: built %s, younger than min-age", loc.image.name,
                     tag, built.isoformat())
        if choice.chosen is not None:
            out[i] = _wanted(loc, choice.chosen, choice.digest)
        elif choice.too_young:
            tag, built = choice.too_young[0]
            out[i] = Problem(
                message=f"{loc.image.name}: {tag} and every other candidate are younger than "
                        f"min-age ({tag} built {built:%Y-%m-%d %H:%M} UTC); waiting",
                image=loc.image.name)
        else:
            out[i] = Problem(message=f"{loc.image.name}: no tag matches the policy",
                             image=loc.image.name)

    async def counted(i: int) -> None:
        await one(i)
        progress.advance()

    await asyncio.gather(*(counted(i) for i in chosen_one))
    return out


def _current(loc: Located) -> str | None:
    """The running tag as the policy's base; None when the policy would not choose it itself
    (a tag outside the policy moves to any match)."""
    policy, current = loc.image.policy, loc.tag
    if policy.strategy == "digest" or current is None:
        return current
    try:
        return current if select(policy, (current,), current=current) is not None else None
    except PromoterError:
        return None


def _wanted(loc: Located, tag: str, digest: str | None) -> tuple[Wanted, UpdateType]:
    update = UpdateType.OTHER
    if loc.tag and loc.image.policy.strategy == "semver":
        try:
            update = update_of(loc.image.policy, loc.tag, tag)
        except PromoterError:
            update = UpdateType.OTHER
    return Wanted(tag=tag, digest=digest), update


async def _choose_in_loop(registry: Registry, located: Sequence[Located],
                          progress: Tracker = SILENT
                          ) -> list[tuple[Wanted, UpdateType] | Problem]:
    """:func:`choose_all`, entering the registry's async context (its connection pool) in this
    event loop when it has one."""
    if isinstance(registry, contextlib.AbstractAsyncContextManager):
        async with registry as entered:
            return await choose_all(entered, located, progress)
    return await choose_all(registry, located, progress)


def _scan_ref(loc: Located) -> ImageRef:
    """The reference to ask about: for ``digest`` the moving tag itself, never its old digest."""
    ref = loc.ref
    return ref.with_digest(None) if loc.image.policy.strategy == "digest" else ref


# --- the flow ---------------------------------------------------------------------------------

RegistryFactory = Callable[[], Any]  # an async context manager yielding a Registry


def make_plan(cfg: Config, ws: Workspace, registry: Registry, *,
              envs: Sequence[str] | None = None, images: Sequence[str] | None = None,
              phases: Phases | None = None, signatures: SignatureChecks | None = None,
              progress: Progress = quiet
              ) -> tuple[Plan, tuple[Problem, ...], tuple[Located, ...]]:
    """The plan of a poll: (plan, per-image errors, the located images that need nothing);
    ``progress`` shows the images asked about in the registry.

    A move into an environment with a signature gate is planned only when ``signatures``
    (by default: read from ``registry``, the keys from the repository) finds the chosen
    digest signed as configured; otherwise it is skipped, with the gate's words as reason."""
    phases = Phases() if phases is None else phases
    cfg = with_ignores(cfg, ws)
    if images:
        images = with_bundles(cfg, images)  # a bundle is asked for whole
    targets = [cfg.environment(e) for e in envs] if envs else list(cfg.tracking)
    located: list[Located] = []
    errors: list[Problem] = []
    snap = Snapshots(ws)  # each file at each commit read and parsed once
    with phases.timing("locate"):
        for env in targets:
            sha = ws.branch_head(env.branch)
            if sha is None:
                errors.append(Problem(message=f"{env.name}: branch {env.branch} does not exist"))
                continue
            located.extend(snap.locate_env(cfg, env.name, sha, images))
    for loc in located:
        errors.extend(Problem(message=f"{loc.image.name} in {loc.env}: {p}", image=loc.image.name)
                      for p in loc.problems if not p.startswith("pins disagree"))
    located, skipped = _hold_untagged(located)
    with phases.timing("registry"):
        with progress("images scanned", len(located)) as bar:
            choices = asyncio.run(_choose_in_loop(registry, located, bar))
    moves = []
    for loc, choice in zip(located, choices, strict=True):
        if isinstance(choice, Problem):
            errors.append(choice)
        else:
            moves.append((loc, *choice))
    with phases.timing("registry"):
        moves, refused = _signed_only(cfg, ws, registry, moves, signatures)
    moves, held = whole_bundles(cfg, located, moves)
    skipped.extend(held)
    sha_by_env = {e.name: ws.branch_head(e.branch) for e in targets}
    plans: list[PullRequestPlan] = []
    for env in targets:
        sha = sha_by_env[env.name]
        if sha is None:
            continue
        env_moves = [m for m in moves if m[0].env == env.name]
        with phases.timing("edit"):
            plan = plan_updates(cfg, env_moves, read=snap.reader(sha),
                                table=render.updates_table)
        plans.extend(plan.pull_requests)
        skipped.extend(plan.skipped)
    skipped.extend(refused)
    settled = tuple(m[0] for m in moves if not needs_update(m[0], m[1]))
    return Plan(pull_requests=tuple(plans), skipped=tuple(skipped)), tuple(errors), settled


def whole_bundles(cfg: Config, located: Sequence[Located], moves: Sequence[Move]
                  ) -> tuple[list[Move], list[tuple[str, str]]]:
    """``moves`` without the bundles that cannot move whole: in each environment, a bundle
    moves only when every member located there has a new version to move to; (image, why)
    for each member held back, naming the members it waits for."""
    ready = {(m[0].env, m[0].image.name) for m in moves if needs_update(m[0], m[1])}
    waiting: dict[tuple[str, str], list[str]] = {}  # (env, bundle) -> members without one
    for loc in located:
        bundle = cfg.bundle_of(loc.image.name)
        if bundle is not None and (loc.env, loc.image.name) not in ready:
            waiting.setdefault((loc.env, bundle.name), []).append(loc.image.name)
    kept: list[Move] = []
    held: list[tuple[str, str]] = []
    for m in moves:
        unit = cfg.unit(m[0].image.name)
        lacking = waiting.get((m[0].env, unit))
        if lacking and (m[0].env, m[0].image.name) in ready:
            log.info("image=%s env=%s: bundle %s waits for %s", m[0].image.name, m[0].env, unit,
                     ", ".join(lacking))
            held.append((m[0].image.name, f"bundle {unit} moves whole; {', '.join(lacking)} "
                         f"{'has' if len(lacking) == 1 else 'have'} no new version for "
                         f"{m[0].env}, so no member moves"))
        else:
            kept.append(m)
    return kept, held


def _hold_untagged(located: Sequence[Located]) -> tuple[list[Located], list[tuple[str, str]]]:
    """The located images without their untagged pins (see :func:`promoter.plan.hold_untagged`)
    and a skipped note per pin left alone; an image left with no pin is not asked about."""
    kept: list[Located] = []
    notes: list[tuple[str, str]] = []
    for loc in located:
        held, left = hold_untagged(loc)
        notes.extend((loc.image.name, note) for note in left)
        if held.pins or not left:
            kept.append(held)
    return kept, notes


Move = tuple[Located, Wanted, UpdateType]


def _signed_only(cfg: Config, ws: Workspace, registry: Registry, moves: Sequence[Move],
                 signatures: SignatureChecks | None
                 ) -> tuple[list[Move], list[tuple[str, str]]]:
    """The moves whose target lets them in by signature, and (image, why) for the others;
    the candidates of gated environments are checked at once, each digest once."""
    gated = {i for i, m in enumerate(moves) if needs_update(m[0], m[1])
             and m[0].image.chart is None  # the gate is for images; charts pass it by
             and cfg.environment(m[0].env).gates.signature is not None}
    if not gated:
        return list(moves), []
    if signatures is None:
        signatures = SignatureChecks.of(cfg, ws, registry, now=datetime.now(UTC))

    def ask(m: Move) -> tuple[str, ImageRef, str | None]:
        return (m[0].env, m[0].image.repository.with_tag(m[1].tag), m[1].digest)

    signatures.prefetch(ask(moves[i]) for i in sorted(gated))
    kept, refused = [], []
    for i, m in enumerate(moves):
        gate = signatures.gate(*ask(m)) if i in gated else None
        if gate is None or gate.passed:
            kept.append(m)
            continue
        log.warning("image=%s env=%s tag=%s: no pull request: %s", m[0].image.name, m[0].env,
                    m[1].tag, gate.detail)
        refused.append((m[0].image.name, f"{m[1].tag} into {m[0].env}: {gate.detail}"))
    return kept, refused


def with_ignores(cfg: Config, ws: Workspace) -> Config:
    """``cfg`` with what ``/promoter ignore`` remembered (``.promoter/ignore.yaml`` on the base
    branch) applied: ignored versions join the policies, ignored images drop out."""
    sha = ws.branch_head(cfg.forge.base_branch)
    return ignores.apply(cfg, ignores.parse(ws.read(sha, ignores.PATH) if sha else None))


def poll(cfg: Config, ws: Workspace, registry: Registry, forge: PullRequests | None, *,
         dry_run: bool = False, envs: Sequence[str] | None = None,
         images: Sequence[str] | None = None,
         signatures: SignatureChecks | None = None, progress: Progress = quiet,
         now: datetime | None = None, limit: bool = True) -> Report:
    """One poll: plan, then (unless ``dry_run``) publish branches and pull requests; new ones
    beyond ``pull-requests.max-open`` / ``max-per-hour`` (counted at ``now``) wait, unless
    ``limit`` is off."""
    phases = Phases()
    with phases.timing("git"):
        ws.fetch()
    plan, errors, settled = make_plan(cfg, ws, registry, envs=envs, images=images,
                                      phases=phases, signatures=signatures, progress=progress)
    if dry_run:
        return Report(plan=plan, errors=errors, phases=phases)
    proposals = [publish.from_plan(cfg, pr) for pr in plan.pull_requests]
    waiting: list[PRResult] = []
    if limit:
        with phases.timing("forge"):
            room = limits.budget(cfg, forge, now=now or datetime.now(UTC))
        proposals, waiting = room.admit(proposals)
    with phases.timing("git"):
        published = publish.push(ws, proposals, author=cfg.commit.author,
                                 sign_off=cfg.commit.sign_off)
    with phases.timing("forge"), progress("pull requests synced",
                                                         len(proposals)) as bar:
        results = publish.sync(forge, ws, proposals, published)
        bar.advance(len(proposals))
        if forge is not None:
            results.extend(publish.close_unneeded(cfg, ws, forge, plan, settled))
    results.extend(waiting)
    return Report(plan=plan, results=tuple(results), errors=errors, phases=phases)

