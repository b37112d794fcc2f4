"""The console wired into the commands: ``plan``, ``status`` and ``poll`` draw a progress line on
a real terminal (a pty) and nothing in a pipe, in CI or under ``-q``; stdout stays the result."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from promoter.demo.run import write_repo
from tests.ci.actions import seeded_registry
from tests.console.pty import run_in_pty, terminal_env

pytestmark = pytest.mark.integration

_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def host() -> Iterator[str]:
    with seeded_registry() as h:
        yield h


@pytest.fixture
def repo(tmp_path: Path, host: str) -> Path:
    path = tmp_path / "gitops"
    write_repo(path, host)
    return path


def _in_pty(*args: str, **env: str) -> tuple[int, str]:
    return run_in_pty([sys.executable, "-m", "promoter", *args], terminal_env(**env))


@pytest.mark.parametrize(("command", "line"), [
    ("plan", "images scanned"), ("status", "images read"),
    ("promote", "promotion steps")])
def test_a_terminal_sees_progress_while_the_command_works(repo: Path, command: str,
                                                          line: str) -> None:
    args = [command, "--repo", str(repo)] + (["--dry-run"] if command == "promote" else [])
    code, out = _in_pty(*args)
    assert code == 0, out
    plain = _ESC.sub("", out)
    assert line in plain
    assert "\x1b[?25l" in out and "\x1b[?25h" in out  # the display hid the cursor, then back
    assert re.search(r"\b(\d+)/\1\b", plain)  # it finished: n/n


def test_poll_shows_the_images_and_the_pull_requests(repo: Path) -> None:
    code, out = _in_pty("poll", "--repo", str(repo))
    assert code == 0, out
    plain = _ESC.sub("", out)
    assert "images scanned" in plain and "pull requests synced" in plain


@pytest.mark.parametrize("how", ["ci", "quiet", "pipe"])
def test_no_progress_in_ci_under_quiet_or_in_a_pipe(repo: Path, how: str) -> None:
    if how == "pipe":
        proc = subprocess.run([sys.executable, "-m", "promoter", "plan", "--repo", str(repo)],
                              capture_output=True, text=True, env=terminal_env(), timeout=120)
        code, out = proc.returncode, proc.stdout + proc.stderr
        assert "\x1b[" not in out  # no colour, no cursor movement in a pipe
    else:
        code, out = _in_pty(*(["-q"] if how == "quiet" else []), "plan", "--repo", str(repo),
                            **({"CI": "true"} if how == "ci" else {}))
    assert code == 0, out
    assert "images scanned" not in out
    assert "\x1b[?25l" not in out
    assert "promoter/dev/web" in out  # the plan itself is printed all the same
