"""Promotion gates: pure functions over facts the caller gathered, and the clock it passes.

Each gate of an environment (``gates:`` in ``.promoter.yaml``) becomes one :class:`GateResult`
with a state and a one-line detail that people read in the pull request body and in the
``promoter/gates`` commit status:

==================  ===========================================  ===================
gate                facts                                        decides
==================  ===========================================  ===================
``auto``            the update type, a ``/promote`` override     whether a PR opens
``freeze``          the windows, ``now``                         opening, the status
``hold``            open promoter PRs of the env with the label  opening, the status
``soak``            when the version reached the source branch   the status
                    (and when the source became healthy at it)
``require-checks``  statuses on the source's commit              the status
``min-approvals``   approvals of the promotion PR                auto-merge
``signature``       the verified cosign signatures of the digest opening, the status
``health``          statuses on the source's branch head         the status
``argocd``          the source's Argo CD Application             opening, the status
==================  ===========================================  ===================

:func:`may_open` says whether a new pull request may be opened, :func:`verdict` what the
``promoter/gates`` status says, :func:`may_auto_merge` whether the forge's auto-merge may be
turned on. Nothing here reads a clock, a forge, git or Argo CD: the caller finds the facts.

``health`` and ``argocd`` are two ways of asking whether the source runs what it is promoted
from: statuses that Argo CD or Flux notifications post on the branch head (a pull request
opens, its status waits for them), or the Argo CD API itself, which tells the revision the
Application is synced to. Until that is the branch head, the version is not deployed in the
source yet, so no new pull request opens for it (one already open is kept, its status saying
what is missing). With either, the soak counts from when the source became healthy at the
revision (:func:`healthy_since`), when that is later than the version's arrival.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from promoter.argocd import HEALTHY, UNHEALTHY, Reading
from promoter.config import Auto, Gates
from promoter.versions import UpdateType

if TYPE_CHECKING:  # signature_gate builds on this module's states
    from promoter.signature_gate import SignatureGate

STATUS_CONTEXT = "promoter/gates"
_DESCRIPTION_MAX = 140  # GitHub's limit for a commit status description


class Gate(enum.Enum):
    AUTO = "auto"
    FREEZE = "freeze"
    HOLD = "hold"
    SOAK = "soak"
    REQUIRE_CHECKS = "require-checks"
    MIN_APPROVALS = "min-approvals"
    SIGNATURE = "signature"
    HEALTH = "health"
    ARGOCD = "argocd"


class GateState(enum.Enum):
    PASS = "pass"
    PENDING = "pending"  # time or people will settle it
    FAIL = "fail"  # something is wrong or someone said stop


@dataclass(frozen=True, slots=True, kw_only=True)
class GateResult:
    gate: Gate
    state: GateState
    detail: str  # one line, starting with the gate's name: "soak: 23 min left"

    @property
    def name(self) -> str:
        return self.gate.value

    @property
    def passed(self) -> bool:
        return self.state is GateState.PASS


#: the gates each decision looks at
OPENING = frozenset({Gate.AUTO, Gate.FREEZE, Gate.HOLD, Gate.SIGNATURE, Gate.ARGOCD})
STATUS = frozenset({Gate.FREEZE, Gate.HOLD, Gate.SOAK, Gate.REQUIRE_CHECKS, Gate.SIGNATURE,
                    Gate.HEALTH, Gate.ARGOCD})
#: opening gates that hold back only a new pull request: one already open is kept up to date,
#: its status saying what is missing
NEW_ONLY = frozenset({Gate.ARGOCD})
AUTO_MERGE = STATUS | {Gate.MIN_APPROVALS}

#: states of checks (commit statuses, check runs) as the forge port names them
GREEN = "success"
RUNNING = "pending"

#: update types that open a pull request on their own; OTHER (not versions, a build or a
#: digest moving) only with ``all``
AUTO_ALLOWS: Mapping[Auto, frozenset[UpdateType]] = {
    Auto.NONE: frozenset(),
    Auto.PATCH: frozenset({UpdateType.PATCH}),
    Auto.MINOR: frozenset({UpdateType.PATCH, UpdateType.MINOR}),
    Auto.ALL: frozenset(UpdateType),
}


def _result(gate: Gate, state: GateState, detail: str) -> GateResult:
    return GateResult(gate=gate, state=state, detail=f"{gate.value}: {detail}")


def duration(delta: timedelta, *, up: bool = False) -> str:
    """``timedelta(hours=26, minutes=5)`` -> ``1d 2h``; minutes below a day, seconds below one
    minute. Cut down, or rounded ``up`` to the unit shown (so what is left never reads as 0)."""
    total = max(0, int(-(-delta.total_seconds() // 1)))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes} min" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes + (1 if seconds and up else 0)} min"
    return f"{seconds}s"


# --- one gate each ----------------------------------------------------------------------------

def auto(mode: Auto, update: UpdateType, *, override: bool = False) -> GateResult:
    """Whether an update of this type opens a pull request without ``/promote``."""
    if override:
        return _result(Gate.AUTO, GateState.PASS, "promoted by command")
    if update in AUTO_ALLOWS[mode]:
        return _result(Gate.AUTO, GateState.PASS, f"{update.value} update opens on its own "
                       f"(auto: {mode.value})")
    return _result(Gate.AUTO, GateState.PENDING,
                   f"{update.value} update waits for /promote (auto: {mode.value})")


def soak(required: timedelta | None, since: datetime | None, *, now: datetime,
         source: str, healthy_at: datetime | None = None) -> GateResult:
    """Whether the version has been on ``source``'s branch for ``required`` (``since``: the time
    it arrived there; None when history does not tell), counted from ``healthy_at`` instead
    when the source became healthy at it later. Passed, the detail no longer changes with the
    clock (the PR body shows since when instead)."""
    if required is None:
        return _result(Gate.SOAK, GateState.PASS, "not required")
    if since is None:
        return _result(Gate.SOAK, GateState.PENDING,
                       f"cannot tell since when {source} runs this version")
    where = f"on {source}"
    if healthy_at is not None and healthy_at > since:
        since, where = healthy_at, f"healthy on {source}"
    soaked = max(now - since, timedelta(0))  # a commit "in the future" (clock skew) soaked 0
    if soaked >= required:  # the words stay the same as time goes on: no PR edit per run
        return _result(Gate.SOAK, GateState.PASS, f"over {duration(required)} {where}")
    return _result(Gate.SOAK, GateState.PENDING,
                   f"{duration(required - soaked, up=True)} left ({duration(soaked)} of "
                   f"{duration(required)} {where})")


def require_checks(names: Sequence[str], checks: Mapping[str, str] | None) -> GateResult:
    """Whether each named check is green on the source's commit. ``checks``: context -> state
    (``success``, ``pending``, ``failure``, ``error``); None when nobody can be asked."""
    if not names:
        return _result(Gate.REQUIRE_CHECKS, GateState.PASS, "none required")
    if checks is None:
        return _result(Gate.REQUIRE_CHECKS, GateState.PENDING,
                       "no forge to read the source's checks from")
    failed, waiting = _not_green(names, checks)
    if failed:
        return _result(Gate.REQUIRE_CHECKS, GateState.FAIL, failed + " on the source commit")
    if waiting:
        return _result(Gate.REQUIRE_CHECKS, GateState.PENDING, waiting)
    return _result(Gate.REQUIRE_CHECKS, GateState.PASS, f"{', '.join(names)} green")


def health(source: str, names: Sequence[str], checks: Mapping[str, str] | None) -> GateResult:
    """Whether ``source`` reports what it runs deployed and healthy: each of its health
    statuses green on its branch head (a failing one fails, a missing or running one waits)."""
    if not names:
        return _result(Gate.HEALTH, GateState.PASS, f"{source} reports no health")
    if checks is None:
        return _result(Gate.HEALTH, GateState.PENDING,
                       f"no forge to read {source}'s health from")
    failed, waiting = _not_green(names, checks)
    if failed:
        return _result(Gate.HEALTH, GateState.FAIL, f"{source} unhealthy: {failed}")
    if waiting:
        return _result(Gate.HEALTH, GateState.PENDING,
                       f"{source} not reported healthy yet: {waiting}")
    return _result(Gate.HEALTH, GateState.PASS, f"{source} healthy ({', '.join(names)})")


def healthy_since(names: Sequence[str], checks: Mapping[str, str] | None,
                  changed: Mapping[str, datetime | None]) -> datetime | None:
    """When the last of the health statuses ``names`` turned green (``changed``: context -> when
    its newest status was posted); None unless all are green and each time is known."""
    if not names or checks is None or any(checks.get(n) != GREEN for n in names):
        return None
    times = [changed.get(n) for n in names]
    return max(t for t in times if t is not None) if all(times) else None


def argocd(source: str, head: str, reading: Reading | None) -> GateResult:
    """Whether ``source``'s Argo CD Application is Synced to ``head`` (its branch head, what is
    promoted from) and Healthy. Synced elsewhere, out of sync or progressing waits; Degraded,
    Missing, or a failed sync of ``head`` fails; an error reading it waits when asking again
    may help and fails when not (a refused token, an unknown Application)."""
    if reading is None:
        return _result(Gate.ARGOCD, GateState.PASS, f"{source} has no Argo CD application")
    if reading.state is None:
        state = GateState.PENDING if reading.retryable else GateState.FAIL
        return _result(Gate.ARGOCD, state, reading.error.removeprefix("argocd: "))
    app, short = reading.state, head[:7]
    name = f"app {app.name}"
    if head in app.operation_revisions and app.operation_phase in ("Failed", "Error"):
        why = f": {app.operation_message.splitlines()[0][:80]}" if app.operation_message else ""
        return _result(Gate.ARGOCD, GateState.FAIL,
                       f"{name} sync to {short} {app.operation_phase.lower()}{why}")
    if head not in app.revisions:
        at = ", ".join(r[:7] for r in app.revisions)
        where = (f"{app.sync_status} at no revision yet" if not at else
                 f"synced to {at}" if app.sync_status == "Synced" else
                 f"{app.sync_status} at {at}")
        return _result(Gate.ARGOCD, GateState.PENDING, f"{name} {where}, not {short}")
    if not app.synced_to(head):
        return _result(Gate.ARGOCD, GateState.PENDING, f"{name} {app.sync_status} at {short}")
    if app.health_status in UNHEALTHY:
        return _result(Gate.ARGOCD, GateState.FAIL, f"{name} {app.health_status} at {short}")
    if app.health_status != HEALTHY:
        return _result(Gate.ARGOCD, GateState.PENDING, f"{name} {app.health_status} at {short}")
    return _result(Gate.ARGOCD, GateState.PASS, f"{name} Synced to {short} and Healthy")


def _not_green(names: Sequence[str], checks: Mapping[str, str]) -> tuple[str, str]:
    """(the failed ones with their states, the running or missing ones), each as words; ""
    when there are none."""
    failed = [n for n in names if checks.get(n) not in (None, GREEN, RUNNING)]
    waiting = [n for n in names if checks.get(n) != GREEN and n not in failed]
    return (", ".join(f"{n} {checks[n]}" for n in failed),
            ", ".join(f"{n} {'running' if checks.get(n) == RUNNING else 'missing'}"
                      for n in waiting))


def min_approvals(required: int, approvals: int) -> GateResult:
    """Whether the promotion pull request has enough approvals for auto-merge."""
    if required <= 0:
        return _result(Gate.MIN_APPROVALS, GateState.PASS, "none required")
    state = GateState.PASS if approvals >= required else GateState.PENDING
    return _result(Gate.MIN_APPROVALS, state, f"{approvals} of {required}")


def freeze(gates: Gates, *, now: datetime) -> GateResult:
    """Whether ``now`` falls in one of the environment's freeze windows."""
    window = gates.frozen_at(now)
    if window is None:
        return _result(Gate.FREEZE, GateState.PASS, "not frozen")
    if window.end is not None:
        until = f"until {window.end.isoformat(sep=' ', timespec='minutes')}"
    else:
        end = window.end_time.strftime("%H:%M") if window.end_time else "24:00"
        until = f"until {end} {window.timezone}"
    reason = f" ({window.reason})" if window.reason else ""
    return _result(Gate.FREEZE, GateState.PENDING, f"frozen {until}{reason}")


