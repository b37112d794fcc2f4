"""The argocd gate and the soak counted from healthy, as tables over facts (the Application
states come from the in-memory twin, read through the port as the flow reads them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoter import gates
from promoter.argocd import Reading, read
from promoter.argocd.memory import MemoryArgoCD
from promoter.config import Gates
from promoter.gates import Facts, Gate, GateResult, GateState
from promoter.versions import UpdateType

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HEAD, OLD = "def5678" + "0" * 33, "abc1234" + "0" * 33
P, W, F = GateState.PASS, GateState.PENDING, GateState.FAIL


def _reading(**state: object) -> Reading:
    argo = MemoryArgoCD()
    argo.put("web-dev", **state)  # type: ignore[arg-type]
    return read(argo, "web-dev")


@pytest.mark.parametrize(("state", "result", "detail"), [
    ({"revision": HEAD}, P, "app web-dev Synced to def5678 and Healthy"),
    ({"revision": (OLD, HEAD)}, P, "app web-dev Synced to def5678 and Healthy"),
    ({"revision": HEAD, "health": "Progressing"}, W, "app web-dev Progressing at def5678"),
    ({"revision": HEAD, "health": "Suspended"}, W, "app web-dev Suspended at def5678"),
    ({"revision": HEAD, "health": "Degraded"}, F, "app web-dev Degraded at def5678"),
    ({"revision": HEAD, "health": "Missing"}, F, "app web-dev Missing at def5678"),
    ({"revision": OLD}, W, "app web-dev synced to abc1234, not def5678"),
    ({"revision": OLD, "health": "Degraded"}, W, "app web-dev synced to abc1234, not def5678"),
    ({"revision": OLD, "sync": "OutOfSync"}, W, "app web-dev OutOfSync at abc1234, not def5678"),
    ({"revision": ""}, W, "app web-dev Synced at no revision yet, not def5678"),
    ({"revision": HEAD, "sync": "OutOfSync"}, W, "app web-dev OutOfSync at def5678"),
    ({"revision": OLD, "operation_phase": "Failed", "operation_revisions": (HEAD,),
      "operation_message": "one or more objects failed to apply\nmore"}, F,
     "app web-dev sync to def5678 failed: one or more objects failed to apply"),
    ({"revision": OLD, "operation_phase": "Failed", "operation_revisions": (OLD,)}, W,
     "app web-dev synced to abc1234, not def5678"),
])
def test_argocd(state: dict[str, object], result: GateState, detail: str) -> None:
    assert gates.argocd("dev", HEAD, _reading(**state)) == GateResult(
        gate=Gate.ARGOCD, state=result, detail=f"argocd: {detail}")


def test_argocd_errors_and_no_application() -> None:
    refused = read(MemoryArgoCD(asked_with="wrong"), "web-dev")
    assert gates.argocd("dev", HEAD, refused) == GateResult(
        gate=Gate.ARGOCD, state=F,
        detail="argocd: application web-dev on memory: the token is refused (401)")
    unknown = read(MemoryArgoCD(), "web-dev")
    assert gates.argocd("dev", HEAD, unknown).state is F
    down = MemoryArgoCD()
    down.down = True
    result = gates.argocd("dev", HEAD, read(down, "web-dev"))
    assert (result.state, result.detail) == (
        W, "argocd: application web-dev on memory: cannot reach the server (ConnectError)")
    assert gates.argocd("dev", HEAD, None) == GateResult(
        gate=Gate.ARGOCD, state=P, detail="argocd: dev has no Argo CD application")


@pytest.mark.parametrize(("since", "healthy", "state", "detail"), [
    (NOW - timedelta(hours=3), NOW - timedelta(minutes=30), W,
     "soak: 30 min left (30 min of 1h healthy on dev)"),
    (NOW - timedelta(hours=3), NOW - timedelta(hours=2), P, "soak: over 1h healthy on dev"),
    (NOW - timedelta(minutes=20), NOW - timedelta(hours=2), W,  # healthy before: from arrival
     "soak: 40 min left (20 min of 1h on dev)"),
    (NOW - timedelta(hours=3), None, P, "soak: over 1h on dev"),
])
def test_soak_counts_from_the_later_of_arrival_and_healthy(
        since: datetime, healthy: datetime | None, state: GateState, detail: str) -> None:
    result = gates.soak(timedelta(hours=1), since, now=NOW, source="dev", healthy_at=healthy)
    assert (result.state, result.detail) == (state, detail)


@pytest.mark.parametrize(("checks", "changed", "expected"), [
    ({"a": "success", "b": "success"}, {"a": NOW - timedelta(hours=2),
                                        "b": NOW - timedelta(minutes=5)},
     NOW - timedelta(minutes=5)),
    ({"a": "success", "b": "pending"}, {"a": NOW, "b": NOW}, None),
    ({"a": "success", "b": "success"}, {"a": NOW, "b": None}, None),  # one time unknown
    (None, {}, None),
])
def test_healthy_since_is_when_the_last_health_status_turned_green(
        checks: dict[str, str] | None, changed: dict[str, datetime | None],
        expected: datetime | None) -> None:
    assert gates.healthy_since(("a", "b"), checks, changed) == expected


def test_argocd_holds_back_a_new_pull_request_but_not_one_already_open() -> None:
    facts = Facts(source="dev", update=UpdateType.MINOR, since=NOW - timedelta(hours=1),
                  head=HEAD, argocd=_reading(revision=OLD))
    results = gates.evaluate(Gates(), facts, now=NOW)
    assert [r.detail for r in results if r.gate is Gate.ARGOCD] == [
        "argocd: app web-dev synced to abc1234, not def5678"]
    assert not gates.may_open(results)
    assert gates.may_open(results, open_already=True)
    assert gates.verdict(results) == (W, "argocd: app web-dev synced to abc1234, not def5678")
    assert not gates.may_auto_merge(results)
