"""The health gate on the fake GitHub and GitLab through PyGithub and python-gitlab: the
statuses Argo CD or Flux post on dev's commit decide the ``promoter/gates`` status of the
promotion into staging (real registry, real git over HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from promoter.demo.push import Pusher
from promoter.flows.promote import promote
from promoter.forge import CommitStatus, StatusState
from tests.flows.test_promote_e2e import _world
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_statuses_on_the_environment_commit_gate_promotion_out(
        kind: str, request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = _world(kind, request.getfixturevalue(kind), registry, pusher, tmp_path,
                   monkeypatch)
    text = world._git("show", "main:.promoter.yaml").replace(
        "  - {name: dev, paths: [overlays/dev]}",
        "  - {name: dev, paths: [overlays/dev], health: {statuses: [argocd/web-dev]}}")
    world.h.branch("main", {".promoter.yaml": text})
    number = world.poll()
    try:
        world.h.merge(number)
    except AssertionError:  # auto-merge merged it already
        pass
    head = world.main_head()  # dev's commit: what Argo CD syncs and reports on

    def run() -> CommitStatus:
        with world.workspace() as ws:
            report = promote(world.config(), ws, world.h.forge, target="staging",
                             now=datetime.now(UTC))
        assert report.ok, report
        return world.gate_status(report.results[0].number or 0)

    status = run()
    assert (status.state, status.description) == (
        StatusState.PENDING, "health: dev not reported healthy yet: argocd/web-dev missing")
    world.h.forge.set_status(head, CommitStatus(context="argocd/web-dev",
                                                state=StatusState.PENDING))
    assert run().description == "health: dev not reported healthy yet: argocd/web-dev running"
    world.h.forge.set_status(head, CommitStatus(context="argocd/web-dev",
                                                state=StatusState.FAILURE,
                                                description="Degraded"))
    status = run()
    assert (status.state, status.description) == (
        StatusState.FAILURE, "health: dev unhealthy: argocd/web-dev failure")
    world.h.forge.set_status(head, CommitStatus(context="argocd/web-dev",
                                                state=StatusState.SUCCESS,
                                                description="Healthy, Synced"))
    status = run()
    assert (status.state, status.description) == (StatusState.SUCCESS, "all gates pass")