def hold(label: str, held_by: Iterable[int]) -> GateResult:
    """Whether an open promoter pull request of the environment carries the hold label."""
    numbers = sorted(set(held_by))
    if not numbers:
        return _result(Gate.HOLD, GateState.PASS, f"no {label} label")
    return _result(Gate.HOLD, GateState.FAIL, f"{label} on "
                   f"{', '.join(f'#{n}' for n in numbers)}")


# --- all of them ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What the caller learned about one image's promotion from ``source``."""

    source: str
    update: UpdateType
    since: datetime | None = None  # when the version reached the source branch
    checks: Mapping[str, str] | None = None  # context -> state on the source's commit
    approvals: int = 0
    held_by: tuple[int, ...] = ()  # open promoter PRs of the target carrying the hold label
    override: bool = False  # /promote
    #: the signature gate as :mod:`promoter.signature_checks` found it; None: not checked
    signature: SignatureGate | None = None
    #: the source environment's health statuses (``health.statuses``) and their states on its
    #: branch head (None: nobody could be asked)
    health: tuple[str, ...] = ()
    health_checks: Mapping[str, str] | None = None
    #: the source's branch head and its Argo CD Application as read (None: it has none)
    head: str = ""
    argocd: Reading | None = None
    #: when the source became healthy at its branch head (statuses or Argo CD), if it is
    healthy_at: datetime | None = None


