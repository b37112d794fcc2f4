"""``promoter comment`` end to end with prod restricted to a team (GitHub ``acme/sre``) or a
group (GitLab ``acme/sre``): the CLI asks the forge who belongs, through the real PyGithub /
python-gitlab clients against the fake forges."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.flows.test_comment_cli import run, write_event
from tests.serve.worlds import BOT, ForgeWorld, config, make_world
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.git_http import commit_to

pytestmark = pytest.mark.integration
_n = itertools.count(1)
REFUSAL = "refused: commands for **prod** are limited to the people its configuration allows."


def sre_world(kind: str, server: FakeGitHub | FakeGitLab, monkeypatch: pytest.MonkeyPatch
              ) -> tuple[ForgeWorld, str, str]:
    """A world whose prod admits only ``acme/sre``; returns it, a writer in the team and a
    writer outside it."""
    w = make_world(kind, server)
    key = "teams" if kind == "github" else "groups"
    text = config(kind, server.url, w.name).replace("{users: [sre-sam]}", f"{{{key}: [acme/sre]}}")
    assert f"{key}: [acme/sre]" in text
    commit_to(w.bare, "main", {".promoter.yaml": text}, message="prod: only SRE")
    monkeypatch.setenv("FORGE_TOKEN", w.token)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", w.token)
    i = next(_n)
    inside, outside = f"sre-tina-{i}", f"dev-dave-{i}"
    for user in (inside, outside):
        w.grant(user, "write")
    if isinstance(server, FakeGitHub):
        server.add_team_member("acme/sre", inside)
    else:
        server.add_group_member("acme/sre", inside)
    return w, inside, outside


def comment(w: ForgeWorld, user: str, body: str, tmp_path: Path,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    cid = w.comment(user, body)
    if w.kind == "github":
        args = ["comment", "--event", write_event(tmp_path, w.event(cid))]
    else:
        args = ["comment", "--forge", "gitlab", "--mr", str(w.number), "--note-id", str(cid)]
    return run([*args, "--clone", w.clone_url, "--output", "json"], capsys)


def replies(w: ForgeWorld) -> list[str]:
    if isinstance(w.server, FakeGitHub):
        return [c.body for c in w.server.repos[w.name].comments.values() if c.user == BOT]
    return [n.body for n in w.server.project(w.name).notes.values() if n.author == BOT]


@pytest.mark.parametrize("kind", ["github", "gitlab"])
def test_prod_restricted_to_a_team_admits_its_writers_and_politely_refuses_others(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    server = request.getfixturevalue(kind)
    w, inside, outside = sre_world(kind, server, monkeypatch)

    code, out, err = comment(w, outside, "/promote prod", tmp_path, capsys)
    assert (code, err) == (0, "")
    assert '"outcome": "refused"' in out and REFUSAL in out
    reply = replies(w)[-1]
    assert reply.startswith(f"@{outside}") and REFUSAL in reply
    assert "acme/sre" not in reply  # the refusal names no team

    code, out, err = comment(w, inside, "/promote prod", tmp_path, capsys)
    assert (code, err) == (0, "")
    assert json.loads(out)["commands"] == [{
        "command": "/promote prod", "result": "done",
        "text": "\n```text\ndev -> prod: api 1.0.0 up-to-date\n```"}]
    assert replies(w)[-1].startswith(f"@{inside}")


def test_a_forge_that_cannot_say_who_is_in_the_team_admits_nobody(
        github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    w, inside, _ = sre_world("github", github, monkeypatch)
    github.fail_next("GET", r"^/orgs/acme/teams/sre/memberships/", status=403, times=5)
    code, out, _ = comment(w, inside, "/promote prod", tmp_path, capsys)
    assert code == 0
    assert f"cannot check whether {inside} is in acme/sre, so not admitted" in caplog.text
    assert json.loads(out)["outcome"] == "refused"
    assert REFUSAL in replies(w)[-1]
