"""A promotion graph end to end: the real registry, real git over HTTP and the fake GitHub
(PyGithub): dev fans out to eu and us (two pull requests), prod fans in from both and gets its
pull request only once both run the version."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.demo.push import Pusher
from promoter.flows.promote import Decision
from tests.flows.test_promote_e2e import OVERLAY, World, _n
from tests.forge.harness import GitHubHarness
from tests.servers.fake_github import FakeGitHub
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
ENVS = ("dev", "eu", "us", "prod")


@pytest.fixture
def world(github: FakeGitHub, registry: LocalRegistry, pusher: Pusher, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> World:
    h = GitHubHarness(github)
    path = f"e2e/graph{next(_n)}"
    ref = f"{registry.host}/{path}"
    digests = {tag: pusher.push(path, tag) for tag in ("1.0.0", "1.1.0")}
    files = {f"overlays/{env}/kustomization.yaml":
             OVERLAY.format(env=env, image=ref, digest=digests["1.0.0"]) for env in ENVS}
    files[".promoter.yaml"] = f"""\
environments:
  - {{name: dev, paths: [overlays/dev]}}
  - {{name: eu, from: dev, paths: [overlays/eu]}}
  - {{name: us, from: dev, paths: [overlays/us]}}
  - {{name: prod, from: [eu, us], paths: [overlays/prod]}}
images:
  - {{name: web, repository: {ref}, policy: {{semver: "^1.0"}}}}
forge: {{type: github, url: {github.url}, repository: {h.name}, token-env: FORGE_TOKEN}}
"""
    h.branch("main", files)
    monkeypatch.setenv("FORGE_TOKEN", h.token)
    return World(h, ref, digests, tmp_path)


def test_fan_out_then_fan_in(world: World) -> None:
    world.h.merge(world.poll())  # the registry's 1.1.0 into dev
    report = world.promote()
    assert report.ok, report
    # fan-out: one pull request per target, each from dev
    assert [(r.branch, r.action) for r in report.results] == [
        ("promoter/eu/web", "opened"), ("promoter/us/web", "opened")]
    eu, us = (world.h.forge.get(r.number or 0) for r in report.results)
    assert [pr.title for pr in (eu, us)] == ["Promote web to 1.1.0 in eu",
                                            "Promote web to 1.1.0 in us"]
    assert [i.decision for i in report.images if i.target == "prod"] == [Decision.UP_TO_DATE]

    # fan-in: eu runs it, us lags -> nothing for prod
    world.h.merge(eu.number)
    report = world.promote(target="prod")
    assert report.results == ()
    (step,) = report.images
    assert (step.source, step.decision) == ("eu, us", Decision.SKIPPED)
    assert "(us lags)" in step.reason and "us runs 1.0.0@" in step.reason

    # both run it -> one pull request into prod with dev's tag and digest
    world.h.merge(us.number)
    report = world.promote()
    assert [(r.branch, r.action) for r in report.results] == [("promoter/prod/web", "opened")]
    prod = world.h.forge.get(report.results[0].number or 0)
    assert "| `web` | soak | pass | not required |" in prod.body
    world.h.merge(prod.number)
    assert world.show("prod") == ("1.1.0", world.digests["1.1.0"])
    assert world.promote().results == ()
