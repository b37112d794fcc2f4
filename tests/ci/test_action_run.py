"""The composite actions executed step by step with a runner's environment, on a local
GitOps repository and a local registry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci.actions import (
    ROOT,
    Run,
    parse_annotations,
    read_outputs,
    run_action,
    runner_environ,
)
from tests.envelope import body
from tests.serve.worlds import make_world
from tests.servers.fake_github import FakeGitHub

pytestmark = pytest.mark.integration

TOKEN = "ghs_" + "s3cr3t" * 6


def _run(tmp_path: Path, repo: Path, action: Path = ROOT / "action.yml",
         inputs: dict[str, str] | None = None, **more: str) -> tuple[Run, Path]:
    run = run_action(action, {"install": "false", **(inputs or {}), **more},
                     runner=tmp_path / "runner", workspace=repo,
                     environ=runner_environ(tmp_path, GITHUB_TOKEN=TOKEN))
    return run, tmp_path / "runner" / "summary.md"


def test_plan_writes_outputs_and_a_summary(tmp_path: Path, repo: Path) -> None:
    run, summary = _run(tmp_path, repo, command="plan")
    assert run.codes == [0, 0, 0], run.log
    result = body(json.loads(run.outputs["result"]), command="plan", exit_code=0)
    assert sorted(pr["branch"] for pr in result["plan"]) == ["promoter/dev/api",
                                                             "promoter/dev/web"]
    assert json.loads(run.outputs["pull-requests"]) == []  # a plan opens nothing
    assert run.outputs["exit-code"] == "0"
    text = summary.read_text()
    assert text.startswith("### promoter plan: ok\n")
    assert "(`promoter/dev/web` into `main`)" in text
    assert subprocess.run(["git", "-C", str(repo), "branch", "--list", "promoter/*"],
                          capture_output=True, text=True, check=True).stdout == ""


def test_poll_sub_action_creates_branches_and_lists_them(tmp_path: Path, repo: Path) -> None:
    run, summary = _run(tmp_path, repo, ROOT / "actions" / "poll" / "action.yml")
    assert run.codes == [0, 0, 0], run.log
    prs = json.loads(run.outputs["pull-requests"])
    assert sorted((p["branch"], p["outcome"]) for p in prs) == [
        ("promoter/dev/api", "created"), ("promoter/dev/web", "created")]
    assert "| dev | `promoter/dev/web` | created |" in summary.read_text()
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", "promoter/*"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert sorted(branches) == ["promoter/dev/api", "promoter/dev/web"]
    again, _ = _run(tmp_path, repo, ROOT / "actions" / "poll" / "action.yml")
    assert json.loads(again.outputs["pull-requests"]) == []  # unchanged ones are not listed


def test_dry_run_and_shard_inputs(tmp_path: Path, repo: Path) -> None:
    everything = []
    for i in (1, 2):
        run, _ = _run(tmp_path / str(i), repo, inputs={"command": "poll", "dry-run": "true",
                                                      "shard": f"{i}/2"})
        assert run.codes == [0, 0, 0], run.log
        everything += [u["image"] for pr in json.loads(run.outputs["result"])["plan"]
                       for u in pr["updates"]]
    assert sorted(everything) == ["api", "web"]


def test_the_token_is_masked_first_and_never_printed(tmp_path: Path, repo: Path) -> None:
    run, summary = _run(tmp_path, repo, command="plan", token=TOKEN)
    first = run.log.splitlines()[0]
    assert first == f"::add-mask::{TOKEN}"
    assert run.log.count(TOKEN) == run.log.count("::add-mask::")
    assert TOKEN not in summary.read_text()


def test_hostile_args_are_words_for_promoter_never_shell(tmp_path: Path, repo: Path) -> None:
    marker = tmp_path / "pwned"
    run, summary = _run(tmp_path, repo, command="plan",
                        args=f'--image "$(touch {marker})" ; touch {marker} `touch {marker}`')
    assert not marker.exists()
    assert run.codes == [0, 0, 2]  # promoter refused the unknown image: a usage error
    assert run.outputs["exit-code"] == "2"
    assert "### promoter plan: exit 2" in summary.read_text()


def test_promoter_output_cannot_issue_workflow_commands(tmp_path: Path, repo: Path) -> None:
    run, _ = _run(tmp_path, repo, command="plan", args="--config ::set-output::x")
    lines = run.log.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("::stop-commands::"))
    token = lines[start].split("::")[2]
    end = lines.index(f"::{token}::")
    assert any("::set-output::x" in ln for ln in lines[start:end])
    outside = lines[:start] + lines[end + 1:]
    # outside the fence only promoter's own annotations start with "::" (the path is their
    # data, never a command of its own)
    assert not any(ln.startswith("::set-output") for ln in outside)
    assert all(ln.startswith(("::error ", "::add-mask::")) for ln in outside
               if ln.startswith("::"))
    [note] = parse_annotations(run.log)  # the file named, as the runner reads it
    assert (note.level, note.properties["file"], note.properties["title"]) == (
        "error", "::set-output::x", "promoter plan")


BROKEN = """\
environments:
  - name: dev
    paths: [overlays/dev]
