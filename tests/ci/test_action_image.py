"""The Action's image mode: with ``image`` set, no Python, cache or install step runs and
promoter runs as ``docker run`` of that image. A stand-in ``docker`` on PATH records what it was
given and runs the real promoter the way the container would, so outputs, summary and exit code
go through the whole action path."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.ci import fake_docker
from tests.ci.actions import ROOT, Run, load, run_action, runner_environ
from tests.envelope import body
from tests.serve.worlds import make_world
from tests.servers.fake_github import FakeGitHub

pytestmark = pytest.mark.integration

TOKEN = "ghs_" + "1m4g3" * 7
IMAGE = "ghcr.io/acme/promoter:0.2.0@sha256:" + "ab12" * 16


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A runner's environment whose PATH finds the stand-in docker first, and a HOME of its
    own (no docker config unless a test writes one)."""
    fake_docker.install(tmp_path / "bin", tmp_path / "docker.jsonl")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = runner_environ(tmp_path, HOME=str(home), GITHUB_TOKEN=TOKEN, **extra)
    env["PATH"] = os.pathsep.join([str(tmp_path / "bin"), env["PATH"]])
    return env


def _run(tmp_path: Path, workspace: Path, action: Path = ROOT / "action.yml",
         environ: dict[str, str] | None = None, inputs: dict[str, str] | None = None,
         **more: str) -> Run:
    return run_action(action, {"image": IMAGE, **(inputs or {}), **more},
                      runner=tmp_path / "runner", workspace=workspace,
                      environ=environ or _environ(tmp_path))


