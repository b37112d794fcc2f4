"""One contract for every command: the exit code (0 done, 1 problems, 2 bad input, 3 retry
later) and the JSON envelope, over every command x (ok, problems, bad input, unreachable
registry), run through ``promoter.cli.main`` against a real registry and real git."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.demo.run import write_repo
from tests.ci.actions import seeded_registry
from tests.envelope import ERROR_KEYS

pytestmark = pytest.mark.integration

OK, PROBLEMS, BAD_INPUT, RETRY = 0, 1, 2, 3


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    with seeded_registry() as h:
        yield h


@pytest.fixture(scope="module")
def dead() -> str:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Repo:
    path: Path
    host: str

    def ghost(self) -> Repo:
        """The config names an image no environment's files reference."""
        cfg = self.path / ".promoter.yaml"
        cfg.write_text(cfg.read_text().replace(
            "images:\n", f"images:\n  - name: ghost\n    repository: {self.host}/demo/ghost\n",
            1))
        _git(self.path, "commit", "-qam", "a ghost image")
        return self

    def hotfix(self) -> Repo:
        """A branch ``hotfix`` that moves prod's web ahead of dev (the order rule's case)."""
        _git(self.path, "checkout", "-qb", "hotfix")
        assert main(["set-image", str(self.path / "overlays/prod"), "--image",
                     f"{self.host}/demo/web", "--tag", "1.0.1"]) == 0
        _git(self.path, "commit", "-qam", "prod web 1.0.1")
        _git(self.path, "checkout", "-q", "main")
        return self


Build = Callable[[str], Repo]


@pytest.fixture
def build(tmp_path: Path) -> Build:
    def make(host: str) -> Repo:
        path = tmp_path / f"gitops-{host.rsplit(':', 1)[1]}"
        write_repo(path, host)
        return Repo(path, host)

    return make


@dataclass(frozen=True)
class Case:
    """One row: how to prepare the repository, the arguments, the exit code expected."""

    args: Callable[[Repo], list[str]]
    code: int
    dead: bool = False  # the repository names a registry that does not answer
    prepare: Callable[[Repo], Repo] = lambda r: r
    json: bool = True  # the command has --output json


def _r(r: Repo) -> list[str]:
    return ["--repo", str(r.path)]


def _dev_move(r: Repo) -> Repo:
    """A branch ``hotfix`` that moves dev's web (in order): only the registry can object."""
    _git(r.path, "checkout", "-qb", "hotfix")
    assert main(["set-image", str(r.path / "overlays/dev"), "--image", f"{r.host}/demo/web",
                 "--tag", "1.0.1"]) == 0
    _git(r.path, "commit", "-qam", "dev web 1.0.1")
    _git(r.path, "checkout", "-q", "main")
    return r


def _broken_config(r: Repo) -> Path:
    bad = r.path / "broken.promoter.yaml"
    bad.write_text("environments: []\nimages:\n  - name: web\n    repository: 'a b'\n"
                   "    policy: {semver: '^^1'}\n")
    return bad


