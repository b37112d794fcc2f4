"""``promoter check``: verify a change to environment files before it merges (``promoter/verify``).

The change is what the head commit has since it forked from the base (their merge base), so a
base that moved on meanwhile is not mistaken for the pull request reverting it. Rules:

* ``yaml``: every touched YAML file parses (Helm templates, with ``{{``, are left alone);
* ``exists``: every image version the change sets exists in the registry;
* ``digest``: a pinned digest is the one the registry serves for that tag;
* ``order``: an environment only receives the version its source runs on the base (the one
  before it, or every one its ``from:`` names: a fan-in takes what all of them run; nothing
  skips a stage);
* ``downgrade``: no version goes backwards;
* ``signature``: into an environment with a signature gate, the version's digest (the pinned
  one, else the tag's) is signed as ``gates.signature`` asks (rollbacks included);
* ``bundle``: a change that moves some members of a release bundle in an environment moves
  all of them (a member that runs its sources' version already may stay; rollbacks included).

A rollback (a pull request labelled ``promoter/rollback``, or a branch named as one) is exempt
from ``order`` and ``downgrade``. The flow returns a :class:`CheckReport`; posting the commit
status and writing the CI summary are the caller's (:func:`verify_status`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from promoter.config import Config, Image
from promoter.edit.files import is_yaml_name
from promoter.edit.yamlpos import parse_yaml
from promoter.errors import InputError, Problem, PromoterError, exit_code
from promoter.flows.publish import ROLLBACK_LABEL
from promoter.flows.snapshots import Snapshots, image_paths, same_version
from promoter.forge import CommitStatus, StatusState
from promoter.gates import GateState
from promoter.gitrepo import Workspace
from promoter.plan import Located
from promoter.registry import Registry
from promoter.secrets import redact
from promoter.signature_checks import SignatureChecks
from promoter.versions import parse_version

CONTEXT = "promoter/verify"
_NOT_FOUND = re.compile(r"^(repository )?not found: ")
_WHERE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): ")
_ROLLBACK_BRANCH = re.compile(r"(^|[/_.-])rollback([/_.-]|$)", re.IGNORECASE)


class Rule(enum.Enum):
    YAML = "yaml"
    EXISTS = "exists"
    DIGEST = "digest"
    ORDER = "order"
    DOWNGRADE = "downgrade"
    PARTIAL = "partial"  # an environment's pins of one image left disagreeing
    SIGNATURE = "signature"  # a gated environment gets an unsigned or wrongly signed image
    BUNDLE = "bundle"  # some members of a release bundle move, others stay behind


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """One image changing version in one environment."""

    image: str
    repository: str
    env: str
    old_tag: str | None
    new_tag: str | None
    old_digest: str | None
    new_digest: str | None
    files: tuple[str, ...]

    @property
    def old(self) -> str:
        return self.old_tag or _short(self.old_digest) or "-"

    @property
    def new(self) -> str:
        return self.new_tag or _short(self.new_digest) or "-"


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    rule: Rule
    message: str  # one line naming the image/environment or file:line:column
    image: str | None = None
    env: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckReport:
    base: str  # the base commit the order rule reads
    head: str
    fork: str  # where the change forked from the base
    rollback: bool
    files: tuple[str, ...]
    moves: tuple[Move, ...]
    violations: tuple[Violation, ...]
    errors: tuple[Problem, ...] = ()  # what could not be checked (a registry that is down)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Each violation (``rule: message``, at the file it is about: the one its message
        starts with, else the first the image's move touches), then what was not checked."""
        found = []
        for v in self.violations:
            m = _WHERE.match(v.message)
            files = next((mv.files for mv in self.moves
                          if (mv.image, mv.env) == (v.image, v.env) and mv.files), ())
            found.append(Problem(
                message=f"{v.rule.value}: {v.message}", image=v.image,
                file=m["file"] if m else files[0] if files else None,
                line=int(m["line"]) if m else None, column=int(m["col"]) if m else None))
        return (*found, *self.errors)

    @property
    def exit_code(self) -> int:
        """0 all good, 1 violations, 3 a registry did not answer (1 when something else
        could not be checked)."""
        return 1 if self.violations else exit_code(self.errors)


