"""Promotion graphs in the promote flow: fan-out opens one pull request per target, a fan-in
moves a version only when every source runs it and passed its gates there."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from promoter.config import Config, Identity, parse_config
from promoter.errors import InputError
from promoter.flows.comment import CommentEvent, Ports, handle
from promoter.flows.promote import Decision, Report, lagging, promote, select_steps
from promoter.forge import CommitStatus, Permission, StatusState
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import MemoryWorkspace
from promoter.plan import Located, Pin

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ENVS = ("staging", "canary-eu", "canary-us", "prod")
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: registry.example/acme/web
    newTag: "{tag}"
"""
_HUMAN = Identity(name="Dev Eloper", email="dev@example.com")


def _config(canary_us_gates: str = "") -> Config:
    return parse_config(f"""\
environments:
  - {{name: staging, paths: [overlays/staging]}}
  - {{name: canary-eu, from: staging, paths: [overlays/canary-eu]}}
  - name: canary-us
    from: [staging]
    paths: [overlays/canary-us]
{canary_us_gates}
  - {{name: prod, from: [canary-eu, canary-us], paths: [overlays/prod],
     gates: {{soak: 1h}}}}
images:
  - name: web
    repository: registry.example/acme/web
forge: {{type: github, repository: acme/gitops, token-env: T}}
""")


class World:
    def __init__(self, **tags: str) -> None:
        self.now = START
        self.ws = MemoryWorkspace({f"overlays/{env}/kustomization.yaml":
                                   KUSTOMIZATION.format(tag=tags.get(env.replace("-", "_"),
                                                                     "1.0.0"))
                                   for env in ENVS}, clock=lambda: self.now.timestamp())
        self.forge = MemoryForge("acme/gitops", resolve=self.ws.branch_head)

    def set(self, env: str, tag: str) -> None:
        head = self.ws.branches["main"]
        self.ws.branches["main"] = self.ws.commit(
            parent=head, files={f"overlays/{env}/kustomization.yaml":
                                KUSTOMIZATION.format(tag=tag)},
            message=f"{env}: {tag}", author=_HUMAN)

    def run(self, cfg: Config, **kw: object) -> Report:
        return promote(cfg, self.ws, self.forge, now=self.now, **kw)  # type: ignore[arg-type]

    def merge(self, number: int) -> None:
        self.ws.branches["main"] = self.ws.branches[self.forge.get(number).head]
        self.forge.merge(number)


def _steps(cfg: Config, source: str | None, target: str | None) -> list[tuple[str, str]]:
    return [("+".join(s.name for s in srcs), t.name)
            for srcs, t in select_steps(cfg, source, target)]


def test_steps_follow_the_graph() -> None:
    cfg = _config()
    assert _steps(cfg, None, None) == [("staging", "canary-eu"), ("staging", "canary-us"),
                                       ("canary-eu+canary-us", "prod")]
    assert _steps(cfg, "staging", None) == [("staging", "canary-eu"), ("staging", "canary-us")]
    # a fan-in always waits for all of its sources, also when one is named
    assert _steps(cfg, "canary-us", "prod") == [("canary-eu+canary-us", "prod")]
    with pytest.raises(InputError, match="prod is promoted from canary-eu, canary-us only, "
                                         "not from staging"):
        select_steps(cfg, "staging", "prod")
    with pytest.raises(InputError, match="no environment is promoted from prod"):
        select_steps(cfg, "prod", None)


def test_fan_out_opens_one_pull_request_per_target() -> None:
    w = World(staging="1.1.0")
    report = w.run(_config())
    assert [(r.branch, r.action) for r in report.results] == [
        ("promoter/canary-eu/web", "opened"), ("promoter/canary-us/web", "opened")]
    assert report.steps == (("staging", "canary-eu"), ("staging", "canary-us"),
                            ("canary-eu", "prod"), ("canary-us", "prod"))
    assert [w.forge.get(r.number or 0).title for r in report.results] == [
        "Promote web to 1.1.0 in canary-eu", "Promote web to 1.1.0 in canary-us"]


