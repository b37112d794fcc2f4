"""``promoter rollback ENV``: a pull request that puts back the version an environment ran
before, read from the environment's git history (or a version named with ``--to``).

One branch and pull request per image, ``promoter/rollback/{env}/{image}``, labelled
``promoter/rollback`` (``promoter check`` exempts it from the order and downgrade rules), with
the reason in the body. Publishing follows the poll's rules: the branch is pushed with a lease,
an open pull request is updated in place, a branch someone else committed to is left alone, and
a second run with the same wish changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from promoter import render
from promoter.config import Config, Image
from promoter.errors import InputError, Problem, exit_code
from promoter.flows import publish
from promoter.flows.publish import ROLLBACK_LABEL, Action, Outcome
from promoter.flows.snapshots import Run, Snapshots, env_history, same_version
from promoter.forge import PullRequests
from promoter.gitrepo import Workspace
from promoter.plan import Located, PullRequestPlan, Wanted, plan_updates, slug
from promoter.registry import Registry
from promoter.registry.lookup import require_tag
from promoter.versions import UpdateType

BRANCH = "promoter/rollback/{env}/{image}"
BODY = """\
Rollback of **{image}** in **{env}**: {from} -> **{to}**, the version {env} ran {when}.

**Reason:** {reason}

{table}

Labelled `promoter/rollback`: `promoter check` exempts this change from the order and downgrade \
rules. Files: {files}
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackResult:
    image: str
    env: str
    from_tag: str | None
    to_tag: str | None
    branch: str
    outcome: Outcome
    action: Action = Action.NONE  # "" without a forge or on a dry run
    number: int | None = None
    url: str | None = None
    error: str | None = None
    diff: str = ""
    note: str | None = None  # why nothing was done when that is no problem
    retryable: bool = False  # the error is a forge or remote that did not answer


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackReport:
    results: tuple[RollbackResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.outcome not in (Outcome.FAILED, Outcome.HUMAN) for r in self.results)

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Each image that could not be rolled back (or whose branch a person changed)."""
        return tuple(Problem(message=f"{r.image} in {r.env}: {r.error or r.outcome.value}",
                             image=r.image, retryable=r.retryable)
                     for r in self.results if r.outcome in (Outcome.FAILED, Outcome.HUMAN))

    @property
    def exit_code(self) -> int:
        """0, 1 when an image could not be rolled back (3 when a forge alone is to blame)."""
        return exit_code(self.problems)


class NothingEarlier(InputError):
    """The environment's history holds no other version of the image."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """A rollback pull request to publish, and when the environment first ran its version."""

    pr: PullRequestPlan
    since: datetime | None


def choose_target(loc: Located, runs: Sequence[Run], to: str | None) -> Wanted:
    """Where to go back to: the named version (its digest from history when it ran there), or
    the newest earlier version that differs from the current one."""
    name, env = loc.image.name, loc.env
    if to is not None:
        if to == loc.tag:
            raise InputError(f"{name}: {env} already runs {to}")
        ran = next((r for r in runs if r.tag == to), None)
        if ran is not None:
            return Wanted(tag=to, digest=ran.digest)
        if loc.digest:
            raise InputError(f"{name}: {env} never ran {to} and its files pin a digest; name "
                             f"one it ran ({_known(runs)})")
        return Wanted(tag=to)
    earlier = next((r for r in runs if r.tag and not same_version(r.tag, r.digest, loc.tag,
                                                                  loc.digest)), None)
    if earlier is None or earlier.tag is None:
        raise NothingEarlier(f"{name}: {env} ran no other version in its history; name one "
                             "with --to")
    return Wanted(tag=earlier.tag, digest=earlier.digest)


def _known(runs: Sequence[Run]) -> str:
    tags = list(dict.fromkeys(r.tag for r in runs if r.tag))
    return "ran: " + ", ".join(tags) if tags else "no versions found in its history"


