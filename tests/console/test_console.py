"""The console: a progress display a real terminal (a pty) receives, and that a pipe, CI and
-q never see; colour only on a terminal and never with NO_COLOR; -q / -v levels; timestamps."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promoter import secrets
from promoter.console import Console, Mode, Verbosity, detect
from tests.console.pty import run_in_pty, terminal_env

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from promoter.console import Console, Verbosity
    flags = sys.argv[1] if len(sys.argv) > 1 else ""
    c = Console.for_stream(sys.stderr, os.environ, verbosity=Verbosity.from_flags(
        quiet=flags.count("q"), verbose=flags.count("v")))
    c.info("starting")
    with c.progress("images scanned", total=5) as bar:
        for i in range(5):
            time.sleep(0.25)
            bar.advance()
            c.detail(f"scanned img{i}")
    c.warning("one warning")
    c.info("done")
""")

_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _run_in_pty(tmp_path: Path, *args: str, **env: str) -> str:
    script = tmp_path / "progress.py"
    script.write_text(SCRIPT)
    code, out = run_in_pty([sys.executable, str(script), *args], terminal_env(**env), timeout=60)
    assert code == 0, out
    return out


def _plain(out: str) -> str:
    return _ESC.sub("", out)


def test_a_terminal_sees_the_progress_display_drawn_and_erased(tmp_path: Path) -> None:
    out = _run_in_pty(tmp_path)
    plain = _plain(out)
    assert "images scanned" in plain
    counts = set(re.findall(r"\b([0-5])/5\b", plain))
    assert {"5"} <= counts and len(counts) >= 3  # it moved while the work went on
    assert "\x1b[?25l" in out and "\x1b[?25h" in out  # cursor hidden while drawing, then back
    assert _COLOUR.search(out)  # the warning is coloured on a terminal
    lines = [line.strip() for line in re.split(r"[\r\n]", plain) if line.strip()]
    # the display is transient: the last thing on screen is the messages, not the bar
    assert lines[-2:] == ["warning: one warning", "done"]
    assert lines[0] == "starting"


def test_no_color_keeps_the_display_but_drops_colour(tmp_path: Path) -> None:
    out = _run_in_pty(tmp_path, NO_COLOR="1")
    assert "images scanned" in _plain(out)
    assert not [c for c in _COLOUR.findall(out) if c not in ("\x1b[0m", "\x1b[m")]


def test_ci_on_a_terminal_gets_no_progress(tmp_path: Path) -> None:
    out = _run_in_pty(tmp_path, CI="true")
    assert "images scanned" not in out
    assert "\x1b[?25l" not in out
    assert [line for line in _plain(out).split("\n") if line] == [
        "starting", "warning: one warning", "done"]


def test_quiet_and_verbose_on_a_terminal(tmp_path: Path) -> None:
    quiet = _plain(_run_in_pty(tmp_path, "q"))
    assert "images scanned" not in quiet and "starting" not in quiet
    assert [line for line in quiet.split("\n") if line] == ["warning: one warning"]
    verbose = _plain(_run_in_pty(tmp_path, "v"))
    assert "images scanned" in verbose
    for i in range(5):
        assert f"scanned img{i}" in verbose


def test_a_pipe_gets_plain_lines_only(tmp_path: Path) -> None:
    script = tmp_path / "progress.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), "v"], capture_output=True, text=True,
                          env=terminal_env(), timeout=60, check=True)
    assert proc.stdout == ""
    assert proc.stderr == ("starting\n" + "".join(f"scanned img{i}\n" for i in range(5))
                           + "warning: one warning\ndone\n")


@pytest.mark.parametrize(("isatty", "environ", "mode"), [
    (True, {}, Mode(interactive=True, color=True)),
    (False, {}, Mode(interactive=False, color=False)),
    (True, {"CI": "true"}, Mode(interactive=False, color=True)),
    (True, {"CI": "false"}, Mode(interactive=True, color=True)),
    (True, {"GITHUB_ACTIONS": "true"}, Mode(interactive=False, color=True)),
    (True, {"GITLAB_CI": "true"}, Mode(interactive=False, color=True)),
    (True, {"NO_COLOR": "1"}, Mode(interactive=True, color=False)),
    (True, {"NO_COLOR": ""}, Mode(interactive=True, color=True)),  # empty: not set
    (True, {"TERM": "dumb"}, Mode(interactive=False, color=False)),
    (False, {"FORCE_COLOR": "1"}, Mode(interactive=False, color=False)),
])
def test_detect(isatty: bool, environ: dict[str, str], mode: Mode) -> None:
    assert detect(isatty=isatty, environ=environ) == mode


def test_verbosity_from_flags() -> None:
    assert Verbosity.from_flags() is Verbosity.NORMAL
    assert Verbosity.from_flags(verbose=1) is Verbosity.VERBOSE
    assert Verbosity.from_flags(verbose=5) is Verbosity.DEBUG
    assert Verbosity.from_flags(quiet=1, verbose=2) is Verbosity.QUIET


def _console(verbosity: Verbosity = Verbosity.NORMAL) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    clock = iter([datetime(2026, 12, 3, 9, 51, 7, tzinfo=UTC)] * 10)
    return Console(out, mode=Mode(interactive=False, color=False), verbosity=verbosity,
                   clock=lambda: next(clock)), out


def test_log_lines_carry_a_utc_timestamp_and_levels() -> None:
    c, out = _console()
    c.log("poll: 3 images, 1 pull request")
    c.log("registry down", level="warning")
    assert out.getvalue() == ("2026-12-03T09:51:07Z poll: 3 images, 1 pull request\n"
                              "2026-12-03T09:51:07Z warning: registry down\n")
    c, out = _console(Verbosity.QUIET)
    c.log("quiet tick")
    c.log("boom", level="error")
    assert out.getvalue() == "2026-12-03T09:51:07Z error: boom\n"


def test_messages_are_one_line_and_redacted() -> None:
    secrets.register("hunter2-secret-token")
    c, out = _console(Verbosity.DEBUG)
    c.error("push failed with hunter2-secret-token\nand more")
    c.debug("[bold]not markup[/bold]")
    assert out.getvalue() == ("error: push failed with *** and more\n"
                              "[bold]not markup[/bold]\n")


def test_progress_off_a_terminal_is_silent() -> None:
    c, out = _console()
    with c.progress("PRs synced", total=2) as bar:
        bar.advance()
        bar.update(total=3, description="PRs synced (3)")
        bar.advance(2)
    assert out.getvalue() == ""
