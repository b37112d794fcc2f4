"""``promoter check`` on a real git repository with the in-memory registry: each rule, the
rollback exemption, a base that moved on, the summary and the exit codes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.cli.check_cmd import Target, ci_target
from promoter.flows.check import CheckReport, Rule, check, is_rollback, verify_status
from promoter.forge import StatusState
from promoter.registry.memory import MemoryRegistry
from tests.flows.test_status import NOW, GitOps, pipeline

WEB = "registry.example/acme/web"
API = "registry.example/acme/api"


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    return pipeline(tmp_path / "gitops")


@pytest.fixture
def registry() -> MemoryRegistry:
    reg = MemoryRegistry()
    for tag in ("1.0.0", "1.1.0", "1.2.0"):
        reg.push(f"{WEB}:{tag}")
    for tag in ("2.0.0", "2.1.0"):
        reg.push(f"{API}:{tag}")
    return reg


def _branch(g: GitOps, name: str, env: str, **images: str) -> None:
    g.git("checkout", "-q", "-b", name, "main")
    g.write(env, when=NOW, **images)
    g.git("checkout", "-q", "main")
    g.versions.clear()  # the next write starts from the files on main again
    for e in ("dev", "staging", "prod"):
        g.versions[e] = _read(g, e)


def _read(g: GitOps, env: str) -> dict[str, str]:
    text = g.git("show", f"main:overlays/{env}/kustomization.yaml")
    tags = [line.split("newTag:")[1].split("#")[0].strip().strip('"')
            for line in text.splitlines() if "newTag:" in line]
    return {"web": tags[0], "api": tags[1]}


def _check(g: GitOps, head: str, registry: MemoryRegistry | None, *,
           rollback: bool = False) -> CheckReport:
    with g.workspace() as ws:
        base, tip = ws.branch_head("main"), ws.branch_head(head)
        assert base and tip
        return check(g.config(), ws, registry, base=base, head=tip, rollback=rollback,
                     base_branch="main")


def _rules(report: CheckReport) -> list[tuple[str, str | None, str | None]]:
    return [(v.rule.value, v.image, v.env) for v in report.violations]


def test_promotion_from_the_previous_environment_passes(gitops: GitOps,
                                                        registry: MemoryRegistry) -> None:
    _branch(gitops, "promote-prod", "prod", web="1.1.0")
    report = _check(gitops, "promote-prod", registry)
    assert report.exit_code == 0, report.violations
    assert [(m.image, m.env, m.old_tag, m.new_tag) for m in report.moves] == [
        ("web", "prod", "1.0.0", "1.1.0")]
    assert report.files == ("overlays/prod/kustomization.yaml",)


def test_skipping_staging_is_an_order_violation(gitops: GitOps,
                                                registry: MemoryRegistry) -> None:
    _branch(gitops, "hotfix", "prod", web="1.2.0")
    report = _check(gitops, "hotfix", registry)
    assert report.exit_code == 1
    assert [v.message for v in report.violations] == [
        "web: prod gets 1.2.0 but staging runs 1.1.0: a version enters prod only from staging"]


def test_downgrade_and_order_outside_a_rollback_and_exempt_inside(
        gitops: GitOps, registry: MemoryRegistry) -> None:
    _branch(gitops, "back", "staging", web="1.0.0")
    report = _check(gitops, "back", registry)
    assert _rules(report) == [("downgrade", "web", "staging"), ("order", "web", "staging")]
    assert report.violations[0].message == (
        "web: staging goes back from 1.1.0 to 1.0.0 outside a rollback (use promoter rollback)")
    assert _check(gitops, "back", registry, rollback=True).exit_code == 0


def test_image_missing_from_the_registry_and_wrong_digest(gitops: GitOps,
                                                          registry: MemoryRegistry) -> None:
    _branch(gitops, "new-dev", "dev", web="1.3.0")
    report = _check(gitops, "new-dev", registry)
    assert [v.message for v in report.violations] == [
        f"web: {WEB}:1.3.0 (dev) is not in the registry"]
    good = registry.push(f"{WEB}:1.3.0").digest
    assert _check(gitops, "new-dev", registry).exit_code == 0
    wrong = "sha256:" + "ab" * 32
    _branch(gitops, "pinned", "dev", web=f"1.3.0@{wrong}")
    report = _check(gitops, "pinned", registry)
    assert [v.rule for v in report.violations] == [Rule.DIGEST]
    assert report.violations[0].message == (
        f"web: {WEB}:1.3.0 (dev) is pinned to {wrong[:19]} but the registry serves {good[:19]}")


def test_registry_down_is_exit_3_not_a_violation(gitops: GitOps,
                                                 registry: MemoryRegistry) -> None:
    _branch(gitops, "dev-bump", "dev", web="1.2.0", api="2.1.0")
    registry.fail(API, "registry.example/acme/api: registry.example answered 503")
    report = _check(gitops, "dev-bump", registry)
    assert report.violations == ()
    assert tuple(map(str, report.errors)) == (
        "api: could not check registry.example/acme/api:2.1.0: "
        "registry.example/acme/api: registry.example answered 503",)
    assert report.errors[0].image == "api" and report.errors[0].retryable
    assert report.exit_code == 3  # retry later
    assert verify_status(report).state is StatusState.ERROR


def test_invalid_yaml_in_a_touched_file(gitops: GitOps, registry: MemoryRegistry) -> None:
    gitops.git("checkout", "-q", "-b", "broken", "main")
    (gitops.path / "overlays" / "staging" / "extra.yaml").write_text("a: [1, 2\n")
    (gitops.path / "charts" / "templates").mkdir(parents=True)
    (gitops.path / "charts" / "templates" / "d.yaml").write_text("x: {{ .Values.x }}\n")
    gitops.git("add", "-A")
    gitops.git("commit", "-q", "-m", "broken")
    gitops.git("checkout", "-q", "main")
    report = _check(gitops, "broken", registry)
    assert [v.rule for v in report.violations] == [Rule.YAML]  # the Helm template is skipped
    assert report.violations[0].message.startswith(  # libyaml and PyYAML word the rest apart
        "overlays/staging/extra.yaml:2:1: invalid YAML: while parsing a flow sequence")


def test_a_base_that_moved_on_is_not_read_as_a_revert(gitops: GitOps,
                                                      registry: MemoryRegistry) -> None:
    _branch(gitops, "promote-prod", "prod", web="1.1.0")
    gitops.write("dev", web="1.2.0", api="2.1.0", when=NOW + timedelta(minutes=5))
    report = _check(gitops, "promote-prod", registry)
    assert [(m.image, m.env) for m in report.moves] == [("web", "prod")]
    assert report.exit_code == 0


@pytest.mark.parametrize(("branch", "labels", "expected"), [
    ("promoter/rollback/prod/web", (), True),
    ("rollback-web", (), True),
    ("fix/ROLLBACK_api", (), True),
    ("promoter/prod/web", ("promoter/rollback",), True),
    ("promoter/prod/web", ("promoter",), False),
    ("rollbacks-are-fun", (), False),
    (None, (), False),
])
def test_is_rollback(branch: str | None, labels: tuple[str, ...], expected: bool) -> None:
    assert is_rollback(branch, labels) is expected


@pytest.mark.parametrize(("environ", "expected"), [
    ({"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "feat", "GITHUB_REF": "refs/pull/7/merge"},
     Target(pr=7, base="main", head="feat")),
    ({"CI_MERGE_REQUEST_IID": "3", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
      "CI_COMMIT_SHA": "abc"}, Target(pr=3, base="main", head="abc")),
    ({"GITHUB_REF": "refs/heads/main"}, Target()),
])
def test_ci_target(environ: dict[str, str], expected: Target) -> None:
    assert ci_target(environ) == expected


def test_cli_exit_codes_summary_and_step_summary(gitops: GitOps, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """No registry answers on 127.0.0.1:9: the CLI still checks the order (exit 1)."""
    gitops = pipeline(tmp_path / "local", host="127.0.0.1:9")
    _branch(gitops, "hotfix", "prod", web="1.2.0")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code = main(["check", "--repo", str(gitops.path), "--base", "main", "--head", "hotfix",
                 "--output", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [v["rule"] for v in doc["violations"]][0] == "order"
    assert summary.read_text().startswith(":x: **promoter check failed**")
    assert main(["check", "--repo", str(gitops.path), "--base", "main"]) == 2
    assert "--base and --head go together" in capsys.readouterr().err
    assert main(["check", "--repo", str(gitops.path)]) == 2
    assert "nothing to check" in capsys.readouterr().err


VALUES = """\
# staging chart values
web:
  image:
    repository: {host}/acme/web
    tag: "{tag}"