def test_fan_in_waits_for_the_lagging_source_then_opens_one_pull_request() -> None:
    w = World(staging="1.1.0", canary_eu="1.1.0")
    w.now += timedelta(hours=2)
    cfg = _config()
    report = w.run(cfg, target="prod")
    (step,) = report.images
    assert (step.source, step.decision) == ("canary-eu, canary-us", Decision.SKIPPED)
    assert step.reason == ("the sources disagree on web: canary-eu runs 1.1.0, canary-us runs "
                           "1.0.0 (canary-us lags); it moves only when every source runs the "
                           "same version")
    assert report.results == ()
    w.set("canary-us", "1.1.0")
    w.now += timedelta(minutes=30)  # the soak counts from the later arrival: canary-us's
    report = w.run(cfg, target="prod")
    (step,) = report.images
    assert step.decision is Decision.PROMOTE
    assert [(r.gate.value, r.detail) for r in step.gates if r.gate.value == "soak"] == [
        ("soak", "soak: over 1h on canary-eu"),
        ("soak", "soak: 30 min left (30 min of 1h on canary-us)")]
    assert report.statuses[0].state.value == "pending"
    assert [(r.branch, r.action) for r in report.results] == [("promoter/prod/web", "opened")]
    pr = w.forge.get(report.results[0].number or 0)
    assert "canary-eu, canary-us" in pr.body
    w.merge(pr.number)
    assert w.run(cfg, target="prod").images[0].decision is Decision.UP_TO_DATE


def test_a_fan_in_source_whose_gate_fails_stops_the_version() -> None:
    # health is read per source: canary-us reports its deployment degraded
    cfg = parse_config("""\
environments:
  - {name: staging, paths: [overlays/staging]}
  - {name: canary-eu, from: staging, paths: [overlays/canary-eu]}
  - {name: canary-us, from: staging, paths: [overlays/canary-us],
     health: {statuses: [argocd/canary-us]}}
  - {name: prod, from: [canary-eu, canary-us], paths: [overlays/prod]}
images:
  - {name: web, repository: registry.example/acme/web}
forge: {type: github, repository: acme/gitops, token-env: T}
""")
    w = World(staging="1.1.0", canary_eu="1.1.0", canary_us="1.1.0")
    w.forge.set_status(w.ws.branches["main"], CommitStatus(
        context="argocd/canary-us", state=StatusState.FAILURE, description="degraded"))
    report = w.run(cfg, target="prod")
    (step,) = report.images
    assert step.decision is Decision.PROMOTE  # health fails the status, not the opening
    health = [r for r in step.gates if r.gate.value == "health"]
    assert [r.state.value for r in health] == ["pass", "fail"]
    assert "canary-us" in health[1].detail and "canary-eu" not in health[1].detail
    (status,) = report.statuses
    assert status.state is StatusState.FAILURE


def _loc(env: str, tag: str | None) -> Located:
    cfg = _config()
    pins = (Pin(file="f", site=None),) if tag else ()  # type: ignore[arg-type]
    return Located(image=cfg.image("web"), env=env, pins=pins, tag=tag, digest=None)


@pytest.mark.parametrize(("tags", "reason"), [
    (("1.2.0", "1.2.0"), ""),
    (("1.2.0", None), ""),  # the step says "not found in b"
    (("1.2.0", "1.3.0"), "the sources disagree on web: a runs 1.2.0, b runs 1.3.0 (a lags)"),
    (("1.2.0", "1.3.0", "1.1.0"),
     "the sources disagree on web: a runs 1.2.0, b runs 1.3.0, c runs 1.1.0 (a, c lag)"),
    (("blue", "green"), "the sources disagree on web: a runs blue, b runs green "
                        "(they disagree)"),
])
def test_lagging_names_the_sources_behind(tags: tuple[str | None, ...], reason: str) -> None:
    got = lagging([_loc(env, tag) for env, tag in zip("abc", tags, strict=False)])
    assert got.split(";")[0] == reason


def test_promote_comment_into_a_fan_in_honours_every_source() -> None:
    w = World(staging="1.1.0", canary_eu="1.1.0")
    cfg = _config()
    w.forge.permissions["alice"] = Permission.WRITE
    opened = w.run(cfg, target="canary-us").results[0].number or 0

    @contextlib.contextmanager
    def opener() -> Iterator[MemoryWorkspace]:
        yield w.ws

    def say(body: str) -> str:
        cid = w.forge.add_comment(opened, "alice", body).id
        handle(CommentEvent(number=opened, comment_id=cid, author="alice", body=body), cfg,
               Ports(forge=w.forge, workspace=opener, registry=None, clock=lambda: w.now))
        return w.forge.comments(opened)[-1].body

    reply = say("/promote prod")
    assert "canary-eu, canary-us -> prod: web 1.0.0 skipped: the sources disagree" in reply
    assert "(canary-us lags)" in reply
    assert w.forge.find(head="promoter/prod/web", base="main") is None
    w.merge(opened)  # canary-us catches up
    reply = say("/promote prod")
    assert "canary-eu, canary-us -> prod: web 1.0.0 -> 1.1.0 (minor) promote" in reply
    assert w.forge.find(head="promoter/prod/web", base="main") is not None
