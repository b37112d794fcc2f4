"""The GitLab CI template: parsed, its jobs, rules, scripts and inputs checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from promoter.demo.run import write_repo
from tests.ci.actions import ROOT, seeded_registry

TEMPLATE = ROOT / ".gitlab-ci-template.yml"


def _docs() -> tuple[dict[str, Any], dict[str, Any]]:
    header, jobs = YAML(typ="safe").load_all(TEMPLATE.read_text())
    return header, jobs


def test_header_declares_inputs_with_defaults() -> None:
    header, _ = _docs()
    inputs = header["spec"]["inputs"]
    assert set(inputs) == {"stage", "image", "source"}
    for name, spec in inputs.items():
        assert "default" in spec and spec.get("description"), name


def test_inputs_used_are_declared_and_never_in_a_script() -> None:
    header, jobs = _docs()
    text = TEMPLATE.read_text().split("\n---\n", 1)[1]
    used = set(re.findall(r"\$\[\[\s*inputs\.(\w+)\s*\]\]", text))
    assert used == set(header["spec"]["inputs"])
    for name, job in jobs.items():
        for key in ("script", "before_script"):
            for line in job.get(key, ()):
                assert "$[[" not in line, f"{name}: inputs go through variables"


def test_the_hidden_base_job_and_the_three_jobs() -> None:
    _, jobs = _docs()
    assert set(jobs) == {".promoter", "promoter-poll", "promoter-promote", "promoter-check"}
    base = jobs[".promoter"]
    assert base["script"] and base["before_script"] and base["variables"]["PROMOTER_SOURCE"]
    assert any("pip install" in line and '"$PROMOTER_SOURCE"' in line
               for line in base["before_script"])
    for name in ("promoter-poll", "promoter-promote", "promoter-check"):
        job = jobs[name]
        assert job["extends"] == ".promoter"
        assert job["rules"], name
        assert "rules" not in base  # the base job never runs on its own


def _conditions(job: dict[str, Any]) -> list[str]:
    return [r["if"] for r in job["rules"]]


def test_rules_pick_the_right_pipelines() -> None:
    _, jobs = _docs()
    poll = _conditions(jobs["promoter-poll"])
    assert '$CI_PIPELINE_SOURCE == "schedule"' in poll[0]
    assert jobs["promoter-poll"]["variables"]["PROMOTER_COMMAND"] == "poll"
    promote = _conditions(jobs["promoter-promote"])
    assert promote == ['$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == '
                       '$CI_DEFAULT_BRANCH && $PROMOTER_PROMOTE != "false"']
    assert jobs["promoter-promote"]["variables"]["PROMOTER_COMMAND"] == "promote"
    check = _conditions(jobs["promoter-check"])
    assert check == ['$CI_PIPELINE_SOURCE == "merge_request_event" && '
                     '$PROMOTER_CHECK != "false"']
    assert any(line.lstrip("rc=0; ").startswith("promoter check")
               for line in jobs["promoter-check"]["script"])


def test_scripts_quote_variables_and_keep_the_exit_code() -> None:
    _, jobs = _docs()
    for name, job in jobs.items():
        for line in job.get("script", ()):
            if "promoter " in line and "--output" in line:
                assert "|| rc=$?" in line and line.endswith('exit "$rc"'), name
            assert "$CI_MERGE_REQUEST_TITLE" not in line and "$CI_COMMIT_MESSAGE" not in line
    assert "$PROMOTER_COMMAND\"" in " ".join(jobs[".promoter"]["script"])  # quoted


def test_parallel_jobs_shard_the_images() -> None:
    _, jobs = _docs()
    script = " ".join(jobs[".promoter"]["script"])
    assert 'PROMOTER_SHARD="$CI_NODE_INDEX/$CI_NODE_TOTAL"' in script


def _script(job: str) -> str:
    _, jobs = _docs()
    lines = jobs[job].get("script") or jobs[".promoter"]["script"]
    return "\n".join(lines)


@pytest.mark.integration
def test_the_base_script_runs_sharded_jobs_like_parallel_n(tmp_path: Path) -> None:
    """The .promoter script run by bash as a runner would (``-eo pipefail``), as the two jobs
    of ``parallel: 2``: each writes promoter.json and keeps promoter's exit code."""
    with seeded_registry() as host:
        repo = tmp_path / "gitops"
        write_repo(repo, host)
        images: list[str] = []
        for index in ("1", "2"):
            env = {**os.environ, "PROMOTER_COMMAND": "plan", "PROMOTER_CONFIG_FILE": "",
                   "PROMOTER_ARGS": "", "PROMOTER_DRY_RUN": "false", "CI_NODE_INDEX": index,
                   "CI_NODE_TOTAL": "2"}
            env.pop("PROMOTER_SHARD", None)
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                                   _script("promoter-poll")], cwd=repo, env=env,
                                  capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr
            report = json.loads((repo / "promoter.json").read_text())
            images += [u["image"] for pr in report for u in pr["updates"]]
        assert sorted(images) == ["api", "web"]
        env["PROMOTER_ARGS"] = "--no-such-option"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               _script("promoter-poll")], cwd=repo, env=env,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 2  # promoter's usage error fails the job