def _short(digest: str | None) -> str:
    return digest[:19] if digest else ""


def is_rollback(branch: str | None, labels: Sequence[str] = ()) -> bool:
    """A pull request labelled ``promoter/rollback`` or a branch named as a rollback
    (``promoter/rollback/prod/web``, ``rollback-web``)."""
    return ROLLBACK_LABEL in labels or bool(branch and _ROLLBACK_BRANCH.search(branch))


def _helm_template(path: str, text: str) -> bool:
    return "{{" in text and "/templates/" in f"/{path}"


def yaml_violations(ws: Workspace, head: str, files: Sequence[str]) -> list[Violation]:
    out = []
    for path in files:
        if not is_yaml_name(path.rpartition("/")[2]):
            continue
        try:
            text = ws.read(head, path)
            if text is None or _helm_template(path, text):
                continue
            parse_yaml(text, path)
        except InputError as e:
            out.append(Violation(rule=Rule.YAML, message=str(e)))
    return out


def _touches(image: Image, env: str, files: Sequence[str]) -> bool:
    roots = image_paths(image, env)
    return any(f == r or f.startswith(r + "/") for f in files for r in roots)


def _move(before: Located, after: Located) -> Move | None:
    if not after.pins or (before.tag == after.tag and before.digest == after.digest):
        return None
    return Move(image=after.image.name, repository=after.image.repository.name, env=after.env,
                old_tag=before.tag, new_tag=after.tag, old_digest=before.digest,
                new_digest=after.digest, files=tuple(sorted({p.file for p in after.pins})))


def _held(loc: Located, part: str) -> dict[str, set[str]]:
    """Each tag (``part`` "tag") or digest the pins hold, with the files holding it; pins
    without one (a digest-only pin has no tag) are not counted."""
    out: dict[str, set[str]] = {}
    for pin in loc.pins:
        value = pin.site.ref.tag if part == "tag" else _short(pin.site.ref.digest)
        if value:
            out.setdefault(value, set()).add(pin.file)
    return out


def _split(before: Located, after: Located) -> str:
    """When this change leaves the environment's pins of the image on different tags (or
    digests) where they were not so split before: which sits where; else ''."""
    for part in ("tag", "digest"):
        now = _held(after, part)
        if len(now) > 1 and now != _held(before, part):
            return "; ".join(f"{v} in {', '.join(sorted(files))}"
                             for v, files in sorted(now.items()))
    return ""


def _downgrade(image: Image, old: str | None, new: str | None) -> bool:
    if not old or not new or old == new:
        return False
    a, b = image.policy.comparable(old), image.policy.comparable(new)
    va, vb = parse_version(a) if a else None, parse_version(b) if b else None
    return va is not None and vb is not None and va.family == vb.family and vb.key < va.key