def evaluate(gates: Gates, facts: Facts, *, now: datetime) -> tuple[GateResult, ...]:
    """Every gate of the target environment for one image, in a fixed order."""
    return (auto(gates.auto, facts.update, override=facts.override),
            freeze(gates, now=now),
            hold(gates.hold_label, facts.held_by),
            soak(gates.soak, facts.since, now=now, source=facts.source,
                 healthy_at=facts.healthy_at),
            require_checks(gates.require_checks, facts.checks),
            min_approvals(gates.min_approvals, facts.approvals),
            signature(gates, facts.signature),
            health(facts.source, facts.health, facts.health_checks),
            argocd(facts.source, facts.head, facts.argocd))


def signature(gates: Gates, found: SignatureGate | None) -> GateResult:
    """The signature gate: what the check found, pending when it was required and not asked."""
    if found is not None:
        return GateResult(gate=Gate.SIGNATURE, state=found.state, detail=found.detail)
    if gates.signature is None:
        return _result(Gate.SIGNATURE, GateState.PASS, "not required")
    return _result(Gate.SIGNATURE, GateState.PENDING, "not checked (no registry was asked)")


def _of(results: Iterable[GateResult], which: frozenset[Gate]) -> list[GateResult]:
    return [r for r in results if r.gate in which]


