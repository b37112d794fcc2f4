"""Release bundles over in-memory ports: poll and promote move a bundle's members in one pull
request or not at all, and say which member holds the bundle back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promoter.config import Config, Identity, parse_config
from promoter.flows.check import Rule, check
from promoter.flows.poll import poll
from promoter.flows.promote import Decision, promote
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import MemoryWorkspace
from promoter.registry.memory import MemoryRegistry

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
IMAGES = ("api", "worker", "web")
_HUMAN = Identity(name="Dev Eloper", email="dev@example.com")


def _config(prs: str = "") -> Config:
    return parse_config(f"""\
environments:
  - {{name: dev, paths: [dev]}}
  - {{name: staging, paths: [staging]}}
images:
  - {{name: api, repository: ghcr.io/acme/api}}
  - {{name: worker, repository: ghcr.io/acme/worker}}
  - {{name: web, repository: ghcr.io/acme/web}}
bundles:
  - {{name: backend, images: [api, worker]}}
forge: {{type: github, repository: acme/gitops, token-env: T}}
{prs}""")


def _kustomization(**tags: str) -> str:
    return "images:\n" + "".join(f"  - name: ghcr.io/acme/{i}\n    newTag: {tags.get(i, '1.0.0')}\n"
                                 for i in IMAGES)


class World:
    def __init__(self, dev: dict[str, str] | None = None,
                 staging: dict[str, str] | None = None) -> None:
        self.ws = MemoryWorkspace({"dev/kustomization.yaml": _kustomization(**(dev or {})),
                                   "staging/kustomization.yaml":
                                       _kustomization(**(staging or {}))},
                                  clock=lambda: NOW.timestamp())
        self.forge = MemoryForge("acme/gitops", resolve=self.ws.branch_head)
        self.registry = MemoryRegistry()

    def titles(self) -> dict[str, str]:
        return {pr.head: pr.title for pr in self.forge.list_open()}

    def files(self, branch: str, env: str) -> str:
        return self.ws.read(branch, f"{env}/kustomization.yaml") or ""


def test_promote_moves_a_bundle_whole_in_one_pull_request() -> None:
    w = World(dev={"api": "1.1.0", "worker": "1.1.0", "web": "2.0.0"})
    report = promote(_config(), w.ws, w.forge, now=NOW)
    assert w.titles() == {"promoter/staging/backend": "Promote backend to 1.1.0 in staging",
                          "promoter/staging/web": "Promote web to 2.0.0 in staging"}
    assert [(i.image, i.decision) for i in report.images] == [
        ("api", Decision.PROMOTE), ("worker", Decision.PROMOTE), ("web", Decision.PROMOTE)]
    assert w.files("promoter/staging/backend", "staging") == _kustomization(
        api="1.1.0", worker="1.1.0")
    # a second run keeps the one pull request
    again = promote(_config(), w.ws, w.forge, now=NOW)
    assert {(r.branch, r.action) for r in again.results} == {
        ("promoter/staging/backend", "kept"), ("promoter/staging/web", "kept")}


def test_a_member_that_cannot_move_blocks_the_bundle_and_is_named() -> None:
    # worker in staging is ahead of dev: order says no, so api waits too
    w = World(dev={"api": "1.1.0", "worker": "1.1.0"}, staging={"worker": "1.2.0"})
    report = promote(_config(), w.ws, w.forge, now=NOW)
    steps = {i.image: i for i in report.images}
    assert steps["worker"].decision is Decision.SKIPPED
    assert steps["api"].decision is Decision.BLOCKED
    assert steps["api"].reason == (
        "bundle backend moves whole, and worker is skipped (staging runs worker 1.2.0, ahead "
        "of dev's 1.1.0; promotion never moves backwards (rollback))")
    assert w.titles() == {}


def test_a_member_already_there_counts_as_moved() -> None:
    w = World(dev={"api": "1.1.0"})
    report = promote(_config(), w.ws, w.forge, now=NOW, images=["api"])
    assert [(i.image, i.decision) for i in report.images] == [
        ("api", Decision.PROMOTE), ("worker", Decision.UP_TO_DATE)]  # asked for whole
    assert list(w.titles()) == ["promoter/staging/backend"]


def test_different_versions_in_one_bundle_title() -> None:
    w = World(dev={"api": "1.1.0", "worker": "3.0.1"})
    promote(_config(), w.ws, w.forge, now=NOW)
    assert w.titles()["promoter/staging/backend"] == (
        "Promote backend to api 1.1.0, worker 3.0.1 in staging")


@pytest.mark.parametrize("prs", ["", "pull-requests: {group: environment}"])
def test_poll_moves_a_bundle_only_when_every_member_has_a_new_version(prs: str) -> None:
    w = World()
    for ref in ("api:1.0.0", "api:1.1.0", "worker:1.0.0", "web:1.0.0", "web:1.0.1"):
        w.registry.push(f"ghcr.io/acme/{ref}")
    report = poll(_config(prs), w.ws, w.registry, w.forge)
    assert ("api", "bundle backend moves whole; worker has no new version for dev, so no "
                   "member moves") in report.plan.skipped
    assert [[u.image for u in pr.updates] for pr in report.plan.pull_requests] == [["web"]]
    w.registry.push("ghcr.io/acme/worker:1.1.0")
    report = poll(_config(prs), w.ws, w.registry, w.forge)
    moved = [[u.image for u in pr.updates] for pr in report.plan.pull_requests]
    if prs:  # one pull request for the environment, the bundle in it whole
        assert moved == [["api", "worker", "web"]]
    else:
        assert moved == [["api", "worker"], ["web"]]
        assert w.titles()["promoter/dev/backend"] == "Promote backend to 1.1.0 in dev"


def _change(w: World, branch: str, env: str, **tags: str) -> tuple[str, str]:
    base = w.ws.branches["main"]
    w.ws.branches[branch] = w.ws.commit(
        parent=base, files={f"{env}/kustomization.yaml": _kustomization(**tags)},
        message=f"{env}: {tags}", author=_HUMAN)
    return base, w.ws.branches[branch]


def test_check_refuses_a_change_that_moves_part_of_a_bundle() -> None:
    w = World(dev={"api": "1.1.0", "worker": "1.1.0"})
    base, head = _change(w, "half", "staging", api="1.1.0")
    report = check(_config(), w.ws, None, base=base, head=head)
    assert [(v.rule, v.env, v.message) for v in report.violations] == [
        (Rule.BUNDLE, "staging", "bundle backend: staging gets api but not worker; a bundle "
                                 "moves whole, in one change")]
    assert report.exit_code == 1
    base, head = _change(w, "whole", "staging", api="1.1.0", worker="1.1.0")
    assert check(_config(), w.ws, None, base=base, head=head).violations == ()


def test_check_lets_a_member_stay_that_runs_its_sources_version() -> None:
    w = World(dev={"api": "1.1.0"})  # worker: 1.0.0 in dev and staging
    base, head = _change(w, "api", "staging", api="1.1.0")
    assert check(_config(), w.ws, None, base=base, head=head).violations == ()
    # in the first environment, a member that does not move is always missing
    base, head = _change(w, "dev-half", "dev", api="1.2.0")
    assert [v.rule for v in check(_config(), w.ws, None, base=base, head=head).violations] == [
        Rule.BUNDLE]
