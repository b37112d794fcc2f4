"""The argocd gate in the promote flow, in memory (MemoryWorkspace, MemoryForge, MemoryArgoCD,
an injected clock): promotion out of dev waits until dev's Application is Synced to dev's
branch head and Healthy; the soak counts from then. Over HTTP: test_argocd_gate_e2e."""

from __future__ import annotations

import logging
import socket
from dataclasses import replace
from datetime import timedelta

import pytest

from promoter import wiring
from promoter.argocd.memory import MemoryArgoCD
from promoter.config import ArgoCD, Config, Identity
from promoter.errors import RETRY
from promoter.flows.promote import Decision, ImageStep, Report
from promoter.forge import CommitStatus, StatusState
from tests.flows.test_promote import World
from tests.flows.test_promote import _config as _promote_config

APP = ArgoCD(url="https://argocd.invalid", application="web-dev", token_env="ARGOCD_TOKEN")


def _config(gates: str = "", app: ArgoCD = APP) -> Config:
    """test_promote's three environments, dev deployed by the Argo CD Application web-dev."""
    cfg = _promote_config(gates)
    dev = replace(cfg.environments[0], health_argocd=app)
    return replace(cfg, environments=(dev, *cfg.environments[1:]))


def _run(w: World, cfg: Config, argo: MemoryArgoCD | None) -> Report:
    return w.run(cfg, target="staging", argocd=(lambda _: argo) if argo else None)


def _step(report: Report) -> ImageStep:
    [step] = report.images
    return step


def _detail(step: ImageStep, gate: str) -> str:
    [found] = [g.detail for g in step.gates if g.name == gate]
    return found


def test_no_pull_request_until_the_application_runs_the_head_healthy() -> None:
    w, argo = World(), MemoryArgoCD()
    old = w.ws.branches["main"]
    w.now += timedelta(hours=1)
    head = w.set("dev", "1.1.0")
    cfg = _config()
    argo.put("web-dev", revision=old)  # Argo CD has not seen the new commit yet
    report = _run(w, cfg, argo)
    step = _step(report)
    assert (step.decision, step.reason) == (
        Decision.WAITING, f"argocd: app web-dev synced to {old[:7]}, not {head[:7]}")
    assert report.results == () and w.forge.pulls == {} and report.ok

    argo.put("web-dev", revision=head, health="Progressing")
    step = _step(_run(w, cfg, argo))
    assert (step.decision, step.reason) == (
        Decision.WAITING, f"argocd: app web-dev Progressing at {head[:7]}")
    assert w.forge.pulls == {}

    argo.put("web-dev", revision=head, finished_at=w.now)
    report = _run(w, cfg, argo)
    assert _step(report).decision is Decision.PROMOTE
    [opened] = report.results
    assert opened.action == "opened"
    assert w.gate_status(opened.number or 0).state is StatusState.SUCCESS
    assert f"| `web` | argocd | pass | app web-dev Synced to {head[:7]} and Healthy |" in \
        w.forge.get(opened.number or 0).body
    assert argo.calls == [("web-dev", None)] * 3  # once per run: dev's head, one question


def test_a_degraded_source_fails_the_gate_and_opens_nothing() -> None:
    w, argo = World(), MemoryArgoCD()
    head = w.set("dev", "1.1.0")
    argo.put("web-dev", revision=head, health="Degraded")
    step = _step(_run(w, _config(), argo))
    assert (step.decision, step.reason) == (Decision.WAITING,
                                            f"argocd: app web-dev Degraded at {head[:7]}")
    assert [g.state.value for g in step.gates if g.name == "argocd"] == ["fail"]
    assert w.forge.pulls == {}


def test_an_open_pull_request_is_kept_while_the_source_syncs_a_new_head() -> None:
    w, argo = World(), MemoryArgoCD()
    head = w.set("dev", "1.1.0")
    cfg = _config()
    argo.put("web-dev", revision=head)
    [opened] = _run(w, cfg, argo).results
    number = opened.number or 0
    # a commit to dev that keeps web's version; Argo CD is still on the one before
    newer = w.ws.commit(parent=head, files={"overlays/dev/other.yaml": "a: 1\n"},
                        message="dev: other", author=Identity(name="Dev", email="d@example.com"))
    w.ws.branches["main"] = newer
    report = _run(w, cfg, argo)
    assert _step(report).decision is Decision.PROMOTE  # the open PR is kept up to date
    assert [r.action for r in report.results] == ["updated"]  # rebased on the new head
    status = w.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.PENDING, f"argocd: app web-dev synced to {head[:7]}, not {newer[:7]}")