CASES: dict[str, Case] = {
    # plan
    "plan-ok": Case(lambda r: ["plan", *_r(r)], OK),
    "plan-problems": Case(lambda r: ["plan", *_r(r)], PROBLEMS, prepare=Repo.ghost),
    "plan-bad-input": Case(lambda r: ["plan", *_r(r), "--image", "nope"], BAD_INPUT),
    "plan-bad-env": Case(lambda r: ["plan", *_r(r), "--env", "qa"], BAD_INPUT),
    "plan-unreachable": Case(lambda r: ["plan", *_r(r)], RETRY, dead=True),
    # poll --dry-run agrees with plan, poll too
    "poll-dry-ok": Case(lambda r: ["poll", "--dry-run", *_r(r)], OK),
    "poll-dry-problems": Case(lambda r: ["poll", "--dry-run", *_r(r)], PROBLEMS,
                              prepare=Repo.ghost),
    "poll-dry-bad-input": Case(lambda r: ["poll", "--dry-run", *_r(r), "--image", "nope"],
                               BAD_INPUT),
    "poll-bad-env": Case(lambda r: ["poll", *_r(r), "--env", "qa"], BAD_INPUT),
    "poll-dry-unreachable": Case(lambda r: ["poll", "--dry-run", *_r(r)], RETRY, dead=True),
    "poll-ok": Case(lambda r: ["poll", *_r(r)], OK),
    "poll-problems": Case(lambda r: ["poll", *_r(r)], PROBLEMS, prepare=Repo.ghost),
    "poll-bad-input": Case(lambda r: ["poll", *_r(r), "--shard", "3/2"], BAD_INPUT),
    "poll-unreachable": Case(lambda r: ["poll", *_r(r)], RETRY, dead=True),
    # promote reads git alone: no registry row
    "promote-ok": Case(lambda r: ["promote", "--dry-run", *_r(r)], OK),
    "promote-bad-input": Case(lambda r: ["promote", "--dry-run", *_r(r), "--image", "nope"],
                              BAD_INPUT),
    "promote-bad-env": Case(lambda r: ["promote", "--dry-run", *_r(r), "--to", "qa"],
                            BAD_INPUT),
    # status reads git alone; its problems are the cells'
    "status-ok": Case(lambda r: ["status", *_r(r)], OK),
    "status-problems": Case(lambda r: ["status", *_r(r)], PROBLEMS, prepare=Repo.ghost),
    "status-bad-input": Case(lambda r: ["status", *_r(r), "--image", "nope"], BAD_INPUT),
    "status-unreachable": Case(lambda r: ["status", *_r(r)], OK, dead=True),
    # rollback: the whole environment with nothing earlier is done; one image is a problem
    "rollback-ok": Case(lambda r: ["rollback", "prod", "--dry-run", *_r(r)], OK),
    "rollback-problems": Case(lambda r: ["rollback", "prod", "--dry-run", "--image", "web",
                                         *_r(r)], PROBLEMS),
    "rollback-bad-input": Case(lambda r: ["rollback", "qa", "--dry-run", *_r(r)], BAD_INPUT),
    "rollback-bad-image": Case(lambda r: ["rollback", "prod", "--dry-run", "--image", "nope",
                                          *_r(r)], BAD_INPUT),
    "rollback-unreachable": Case(lambda r: ["rollback", "prod", "--dry-run", "--image", "web",
                                            "--to", "1.0.1", *_r(r)], RETRY, dead=True),
    # check
    "check-ok": Case(lambda r: ["check", *_r(r), "--base", "main", "--head", "main"], OK),
    "check-problems": Case(lambda r: ["check", *_r(r), "--base", "main", "--head", "hotfix"],
                           PROBLEMS, prepare=Repo.hotfix),
    "check-bad-input": Case(lambda r: ["check", *_r(r), "--base", "main", "--head", "nope"],
                            BAD_INPUT),
    "check-unreachable": Case(lambda r: ["check", *_r(r), "--base", "main", "--head",
                                         "hotfix"], RETRY, dead=True,
                              prepare=_dev_move),
    # tags
    "tags-ok": Case(lambda r: ["tags", f"{r.host}/demo/web", "--insecure-registry",
                               "127.0.0.1"], OK),
    "tags-problems": Case(lambda r: ["tags", f"{r.host}/demo/web", "--semver", "^9",
                                     "--insecure-registry", "127.0.0.1"], PROBLEMS),
    "tags-bad-input": Case(lambda r: ["tags", f"{r.host}/demo/web", "--semver", "^1.x-rc"],
                           BAD_INPUT),
    "tags-not-found": Case(lambda r: ["tags", f"{r.host}/demo/nope", "--insecure-registry",
                                      "127.0.0.1"], BAD_INPUT),
    "tags-unreachable": Case(lambda r: ["tags", f"{r.host}/demo/web", "--insecure-registry",
                                        "127.0.0.1"], RETRY, dead=True),
    # dashboard needs `dashboard: true` (and a forge): the demo has neither
    "dashboard-bad-input": Case(lambda r: ["dashboard", *_r(r)], BAD_INPUT),
    # find-images and config validate read files alone
    "find-images-ok": Case(lambda r: ["find-images", str(r.path / "overlays")], OK),
    "find-images-bad-input": Case(lambda r: ["find-images", str(r.path / "missing")],
                                  BAD_INPUT),
    "config-validate-ok": Case(lambda r: ["config", "validate", str(r.path / ".promoter.yaml")],
                               OK),
    "config-validate-bad-input": Case(lambda r: ["config", "validate",
                                                 str(_broken_config(r))], BAD_INPUT),
    # set-image keeps its own contract (no JSON): 0 changed, 1 referenced nowhere, 2 invalid
    "set-image-ok": Case(lambda r: ["set-image", str(r.path / "overlays"), "--image",
                                    f"{r.host}/demo/web", "--tag", "1.0.1"], OK, json=False),
    "set-image-nowhere": Case(lambda r: ["set-image", str(r.path / "overlays"), "--image",
                                         "nope.example/x", "--tag", "1"], PROBLEMS, json=False),
    "set-image-bad-input": Case(lambda r: ["set-image", str(r.path / "overlays"), "--image",
                                           f"{r.host}/demo/web", "--tag", "bad tag!"],
                                BAD_INPUT, json=False),
}


