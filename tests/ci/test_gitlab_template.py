"""The GitLab CI/CD component (templates/promoter.yml) and the root template, which is the same
file: inputs interpolated the way GitLab does, jobs, rules, scripts checked, the scripts run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from promoter.demo.run import write_repo
from tests.ci.actions import seeded_registry
from tests.ci.gitlab import (
    COMPONENT,
    INPUT,
    TEMPLATE,
    InputError,
    include,
    interpolate,
    released,
    resolve,
    script_lines,
    split,
)

JOBS = ("poll", "promote", "check")


def _jobs(**given: Any) -> dict[str, Any]:
    return interpolate(COMPONENT, given)


def test_the_root_template_is_the_component() -> None:
    """Users of include: project/remote and of include: component get the same jobs."""
    assert TEMPLATE.read_text() == COMPONENT.read_text()


def test_every_input_is_typed_described_and_defaulted() -> None:
    spec, _ = split(COMPONENT)
    inputs = spec["inputs"]
    assert {"job-prefix", "stage", "version", "image", "source", "install", "config", "args",
            "dry-run"} <= set(inputs)
    for name, decl in inputs.items():
        assert decl["type"] in ("string", "boolean", "number", "array"), name
        assert "default" in decl and decl.get("description"), name
    assert inputs["install"]["type"] == inputs["dry-run"]["type"] == "boolean"


def test_the_default_installs_the_latest_release() -> None:
    """The default version is the release CHANGELOG.md names last (scripts/release refuses to
    build a release the component does not default to), and pip gets it pinned."""
    spec, _ = split(COMPONENT)
    assert spec["inputs"]["version"]["default"] == released()
    base = resolve(_jobs(), "promoter-poll")
    assert base["variables"]["PROMOTER_VERSION"] == released()
    install = next(line for line in base["before_script"] if "pip\" install" in line)
    assert '"${PROMOTER_SOURCE:-gitops-promoter==$PROMOTER_VERSION}"' in install


def test_inputs_are_never_in_a_script() -> None:
    _, body = split(COMPONENT)
    for line in body.splitlines():
        if line.lstrip().startswith("- ") and INPUT.search(line):
            pytest.fail(f"an input reaches a script line: {line.strip()}")
    used = set(INPUT.findall(body))
    spec, _ = split(COMPONENT)
    assert used == set(spec["inputs"])  # every input is used, none is undeclared


def test_the_default_jobs_keep_their_names() -> None:
    jobs = _jobs()
    assert set(jobs) == {".promoter", "promoter-poll", "promoter-promote", "promoter-check"}
    assert "rules" not in jobs[".promoter"]  # the base job never runs on its own
    for name in JOBS:
        job = jobs[f"promoter-{name}"]
        assert job["extends"] == ".promoter" and job["rules"], name


def test_included_twice_with_two_prefixes() -> None:
    jobs = include({"job-prefix": "apps", "config": "apps/.promoter.yaml"},
                   {"job-prefix": "infra", "config": "infra/.promoter.yaml", "stage": "deploy",
                    "dry-run": True})
    assert {n for n in jobs if not n.startswith(".")} == {f"{p}-{j}" for p in ("apps", "infra")
                                                         for j in JOBS}
    apps, infra = resolve(jobs, "apps-poll"), resolve(jobs, "infra-promote")
    assert apps["variables"]["PROMOTER_CONFIG_FILE"] == "apps/.promoter.yaml"
    assert apps["variables"]["PROMOTER_COMMAND"] == "poll"
    assert infra["variables"]["PROMOTER_CONFIG_FILE"] == "infra/.promoter.yaml"
    assert infra["variables"]["PROMOTER_DRY_RUN"] == "true" and infra["stage"] == "deploy"
    assert apps["cache"]["key"] != infra["cache"]["key"]
    with pytest.raises(InputError, match="jobs defined twice"):
        include({}, {})  # the same prefix twice would override jobs: refused


@pytest.mark.parametrize(("given", "error"), [
    ({"job-prefix": "Bad Name"}, "does not match"),
    ({"version": "latest"}, "does not match"),
    ({"install": "no"}, "not a boolean"),
    ({"dry-run": "true"}, "not a boolean"),
    ({"stage": 3}, "not a string"),
    ({"colour": "blue"}, "unknown input"),
])
def test_bad_inputs_are_refused(given: dict[str, Any], error: str) -> None:
    with pytest.raises(InputError, match=error):
        _jobs(**given)


def test_the_image_input_and_install_false() -> None:
    job = resolve(_jobs(image="ghcr.io/acme/promoter:0.2.0", install=False), "promoter-check")
    assert job["image"] == {"name": "ghcr.io/acme/promoter:0.2.0", "entrypoint": [""]}
    assert job["variables"]["PROMOTER_INSTALL"] == "false"


def _conditions(job: dict[str, Any]) -> list[str]:
    return [r["if"] for r in job["rules"]]


def test_rules_pick_the_right_pipelines() -> None:
    jobs = _jobs()
    poll = _conditions(jobs["promoter-poll"])
    assert '$CI_PIPELINE_SOURCE == "schedule"' in poll[0]
    assert jobs["promoter-poll"]["variables"]["PROMOTER_COMMAND"] == "poll"
    promote = _conditions(jobs["promoter-promote"])
    assert promote == ['$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == '
                       '$CI_DEFAULT_BRANCH && $PROMOTER_PROMOTE != "false"']
    check = _conditions(jobs["promoter-check"])
    assert check == ['$CI_PIPELINE_SOURCE == "merge_request_event" && '
                     '$PROMOTER_CHECK != "false"']
    assert any(line.lstrip("rc=0; ").startswith("promoter check")
               for line in jobs["promoter-check"]["script"])


def test_scripts_quote_variables_and_keep_the_exit_code() -> None:
    jobs = _jobs()
    for name, job in jobs.items():
        for line in job.get("script", ()):
            if "promoter " in line and "--output" in line:
                assert "|| rc=$?" in line and line.endswith('exit "$rc"'), name
            assert "$CI_MERGE_REQUEST_TITLE" not in line and "$CI_COMMIT_MESSAGE" not in line
    assert "$PROMOTER_COMMAND\"" in " ".join(jobs[".promoter"]["script"])  # quoted
    assert 'PROMOTER_SHARD="$CI_NODE_INDEX/$CI_NODE_TOTAL"' in " ".join(
        jobs[".promoter"]["script"])


def _bash(lines: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Job lines the way a GitLab shell runner runs them: one bash, -eo pipefail."""
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                           "\n".join(lines)], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)


