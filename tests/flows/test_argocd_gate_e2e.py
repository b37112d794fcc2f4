"""The argocd gate end to end: ``promoter promote`` on the command line, with the real registry,
real git over HTTP, the fake GitHub through PyGithub and the fake Argo CD through the real httpx
client; the clock is moved with ``--now``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promoter.cli import main
from promoter.demo.push import Pusher
from tests.flows.test_promote_e2e import World, _world
from tests.servers.fake_argocd import FakeArgoCD
from tests.servers.fake_github import FakeGitHub
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
TOKEN = "argocd-e2e-token-0123456789"


@pytest.fixture
def argocd() -> Iterator[FakeArgoCD]:
    with FakeArgoCD(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def world(github: FakeGitHub, registry: LocalRegistry, pusher: Pusher, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch, argocd: FakeArgoCD) -> World:
    """dev (deployed by the Application web-dev) runs 1.1.0 from the registry; staging soaks
    it for an hour."""
    w = _world("github", github, registry, pusher, tmp_path, monkeypatch, staging="soak: 1h")
    text = w._git("show", "main:.promoter.yaml").replace(
        "  - {name: dev, paths: [overlays/dev]}",
        "  - name: dev\n    paths: [overlays/dev]\n    health:\n      argocd: "
        f"{{url: '{argocd.url}', application: web-dev, token-env: ARGOCD_TOKEN}}")
    w.h.branch("main", {".promoter.yaml": text})
    old = w.main_head()
    argocd.put("web-dev", revision=old, finished_at=datetime.now(UTC))
    number = w.poll()
    try:
        w.h.merge(number)
    except AssertionError:  # auto-merge merged it already
        pass
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", w.h.token)
    monkeypatch.setenv("ARGOCD_TOKEN", TOKEN)
    return w


def _promote(world: World, now: datetime, capsys: pytest.CaptureFixture[str]
             ) -> tuple[int, dict[str, Any]]:
    code = main(["promote", "--clone", world.clone_url, "--to", "staging", "--output", "json",
                 "--now", now.isoformat()])
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err
    return code, json.loads(out.out)


def _gate(doc: dict[str, Any], name: str) -> tuple[str, str]:
    [image] = doc["images"]
    [gate] = [g for g in image["gates"] if g["gate"] == name]
    return gate["state"], gate["detail"]


def test_promotion_out_of_dev_follows_its_argo_cd_application(
        world: World, argocd: FakeArgoCD, capsys: pytest.CaptureFixture[str]) -> None:
    head = world.main_head()
    old = argocd.apps["web-dev"]["status"]["sync"]["revision"]
    later = datetime.now(UTC) + timedelta(hours=3)  # 1.1.0 arrived on dev 3h before this

    # Argo CD still runs the commit before the merge: waiting, no pull request
    code, doc = _promote(world, later, capsys)
    assert code == 0
    assert [(i["decision"], i["reason"]) for i in doc["images"]] == [
        ("waiting", f"argocd: app web-dev synced to {old[:7]}, not {head[:7]}")]
    assert doc["pull_requests"] == [] and world.h.forge.list_open() == ()

    # synced to the head, still rolling out: waiting
    argocd.put("web-dev", revision=head, health="Progressing", finished_at=later)
    code, doc = _promote(world, later, capsys)
    assert [(i["decision"], i["reason"]) for i in doc["images"]] == [
        ("waiting", f"argocd: app web-dev Progressing at {head[:7]}")]
    assert world.h.forge.list_open() == ()

    # Healthy at the head since 30 min: the PR opens, the soak counts from healthy
    argocd.put("web-dev", revision=head, finished_at=later - timedelta(minutes=30))
    code, doc = _promote(world, later, capsys)
    assert code == 0
    assert _gate(doc, "argocd") == ("pass", f"argocd: app web-dev Synced to {head[:7]} and "
                                            "Healthy")
    assert _gate(doc, "soak") == ("pending", "soak: 30 min left (30 min of 1h healthy on dev)")
    [pr] = doc["pull_requests"]
    assert pr["action"] == "opened"
    status = world.gate_status(pr["number"])
    assert (status.state.value, status.description) == (
        "pending", "soak: 30 min left (30 min of 1h healthy on dev)")

    # healthy for two hours: every gate passes
    argocd.put("web-dev", revision=head, finished_at=later - timedelta(hours=2))
    code, doc = _promote(world, later, capsys)
    assert _gate(doc, "soak") == ("pass", "soak: over 1h healthy on dev")
    assert world.gate_status(pr["number"]).description == "all gates pass"
    assert TOKEN not in world.h.forge.get(pr["number"]).body
    assert {ok for _, ok in argocd.requests} == {True}
    assert len(argocd.requests) == 4  # one question per run


def test_a_refused_token_fails_the_gate_and_the_run(
        world: World, argocd: FakeArgoCD, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_TOKEN", "not-the-argocd-token")
    code = main(["promote", "--clone", world.clone_url, "--to", "staging"])
    out = capsys.readouterr()
    assert code == 1
    where = f"argocd: application web-dev on {argocd.url}: the token is refused (401)"
    assert f"dev -> staging: web 1.0.0 -> 1.1.0 (minor) waiting: {where}" in out.out
    assert f"promoter: dev: {where}" in out.err
    assert "not-the-argocd-token" not in out.out + out.err
    assert world.h.forge.list_open() == ()