def _json_commands() -> set[str]:
    return {name.split("-")[0] for name, c in CASES.items() if c.json}


def test_every_command_with_json_output_has_rows() -> None:
    """Every command that has --output json is in the table, with a bad-input row."""
    from promoter.cli import COMMANDS

    with_json = set()
    for name in COMMANDS:
        from click.testing import CliRunner

        from promoter.cli import cli

        help_text = CliRunner().invoke(cli, [name, "--help"]).output
        if "--output" in help_text:
            with_json.add(name)
    covered = {"find": "find-images"}
    rows = {covered.get(n, n) for n in _json_commands()}
    assert with_json - {"comment"} <= rows | {"config"}, with_json - rows
    assert {n.rsplit("-", 2)[0] for n in CASES if "bad-input" in n} >= {
        "plan", "poll", "poll-dry", "promote", "status", "rollback", "check", "tags"}


@pytest.mark.parametrize("name", list(CASES))
def test_exit_code_and_envelope(name: str, build: Build, host: str, dead: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    case = CASES[name]
    repo = case.prepare(build(dead if case.dead else host))
    args = case.args(repo)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    assert code == case.code, f"{args}: {out}{err}"
    if code:  # every failure says why, without a Python exception name or a traceback
        assert (err if code == BAD_INPUT else out + err).strip(), args
        assert not re.search(r"\b[A-Z]\w*(Error|Exception)\b|Traceback", err), err
    if not case.json:
        return
    # again, asking for JSON: the same code, and stdout holds one envelope, whatever the code
    code2 = main([*args, "--output", "json"])
    out2, _ = capsys.readouterr()
    assert code2 == code
    doc = json.loads(out2)
    assert doc["schema_version"] == 1
    assert doc["command"] == ("config validate" if args[0] == "config" else args[0])
    assert doc["exit_code"] == code
    assert all(list(e) == ERROR_KEYS for e in doc["errors"])
    assert bool(doc["errors"]) == (code != OK), doc["errors"]
    if code == RETRY:
        assert all(e["retryable"] for e in doc["errors"])
    if code == PROBLEMS and name.startswith(("plan", "poll", "status")):
        assert {e["image"] for e in doc["errors"]} == {"ghost"}
    if name == "check-problems":  # a violation, at the file it is about
        [e] = doc["errors"]
        assert (e["image"], e["file"]) == ("web", "overlays/prod/kustomization.yaml")
        assert e["message"].startswith("order: web: prod gets 1.0.1")


@pytest.mark.parametrize(("args", "says"), [
    (lambda r, t: ["status", *_r(r), "--out", str(t / "missing" / "dir" / "f.html")],
     "missing/dir/f.html: no such file or directory (does the folder exist?)"),
    (lambda r, t: ["status", *_r(r), "--out", str(t / "afile" / "f.html")],
     "afile/f.html: a part of the path is a file, not a folder"),
    (lambda r, t: ["demo", "--workdir", str(t / "afile" / "sub")],
     "afile/sub: a part of the path is a file, not a folder"),
])
def test_filesystem_mistakes_are_bad_input_in_one_line(
        args: Callable[[Repo, Path], list[str]], says: str, build: Build, host: str,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = build(host)
    (tmp_path / "afile").write_text("a file\n")
    argv = args(repo, tmp_path)
    capsys.readouterr()
    assert main(argv) == BAD_INPUT
    out, err = capsys.readouterr()
    assert err.startswith("promoter: error: ") and err.count("\n") == 1, err
    assert says in err and "Error" not in err
    if argv[0] == "status":  # and with JSON, the envelope says the same
        assert main([*argv, "--output", "json"]) == BAD_INPUT
        doc = json.loads(capsys.readouterr().out)
        assert says in doc["errors"][0]["message"] and doc["exit_code"] == BAD_INPUT