def may_open(results: Iterable[GateResult], *, open_already: bool = False) -> bool:
    """Whether a new promotion pull request may be opened (auto, freeze, hold, signature,
    argocd); ``open_already``: whether the one already open may be kept up to date (the
    :data:`NEW_ONLY` gates do not hold that back)."""
    return all(r.passed for r in _of(results, OPENING - NEW_ONLY if open_already else OPENING))


def may_auto_merge(results: Iterable[GateResult]) -> bool:
    """Whether auto-merge may be turned on: the status gates and min-approvals pass."""
    return all(r.passed for r in _of(results, AUTO_MERGE))


def verdict(results: Iterable[GateResult]) -> tuple[GateState, str]:
    """The ``promoter/gates`` status: FAIL when a gate fails, PENDING while one waits, else
    PASS; with a description of at most 140 characters naming what is missing or wrong."""
    considered = _of(results, STATUS)
    for state in (GateState.FAIL, GateState.PENDING):
        bad = list(dict.fromkeys(r.detail for r in considered if r.state is state))
        if bad:
            return state, _clip("; ".join(bad))
    return GateState.PASS, "all gates pass"


def _clip(text: str) -> str:
    return text if len(text) <= _DESCRIPTION_MAX else text[:_DESCRIPTION_MAX - 3] + "..."


_ICONS = {GateState.PASS: "pass", GateState.PENDING: "pending", GateState.FAIL: "**fail**"}


def table(rows: Sequence[tuple[str, Sequence[GateResult]]]) -> str:
    """A Markdown table of gates per image: ``rows`` is (image, results)."""
    out = ["| image | gate | state | detail |", "| --- | --- | --- | --- |"]
    for image, results in rows:
        for r in results:
            detail = r.detail.split(": ", 1)[-1].replace("|", "\\|")
            out.append(f"| `{image}` | {r.name} | {_ICONS[r.state]} | {detail} |")
    return "\n".join(out)
