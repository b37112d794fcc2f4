"""``promoter rollback`` on a real git repository (branches pushed with leases in local mode) and
the in-memory forge: the version restored from history, the labelled pull request with the
reason, idempotence, ``--to``, and ``promoter check`` exempting the result."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.errors import InputError
from promoter.flows.check import check, is_rollback
from promoter.flows.rollback import rollback
from promoter.flows.status import status
from promoter.forge.memory import MemoryForge
from tests.envelope import body
from tests.flows.test_status import NOW, GitOps, pipeline


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    return pipeline(tmp_path / "gitops")


def _forge(g: GitOps) -> MemoryForge:
    def resolve(branch: str) -> str | None:
        out = g.git("rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}") \
            if g.git("branch", "--list", branch) else ""
        return out or None

    return MemoryForge("acme/gitops", resolve=resolve)


def test_rollback_restores_the_previous_version_in_a_labelled_pr(gitops: GitOps) -> None:
    forge = _forge(gitops)
    with gitops.workspace() as ws:
        report = rollback(gitops.config(), ws, forge, env="staging", image="web",
                          reason="1.1.0 leaks memory")
    assert report.ok, report
    [r] = report.results
    assert (r.from_tag, r.to_tag, r.branch, r.outcome, r.action) == (
        "1.1.0", "1.0.0", "promoter/rollback/staging/web", "created", "opened")
    file = gitops.git("show", "promoter/rollback/staging/web:overlays/staging/kustomization.yaml")
    assert 'newTag: "1.0.0"  # promoter' in file  # comment and quotes kept
    assert gitops.git("diff", "--stat", "main", "promoter/rollback/staging/web").count("|") == 1
    pr = forge.get(r.number or 0)
    assert pr.title == "Roll back web to 1.0.0 in staging"
    assert set(pr.labels) == {"promoter", "promoter/rollback"}
    assert "**Reason:** 1.1.0 leaks memory" in pr.body
    assert "1.1.0 -> **1.0.0**, the version staging ran from 2026-02-28 12:00 UTC" in pr.body
    assert gitops.git("log", "-1", "--format=%B", "promoter/rollback/staging/web").strip() == (
        "Roll back web to 1.0.0 in staging\n\nReason: 1.1.0 leaks memory")

    # a second run finds everything as it should be
    head = gitops.git("rev-parse", "promoter/rollback/staging/web")
    with gitops.workspace() as ws:
        again = rollback(gitops.config(), ws, forge, env="staging", image="web",
                         reason="1.1.0 leaks memory")
    assert [(x.outcome, x.action, x.number) for x in again.results] == [
        ("unchanged", "kept", r.number)]
    assert gitops.git("rev-parse", "promoter/rollback/staging/web") == head
    assert len(forge.list_open()) == 1

    # status shows it as a pending rollback; check lets it through
    with gitops.workspace() as ws:
        st = status(gitops.config(), ws, forge, now=NOW)
        cell = st.cell("web", "staging")
        assert cell is not None and [(p.tag, p.rollback) for p in cell.pending] == [
            ("1.0.0", True)]
        base = ws.branch_head("main")
        tip = ws.branch_head("promoter/rollback/staging/web")
        assert base and tip
        assert is_rollback(pr.head, pr.labels)
        exempt = check(gitops.config(), ws, None, base=base, head=tip, rollback=True)
        strict = check(gitops.config(), ws, None, base=base, head=tip)
    assert exempt.exit_code == 0
    assert [v.rule.value for v in strict.violations] == ["downgrade", "order"]


def test_every_image_of_the_environment_and_the_ones_without_history(gitops: GitOps) -> None:
    with gitops.workspace() as ws:
        report = rollback(gitops.config(), ws, None, env="prod", dry_run=True)
    assert [(r.image, r.outcome, r.from_tag, r.to_tag) for r in report.results] == [
        ("web", "not-needed", "1.0.0", None), ("api", "planned", "2.1.0", "2.0.0")]
    assert report.results[0].note == (
        "web: prod ran no other version in its history; name one with --to")
    assert report.ok and report.exit_code == 0  # every image that can go back does
    with gitops.workspace() as ws:  # named alone, the same image is a failure
        alone = rollback(gitops.config(), ws, None, env="prod", image="web", dry_run=True)
    assert [(r.outcome, r.error) for r in alone.results] == [
        ("failed", "web: prod ran no other version in its history; name one with --to")]
    assert alone.exit_code == 1
    assert '-    newTag: 2.1.0\n+    newTag: 2.0.0' in report.results[1].diff
    assert gitops.git("branch", "--list", "promoter/rollback/*") == ""  # dry run


def test_to_a_named_version(gitops: GitOps) -> None:
    gitops.write("dev", web="1.3.0", when=NOW - timedelta(minutes=30))
    cfg = gitops.config()
    with gitops.workspace() as ws:
        older = rollback(cfg, ws, None, env="dev", image="web", to="1.1.0")
        assert [(r.to_tag, r.outcome) for r in older.results] == [("1.1.0", "created")]
        never = rollback(cfg, ws, None, env="dev", image="web", to="0.9.0", dry_run=True)
        assert [(r.to_tag, r.outcome) for r in never.results] == [("0.9.0", "planned")]
        same = rollback(cfg, ws, None, env="dev", image="web", to="1.3.0")
        assert same.results[0].error == "web: dev already runs 1.3.0"
        with pytest.raises(InputError, match="--to needs --image"):
            rollback(cfg, ws, None, env="dev", to="1.1.0")
    file = gitops.git("show", "promoter/rollback/dev/web:overlays/dev/kustomization.yaml")
    assert 'newTag: "1.1.0"' in file


def test_cli_dry_run_json_and_unknown_environment(gitops: GitOps,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollback", "staging", "--repo", str(gitops.path), "--image", "web",
                 "--dry-run", "--output", "json"]) == 0
    [doc] = body(json.loads(capsys.readouterr().out), command="rollback")["rollbacks"]
    assert (doc["from"], doc["to"], doc["outcome"]) == ("1.1.0", "1.0.0", "planned")
    assert main(["rollback", "qa", "--repo", str(gitops.path)]) == 2
    assert "unknown environment 'qa'" in capsys.readouterr().err
    assert main(["rollback", "staging", "--repo", str(gitops.path), "--image", "web"]) == 0
    assert "promoter/rollback/staging/web: created" in capsys.readouterr().out


def test_a_forge_failure_leaves_no_rollback_branch_without_its_pr(gitops: GitOps) -> None:
    """The rollback publishes like the poll: a branch this run pushed is deleted again when
    its pull request cannot be opened, and the next run opens it."""
    forge = _forge(gitops)
    forge.fail_next("create", "the forge is down")
    with gitops.workspace() as ws:
        report = rollback(gitops.config(), ws, forge, env="staging", image="web", reason="r")
    assert not report.ok
    assert [(r.outcome, r.error) for r in report.results] == [
        ("failed", "memory: acme/gitops: create: the forge is down")]
    assert not gitops.git("branch", "--list", "promoter/rollback/staging/web")
    assert forge.list_open() == ()
    with gitops.workspace() as ws:
        again = rollback(gitops.config(), ws, forge, env="staging", image="web", reason="r")
    assert [(r.outcome, r.action) for r in again.results] == [("created", "opened")]
