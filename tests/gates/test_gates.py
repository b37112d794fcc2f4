"""Every gate as a table over facts and an injected clock; then the three decisions."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter import gates
from promoter.config import Auto, FreezeWindow, Gates
from promoter.gates import Facts, Gate, GateResult, GateState
from promoter.versions import UpdateType

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
P, W, F = GateState.PASS, GateState.PENDING, GateState.FAIL


@pytest.mark.parametrize(("mode", "update", "override", "state", "detail"), [
    (Auto.ALL, UpdateType.MAJOR, False, P, "auto: major update opens on its own (auto: all)"),
    (Auto.ALL, UpdateType.OTHER, False, P, "auto: other update opens on its own (auto: all)"),
    (Auto.MINOR, UpdateType.MINOR, False, P, "auto: minor update opens on its own (auto: minor)"),
    (Auto.MINOR, UpdateType.PATCH, False, P, "auto: patch update opens on its own (auto: minor)"),
    (Auto.MINOR, UpdateType.MAJOR, False, W, "auto: major update waits for /promote (auto: minor)"),
    (Auto.MINOR, UpdateType.OTHER, False, W, "auto: other update waits for /promote (auto: minor)"),
    (Auto.PATCH, UpdateType.PATCH, False, P, "auto: patch update opens on its own (auto: patch)"),
    (Auto.PATCH, UpdateType.MINOR, False, W, "auto: minor update waits for /promote (auto: patch)"),
    (Auto.NONE, UpdateType.PATCH, False, W, "auto: patch update waits for /promote (auto: none)"),
    (Auto.NONE, UpdateType.MAJOR, True, P, "auto: promoted by command"),
    (Auto.PATCH, UpdateType.MAJOR, True, P, "auto: promoted by command"),
])
def test_auto(mode: Auto, update: UpdateType, override: bool, state: GateState,
              detail: str) -> None:
    assert gates.auto(mode, update, override=override) == GateResult(
        gate=Gate.AUTO, state=state, detail=detail)


@pytest.mark.parametrize(("required", "since", "state", "detail"), [
    (None, None, P, "soak: not required"),
    (None, NOW - timedelta(hours=3), P, "soak: not required"),
    (timedelta(hours=1), None, W, "soak: cannot tell since when dev runs this version"),
    (timedelta(hours=1), NOW - timedelta(minutes=37), W,
     "soak: 23 min left (37 min of 1h on dev)"),
    (timedelta(hours=1), NOW - timedelta(minutes=59, seconds=30), W,
     "soak: 30s left (59 min of 1h on dev)"),
    (timedelta(hours=1), NOW - timedelta(hours=1), P, "soak: over 1h on dev"),
    (timedelta(days=1), NOW - timedelta(days=2, hours=5), P, "soak: over 1d on dev"),
    (timedelta(days=2), NOW - timedelta(hours=26), W, "soak: 22h left (1d 2h of 2d on dev)"),
    (timedelta(minutes=30), NOW + timedelta(minutes=5), W,  # clock skew: a commit "in the future"
     "soak: 30 min left (0s of 30 min on dev)"),
])
def test_soak(required: timedelta | None, since: datetime | None, state: GateState,
              detail: str) -> None:
    result = gates.soak(required, since, now=NOW, source="dev")
    assert (result.gate, result.state, result.detail) == (Gate.SOAK, state, detail)


def test_soak_turns_green_when_time_passes() -> None:
    since = NOW - timedelta(minutes=10)
    states = [gates.soak(timedelta(minutes=30), since, now=NOW + timedelta(minutes=m),
                         source="dev").state for m in (0, 19, 20, 21)]
    assert states == [W, W, P, P]


@pytest.mark.parametrize(("names", "checks", "state", "detail"), [
    ((), None, P, "require-checks: none required"),
    (("e2e",), None, W, "require-checks: no forge to read the source's checks from"),
    (("e2e",), {}, W, "require-checks: e2e missing"),
    (("e2e",), {"e2e": "pending"}, W, "require-checks: e2e running"),
    (("e2e",), {"e2e": "success"}, P, "require-checks: e2e green"),
    (("e2e", "scan"), {"e2e": "success", "scan": "success", "other": "failure"}, P,
     "require-checks: e2e, scan green"),
    (("e2e", "scan"), {"e2e": "failure", "scan": "pending"}, F,
     "require-checks: e2e failure on the source commit"),
    (("e2e", "scan"), {"e2e": "success", "scan": "error"}, F,
     "require-checks: scan error on the source commit"),
    (("e2e", "scan"), {"e2e": "success"}, W, "require-checks: scan missing"),
])
def test_require_checks(names: tuple[str, ...], checks: dict[str, str] | None,
                        state: GateState, detail: str) -> None:
    result = gates.require_checks(names, checks)
    assert (result.gate, result.state, result.detail) == (Gate.REQUIRE_CHECKS, state, detail)


@pytest.mark.parametrize(("required", "approvals", "state", "detail"), [
    (0, 0, P, "min-approvals: none required"),
    (2, 0, W, "min-approvals: 0 of 2"),
    (2, 1, W, "min-approvals: 1 of 2"),
    (2, 2, P, "min-approvals: 2 of 2"),
    (1, 3, P, "min-approvals: 3 of 1"),
])
def test_min_approvals(required: int, approvals: int, state: GateState, detail: str) -> None:
    result = gates.min_approvals(required, approvals)
    assert (result.state, result.detail) == (state, detail)


_FRIDAY_NIGHT = FreezeWindow(days=(4,), start_time=time(18, 0), end_time=time(8, 0),
                             timezone="Europe/Berlin", reason="weekend")
_ONE_OFF = FreezeWindow(start=datetime(2026, 12, 20, tzinfo=UTC),
                        end=datetime(2027, 1, 4, tzinfo=UTC), reason="holidays")


@pytest.mark.parametrize(("windows", "now", "state", "detail"), [
    ((), NOW, P, "freeze: not frozen"),
    ((_ONE_OFF,), NOW, P, "freeze: not frozen"),
    ((_ONE_OFF,), datetime(2026, 12, 24, tzinfo=UTC), W,
     "freeze: frozen until 2027-01-04 00:00+00:00 (holidays)"),
    ((_FRIDAY_NIGHT,), datetime(2026, 11, 27, 16, 59, tzinfo=UTC), P, "freeze: not frozen"),
    ((_FRIDAY_NIGHT,), datetime(2026, 11, 27, 17, 0, tzinfo=UTC), W,
     "freeze: frozen until 08:00 Europe/Berlin (weekend)"),
    ((_FRIDAY_NIGHT,), datetime(2026, 11, 28, 6, 59, tzinfo=UTC), W,
     "freeze: frozen until 08:00 Europe/Berlin (weekend)"),
    ((_FRIDAY_NIGHT,), datetime(2026, 11, 28, 7, 0, tzinfo=UTC), P, "freeze: not frozen"),
    ((FreezeWindow(days=(0,)),), NOW, W, "freeze: frozen until 24:00 UTC"),
])
def test_freeze(windows: tuple[FreezeWindow, ...], now: datetime, state: GateState,
                detail: str) -> None:
    result = gates.freeze(Gates(freeze=windows), now=now)
    assert (result.state, result.detail) == (state, detail)


@pytest.mark.parametrize(("held_by", "state", "detail"), [
    ((), P, "hold: no promoter/hold label"),
    ((12,), F, "hold: promoter/hold on #12"),
    ((12, 3, 12), F, "hold: promoter/hold on #3, #12"),
])
def test_hold(held_by: tuple[int, ...], state: GateState, detail: str) -> None:
    result = gates.hold("promoter/hold", held_by)
    assert (result.state, result.detail) == (state, detail)


def _facts(**kw: object) -> Facts:
    base: dict[str, object] = {"source": "dev", "update": UpdateType.PATCH,
                               "since": NOW - timedelta(days=1), "checks": {"e2e": "success"}}
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


STRICT = Gates(soak=timedelta(hours=2), require_checks=("e2e",), auto=Auto.MINOR,
               min_approvals=1)


@pytest.mark.parametrize(("facts", "opens", "status", "merges"), [
    (_facts(approvals=1), True, (P, "all gates pass"), True),
    (_facts(), True, (P, "all gates pass"), False),  # no approval yet: no auto-merge
    (_facts(update=UpdateType.MAJOR, approvals=1), False, (P, "all gates pass"), True),
    (_facts(update=UpdateType.MAJOR, override=True), True, (P, "all gates pass"), False),
    (_facts(since=NOW - timedelta(minutes=97)), True,
     (W, "soak: 23 min left (1h 37 min of 2h on dev)"), False),
    (_facts(checks={"e2e": "failure"}, since=NOW), True,
     (F, "require-checks: e2e failure on the source commit"), False),
    (_facts(held_by=(7,), approvals=1), False, (F, "hold: promoter/hold on #7"), False),
    (_facts(checks={}, since=NOW - timedelta(minutes=90)), True,
     (W, "soak: 30 min left (1h 30 min of 2h on dev); require-checks: e2e missing"), False),
])
def test_decisions(facts: Facts, opens: bool, status: tuple[GateState, str],
                   merges: bool) -> None:
    results = gates.evaluate(STRICT, facts, now=NOW)
    assert [r.gate for r in results] == list(Gate)
    assert gates.may_open(results) is opens
    assert gates.verdict(results) == status
    assert gates.may_auto_merge(results) is merges


def test_freeze_stops_opening_and_keeps_the_status_pending() -> None:
    frozen = Gates(freeze=(FreezeWindow(days=(0,), reason="monday"),))
    results = gates.evaluate(frozen, _facts(), now=NOW)
    assert not gates.may_open(results)
    assert gates.verdict(results) == (W, "freeze: frozen until 24:00 UTC (monday)")


def test_verdict_description_fits_a_commit_status() -> None:
    many = [GateResult(gate=Gate.REQUIRE_CHECKS, state=W, detail=f"require-checks: check{i} "
                       "missing") for i in range(20)]
    state, text = gates.verdict(many)
    assert state is W and len(text) == 140 and text.endswith("...")


@pytest.mark.parametrize(("delta", "text"), [
    (timedelta(0), "0s"), (timedelta(seconds=59), "59s"), (timedelta(seconds=61), "1 min"),
    (timedelta(minutes=60), "1h"), (timedelta(minutes=61), "1h 1 min"),
    (timedelta(days=1), "1d"), (timedelta(days=3, hours=4, minutes=5), "3d 4h"),
    (timedelta(seconds=-5), "0s"),
])
def test_duration(delta: timedelta, text: str) -> None:
    assert gates.duration(delta) == text


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
       st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_soak_passes_exactly_when_soaked_long_enough(required: timedelta,
                                                     soaked: timedelta) -> None:
    result = gates.soak(required, NOW - soaked, now=NOW, source="dev")
    assert result.passed is (soaked >= required)


def test_table_lists_every_gate_per_image() -> None:
    results = gates.evaluate(STRICT, _facts(checks={"e2e": "fail|ed"}), now=NOW)
    text = gates.table([("api", results)])
    lines = text.splitlines()
    assert lines[:2] == ["| image | gate | state | detail |", "| --- | --- | --- | --- |"]
    assert len(lines) == 2 + len(Gate)
    assert "| `api` | require-checks | **fail** | e2e fail\\|ed on the source commit |" in lines


def test_duration_rounds_what_is_left_up() -> None:
    assert gates.duration(timedelta(seconds=61), up=True) == "2 min"
    assert gates.duration(timedelta(minutes=22, seconds=1), up=True) == "23 min"