"""


def _second_pin(g: GitOps, env: str, tag: str) -> None:
    """web is pinned in a Helm values file beside the kustomization too."""
    f = g.path / "overlays" / env / "values.yaml"
    f.write_text(VALUES.format(host=g.host, tag=tag))
    g.git("add", "-A")
    g.git("commit", "-q", "-m", f"{env}: values too", when=NOW)


def test_moving_one_pin_of_two_is_a_partial_move(gitops: GitOps,
                                                 registry: MemoryRegistry) -> None:
    _second_pin(gitops, "prod", "1.0.0")
    _branch(gitops, "half", "prod", web="1.1.0")  # the kustomization only
    report = _check(gitops, "half", registry)
    assert _rules(report) == [("partial", "web", "prod")]
    assert report.violations[0].message == (
        "web: prod is left running two versions (1.0.0 in overlays/prod/values.yaml; 1.1.0 in "
        "overlays/prod/kustomization.yaml); move every place that pins it together")
    assert report.exit_code == 1
    # a rollback is no excuse for a half-moved environment
    assert ("partial", "web", "prod") in _rules(_check(gitops, "half", registry, rollback=True))


def test_moving_both_pins_passes_and_an_old_split_is_not_this_change(
        gitops: GitOps, registry: MemoryRegistry) -> None:
    _second_pin(gitops, "prod", "1.0.0")
    gitops.git("checkout", "-q", "-b", "whole", "main")
    _second_pin(gitops, "prod", "1.1.0")
    gitops.write("prod", web="1.1.0", when=NOW)
    gitops.git("checkout", "-q", "main")
    assert _check(gitops, "whole", registry).exit_code == 0

    _second_pin(gitops, "staging", "1.0.0")  # staging already split on main (1.1.0 / 1.0.0)
    _branch(gitops, "api-only", "staging", api="2.1.0")
    assert "partial" not in [r for r, _, _ in _rules(_check(gitops, "api-only", registry))]
