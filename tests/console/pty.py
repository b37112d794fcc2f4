"""Run a command on a real terminal (a pty, 100x24) and read all it drew."""

from __future__ import annotations

import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence
from fcntl import ioctl


def terminal_env(**extra: str) -> dict[str, str]:
    """This environment as a terminal session sees it: no CI, colour or size overrides,
    TERM xterm-256color, unbuffered Python; ``extra`` on top."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "NO_COLOR", "FORCE_COLOR",
                        "TERM", "COLUMNS", "LINES")}
    env.update({"TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def run_in_pty(argv: Sequence[str], env: Mapping[str, str], *, timeout: float = 120
               ) -> tuple[int, str]:
    """``argv`` with stdin, stdout and stderr on one terminal: (exit code, what it wrote,
    CRLF as LF)."""
    master, slave = os.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave,
                            env=dict(env), close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        proc.wait(timeout=30)
    return proc.returncode, out.decode("utf-8", errors="replace").replace("\r\n", "\n")