def _docker(tmp_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """What docker was started with, and the environment promoter got in the container."""
    calls = fake_docker.records(tmp_path / "docker.jsonl")
    assert len(calls) == 2, calls
    return calls[0], calls[1]["promoter_env"]  # type: ignore[return-value]


def _step_index(action: Path, step_id: str) -> int:
    return [s.get("id") for s in load(action)["runs"]["steps"]].index(step_id)


def _user() -> str:
    return f"{os.getuid()}:{os.getgid()}"


def test_plan_in_the_image_installs_nothing_and_keeps_outputs_and_summary(
        tmp_path: Path, repo: Path) -> None:
    run = _run(tmp_path, repo, command="plan", install="true", token=TOKEN)
    assert run.codes == [0], run.log  # only the run step: no python, key, cache or install
    assert set(run.steps) == {"run"}
    assert not (tmp_path / "runner" / "promoter-venv").exists()
    result = body(json.loads(run.outputs["result"]), command="plan", exit_code=0)
    assert sorted(pr["branch"] for pr in result["plan"]) == ["promoter/dev/api",
                                                             "promoter/dev/web"]
    assert run.outputs["exit-code"] == "0" and json.loads(run.outputs["pull-requests"]) == []
    summary = tmp_path / "runner" / "summary.md"
    assert summary.read_text().startswith("### promoter plan: ok\n")
    call, inside = _docker(tmp_path)
    out = tmp_path / "runner" / f"output_{_step_index(ROOT / 'action.yml', 'run')}"
    names = ["CI", "GITHUB_ACTIONS", "GITHUB_ACTION_PATH", "GITHUB_OUTPUT",
             "GITHUB_STEP_SUMMARY", "GITHUB_TOKEN", "GITHUB_WORKSPACE", "PROMOTER_ANNOTATIONS"]
    notes = call["env"]["PROMOTER_ANNOTATIONS"]  # a file of its own, printed after the fence
    assert call["argv"] == [
        "run", "--rm", "--user", _user(), "--workdir", str(repo),
        "--volume", f"{repo}:{repo}", "--volume", f"{out}:{out}",
        "--volume", f"{summary}:{summary}", "--volume", f"{notes}:{notes}",
        *[w for n in names for w in ("--env", n)],
        IMAGE, "plan", "--output", "json"]
    assert TOKEN not in json.dumps(call["argv"])  # the token goes by name only
    assert call["env"]["GITHUB_TOKEN"] == TOKEN
    assert inside["GITHUB_TOKEN"] == TOKEN
    assert set(inside) == {*names, "PATH", "HOME"}  # not INPUT_TOKEN, not the runner's rest
    assert run.log.splitlines()[0] == f"::add-mask::{TOKEN}"
    assert run.log.count(TOKEN) == run.log.count("::add-mask::")


def test_poll_sub_action_in_the_image_writes_branches_into_the_workspace(
        tmp_path: Path, repo: Path) -> None:
    """A working directory outside the workspace is mounted too; dry-run and shard keep their
    place in the argument list."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    action = ROOT / "actions" / "poll" / "action.yml"
    run = _run(tmp_path, workspace, action, inputs={"working-directory": str(repo)})
    assert run.codes == [0], run.log
    prs = json.loads(run.outputs["pull-requests"])
    assert sorted((p["branch"], p["outcome"]) for p in prs) == [
        ("promoter/dev/api", "created"), ("promoter/dev/web", "created")]
    branches = sorted(b.name for b in (repo / ".git" / "refs" / "heads" / "promoter" / "dev")
                      .iterdir())
    assert branches == ["api", "web"]
    call, _ = _docker(tmp_path)
    argv = call["argv"]
    assert argv[:8] == ["run", "--rm", "--user", _user(), "--workdir", str(repo),
                        "--volume", f"{workspace}:{workspace}"]
    assert argv[8:10] == ["--volume", f"{repo}:{repo}"]
    assert argv[argv.index(IMAGE):] == [IMAGE, "poll", "--output", "json"]
    again = _run(tmp_path / "2", workspace, action, environ=_environ(tmp_path / "2"),
                 inputs={"working-directory": str(repo), "dry-run": "true", "shard": "1/2"})
    assert again.codes == [0], again.log
    argv = _docker(tmp_path / "2")[0]["argv"]
    assert argv[argv.index(IMAGE):] == [IMAGE, "poll", "--dry-run", "--shard", "1/2",
                                        "--output", "json"]


def test_a_failing_promoter_in_the_image_gives_its_exit_code(tmp_path: Path,
                                                             repo: Path) -> None:
    marker = tmp_path / "pwned"
    run = _run(tmp_path, repo, command="plan",
               args=f'--image "$(touch {marker})" ; touch {marker}')
    assert not marker.exists()
    assert run.codes == [2] and run.outputs["exit-code"] == "2"
    assert "### promoter plan: exit 2" in (tmp_path / "runner" / "summary.md").read_text()
    argv = _docker(tmp_path)[0]["argv"]
    assert argv[argv.index(IMAGE) + 1:] == ["plan", "--image", f"$(touch {marker})", ";",
                                            "touch", str(marker), "--output", "json"]


def test_a_docker_login_config_is_mounted_read_only(tmp_path: Path, repo: Path) -> None:
    env = _environ(tmp_path)
    config = Path(env["HOME"]) / ".docker"
    config.mkdir()
    (config / "config.json").write_text('{"auths": {}}')
    run = _run(tmp_path, repo, environ=env, command="plan")
    assert run.codes == [0], run.log
    call, inside = _docker(tmp_path)
    assert f"{config}:{config}:ro" in call["argv"]
    assert inside["DOCKER_CONFIG"] == str(config)


def test_comment_in_the_image_reads_the_mounted_event(github: FakeGitHub,
                                                      tmp_path: Path) -> None:
    """The event file is mounted read-only at its path; the forge token the config names
    passes by name through image-env."""
    world = make_world("github", github)
    cid = world.comment("alice", "/hold")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(world.event(cid)))
    env = _environ(tmp_path, GITHUB_EVENT_PATH=str(event), GITHUB_EVENT_NAME="issue_comment",
                   FORGE_TOKEN=world.token, PROMOTER_GIT_TOKEN=world.token)
    run = _run(tmp_path, tmp_path, ROOT / "actions" / "comment" / "action.yml", environ=env,
               token=world.token, args=f"--clone {world.clone_url}",
               inputs={"image-env": "FORGE_TOKEN, NOT_SET"})
    assert run.codes == [0], run.log
    assert body(json.loads(run.outputs["result"]))["outcome"] == "done"
    assert "promoter/hold" in github.repos[world.name].pulls[world.number].labels
    call, inside = _docker(tmp_path)
    assert f"{event}:{event}:ro" in call["argv"]
    assert world.token not in json.dumps(call["argv"])
    assert inside["FORGE_TOKEN"] == world.token and "NOT_SET" not in inside
    assert {"GITHUB_EVENT_PATH", "GITHUB_EVENT_NAME", "PROMOTER_GIT_TOKEN"} <= set(inside)


@pytest.mark.parametrize("ref", [
    "Promoter:0.2.0", "ghcr.io/acme/promoter:latest; rm -rf ~", "--privileged",
    "ghcr.io/acme/promoter@sha256:abc", "ghcr.io//promoter", "$(touch x)",
    "ghcr.io/acme/promoter:0.2.0 --rm", "ghcr.io/acme/promoter:-x", "ACME/promoter",
    "ghcr.io/acme/promoter:0.2.0\n--privileged", "-v/:/host"])
def test_a_bad_image_is_refused_before_docker_runs(tmp_path: Path, repo: Path,
                                                   ref: str) -> None:
    run = _run(tmp_path, repo, command="plan", image=ref)
    assert run.codes == [1]
    assert "::error::input image: " in run.log
    assert fake_docker.records(tmp_path / "docker.jsonl") == []


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("promoter_action",
                                                  ROOT / "actions" / "promoter_action.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("ref", [
    "promoter", "acme/promoter:0.2.0", "ghcr.io/acme/promoter:0.2.0",
    "ghcr.io/acme/promoter@sha256:" + "0" * 64, "localhost:5000/promoter:dev_1",
    "registry.example.com:443/team/sub/promoter-x__y:v1.2.3@sha256:" + "f" * 64, ""])
def test_image_references_docker_accepts_pass(monkeypatch: pytest.MonkeyPatch,
                                              ref: str) -> None:
    monkeypatch.setenv("INPUT_IMAGE", ref)
    assert _module().image() == ref


def test_a_bad_image_env_name_is_refused(tmp_path: Path, repo: Path) -> None:
    run = _run(tmp_path, repo, command="plan", inputs={"image-env": "OK_NAME BAD-NAME"})
    assert run.codes == [1] and "::error::input image-env: 'BAD-NAME'" in run.log
    assert fake_docker.records(tmp_path / "docker.jsonl") == []


def test_no_docker_on_the_runner_is_a_clear_error(tmp_path: Path, repo: Path) -> None:
    env = _environ(tmp_path)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    if shutil.which("docker", path=env["PATH"]):
        pytest.skip("docker is installed where every runner PATH finds it")
    run = _run(tmp_path, repo, environ=env, command="plan")
    assert run.codes == [1]
    assert "::error::input image: docker is not on PATH" in run.log
