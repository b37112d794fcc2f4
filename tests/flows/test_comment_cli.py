"""``promoter comment`` end to end: an Actions event file (a real @octokit/webhooks-examples
payload, and one the fake GitHub builds from its state) or a GitLab note id, against fake
forges driven by the real PyGithub / python-gitlab clients and a real clone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.forge import Reaction
from tests.envelope import body
from tests.forge import openapi
from tests.serve.worlds import (
    BOT,
    ForgeWorld,
    examples_available,
    github_example_comment,
    make_world,
)
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab

pytestmark = pytest.mark.integration


def _world(kind: str, server: FakeGitHub | FakeGitLab, monkeypatch: pytest.MonkeyPatch
           ) -> ForgeWorld:
    w = make_world(kind, server)
    monkeypatch.setenv("FORGE_TOKEN", w.token)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", w.token)
    return w


@pytest.fixture
def gh_world(github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> ForgeWorld:
    return _world("github", github, monkeypatch)


@pytest.fixture
def gl_world(gitlab: FakeGitLab, monkeypatch: pytest.MonkeyPatch) -> ForgeWorld:
    return _world("gitlab", gitlab, monkeypatch)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def write_event(tmp_path: Path, payload: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return str(path)


@pytest.mark.skipif(not examples_available(), reason="@octokit/webhooks-examples not installed")
def test_actions_event_file_from_the_real_example_turns_on_auto_merge(
        gh_world: ForgeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    cid = gh_world.comment("alice", "Ship it\n/promote")
    monkeypatch.setenv("GITHUB_EVENT_PATH",
                       write_event(tmp_path, github_example_comment(gh_world, cid, "alice",
                                                                    "Ship it\n/promote")))
    code, out, err = run(["comment", "--clone", gh_world.clone_url, "--output", "json"], capsys)
    assert (code, err) == (0, "")
    assert body(json.loads(out), command="comment", exit_code=0) == {
        "errors": [], "outcome": "done", "reason": "", "commands": [{
        "command": "/promote", "result": "done", "text": "auto-merge is on: the forge merges "
        "this pull request once its required checks and reviews pass."}]}
    repo = gh_world.server.repos[gh_world.name]  # type: ignore[union-attr]
    assert repo.pulls[gh_world.number].auto_merge is not None
    assert [r[2] for r in repo.comments[cid].reactions] == [Reaction.EYES.value]
    replies = [c for c in repo.comments.values() if c.user == BOT]
    assert [c.body.splitlines()[0] for c in replies] == ["@alice"]


def test_event_built_by_the_fake_is_valid_and_read_only_users_are_refused(
        gh_world: ForgeWorld, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cid = gh_world.comment("rita", "/promote")
    payload = gh_world.event(cid)
    if openapi.available():
        assert openapi.schema_errors("webhook-issue-comment-created", payload) == []
    code, out, _ = run(["comment", "--event", write_event(tmp_path, payload),
                        "--clone", gh_world.clone_url], capsys)
    assert (code, out) == (0, "refused: no write access\n")
    repo = gh_world.server.repos[gh_world.name]  # type: ignore[union-attr]
    assert repo.pulls[gh_world.number].auto_merge is None
    reply = [c.body for c in repo.comments.values() if c.user == BOT]
    assert reply == ["@rita, sorry: promoter commands need write access to this repository, "
                     "so promoter did not run them. Someone with write access can run them "
                     "for you."]


def test_gitlab_note_id_holds_the_merge_request(gl_world: ForgeWorld,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    nid = gl_world.comment("alice", "/hold")
    code, out, err = run(["comment", "--forge", "gitlab", "--project", gl_world.name,
                          "--mr", str(gl_world.number), "--note-id", str(nid),
                          "--clone", gl_world.clone_url], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("done\n- done: on hold: label `promoter/hold` added")
    project = gl_world.server.project(gl_world.name)  # type: ignore[union-attr]
    mr = project.mrs[gl_world.number]
    assert "promoter/hold" in mr.labels
    assert [e[2] for e in project.notes[nid].emoji] == ["eyes"]


def test_gitlab_developer_needed_and_system_notes_ignored(
        gl_world: ForgeWorld, capsys: pytest.CaptureFixture[str]) -> None:
    nid = gl_world.comment("rita", "/promote")
    code, out, _ = run(["comment", "--forge", "gitlab", "--mr", str(gl_world.number),
                        "--note-id", str(nid), "--clone", gl_world.clone_url], capsys)
    assert (code, out) == (0, "refused: no write access\n")
    sys_note = gl_world.server.add_note(gl_world.name, gl_world.number,  # type: ignore[union-attr]
                                        "alice", "/promote", system=True)
    code, out, _ = run(["comment", "--forge", "gitlab", "--mr", str(gl_world.number),
                        "--note-id", str(sys_note), "--clone", gl_world.clone_url], capsys)
    assert (code, out) == (0, "ignored: a system note\n")


@pytest.mark.parametrize(("args", "message"), [
    (["comment"], "promoter: error: --event FILE (or $GITHUB_EVENT_PATH) is required\n"),
    (["comment", "--forge", "gitlab", "--mr", "1"],
     "promoter: error: --forge gitlab needs --mr and --note-id\n"),
    (["comment", "--event", "/nonexistent/event.json"],
     "promoter: error: /nonexistent/event.json: cannot read the event file: No such file or "
     "directory\n"),
])
def test_bad_invocations_exit_2_with_one_line(args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(args, capsys)
    assert (code, out, err) == (2, "", message)


def test_event_file_that_is_not_an_issue_comment_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_event(tmp_path, {"action": "opened", "pull_request": {}})
    code, _, err = run(["comment", "--event", path], capsys)
    assert (code, err) == (2, f"promoter: error: {path}: issue is missing or not a dict\n")