@pytest.mark.parametrize(("healthy_ago", "state", "description"), [
    (timedelta(minutes=30), StatusState.PENDING,
     "soak: 30 min left (30 min of 1h healthy on dev)"),
    (timedelta(hours=2), StatusState.SUCCESS, "all gates pass"),
])
def test_the_soak_counts_from_when_the_application_became_healthy(
        healthy_ago: timedelta, state: StatusState, description: str) -> None:
    w, argo = World(), MemoryArgoCD()
    head = w.set("dev", "1.1.0")  # the version arrived on dev's branch ...
    w.now += timedelta(hours=3)  # ... three hours ago
    argo.put("web-dev", revision=head, finished_at=w.now - healthy_ago)
    report = _run(w, _config("    gates: {soak: 1h}"), argo)
    [opened] = report.results  # soak holds the status, not the pull request
    status = w.gate_status(opened.number or 0)
    assert (status.state, status.description) == (state, description)


def test_the_soak_counts_from_when_the_last_health_status_turned_green() -> None:
    w = World()
    w.forge.clock = lambda: w.now
    head = w.set("dev", "1.1.0")
    cfg = _config("    gates: {soak: 1h}")
    dev = replace(cfg.environments[0], health_argocd=None,
                  health_statuses=("argocd/web-dev", "flux/apps-dev"))
    cfg = replace(cfg, environments=(dev, *cfg.environments[1:]))
    w.now += timedelta(hours=2)
    w.forge.set_status(head, CommitStatus(context="argocd/web-dev", state=StatusState.SUCCESS))
    w.now += timedelta(minutes=40)
    w.forge.set_status(head, CommitStatus(context="flux/apps-dev", state=StatusState.SUCCESS))
    w.now += timedelta(minutes=15)
    [opened] = w.run(cfg, target="staging").results
    status = w.gate_status(opened.number or 0)
    assert (status.state, status.description) == (
        StatusState.PENDING, "soak: 45 min left (15 min of 1h healthy on dev)")
    w.now += timedelta(minutes=45)
    w.run(cfg, target="staging")
    assert w.gate_status(opened.number or 0).description == "all gates pass"


def test_errors_are_one_line_gate_failures_and_problems_of_the_run() -> None:
    w = World()
    w.set("dev", "1.1.0")
    cfg = _config()
    refused = _run(w, cfg, MemoryArgoCD(asked_with="wrong"))
    step = _step(refused)
    assert (step.decision, step.reason) == (
        Decision.WAITING, "argocd: application web-dev on memory: the token is refused (401)")
    assert [str(p) for p in refused.errors] == [
        "dev: argocd: application web-dev on memory: the token is refused (401)"]
    assert refused.exit_code == 1 and w.forge.pulls == {}

    down = MemoryArgoCD()
    down.down = True
    unreachable = _run(w, cfg, down)
    assert _step(unreachable).gates[-1].state.value == "pending"
    assert unreachable.exit_code == RETRY

    # no client at all (a caller that cannot reach Argo CD): waits, not a problem
    nobody = _run(w, cfg, None)
    assert _step(nobody).reason == "argocd: application web-dev: no Argo CD client to ask"
    assert nobody.ok


def test_the_wiring_reads_the_token_from_its_variable_and_never_shows_it(
        caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    w.set("dev", "1.1.0")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        cfg = _config(app=replace(APP, url=f"http://127.0.0.1:{s.getsockname()[1]}"))
    unset = w.run(cfg, target="staging", argocd=wiring.argocd(cfg, {}))
    assert [str(p) for p in unset.errors] == [
        "dev: environments[dev].health.argocd.token-env names the environment variable "
        "ARGOCD_TOKEN, which is not set"]
    token = "argocd-secret-token-0123456789"
    caplog.set_level(logging.DEBUG)
    # nothing answers: unreachable, retryable, and the token nowhere
    report = w.run(cfg, target="staging", argocd=wiring.argocd(cfg, {"ARGOCD_TOKEN": token}))
    assert report.exit_code == RETRY
    assert "cannot reach the server" in _step(report).reason
    assert token not in caplog.text and token not in repr(report)


def test_promote_by_command_does_not_skip_the_gate() -> None:
    w, argo = World(), MemoryArgoCD()
    head = w.set("dev", "1.1.0")
    argo.put("web-dev", revision=head, health="Progressing")
    report = w.run(_config("    gates: {auto: none}"), target="staging", override=True,
                   argocd=lambda _: argo)
    step = _step(report)
    assert _detail(step, "auto") == "auto: promoted by command"
    assert (step.decision, step.reason) == (Decision.WAITING,
                                            f"argocd: app web-dev Progressing at {head[:7]}")
    assert w.forge.pulls == {}
