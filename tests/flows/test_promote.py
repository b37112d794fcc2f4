"""The promote flow in memory (MemoryWorkspace, MemoryForge, an injected clock): order, gates,
the ``promoter/gates`` status and auto-merge. End-to-end on the fake forges: test_promote_e2e."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promoter.config import Config, Identity, parse_config
from promoter.errors import InputError
from promoter.flows.promote import Decision, Report, promote, select_steps
from promoter.forge import CommitStatus, StatusState
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import MemoryWorkspace

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
IMAGE = "registry.example/acme/web"
DIGEST = "sha256:" + "ab" * 32

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: registry.example/acme/web
    newTag: "{tag}"   # promoted
"""


def _config(gates: str = "", prs: str = "") -> Config:
    return parse_config(f"""\
environments:
  - name: dev
    paths: [overlays/dev]
  - name: staging
    paths: [overlays/staging]
{gates}
  - name: prod
    paths: [overlays/prod]
images:
  - name: web
    repository: {IMAGE}
    policy: {{semver: "^1.0"}}
forge: {{type: github, repository: acme/gitops, token-env: T}}
pull-requests:
  labels: [promoter]
{prs}
""")


class World:
    """A repository with three overlays, a clock the test moves, and a forge tied to it."""

    def __init__(self, dev: str = "1.0.0", staging: str = "1.0.0", prod: str = "1.0.0") -> None:
        self.now = START
        self.ws = MemoryWorkspace({f"overlays/{env}/kustomization.yaml":
                                   KUSTOMIZATION.format(tag=tag)
                                   for env, tag in (("dev", dev), ("staging", staging),
                                                    ("prod", prod))},
                                  clock=lambda: self.now.timestamp())
        self.forge = MemoryForge("acme/gitops", resolve=self.ws.branch_head)

    def set(self, env: str, tag: str) -> str:
        """A commit on main setting ``env`` to ``tag`` (a dev PR merged), at the clock's time."""
        head = self.ws.branches["main"]
        sha = self.ws.commit(parent=head, files={
            f"overlays/{env}/kustomization.yaml": KUSTOMIZATION.format(tag=tag)},
            message=f"{env}: {tag}", author=_HUMAN)
        self.ws.branches["main"] = sha
        return sha

    def tag(self, env: str) -> str:
        text = self.ws.read("main", f"overlays/{env}/kustomization.yaml") or ""
        return text.split('newTag: "', 1)[1].split('"', 1)[0]

    def run(self, cfg: Config, **kw: object) -> Report:
        return promote(cfg, self.ws, self.forge, now=self.now, **kw)  # type: ignore[arg-type]

    def merge(self, number: int) -> None:
        pr = self.forge.get(number)
        self.ws.branches["main"] = self.ws.branches[pr.head]  # one commit on main: fast-forward
        self.forge.merge(number)

    def gate_status(self, number: int) -> CommitStatus:
        sha = self.forge.get(number).head_sha
        return next(s for s in self.forge.statuses(sha) if s.context == "promoter/gates")


_HUMAN = Identity(name="Dev Eloper", email="dev@example.com")


def test_a_tag_flows_dev_staging_prod_through_two_promotion_prs() -> None:
    w = World()
    w.now += timedelta(hours=1)
    w.set("dev", "1.1.0")
    cfg = _config()
    report = w.run(cfg)
    assert [(i.image, i.source, i.target, i.decision) for i in report.images] == [
        ("web", "dev", "staging", Decision.PROMOTE),
        ("web", "staging", "prod", Decision.UP_TO_DATE)]
    assert [(r.branch, r.action) for r in report.results] == [("promoter/staging/web", "opened")]
    number = report.results[0].number or 0
    pr = w.forge.get(number)
    assert pr.title == "Promote web to 1.1.0 in staging"
    assert "### Gates" in pr.body and "| `web` | soak | pass |" in pr.body
    assert w.gate_status(number).state is StatusState.SUCCESS
    assert w.run(cfg).results[0].action == "kept"  # idempotent
    w.merge(number)
    assert w.tag("staging") == "1.1.0"
    report = w.run(cfg)
    assert [(r.branch, r.action) for r in report.results] == [("promoter/prod/web", "opened")]
    w.merge(report.results[0].number or 0)
    assert (w.tag("dev"), w.tag("staging"), w.tag("prod")) == ("1.1.0",) * 3
    assert w.run(cfg).results == ()


def test_soak_keeps_the_status_pending_until_the_clock_passes_it() -> None:
    w = World()
    w.set("dev", "1.1.0")
    cfg = _config("    gates: {soak: 1h}")
    w.now += timedelta(minutes=37)
    report = w.run(cfg, target="staging")
    number = report.results[0].number or 0
    status = w.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.PENDING, "soak: 23 min left (37 min of 1h on dev)")
    w.now += timedelta(minutes=23)
    w.run(cfg, target="staging")
    status = w.gate_status(number)
    assert (status.state, status.description) == (StatusState.SUCCESS, "all gates pass")


def test_select_steps_keeps_order() -> None:
    cfg = _config()
    assert [(s.name, t.name) for s, t in select_steps(cfg, None, None)] == [
        ("dev", "staging"), ("staging", "prod")]
    assert [(s.name, t.name) for s, t in select_steps(cfg, "staging", None)] == [
        ("staging", "prod")]
    assert [(s.name, t.name) for s, t in select_steps(cfg, None, "prod")] == [
        ("staging", "prod")]
    with pytest.raises(InputError, match="prod is promoted from staging only, not from dev"):
        select_steps(cfg, "dev", "prod")
    with pytest.raises(InputError, match="dev is the first environment"):
        select_steps(cfg, None, "dev")
    with pytest.raises(InputError, match="prod is the last environment"):
        select_steps(cfg, "prod", None)
