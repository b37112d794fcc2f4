"""Start Debian's ``docker-registry`` (CNCF distribution) on 127.0.0.1 for the demo.

Anonymous, storage in a temporary directory, stopped (by our own PID) when the context ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from promoter.errors import InputError

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def registry_binary() -> str:
    for candidate in (os.environ.get("REGISTRY_BIN"), "docker-registry", "registry"):
        if candidate:
            found = shutil.which(candidate)
            if found:
                return found
    raise InputError("no registry binary: install Debian's 'docker-registry' package "
                     "(scripts/setup does) or set REGISTRY_BIN")


class DemoRegistry:
    """An anonymous registry on 127.0.0.1; ``host`` is ``127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="promoter-registry-"))
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> DemoRegistry:
        binary = registry_binary()
        for _ in range(5):
            self.port = _free_port()
            config = {
                "version": 0.1,
                "log": {"level": "error"},
                "storage": {"filesystem": {"rootdirectory": str(self._tmp / "data")},
                            "delete": {"enabled": True}},
                "http": {"addr": self.host, "headers": {"X-Content-Type-Options": ["nosniff"]}},
            }
            cfg = self._tmp / "config.yml"
            cfg.write_text(json.dumps(config))  # JSON is YAML
            with open(self._tmp / "registry.log", "ab") as log:
                self._proc = subprocess.Popen([binary, "serve", str(cfg)], stdout=log,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                              start_new_session=True)
            if self._wait_ready():
                return self
            self._stop_proc()
        tail = (self._tmp / "registry.log").read_text(errors="replace")[-500:]
        self.stop()
        raise InputError(f"the demo registry did not start: {tail.strip()}")

    def _wait_ready(self, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1.0).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return False

    def _stop_proc(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        self._stop_proc()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> DemoRegistry:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
