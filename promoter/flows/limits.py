"""``pull-requests.max-open`` and ``max-per-hour``: how many new pull requests a run may open
(Renovate's ``prConcurrentLimit`` and ``prHourlyLimit``).

Counting: promoter's open pull requests (head branch under the prefix of
``pull-requests.branch``) count against ``max-open``; the pull requests promoter opened in the
last 60 minutes (the forge's ``created_at``, any state) against ``max-per-hour``. A proposal
whose branch already has an open pull request is an update: it never counts and is never held.

:class:`Budget` is pure (counts in, decisions out) and lives for one run, so a promotion along
several steps shares one budget; :func:`budget` is the edge that asks the forge for the counts.
New proposals are admitted in a fixed order - environment order, then image name, the branch
breaking ties - so the same ones go first every run; the others are
:attr:`~promoter.flows.publish.Outcome.WAITING` results, pushed nowhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from promoter.config import Config
from promoter.errors import PromoterError
from promoter.flows.publish import Outcome, Proposal, PRResult
from promoter.forge import PullRequest, PullRequests
from promoter.secrets import redact

log = logging.getLogger(__name__)

HOUR = timedelta(minutes=60)


def branch_prefix(cfg: Config) -> str:
    """The literal start of ``pull-requests.branch`` (``promoter/`` for the default)."""
    return cfg.pull_requests.branch.split("{", 1)[0]


@dataclass(slots=True, kw_only=True)
class Budget:
    """What this run may still open. ``open_heads`` are the (head, base) pairs with an open
    pull request (updates); ``error`` is set when the forge could not say (then every new
    proposal waits, with that reason)."""

    max_open: int = 0
    max_per_hour: int = 0
    open_count: int = 0
    hour_count: int = 0
    open_heads: frozenset[tuple[str, str]] = frozenset()
    error: str | None = None
    env_order: tuple[str, ...] = ()

    @property
    def limited(self) -> bool:
        return bool(self.max_open or self.max_per_hour)

    def _reason(self) -> str | None:
        if self.error is not None:
            return f"limits unknown: {self.error}"
        if self.max_open and self.open_count >= self.max_open:
            return f"max-open {self.max_open} reached"
        if self.max_per_hour and self.hour_count >= self.max_per_hour:
            return f"max-per-hour {self.max_per_hour} reached"
        return None

    def admit(self, proposals: Sequence[Proposal]) -> tuple[list[Proposal], list[PRResult]]:
        """(the proposals to publish, in their order; a WAITING result for each held back)."""
        if not self.limited:
            return list(proposals), []
        rank = {name: i for i, name in enumerate(self.env_order)}
        new = sorted((p for p in proposals if (p.branch, p.base) not in self.open_heads),
                     key=lambda p: (rank.get(p.env, len(rank)), sorted(p.images),
                                    p.branch))
        held: dict[str, str] = {}
        for p in new:
            reason = self._reason()
            if reason is None:
                self.open_count += 1
                self.hour_count += 1
            else:
                held[p.branch] = reason
        waiting = [PRResult(env=p.env, branch=p.branch, outcome=Outcome.WAITING,
                            images=dict(p.images), reason=held[p.branch])
                   for p in proposals if p.branch in held]
        return [p for p in proposals if p.branch not in held], waiting


def count(cfg: Config, open_prs: Sequence[PullRequest], recent: Sequence[PullRequest]
          ) -> Budget:
    """The budget from what the forge listed (pure)."""
    prefix = branch_prefix(cfg)
    mine = [p for p in open_prs if p.same_repo and p.head.startswith(prefix)]
    return Budget(max_open=cfg.pull_requests.max_open,
                  max_per_hour=cfg.pull_requests.max_per_hour,
                  open_count=len(mine),
                  hour_count=sum(1 for p in recent if p.same_repo and p.head.startswith(prefix)),
                  open_heads=frozenset((p.head, p.base) for p in open_prs if p.same_repo),
                  env_order=cfg.env_names)


def budget(cfg: Config, forge: PullRequests | None, *, now: datetime) -> Budget:
    """This run's budget: unlimited without limits or a forge; otherwise counted from the
    forge's open pull requests and those opened in the hour before ``now``."""
    settings = cfg.pull_requests
    if forge is None or not (settings.max_open or settings.max_per_hour):
        return Budget(env_order=cfg.env_names)
    try:
        open_prs = forge.list_open()
        recent = forge.created_since(now - HOUR) if settings.max_per_hour else ()
    except PromoterError as e:
        log.warning("cannot count pull requests for the limits: %s", redact(str(e)))
        return Budget(max_open=settings.max_open, max_per_hour=settings.max_per_hour,
                      error=redact(str(e)), env_order=cfg.env_names)
    return count(cfg, open_prs, recent)