def _job_env(job: dict[str, Any], **extra: str) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in job["variables"].items()}, **extra}
    env.pop("PROMOTER_SHARD", None)
    # install false: the promoter on PATH is this test run's (scripts/setup's .venv)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.integration
def test_the_jobs_run_sharded_like_parallel_n(tmp_path: Path) -> None:
    """The poll job (before_script + script, install false: the promoter of this test run) as
    the two jobs of ``parallel: 2``: each writes promoter.json and keeps promoter's exit."""
    job = resolve(_jobs(install=False, **{"dry-run": True}), "promoter-poll")
    lines = [ln for ln in script_lines(job) if not ln.startswith("git config --global")]
    with seeded_registry() as host:
        repo = tmp_path / "gitops"
        write_repo(repo, host)
        images: list[str] = []
        for index in ("1", "2"):
            proc = _bash(lines, repo, _job_env(job, CI_NODE_INDEX=index, CI_NODE_TOTAL="2"))
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.startswith("promoter, version ")  # promoter --version first
            report = json.loads((repo / "promoter.json").read_text())
            images += [u["image"] for pr in report["plan"] for u in pr["updates"]]
        assert sorted(images) == ["api", "web"]
        proc = _bash(lines, repo, _job_env(job, PROMOTER_ARGS="--no-such-option"))
        assert proc.returncode == 2  # promoter's usage error fails the job


@pytest.mark.integration
def test_the_check_job_leaves_code_quality_and_junit_reports(tmp_path: Path) -> None:
    """The check job on a merge request that moves prod ahead of dev: exit 1, and the
    artifacts:reports files GitLab reads name the file that breaks the order rule."""
    import xml.etree.ElementTree as ET

    job = resolve(_jobs(install=False), "promoter-check")
    assert job["artifacts"]["reports"] == {"codequality": "gl-code-quality-report.json",
                                           "junit": "promoter-junit.xml"}
    lines = [ln for ln in script_lines(job) if not ln.startswith("git config --global")]
    with seeded_registry() as host:
        repo = tmp_path / "gitops"
        write_repo(repo, host)
        git = ["git", "-C", str(repo)]
        subprocess.run([*git, "checkout", "-qb", "hotfix"], check=True)
        kust = repo / "overlays/prod/kustomization.yaml"
        kust.write_text(kust.read_text().replace('newTag: "1.0.0"', 'newTag: "1.0.1"'))
        subprocess.run([*git, "commit", "-qam", "prod web 1.0.1"], check=True)
        sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                             text=True).stdout.strip()
        proc = _bash(lines, repo, _job_env(
            job, CI_MERGE_REQUEST_IID="7", CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
            CI_COMMIT_SHA=sha, CI_PROJECT_DIR=str(repo)))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    issues = json.loads((repo / "gl-code-quality-report.json").read_text())
    assert [(i["location"]["path"], i["severity"]) for i in issues] == [
        ("overlays/prod/kustomization.yaml", "major")]
    assert "order" in issues[0]["description"]
    suite = ET.parse(repo / "promoter-junit.xml").getroot()
    assert suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["overlays/prod/kustomization.yaml"].find("failure") is not None