images:
  - name: web
    repository: {host}/demo/web
    policy: {{semver: "^^1"}}
  - name: web
    repository: {host}/demo/api
forge: {{type: local}}
"""


def test_config_errors_become_annotations_outside_the_fence_and_a_summary(
        tmp_path: Path, repo: Path, registry: str) -> None:
    (repo / ".promoter.yaml").write_text(BROKEN.format(host=registry))
    run, summary = _run(tmp_path, repo, command="plan")
    assert run.codes[-1] == 2 and run.outputs["exit-code"] == "2"
    found = parse_annotations(run.log)  # as the runner reads the log
    config = [a for a in found if a.properties.get("file") == ".promoter.yaml"]
    assert len(config) >= 2, run.log  # every error in the file, each at its line
    assert {a.level for a in config} == {"error"}
    lines = {int(a.properties["line"]) for a in config}
    assert {7, 8} <= lines, config
    assert all("col" in a.properties for a in config)
    assert any("semver" in a.message for a in config)
    doc = body(json.loads(run.outputs["result"]), command="plan", exit_code=2)
    assert len(doc["errors"]) == len(config)
    text = summary.read_text()
    assert text.startswith("### promoter plan: exit 2 (bad input)\n")
    assert ".promoter.yaml:7" in text  # what went wrong, and where


@pytest.mark.parametrize(("inputs", "error"), [
    ({"command": "rm"}, "input command"),
    ({"command": "check", "dry-run": "true"}, "has no --dry-run"),
    ({"command": "status", "shard": "1/2"}, "has no --shard"),
    ({"command": "plan", "dry-run": "maybe"}, "expected true or false"),
    ({"command": "plan", "args": "'unclosed"}, "input args"),
])
def test_bad_inputs_fail_the_step_with_an_error_annotation(
        tmp_path: Path, repo: Path, inputs: dict[str, str], error: str) -> None:
    run, _ = _run(tmp_path, repo, inputs=inputs)
    assert run.codes[-1] != 0
    assert "::error::" in run.log and error in run.log


def test_heredoc_outputs_survive_any_value(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a=1\nresult<<EOF_X\nline one\nEOF\nline=3\nEOF_X\n")
    assert read_outputs(out) == {"a": "1", "result": "line one\nEOF\nline=3"}


def test_comment_sub_action_answers_a_hostile_comment_without_a_shell(
        github: FakeGitHub, tmp_path: Path) -> None:
    """An issue_comment event whose body tries shell and workflow-command injection: the
    comment action reads it from GITHUB_EVENT_PATH, runs the command, and nothing leaks."""
    world = make_world("github", github)
    marker = tmp_path / "pwned"
    body = f"/hold\n$(touch {marker}) `touch {marker}`\n::set-output name=x::y"
    cid = world.comment("alice", body)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(world.event(cid)))
    environ = runner_environ(tmp_path, GITHUB_EVENT_PATH=str(event),
                             GITHUB_EVENT_NAME="issue_comment", FORGE_TOKEN=world.token,
                             PROMOTER_GIT_TOKEN=world.token)
    run = run_action(ROOT / "actions" / "comment" / "action.yml",
                     {"install": "false", "token": world.token,
                      "args": f"--clone {world.clone_url}"},
                     runner=tmp_path / "runner", workspace=tmp_path, environ=environ)
    assert run.codes == [0, 0, 0], run.log
    assert not marker.exists()
    assert json.loads(run.outputs["result"])["outcome"] == "done"
    assert run.log.count(world.token) == run.log.count("::add-mask::")
    pr = github.repos[world.name].pulls[world.number]
    assert "promoter/hold" in pr.labels


@pytest.mark.slow
def test_install_makes_a_venv_and_the_cache_restores_it(tmp_path: Path, repo: Path) -> None:
    """install true: the action's own source goes into a venv made from setup-python's
    interpreter; the next job gets that venv from the cache and installs nothing."""
    cache = tmp_path / "cache-service"
    env = runner_environ(tmp_path, GITHUB_TOKEN=TOKEN)
    first = run_action(ROOT / "action.yml", {"command": "plan"}, runner=tmp_path / "r1",
                       workspace=repo, environ=env, cache=cache)
    assert first.codes == [0, 0, 0], first.log
    assert first.steps["cache"] == {"cache-hit": "false"}
    venv = Path(first.steps["install"]["python"]).parent.parent
    assert venv == tmp_path / "r1" / "promoter-venv"
    key = first.steps["key"]["key"]
    assert key.startswith("promoter-") and "-source-" in key
    assert (cache / key / "bin" / "python").exists()  # saved after the job
    assert "restored from the cache" not in first.log
    shutil.rmtree(venv)  # a new job on a new machine
    second = run_action(ROOT / "action.yml", {"command": "plan"}, runner=tmp_path / "r1",
                        workspace=repo, environ=env, cache=cache)
    assert second.codes == [0, 0, 0], second.log
    assert second.steps["cache"] == {"cache-hit": "true"}
    assert second.steps["key"]["key"] == key
    assert f"promoter: the install was restored from the cache ({key})" in second.log
    assert json.loads(second.outputs["result"]) == json.loads(first.outputs["result"])


def test_the_cache_key_names_the_release_or_the_source(tmp_path: Path) -> None:
    """The key step alone (a release's install would ask PyPI for it)."""
    keys = {}
    for version in ("", "0.2.0"):
        out = tmp_path / f"out{version}"
        out.write_text("")
        env = {**runner_environ(tmp_path), "INPUT_VERSION": version, "GITHUB_OUTPUT": str(out),
               "RUNNER_TEMP": str(tmp_path)}
        subprocess.run([sys.executable, str(ROOT / "actions" / "promoter_action.py"), "key"],
                       env=env, check=True)
        outputs = read_outputs(out)
        assert outputs["path"] == str(tmp_path / "promoter-venv")
        keys[version] = outputs["key"]
    assert keys[""] != keys["0.2.0"] and keys["0.2.0"].endswith("-gitops-promoter-0.2.0")


@pytest.mark.parametrize("version", ["latest", "0.2", "1.0.0; rm -rf ~", "v0.2.0"])
def test_a_bad_version_input_fails_before_installing(tmp_path: Path, repo: Path,
                                                     version: str) -> None:
    run, _ = _run(tmp_path, repo, command="plan", install="true", version=version)
    assert run.codes == [1] and "::error::input version" in run.log
