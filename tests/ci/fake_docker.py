"""A stand-in for ``docker run IMAGE ARGS...`` of the promoter image, for the Action's image mode.

``install(bin_dir, record)`` puts a ``docker`` executable in ``bin_dir``. Called, it appends its
argument list and the environment it was started with to the JSON-lines file ``record``, then
does what the container would: promoter (the one of the interpreter running the tests, standing
in for the image's) runs with the image arguments, in ``--workdir``, with an environment made of
the ``--env`` variables only (plus the image's own PATH and HOME), and its exit code is docker's.
It refuses (exit 125, like docker) flags it does not know, a ``--user`` that is not the caller's
uid:gid, a working directory outside every ``--volume``, and a file-path variable promoter is
given (event, output, summary, docker config) that no ``--volume`` mounts, since in a container
those paths would not exist.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

PATH_VARS = ("GITHUB_EVENT_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "DOCKER_CONFIG")


def install(bin_dir: Path, record: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "docker"
    words = [sys.executable, str(Path(__file__).resolve()), str(record)]
    shim.write_text(f"#!/bin/sh\nexec {shlex.join(words)} \"$@\"\n")
    shim.chmod(0o755)
    return shim


def records(record: Path) -> list[dict[str, object]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def _refuse(message: str) -> int:
    print(f"docker: {message}", file=sys.stderr)
    return 125


def _inside(path: str, mounts: list[str]) -> bool:
    return any(os.path.commonpath([m, os.path.abspath(path)]) == m for m in mounts)


def main(record: Path, argv: list[str]) -> int:
    with record.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"argv": argv, "env": dict(os.environ)}) + "\n")
    if not argv or argv[0] != "run":
        return _refuse(f"only 'docker run' is stood in for, not {argv[:1]}")
    workdir, user, mounts, names = "/", "", [], []
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        flag = argv[i]
        if flag == "--rm":
            i += 1
            continue
        if flag not in ("--user", "--workdir", "--volume", "--env") or i + 1 >= len(argv):
            return _refuse(f"unknown flag: {flag}")
        value = argv[i + 1]
        i += 2
        if flag == "--user":
            user = value
        elif flag == "--workdir":
            workdir = value
        elif flag == "--volume":
            source, target, *mode = value.split(":")
            if source != target or not os.path.exists(source) or mode not in ([], ["ro"]):
                return _refuse(f"this stand-in mounts existing paths at their own path: {value}")
            mounts.append(os.path.abspath(target))
        else:
            names.append(value)
    if i >= len(argv):
        return _refuse("no image")
    args = argv[i + 1:]
    if user != f"{os.getuid()}:{os.getgid()}":
        return _refuse(f"--user {user!r} is not the caller's uid:gid")
    if not _inside(workdir, mounts):
        return _refuse(f"--workdir {workdir} is not mounted")
    with tempfile.TemporaryDirectory(prefix="fake-docker-home-") as home:  # the image's
        env = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
               "HOME": home}
        for name in names:
            name, eq, value = name.partition("=")
            if eq:
                env[name] = value
            elif name in os.environ:
                env[name] = os.environ[name]
        for name in PATH_VARS:
            if name in env and not _inside(env[name], mounts):
                return _refuse(f"{name}={env[name]} is not mounted in the container")
        proc = subprocess.run([sys.executable, "-m", "promoter", *args], cwd=workdir, env=env,
                              check=False)
        with record.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"promoter_env": env}) + "\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
