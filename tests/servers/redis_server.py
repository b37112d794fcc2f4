"""A throw-away Redis (Debian's ``redis-server``) on 127.0.0.1, for the queue tests and the
queue benchmark::

    with LocalRedis() as r:
        print(r.url)          # redis://127.0.0.1:PORT/0

It binds a free port, keeps its files in a temporary directory (no persistence: no RDB, no
AOF), dies with its parent (PR_SET_PDEATHSIG) and is stopped by its own PID. The binary is
``$REDIS_SERVER_BIN`` or ``redis-server`` on PATH; :func:`find_redis_server` raises
:class:`FileNotFoundError` without one, so a fixture can skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.servers.registry import LOOPBACK, _die_with_parent, free_port, stop_process


def find_redis_server() -> str:
    for candidate in (os.environ.get("REDIS_SERVER_BIN"), "redis-server"):
        if candidate and shutil.which(candidate):
            return str(shutil.which(candidate))
    raise FileNotFoundError("no redis-server: install Debian's 'redis-server' package")


class LocalRedis:
    def __init__(self) -> None:
        self.port = 0
        self.proc: subprocess.Popen[Any] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> LocalRedis:
        binary = find_redis_server()
        self._tmp = tempfile.TemporaryDirectory(prefix="promoter-redis-")
        for _ in range(5):  # a port may be taken between free_port() and the bind
            self.port = free_port()
            log = Path(self._tmp.name) / "redis.log"
            self.proc = subprocess.Popen(
                [binary, "--bind", LOOPBACK, "--port", str(self.port), "--dir", self._tmp.name,
                 "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                 "--logfile", str(log), "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent)
            if self._ready(10.0):
                return self
            stop_process(self.proc)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def _ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
