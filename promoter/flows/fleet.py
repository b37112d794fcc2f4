"""One command over a fleet of GitOps repositories: each repository its own run, none stopping
the others.

:func:`run_fleet` calls ``one(member)`` for every repository of a :class:`~promoter.fleet.Fleet`
(one after another, or ``parallel`` at a time on threads) and gathers what each gave into a
:class:`FleetReport`. Whatever one repository raises (a config that does not load, a clone
that fails, a registry that does not answer, a bug) becomes that repository's problem and exit
code; the next repository runs all the same. Opening a repository and running the flow on it
is the caller's ``one``: this module knows nothing of git, registries or forges.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from promoter.errors import INTERNAL, Problem, PromoterError, exit_code
from promoter.fleet import Member
from promoter.registry.shared import CacheStats
from promoter.secrets import redact

log = logging.getLogger(__name__)

__all__ = ["FleetReport", "Outcome", "RepoRun", "failure", "run_fleet"]


class Outcome(Protocol):
    """What a flow's report on one repository offers: poll's, promote's."""

    @property
    def problems(self) -> tuple[Problem, ...]: ...

    @property
    def exit_code(self) -> int: ...


R = TypeVar("R", bound=Outcome)


@dataclass(frozen=True, kw_only=True)  # no slots: Generic's __orig_class__ needs a dict
class RepoRun(Generic[R]):
    """One repository's run: the flow's report, or the error that stopped it before one."""

    name: str
    result: R | None = None
    #: what stopped it before the flow could report (every problem of a config that does not
    #: load, each with its file, line and key)
    failure: tuple[Problem, ...] = ()
    failure_code: int = 0  # the exit code of ``failure`` (2: bad input, 3: retry, ...)
    seconds: float = 0.0

    @property
    def own_problems(self) -> tuple[Problem, ...]:
        if self.failure:
            return self.failure
        return self.result.problems if self.result is not None else ()

    @property
    def problems(self) -> tuple[Problem, ...]:
        """This repository's problems, each message naming the repository."""
        return tuple(dataclasses.replace(p, message=f"{self.name}: {p.message}")
                     for p in self.own_problems)

    @property
    def exit_code(self) -> int:
        if self.failure:
            return self.failure_code
        return self.result.exit_code if self.result is not None else 0


@dataclass(frozen=True, kw_only=True)
class FleetReport(Generic[R]):
    runs: tuple[RepoRun[R], ...]
    registry: CacheStats | None = None  # the run's shared registry answers

    @property
    def ok(self) -> bool:
        return all(r.exit_code == 0 for r in self.runs)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for r in self.runs for p in r.problems)

    @property
    def exit_code(self) -> int:
        """0 when every repository's run was; 3 when every problem is a remote that did not
        answer; else 1 (one repository's bad config is that repository's problem: the fleet
        command itself ran)."""
        return exit_code(self.problems)


def failure(e: PromoterError) -> tuple[Problem, ...]:
    """Every problem ``e`` carries (each where it is), or the one it is."""
    located = tuple(p for p in e.problems if p.file)
    if located:
        return tuple(dataclasses.replace(p, message=redact(p.message),
                                         retryable=e.exit_code == 3) for p in located)
    return (Problem.of(e),)


def _one(member: Member, one: Callable[[Member], R]) -> RepoRun[R]:
    start = time.perf_counter()
    try:
        result = one(member)
    except PromoterError as e:
        log.warning("repository=%s: %s", member.name, redact(str(e)))
        return RepoRun(name=member.name, failure=failure(e), failure_code=e.exit_code,
                       seconds=time.perf_counter() - start)
    except Exception as e:  # one repository never stops the others
        log.error("repository=%s: unexpected error", member.name, exc_info=True)
        return RepoRun(name=member.name, failure_code=INTERNAL,
                       failure=(Problem(message="unexpected error: "
                                                + redact(f"{type(e).__name__}: {e}")),),
                       seconds=time.perf_counter() - start)
    return RepoRun(name=member.name, result=result, seconds=time.perf_counter() - start)


def run_fleet(members: Sequence[Member], one: Callable[[Member], R], *, parallel: int = 1,
              stats: Callable[[], CacheStats] | None = None) -> FleetReport[R]:
    """``one(member)`` for every member, ``parallel`` at a time; the runs in fleet order."""
    if parallel <= 1 or len(members) <= 1:
        runs = [_one(m, one) for m in members]
    else:
        with concurrent.futures.ThreadPoolExecutor(
                max_workers=min(parallel, len(members)),
                thread_name_prefix="promoter-fleet") as pool:
            runs = list(pool.map(lambda m: _one(m, one), members))
    return FleetReport(runs=tuple(runs), registry=stats() if stats else None)