def plan_rollback(cfg: Config, ws: Workspace, *, env: str, images: Sequence[Image],
                  to: str | None, reason: str, every: bool = False
                  ) -> list[Planned | RollbackResult]:
    """A pull request plan per image, or the result saying why there is none. With
    ``every`` (the whole environment, no image named), an image that never ran another
    version is no failure: it is left alone with a note."""
    environment = cfg.environment(env)
    head = ws.branch_head(environment.branch)
    if head is None:
        raise InputError(f"{env}: branch {environment.branch} does not exist")
    snap = Snapshots(ws)
    out: list[Planned | RollbackResult] = []
    for image in images:
        branch = BRANCH.format(env=env, image=slug(image.name))
        loc = snap.locate(image, env, head)
        if not loc.pins:
            out.append(RollbackResult(image=image.name, env=env, from_tag=None, to_tag=to,
                                      branch=branch, outcome=Outcome.FAILED,
                                      error=f"not found in {env}"))
            continue
        runs = env_history(snap, image, env, head)
        try:
            wanted = choose_target(loc, runs, to)
        except NothingEarlier as e:
            out.append(RollbackResult(image=image.name, env=env, from_tag=loc.tag, to_tag=None,
                                      branch=branch,
                                      outcome=Outcome.NOT_NEEDED if every else Outcome.FAILED,
                                      note=str(e) if every else None,
                                      error=None if every else str(e)))
            continue
        except InputError as e:
            out.append(RollbackResult(image=image.name, env=env, from_tag=loc.tag, to_tag=to,
                                      branch=branch, outcome=Outcome.FAILED, error=str(e)))
            continue
        plan = plan_updates(cfg, [(loc, wanted, UpdateType.OTHER)],
                            read=snap.reader(head),
                            table=render.updates_table)
        if not plan.pull_requests:
            why = "; ".join(r for _, r in plan.skipped)
            out.append(RollbackResult(image=image.name, env=env, from_tag=loc.tag,
                                      to_tag=wanted.tag, branch=branch,
                                      outcome=Outcome.FAILED if why else Outcome.NOT_NEEDED,
                                      error=why or None))
            continue
        pr = plan.pull_requests[0]
        when = next((r.when for r in runs if r.tag == wanted.tag), None)
        title = f"Roll back {image.name} to {wanted.tag} in {env}"
        message = f"{title}\n\nReason: {reason}" if reason else title
        out.append(Planned(pr=replace(pr, branch=branch, title=title, message=message),
                           since=when))
    return out


def rollback(cfg: Config, ws: Workspace, forge: PullRequests | None, *, env: str,
             image: str | None = None, to: str | None = None, reason: str = "",
             dry_run: bool = False, registry: Registry | None = None) -> RollbackReport:
    """Open (or update) the rollback pull requests of ``env`` (every image there, or one).
    ``to`` must be an OCI tag that ``registry`` lists (without one: an OCI tag)."""
    if to is not None and image is None:
        raise InputError("--to needs --image")
    chosen = [cfg.image(image)] if image else [i for i in cfg.images if env in i.environments]
    if image and env not in chosen[0].environments:
        raise InputError(f"{image}: not configured in {env}")
    if to is not None:
        require_tag(registry, chosen[0].repository, to, what="--to")
    ws.fetch()
    planned = plan_rollback(cfg, ws, env=env, images=chosen, to=to,
                            reason=reason or "not given", every=image is None)
    results: list[RollbackResult] = []
    todo: list[tuple[int, publish.Proposal]] = []  # (index in results, what to publish)
    for item in planned:
        if isinstance(item, RollbackResult):
            results.append(item)
            continue
        pr = item.pr
        u = pr.updates[0]
        results.append(RollbackResult(
            image=u.image, env=env, from_tag=u.old_tag, to_tag=u.new_tag, branch=pr.branch,
            outcome=Outcome.PLANNED, diff="".join(render.unified_diff(p, pr.diffs[p], pr.files[p])
                                                  for p in sorted(pr.files))))
        if not dry_run:
            todo.append((len(results) - 1, _proposal(cfg, pr, reason or "not given", item.since)))
    published = publish.publish(ws, forge, [p for _, p in todo], author=cfg.commit.author,
                                sign_off=cfg.commit.sign_off)
    for (i, _), r in zip(todo, published, strict=True):
        results[i] = replace(results[i], outcome=r.outcome, action=r.action, number=r.number,
                             url=r.url, error=r.error, retryable=r.retryable)
    return RollbackReport(results=tuple(results))



def _proposal(cfg: Config, pr: PullRequestPlan, reason: str, since: datetime | None
              ) -> publish.Proposal:
    """A rollback's pull request: its own body and label, the configured reviewers, never
    auto-merged and never a draft (a rollback is meant to go in)."""
    u = pr.updates[0]
    values = {"image": u.image, "env": pr.env, "from": u.old_tag or "-", "to": u.new_tag,
              "when": f"from {since:%Y-%m-%d %H:%M} UTC" if since else "earlier",
              "reason": reason,
              "files": ", ".join(f"`{f}`" for f in sorted(pr.files))}
    return replace(publish.from_plan(cfg, pr, body=render.pr_body(pr, BODY, values),
                                     labels=(*cfg.pull_requests.labels, ROLLBACK_LABEL),
                                     auto_merge=False),
                   assignees=(), draft=False)
