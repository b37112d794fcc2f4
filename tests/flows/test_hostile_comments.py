"""Hostile comments and ``--to`` values (issue 15, items 3, 4 and 5) through the comment flow
(in-memory ports), ``promoter comment`` on the fake GitLab (which takes 1 MB notes) and
``promoter rollback`` against the real registry: the exit code, the one-line answer, and no
branch, commit or pull request made for what was refused."""

from __future__ import annotations

import subprocess
import time

import pytest

from promoter import commands
from promoter.cli import main
from promoter.flows.comment import Result
from tests.flows.test_check_e2e import Repo, repo  # noqa: F401 - the fixture
from tests.flows.test_comment import World, last_comment, merge, world  # noqa: F401
from tests.flows.test_comment_cli import gl_world  # noqa: F401 - the fixture
from tests.serve.worlds import BOT, ForgeWorld

BAD_TAGS = [("x y$(id)", "character ' ' at 2"), ("::error::pwned", "character ':' at 1"),
            ("-rf", "must start with a letter, a digit or _")]
ALLOWED = "only A-Z a-z 0-9 _ . - are allowed"
# a comment splits its arguments at spaces, so these are one word each
WORD_TAGS = [("x$(id)", "character '$' at 2"), ("::error::pwned", "character ':' at 1"),
             ("\u00e9t\u00e9", "character '\u00e9' at 1")]


def _problem(why: str) -> str:
    return f"{why}: {ALLOWED}" if why.startswith("character") else why


@pytest.mark.parametrize(("to", "why"), WORD_TAGS)
def test_slash_rollback_to_refuses_text_that_is_not_a_tag(world: World, to: str,  # noqa: F811
                                                          why: str) -> None:
    merge(world, world.pr_of("api"))
    n = world.pr_of("web")
    _, report = world.say(n, "alice", f"/rollback dev api --to {to}")
    assert [(a.result, a.text) for a in report.answers] == [
        (Result.DECLINED, f"not done: --to: not a valid tag: {to!r} ({_problem(why)})")]
    assert world.ws.branch_head("promoter/rollback/dev/api") is None
    assert world.forge.find(head="promoter/rollback/dev/api", base="main") is None


def test_slash_rollback_to_needs_a_version_the_registry_has(world: World) -> None:  # noqa: F811
    merge(world, world.pr_of("api"))  # dev runs 2.0.0; the registry has 1.0.0, 1.0.1, 2.0.0
    n = world.pr_of("web")
    _, report = world.say(n, "alice", "/rollback dev api --to 7.7.7")
    assert report.answers[0].text == ("not done: --to: ghcr.io/acme/api has no tag '7.7.7' in "
                                      "its registry (3 tags listed)")
    _, report = world.say(n, "alice", "/rollback dev api --to 1.0.2")
    assert report.answers[0].text == ("not done: --to: ghcr.io/acme/api has no tag '1.0.2' in "
                                      "its registry; did you mean 1.0.1, 1.0.0, 2.0.0?")
    assert world.ws.branch_head("promoter/rollback/dev/api") is None
    _, report = world.say(n, "alice", "/rollback dev api --to 1.0.1")
    assert report.answers[0].result is Result.DONE, report
    assert "dev: api 2.0.0 -> 1.0.1: promoter/rollback/dev/api: created" in \
        report.answers[0].text


def test_ten_thousand_commands_run_ten_and_the_reply_says_so(world: World) -> None:  # noqa: F811
    n = world.pr_of("api")
    _, report = world.say(n, "alice", "/unhold\n" * 10_000)
    assert [a.result for a in report.answers] == \
        [Result.DONE] * commands.MAX_COMMANDS + [Result.DECLINED]
    assert last_comment(world, n) == (
        "@alice\n" + "- `/unhold`: not on hold.\n" * commands.MAX_COMMANDS
        + "- `(and 9990 more)`:\n\nnot done: at most 10 commands of one comment run; 9990 more "
        "were not run. " + commands.HELP)