def check(cfg: Config, ws: Workspace, registry: Registry | None, *, base: str, head: str,
          rollback: bool = False, base_branch: str | None = None,
          signatures: SignatureChecks | None = None, now: datetime | None = None
          ) -> CheckReport:
    """Verify the change ``base``..``head`` (commit SHAs). ``base_branch`` names the branch the
    base commit is the head of (environments on other branches are read at their own heads);
    ``registry`` None skips the registry rules (the signature rule among them); ``signatures``
    (default: read from ``registry`` at ``now``) checks the moves into gated environments."""
    fork = ws.merge_base(base, head) or base
    files = ws.changed_files(fork, head)
    violations = yaml_violations(ws, head, files)
    snap = Snapshots(ws)

    def at(env: str) -> str:
        branch = cfg.environment(env).branch
        if base_branch is None or branch == base_branch:
            return base
        return ws.branch_head(branch) or base

    moves: list[Move] = []
    for env in cfg.environments:
        for image in cfg.images:
            if env.name not in image.environments or not _touches(image, env.name, files):
                continue
            try:
                before = snap.locate(image, env.name, fork)
                after = snap.locate(image, env.name, head)
            except PromoterError as e:
                violations.append(Violation(rule=Rule.YAML, message=str(e), image=image.name,
                                            env=env.name))
                continue
            split = _split(before, after)
            if split:
                violations.append(Violation(
                    rule=Rule.PARTIAL, image=image.name, env=env.name,
                    message=f"{image.name}: {env.name} is left running two versions ({split}); "
                            "move every place that pins it together"))
            move = _move(before, after)
            if move is None:
                continue
            moves.append(move)
            if rollback:
                continue
            if _downgrade(image, move.old_tag, move.new_tag):
                violations.append(Violation(
                    rule=Rule.DOWNGRADE, image=image.name, env=env.name,
                    message=f"{image.name}: {env.name} goes back from {move.old} to {move.new} "
                            "outside a rollback (use promoter rollback)"))
            sources = [s for s in cfg.sources(env.name) if s.name in image.environments]
            whence = (sources[0].name if len(sources) == 1 else
                      f"{', '.join(s.name for s in sources)} (every one of them)")
            for prev in sources:  # a fan-in: every source must run it
                there = snap.locate(image, prev.name, at(prev.name))
                if not same_version(there.tag, there.digest, move.new_tag, move.new_digest):
                    runs = there.tag or _short(there.digest) or "nothing"
                    violations.append(Violation(
                        rule=Rule.ORDER, image=image.name, env=env.name,
                        message=f"{image.name}: {env.name} gets {move.new} but {prev.name} "
                                f"runs {runs}: a version enters {env.name} only from {whence}"))

    def caught_up(image: Image, env: str) -> bool:
        """Whether ``image`` in ``env`` (at the head) runs what each of its sources runs."""
        sources = [s for s in cfg.sources(env) if s.name in image.environments]
        if not sources:
            return False
        try:
            here = snap.locate(image, env, head)
            return all(same_version(there.tag, there.digest, here.tag, here.digest)
                       for there in (snap.locate(image, s.name, at(s.name)) for s in sources))
        except PromoterError:
            return False

    violations.extend(torn_bundles(cfg, moves, caught_up))
    errors: list[Problem] = []
    if registry is not None and moves:
        found, errors = asyncio.run(_in_registry(registry, moves))
        violations.extend(found)
        gated = [m for m in moves if cfg.environment(m.env).gates.signature is not None
                 and (m.new_tag or m.new_digest)]
        if gated:
            if signatures is None:
                signatures = SignatureChecks.of(cfg, ws, registry, now=now or datetime.now(UTC))
            unsigned, unread = _signature_violations(signatures, gated)
            violations.extend(unsigned)
            errors.extend(unread)
    return CheckReport(base=base, head=head, fork=fork, rollback=rollback, files=files,
                       moves=tuple(moves), violations=tuple(violations), errors=tuple(errors))


def torn_bundles(cfg: Config, moves: Sequence[Move],
                 caught_up: Callable[[Image, str], bool]) -> list[Violation]:
    """A violation per bundle and environment where some members move and others do not
    (unless ``caught_up(image, env)``: it runs its sources' version already)."""
    out = []
    moved = {(m.env, m.image) for m in moves}
    for env in dict.fromkeys(m.env for m in moves):
        for bundle in cfg.bundles:
            going = [i for i in bundle.images if (env, i) in moved]
            if not going:
                continue
            missing = [i for i in bundle.images if (env, i) not in moved
                       and env in cfg.image(i).environments and not caught_up(cfg.image(i), env)]
            if missing:
                out.append(Violation(
                    rule=Rule.BUNDLE, image=going[0], env=env,
                    message=f"bundle {bundle.name}: {env} gets {', '.join(going)} but not "
                            f"{', '.join(missing)}; a bundle moves whole, in one change"))
    return out


