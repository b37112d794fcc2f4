"""The health gate: what an environment runs is promoted out of it only once the statuses it
reports (Argo CD / Flux notifications) are green on its branch head. In memory here; on the
fake GitHub and GitLab through the real clients in test_health_gate_e2e."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from promoter.config import Config
from promoter.flows.promote import Decision
from promoter.forge import CommitStatus, StatusState
from tests.flows.test_promote import World
from tests.flows.test_promote import _config as _promote_config


def _config() -> Config:
    """test_promote's three environments, dev reporting its health by two statuses (the YAML
    key itself is read in test_health_gate_e2e)."""
    cfg = _promote_config()
    dev = replace(cfg.environments[0], health_statuses=("argocd/web-dev", "flux/apps-dev"))
    return replace(cfg, environments=(dev, *cfg.environments[1:]))


def test_promotion_out_waits_until_the_environment_reports_healthy() -> None:
    w = World()
    w.now += timedelta(hours=1)
    head = w.set("dev", "1.1.0")
    cfg = _config()
    report = w.run(cfg)
    [step] = [i for i in report.images if i.target == "staging"]
    assert step.decision is Decision.PROMOTE  # the PR opens; its status waits
    [health] = [g for g in step.gates if g.name == "health"]
    assert health.detail == ("health: dev not reported healthy yet: argocd/web-dev missing, "
                             "flux/apps-dev missing")
    number = report.results[0].number or 0
    status = w.gate_status(number)
    assert (status.state, status.description) == (StatusState.PENDING, health.detail)
    assert "| `web` | health | pending | dev not reported healthy yet:" in \
        w.forge.get(number).body

    w.forge.set_status(head, CommitStatus(context="argocd/web-dev", state=StatusState.SUCCESS))
    w.forge.set_status(head, CommitStatus(context="flux/apps-dev", state=StatusState.FAILURE))
    w.run(cfg)
    status = w.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.FAILURE, "health: dev unhealthy: flux/apps-dev failure")

    w.forge.set_status(head, CommitStatus(context="flux/apps-dev", state=StatusState.SUCCESS))
    report = w.run(cfg)
    [step] = [i for i in report.images if i.target == "staging"]
    [health] = [g for g in step.gates if g.name == "health"]
    assert health.detail == "health: dev healthy (argocd/web-dev, flux/apps-dev)"
    assert w.gate_status(number).state is StatusState.SUCCESS
    # staging reports no health: promotion out of it has nothing to wait for
    w.merge(number)
    [step] = [i for i in w.run(cfg).images if i.target == "prod"]
    assert [g.detail for g in step.gates if g.name == "health"] == [
        "health: staging reports no health"]