def test_a_reply_too_long_for_the_forge_is_cut_not_refused(world: World) -> None:  # noqa: F811
    n = world.pr_of("api")
    _, report = world.say(n, "alice", "/promoter help\n" * commands.MAX_COMMANDS * 2)
    reply = last_comment(world, n)
    assert len(report.answers) == commands.MAX_COMMANDS + 1
    assert len(reply) < commands.MAX_REPLY  # ten help texts fit
    cut = commands.fit_reply(reply * 40)
    assert len(cut) <= commands.MAX_REPLY and cut.startswith(reply)


@pytest.mark.integration
def test_promoter_comment_with_a_megabyte_word_answers_at_once(
        gl_world: ForgeWorld, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    """The issue's probe: '/promote' plus one long word cost 4.9 s at 64 kB (quadratic); a
    GitLab note may hold 1 MB, which would have taken about 20 minutes."""
    nid = gl_world.comment("alice", "/promote " + "a" * 1_000_000)
    started = time.monotonic()
    code = main(["comment", "--forge", "gitlab", "--mr", str(gl_world.number), "--note-id",
                 str(nid), "--clone", gl_world.clone_url])
    out, err = capsys.readouterr()
    assert time.monotonic() - started < 30  # a clone and a few forge calls
    assert (code, err) == (0, "")
    assert out.startswith("done\n- declined: not done: an argument of 1000000 characters; at "
                          "most 256 make sense. promoter understands these commands")
    project = gl_world.server.project(gl_world.name)  # type: ignore[union-attr]
    [reply] = [n.body for n in project.notes.values() if n.author == BOT]
    assert len(reply) < 2_000 and "a" * 200 not in reply


@pytest.mark.integration
def test_promoter_comment_with_ten_thousand_commands_runs_ten(
        gl_world: ForgeWorld, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    nid = gl_world.comment("alice", "/promoter help\n" * 10_000)
    code = main(["comment", "--forge", "gitlab", "--mr", str(gl_world.number), "--note-id",
                 str(nid), "--clone", gl_world.clone_url])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.count("- done: ") == commands.MAX_COMMANDS
    assert "- declined: not done: at most 10 commands of one comment run; 9990 more were not " \
        "run." in out
    project = gl_world.server.project(gl_world.name)  # type: ignore[union-attr]
    [reply] = [n.body for n in project.notes.values() if n.author == BOT]
    assert len(reply) <= commands.MAX_REPLY


def _rollback_branches(r: Repo) -> str:
    return subprocess.run(["git", "--git-dir", str(r.bare), "branch", "--list",
                           "promoter/rollback/*"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.integration
@pytest.mark.parametrize(("to", "why"), [*BAD_TAGS, ("1.0.0\n", "character '\\n' at 6")])
def test_cli_rollback_to_refuses_text_that_is_not_a_tag(
        repo: Repo, capsys: pytest.CaptureFixture[str], to: str, why: str) -> None:  # noqa: F811
    code = main(["rollback", "prod", "--image", "web", "--to", to, "--repo",
                 str(repo.checkout())])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"promoter: error: --to: not a valid tag: {to!r} ({_problem(why)})\n"
    assert _rollback_branches(repo) == ""
    assert repo.forge().list_open() == ()


@pytest.mark.integration
def test_cli_rollback_to_needs_a_version_the_registry_has(
        repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    checkout = str(repo.checkout())
    code = main(["rollback", "prod", "--image", "web", "--to", "9.9.9", "--repo", checkout])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"promoter: error: --to: {repo.image} has no tag '9.9.9' "
                                       "in its registry (3 tags listed)\n")
    assert _rollback_branches(repo) == ""
    assert main(["rollback", "prod", "--image", "web", "--to", "1.1.0", "--repo",
                 checkout]) == 0
    assert "prod: web 1.0.0 -> 1.1.0: promoter/rollback/prod/web: created opened #" in \
        capsys.readouterr().out
