"""One way a wanted change becomes a branch and a pull request: poll, promote, rollback and the
comment commands all publish through :func:`publish` (or its two halves, :func:`push` and
:func:`sync`, when the caller times git and the forge apart).

The rules, the same for every flow:

* the branch is pushed with a lease (:func:`promoter.gitrepo.publish_branches`); a branch that
  failed (another run moved the ref at the same moment) is decided again once on fresh state;
* an open pull request from the branch into its base is adopted and updated in place, only when
  its title, body or labels differ; a version it held that is now replaced gets a "superseded"
  comment; otherwise one is opened and given its labels, reviewers, assignees and auto-merge;
* a branch someone else committed to is left alone, and its open pull request told so once;
* when the forge fails for a branch this run created, the branch is deleted again (with its
  lease), so no branch is left without its pull request;
* promoter's pull request for an image its base already runs is closed with a comment and
  its branch deleted (:func:`close_unneeded`).

A failure is a :class:`PRResult` with :attr:`Outcome.FAILED`, never an exception: one branch
never stops the others.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from promoter import render
from promoter.config import Config, Group, Identity
from promoter.errors import Problem, PromoterError
from promoter.forge import MergeMethod, PRState, PullRequest, PullRequests
from promoter.gitrepo import BranchChange, Published, Workspace, publish_branches
from promoter.gitrepo import Outcome as Pushed
from promoter.plan import Located, Plan, PullRequestPlan, branch_name
from promoter.secrets import redact

log = logging.getLogger(__name__)

HUMAN_MARK = "<!-- promoter:human -->"
ROLLBACK_LABEL = "promoter/rollback"  # check exempts it from the order and downgrade rules
LIST_FROM = 3  # pull requests to sync from which one listing beats a lookup each


class Outcome(enum.StrEnum):
    """What happened to a branch (its value is the JSON and text spelling)."""

    PLANNED = "planned"  # a dry run: nothing pushed
    CREATED = "created"
    UPDATED = "updated"
    RECREATED = "recreated"
    UNCHANGED = "unchanged"
    NOT_NEEDED = "not-needed"
    HUMAN = "human"
    CLOSED = "closed"
    WAITING = "waiting"  # held back by pull-requests.max-open / max-per-hour: nothing pushed
    FAILED = "failed"


class Action(enum.StrEnum):
    """What was done to the pull request ("": no forge, or nothing to do)."""

    NONE = ""
    OPENED = "opened"
    UPDATED = "updated"
    KEPT = "kept"
    CLOSED = "closed"
    COMMENTED = "commented"


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """A branch to publish and the pull request it should have."""

    env: str
    branch: str
    base: str
    files: Mapping[str, str]
    message: str  # the commit message
    title: str
    body: str
    images: Mapping[str, str] = field(default_factory=dict)  # image -> version, for the result
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    auto_merge: MergeMethod | None = None  # None: leave merging to people (or the gates)


@dataclass(frozen=True, slots=True, kw_only=True)
class PRResult:
    """What happened to one branch and its pull request."""

    env: str
    branch: str
    outcome: Outcome
    images: Mapping[str, str] = field(default_factory=dict)  # image -> version
    number: int | None = None
    url: str | None = None
    action: Action = Action.NONE
    error: str | None = None
    retryable: bool = False  # the error is a forge or remote that did not answer
    reason: str | None = None  # why it waits ("max-open 5 reached")

    @property
    def problem(self) -> Problem:
        """The failure as a :class:`~promoter.errors.Problem` (``branch: error``)."""
        return Problem(message=f"{self.branch}: {self.error or self.outcome.value}",
                       retryable=self.retryable,
                       image=next(iter(self.images)) if len(self.images) == 1 else None)


def from_plan(cfg: Config, pr: PullRequestPlan, *, extra: str = "",
              body: str | None = None, labels: tuple[str, ...] | None = None,
              auto_merge: bool = True) -> Proposal:
    """The proposal of a planned pull request as ``pull-requests:`` configures it: its body
    (the template, or the built-in one) with ``extra`` (Markdown: a promotion's gates) unless
    ``body`` is given, its labels (``labels`` in place of the configured ones), reviewers,
    assignees, draft, and auto-merge unless ``auto_merge`` is off (a promotion's waits for its
    gates)."""
    settings = cfg.pull_requests
    if body is None:
        values: dict[str, object] = {"env": pr.env, "source_env": pr.source_env or "registry",
                                     "base": pr.base, "count": len(pr.updates),
                                     "images": ", ".join(u.image for u in pr.updates),
                                     "title": pr.title}
        if settings.group is Group.IMAGE and pr.updates:
            u = pr.updates[0]
            values.update({"image": u.image, "version": u.new_tag, "from": u.old_tag or "",
                           "to": u.new_tag, "update": u.update.value})
        body = render.pr_body(pr, settings.body, values, extra)
    return Proposal(env=pr.env, branch=pr.branch, base=pr.base, files=pr.files,
                    message=pr.message, title=pr.title, body=body,
                    images={u.image: u.new_tag for u in pr.updates},
                    labels=settings.labels if labels is None else labels,
                    reviewers=settings.reviewers, assignees=settings.assignees,
                    draft=settings.draft,
                    auto_merge=MergeMethod(settings.merge_method)
                    if settings.auto_merge and auto_merge else None)


OpenIndex = Mapping[tuple[str, str], PullRequest]  # (head, base) -> the newest open one


def publish(ws: Workspace, forge: PullRequests | None, proposals: Sequence[Proposal], *,
            author: Identity, sign_off: bool = False) -> list[PRResult]:
    """Push every proposal's branch, then open or update its pull request (none without a
    forge): one result per proposal, in order."""
    published = push(ws, proposals, author=author, sign_off=sign_off)
    return sync(forge, ws, proposals, published)


def push(ws: Workspace, proposals: Sequence[Proposal], *, author: Identity,
         sign_off: bool = False) -> list[Published]:
    """Publish every branch; those that failed (a remote refusing a ref another run was
    updating at the same moment) are decided again once, on fresh remote state."""
    changes = [BranchChange(branch=p.branch, base=p.base, files=dict(p.files),
                            message=p.message, author=author, sign_off=sign_off)
               for p in proposals]
    published = list(publish_branches(ws, changes))
    retry = [i for i, p in enumerate(published) if p.outcome is Pushed.FAILED]
    if retry:
        ws.fetch()
        again = publish_branches(ws, [changes[i] for i in retry])
        for i, result in zip(retry, again, strict=True):
            published[i] = result
    return published


def sync(forge: PullRequests | None, ws: Workspace, proposals: Sequence[Proposal],
         published: Sequence[Published]) -> list[PRResult]:
    """Open or update the pull request of each published branch."""
    known = _open_pull_requests(forge, proposals)
    return [_sync_one(forge, ws, p, pub, known) for p, pub in
            zip(proposals, published, strict=True)]


def _open_pull_requests(forge: PullRequests | None, proposals: Sequence[Proposal]
                        ) -> OpenIndex | None:
    """The open pull requests of this repository's branches into the proposals' bases, listed
    once (a page per hundred) instead of one lookup per branch: a steady poll of 200 images
    asks the forge a few times, not 400. None (look each up) for a few proposals or when
    listing fails."""
    if forge is None or len(proposals) < LIST_FROM:
        return None
    index: dict[tuple[str, str], PullRequest] = {}
    try:
        for base in sorted({p.base for p in proposals}):
            for found in forge.list_open(base=base):  # newest first
                if found.same_repo:
                    index.setdefault((found.head, found.base), found)
    except PromoterError as e:
        log.warning("listing open pull requests failed, looking each up: %s", redact(str(e)))
        return None
    return index


def _sync_one(forge: PullRequests | None, ws: Workspace, p: Proposal, pub: Published,
              known: OpenIndex | None) -> PRResult:
    base = PRResult(env=p.env, branch=p.branch, outcome=Outcome(pub.outcome.value),
                    images=dict(p.images), error=pub.error)
    if forge is None or pub.outcome in (Pushed.FAILED, Pushed.NOT_NEEDED):
        return base
    try:
        return _pull_request(forge, p, pub, base, known)
    except PromoterError as e:
        if pub.outcome is Pushed.CREATED and pub.sha:
            try:
                ws.delete_branch(p.branch, expect=pub.sha)
            except PromoterError as cleanup:
                log.warning("branch=%s left behind: %s", p.branch, redact(str(cleanup)))
        return replace(base, outcome=Outcome.FAILED, error=redact(str(e)),
                       retryable=e.retryable)


def _pull_request(forge: PullRequests, p: Proposal, pub: Published, base: PRResult,
                  known: OpenIndex | None) -> PRResult:
    existing = (known.get((p.branch, p.base)) if known is not None else
                forge.find(head=p.branch, base=p.base))  # only an open one matters here
    if pub.outcome is Pushed.HUMAN:
        if existing is not None and existing.state is PRState.OPEN:
            _comment_once(forge, existing, HUMAN_MARK + "\n" + (
                "promoter did not update this branch: it has commits by "
                f"{', '.join(sorted({str(c.author) for c in pub.foreign}))}. "
                f"Wanted: {', '.join(f'{k} {v}' for k, v in sorted(base.images.items()))}. "
                "Merge or close this pull request, or delete the branch, and promoter "
                "takes it up again."))
            return replace(base, number=existing.number, url=existing.url,
                           action=Action.COMMENTED)
        return base
    if existing is None or existing.state is not PRState.OPEN:
        created = forge.create(head=p.branch, base=p.base, title=p.title, body=p.body,
                               draft=p.draft)
        _decorate(forge, created, p)
        return replace(base, number=created.number, url=created.url, action=Action.OPENED)
    before = render.read_meta(existing.body) or {}
    labels = tuple(sorted(set(existing.labels) | set(p.labels)))
    if (existing.title, existing.body, existing.labels) == (p.title, p.body, labels):
        updated = existing  # as it should be: nothing to ask of the forge
    else:
        updated = forge.update(existing.number, title=p.title, body=p.body, labels=labels)
    old_images = before.get("images", {}) if isinstance(before.get("images"), dict) else {}
    superseded = [f"`{name}` {old_images[name]} -> {tag} superseded"
                  for name, tag in sorted(base.images.items())
                  if name in old_images and old_images[name] != tag]
    if superseded:
        forge.comment(existing.number, "\n".join(superseded))
    changed = pub.outcome is not Pushed.UNCHANGED or superseded
    return replace(base, number=updated.number, url=updated.url,
                   action=Action.UPDATED if changed else Action.KEPT)


def _decorate(forge: PullRequests, pr: PullRequest, p: Proposal) -> None:
    if p.labels:
        forge.add_labels(pr.number, p.labels)
    if p.reviewers:
        forge.request_reviewers(pr.number, p.reviewers)
    if p.assignees:
        forge.set_assignees(pr.number, p.assignees)
    if p.auto_merge is not None:
        forge.enable_auto_merge(pr.number, method=p.auto_merge)


def _comment_once(forge: PullRequests, pr: PullRequest, body: str) -> None:
    marker = body.split("\n", 1)[0]
    comments = getattr(forge, "comments", None)
    if callable(comments) and any(marker in c.body for c in comments(pr.number)):
        return
    forge.comment(pr.number, body)


def close_pull_request(forge: PullRequests, ws: Workspace, *, env: str, pr: PullRequest,
                       images: Mapping[str, str], comment: str) -> PRResult:
    """Close promoter's pull request ``pr`` with ``comment`` and delete its branch (with its
    lease); the result to report. Raises what the forge or git raise."""
    forge.close(pr.number, comment=comment)
    head = ws.branch_head(pr.head)
    if head is not None:
        ws.delete_branch(pr.head, expect=head)
    return PRResult(env=env, branch=pr.head, outcome=Outcome.CLOSED, images=dict(images),
                    number=pr.number, url=pr.url, action=Action.CLOSED)


def failed(env: str, branch: str, error: PromoterError) -> PRResult:
    """The result of a branch whose forge or git step raised ``error``."""
    return PRResult(env=env, branch=branch, outcome=Outcome.FAILED, error=redact(str(error)),
                    retryable=error.retryable)


def close_unneeded(cfg: Config, ws: Workspace, forge: PullRequests, plan: Plan,
                    settled: Sequence[Located]) -> list[PRResult]:
    """Close promoter's open PRs for images whose base already runs what the policy chooses
    (someone bumped the file by hand, or a newer PR was merged)."""
    if cfg.pull_requests.group is not Group.IMAGE:
        return []
    planned = {pr.branch for pr in plan.pull_requests}
    out: list[PRResult] = []
    for loc in settled:
        env = cfg.environment(loc.env)
        branch = branch_name(cfg, env, loc.image.name)
        if branch in planned or not loc.pins:
            continue
        try:
            existing = forge.find(head=branch, base=env.branch)
            if existing is None or existing.state is not PRState.OPEN:
                continue
            meta = render.read_meta(existing.body)
            if meta is None:
                continue
            if loc.image.name not in meta.get("images", {}):
                continue
            out.append(close_pull_request(
                forge, ws, env=env.name, pr=existing, images={loc.image.name: loc.tag or ""},
                comment=f"Closing: `{env.branch}` already runs `{loc.image.name}` {loc.tag}, "
                        "so this change is no longer needed."))
        except PromoterError as e:
            out.append(failed(env.name, branch, e))
    return out

