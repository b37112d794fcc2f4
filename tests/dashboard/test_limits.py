"""pull-requests.max-open / max-per-hour, pure: which new proposals wait, in which order, and
that updates never count. End-to-end on the fake forges: test_dashboard_e2e."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promoter.config import Config, parse_config
from promoter.flows import limits
from promoter.flows.publish import Outcome, Proposal
from promoter.forge import PRState, PullRequest
from promoter.forge.memory import MemoryForge

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def _cfg(limits_yaml: str) -> Config:
    return parse_config(f"""\
environments:
  - {{name: dev, paths: [dev]}}
  - {{name: prod, paths: [prod]}}
images:
  - {{name: api, repository: registry.example/acme/api}}
  - {{name: web, repository: registry.example/acme/web}}
  - {{name: db, repository: registry.example/acme/db}}
pull-requests: {{{limits_yaml}}}
""")


def _proposal(env: str, image: str) -> Proposal:
    return Proposal(env=env, branch=f"promoter/{env}/{image}", base="main", files={},
                    message="m", title="t", body="b", images={image: "1.2.3"})


def _pr(number: int, head: str, *, state: PRState = PRState.OPEN,
        created: datetime = NOW - timedelta(hours=3)) -> PullRequest:
    return PullRequest(number=number, url=f"u/{number}", state=state, title="t", body="",
                       head=head, base="main", head_sha="0" * 40, created_at=created)


def test_max_open_holds_back_in_environment_then_image_order() -> None:
    cfg = _cfg("max-open: 2")
    given = [_proposal("prod", "api"), _proposal("dev", "web"), _proposal("dev", "api")]
    room = limits.count(cfg, [], [])
    admitted, waiting = room.admit(given)
    assert [p.branch for p in admitted] == ["promoter/dev/web", "promoter/dev/api"]
    assert [(w.branch, w.outcome, w.reason) for w in waiting] == [
        ("promoter/prod/api", Outcome.WAITING, "max-open 2 reached")]
    assert waiting[0].images == {"api": "1.2.3"}


def test_updates_never_count_and_are_never_held() -> None:
    cfg = _cfg("max-open: 1")
    open_prs = [_pr(7, "promoter/dev/api"), _pr(8, "someone/else")]
    room = limits.count(cfg, open_prs, [])
    assert room.open_count == 1  # only promoter's branch prefix counts
    admitted, waiting = room.admit([_proposal("dev", "api"), _proposal("dev", "web")])
    assert [p.branch for p in admitted] == ["promoter/dev/api"]
    assert [(w.branch, w.reason) for w in waiting] == [("promoter/dev/web",
                                                        "max-open 1 reached")]


def test_max_per_hour_counts_what_was_opened_in_the_hour_in_any_state() -> None:
    cfg = _cfg("max-per-hour: 2")
    recent = [_pr(3, "promoter/dev/db", state=PRState.MERGED, created=NOW - timedelta(minutes=5))]
    room = limits.count(cfg, [], recent)
    admitted, waiting = room.admit([_proposal("dev", "api"), _proposal("dev", "web")])
    assert [p.branch for p in admitted] == ["promoter/dev/api"]
    assert [w.reason for w in waiting] == ["max-per-hour 2 reached"]
    # the budget is shared by later calls of one run (a promotion's next step)
    assert room.admit([_proposal("prod", "api")])[0] == []


def test_no_limits_admit_everything_without_asking_the_forge() -> None:
    forge = MemoryForge()
    room = limits.budget(_cfg("labels: [x]"), forge, now=NOW)
    given = [_proposal("dev", n) for n in ("a", "b", "c")]
    assert room.admit(given) == (given, [])
    assert forge.calls == []


def test_budget_counts_from_the_forge_and_a_forge_failure_makes_new_ones_wait() -> None:
    forge = MemoryForge()
    forge.set_branch("main", "1" * 40)
    for name in ("promoter/dev/a", "promoter/dev/b"):
        forge.set_branch(name, "2" * 40)
        forge.create(head=name, base="main", title="t", body="b")
    forge.clock = lambda: NOW - timedelta(minutes=61)
    forge.set_branch("promoter/dev/old", "3" * 40)
    forge.create(head="promoter/dev/old", base="main", title="t", body="b")
    forge.close(3)
    room = limits.budget(_cfg("max-open: 5, max-per-hour: 9"), forge, now=NOW)
    assert (room.open_count, room.hour_count) == (2, 2)  # the closed one is 61 minutes old
    forge.fail_next("list_open", "503 down")
    broken = limits.budget(_cfg("max-open: 5"), forge, now=NOW)
    admitted, waiting = broken.admit([_proposal("dev", "x")])
    assert admitted == []
    assert waiting[0].reason == "limits unknown: memory: owner/repo: list_open: 503 down"


def test_order_is_by_image_name_whatever_the_branch_template_makes_of_it() -> None:
    cfg = _cfg("max-open: 1")
    renamed = [Proposal(env="dev", branch=f"bump/{n}-{i}", base="main", files={}, message="m",
                        title="t", body="b", images={n: "1"})
               for i, n in ((1, "web"), (2, "api"))]
    admitted, waiting = limits.count(cfg, [], []).admit(renamed)
    assert [p.images for p in admitted] == [{"api": "1"}]
    assert [w.images for w in waiting] == [{"web": "1"}]