async def _in_registry(registry: Registry, moves: Sequence[Move]
                       ) -> tuple[list[Violation], list[Problem]]:
    if isinstance(registry, contextlib.AbstractAsyncContextManager):
        async with registry as entered:
            return await _ask(entered, moves)
    return await _ask(registry, moves)


async def _ask(registry: Registry, moves: Sequence[Move]
               ) -> tuple[list[Violation], list[Problem]]:
    from promoter.refs import ImageRef

    violations: list[Violation] = []
    errors: list[Problem] = []
    asked: dict[tuple[str, str | None, str | None], None] = {}
    for m in moves:
        if m.new_tag or m.new_digest:
            asked[(m.repository, m.new_tag, m.new_digest)] = None

    async def one(repo: str, tag: str | None, digest: str | None) -> None:
        ref = ImageRef.parse(repo)
        ref = ref.with_tag(tag) if tag else ref.with_digest(digest)
        shown = f"{repo}:{tag}" if tag else f"{repo}@{digest}"
        who = [m for m in moves if (m.repository, m.new_tag, m.new_digest) == (repo, tag, digest)]
        envs = ", ".join(sorted({m.env for m in who}))
        try:
            info = await registry.manifest(ref)
        except PromoterError as e:
            text = redact(str(e))
            if _NOT_FOUND.match(text):
                violations.append(Violation(
                    rule=Rule.EXISTS, image=who[0].image, env=who[0].env,
                    message=f"{who[0].image}: {shown} ({envs}) is not in the registry"))
            else:
                errors.append(Problem.of(e, f"{who[0].image}: could not check {shown}",
                                         image=who[0].image))
            return
        if tag and digest and info.digest != digest:
            violations.append(Violation(
                rule=Rule.DIGEST, image=who[0].image, env=who[0].env,
                message=f"{who[0].image}: {shown} ({envs}) is pinned to {_short(digest)} but "
                        f"the registry serves {_short(info.digest)}"))

    await asyncio.gather(*(one(*k) for k in asked))
    order = {r: i for i, r in enumerate(Rule)}
    violations.sort(key=lambda v: (order[v.rule], v.message))
    return violations, sorted(errors, key=str)


def _signature_violations(signatures: SignatureChecks, moves: Sequence[Move]
                          ) -> tuple[list[Violation], list[Problem]]:
    """The signature rule for moves into gated environments, every digest checked at once;
    a signature that could not be read is a problem to retry, not a violation."""
    from promoter.refs import ImageRef

    def ask(m: Move) -> tuple[str, ImageRef, str | None]:
        return (m.env, ImageRef.parse(m.repository).with_tag(m.new_tag), m.new_digest)

    signatures.prefetch(ask(m) for m in moves)
    violations: list[Violation] = []
    errors: list[Problem] = []
    for m in moves:
        gate = signatures.gate(*ask(m))
        if gate.state is GateState.FAIL:
            violations.append(Violation(rule=Rule.SIGNATURE, image=m.image, env=m.env,
                                        message=f"{m.image}: {m.new} into {m.env}: "
                                                f"{gate.detail}"))
        elif not gate.passed:
            errors.append(Problem(message=f"{m.image}: could not check the signature of "
                                          f"{m.new}: {gate.detail}", image=m.image,
                                  retryable=True))
    return violations, errors


# --- reporting ------------------------------------------------------------------------------------

def verify_status(report: CheckReport, *, summary: str | None = None) -> CommitStatus:
    """The ``promoter/verify`` commit status (with ``summary``, Markdown, as a GitHub check
    run)."""
    if report.exit_code == 0:
        n = len(report.moves)
        state, description = StatusState.SUCCESS, f"{n} image move(s) verified"
    elif report.violations:
        first = report.violations[0].message
        more = len(report.violations) - 1
        state = StatusState.FAILURE
        description = first + (f" (+{more} more)" if more else "")
    else:
        state, description = StatusState.ERROR, str(report.errors[0])
    if len(description) > 140:
        description = description[:139] + "\u2026"
    return CommitStatus(context=CONTEXT, state=state, description=description,
                        summary=summary)

