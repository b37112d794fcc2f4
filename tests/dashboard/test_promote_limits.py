"""Limits in the promote flow (in memory): one budget for every step of a run, a command's
promotion is not limited, and the dashboard's rows for a promotion run."""

from __future__ import annotations

from datetime import timedelta

from promoter import dashboard as d
from promoter.flows import dashboard
from promoter.flows.publish import Outcome
from tests.flows.test_promote import World, _config


def _world() -> World:
    w = World(dev="1.2.0", staging="1.1.0", prod="1.0.0")
    w.now += timedelta(hours=1)
    return w


def test_one_budget_for_all_steps_and_the_later_step_waits() -> None:
    w = _world()
    report = w.run(_config(prs="  max-open: 1"))
    assert [(r.branch, r.outcome, r.reason) for r in report.results] == [
        ("promoter/staging/web", Outcome.CREATED, None),
        ("promoter/prod/web", Outcome.WAITING, "max-open 1 reached")]
    assert w.ws.branch_head("promoter/prod/web") is None
    assert report.exit_code == 0
    rows = dashboard.report_rows(report)
    assert [(r.state, r.env, r.image, r.version, r.action) for r in rows] == [
        (d.State.WAITING, "prod", "web", "1.1.0", d.Action.PROMOTE)]


def test_a_commands_promotion_is_not_limited() -> None:
    w = _world()
    report = w.run(_config(prs="  max-open: 1"), override=True)
    assert [(r.branch, r.outcome) for r in report.results] == [
        ("promoter/staging/web", Outcome.CREATED), ("promoter/prod/web", Outcome.CREATED)]


def test_a_blocked_step_is_a_row_with_the_gates_words() -> None:
    w = _world()
    report = w.run(_config("    gates: {soak: 3h}"), dry_run=True)
    [row] = [r for r in dashboard.report_rows(report) if r.state is d.State.BLOCKED]
    assert (row.env, row.image, row.version, row.action) == ("staging", "web", "1.2.0", None)
    assert row.reason.startswith("soak:"), row.reason
