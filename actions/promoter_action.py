#!/usr/bin/env python3
"""The steps of promoter's GitHub Actions (action.yml and actions/*/action.yml).

Standard library only: it runs before promoter is installed. Every input arrives as an
``INPUT_*`` environment variable mapped in the action's ``env:`` (never through ``${{ }}`` in a
script), and promoter is run as an argument list, never through a shell.

    promoter_action.py key       the cache key and path of the install (outputs key, path):
                                 the interpreter actions/setup-python gave, and either
                                 INPUT_VERSION or a digest of this action's source
    promoter_action.py install   venv at that path made from that interpreter, pip install of
                                 gitops-promoter==INPUT_VERSION (or of this action's source when
                                 INPUT_VERSION is empty) pinned by constraints/dev.txt; skipped
                                 when actions/cache restored a venv of the same key;
                                 INPUT_INSTALL=false uses the python3 already on PATH instead
    promoter_action.py run       run promoter INPUT_COMMAND, write the outputs and job summary;
                                 with INPUT_IMAGE set, as ``docker run`` of that image (the
                                 steps above are skipped): the workspace mounted at its own
                                 path, the runner's uid:gid, the environment passed by name only
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the action's own source (pyproject.toml)
COMMANDS = ("poll", "promote", "check", "comment", "plan", "status")
DRY_RUN = ("poll", "promote")  # the commands with --dry-run
SHARD = ("poll", "promote", "plan")  # the commands with --shard
SUMMARY_LIMIT = 1 << 20  # GitHub refuses a step summary over 1 MiB
DISTRIBUTION = "gitops-promoter"
VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([a-z]+[0-9]+)?$")
SOURCE = ("pyproject.toml", "constraints/dev.txt", "promoter")  # what an install is made of
MARKER = ".promoter-action-key"
BUILT = ("_version.py",)  # written into the source by the build itself (setuptools-scm)
# An image reference as docker reads it: [registry[:port]/]path[:tag][@algorithm:hex]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
IMAGE = re.compile(
    rf"^(?:(?P<host>{_HOST}(?::[0-9]{{1,5}})?)/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}))?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# what promoter reads in a job: the forge token and the event (GITHUB_*), its own settings
# (PROMOTER_*), CI; never the action's INPUT_* (INPUT_TOKEN) nor the runner's whole environment
PASS_PREFIXES = ("GITHUB_", "PROMOTER_")
PASS_NAMES = ("CI", "DOCKER_CONFIG")
OWN = ("PROMOTER_PYTHON", "PROMOTER_BASE_PYTHON")  # the action's, meaningless in the image


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"INPUT_{name}", default).strip()


def _flag(name: str, default: bool = False) -> bool:
    value = _env(name, "true" if default else "false").lower()
    if value not in ("true", "false", ""):
        raise SystemExit(f"::error::input {name.lower()}: expected true or false")
    return value == "true" if value else default


def _mask(value: str) -> None:
    for line in value.splitlines():
        if line.strip():
            print(f"::add-mask::{line}", flush=True)


def _write_output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    delim = f"promoter_{secrets.token_hex(16)}"
    while delim in value:
        delim = f"promoter_{secrets.token_hex(16)}"
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{name}<<{delim}\n{value}\n{delim}\n")


def _version() -> str:
    version = _env("VERSION")
    if version and not VERSION.match(version):
        raise SystemExit(f"::error::input version: {version!r} is not a release X.Y.Z "
                         "(leave it empty to install the action's own source)")
    return version


def _source_digest() -> str:
    """A digest of the files an install of this action's source is made of."""
    h = hashlib.sha256()
    for name in SOURCE:
        top = ROOT / name
        for path in sorted(top.rglob("*") if top.is_dir() else [top]):
            if path.is_file() and "__pycache__" not in path.parts and path.name not in BUILT:
                h.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
                h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def _venv_path() -> Path:
    return Path(os.environ.get("RUNNER_TEMP") or ".") / "promoter-venv"


def cache_key() -> int:
    """The key actions/cache keeps the venv under: runner OS and architecture, the exact
    interpreter, and what is installed (a release or this action's source)."""
    if not _flag("INSTALL", default=True):
        _write_output("key", "")
        _write_output("path", "")
        return 0
    version = _version()
    what = f"{DISTRIBUTION}-{version}" if version else f"source-{_source_digest()}"
    interpreter = f"{sys.version.split()[0]}-{sys.executable}"
    tag = hashlib.sha256(interpreter.encode()).hexdigest()[:12]
    key = f"promoter-{platform.system()}-{platform.machine()}-py{tag}-{what}"
    _write_output("key", key)
    _write_output("path", str(_venv_path()))
    return 0


def install() -> int:
    token = _env("TOKEN")
    if token:
        _mask(token)
    if not _flag("INSTALL", default=True):
        _write_output("python", shutil.which("python3") or sys.executable)
        return 0
    version = _version()
    key = _env("KEY")
    target = _venv_path()
    python = target / "bin" / "python"
    marker = target / MARKER
    if key and python.exists() and marker.is_file() and marker.read_text() == key:
        print(f"promoter: the install was restored from the cache ({key})", flush=True)
        _write_output("python", str(python))
        return 0
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    spec = f"{DISTRIBUTION}=={version}" if version else str(ROOT)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", str(ROOT / "constraints" / "dev.txt"), spec], check=True)
    if key:
        marker.write_text(key)
    _write_output("python", str(python))
    return 0


def argv() -> list[str]:
    """promoter's arguments from the inputs (the extra args are split like a shell would, but
    nothing is ever expanded or run)."""
    command = _env("COMMAND", "poll")
    if command not in COMMANDS:
        raise SystemExit(f"::error::input command: expected one of {', '.join(COMMANDS)}")
    args = [command]
    if _env("CONFIG"):
        args += ["--config", _env("CONFIG")]
    if _flag("DRY_RUN"):
        if command not in DRY_RUN:
            raise SystemExit(f"::error::input dry-run: promoter {command} has no --dry-run")
        args.append("--dry-run")
    if _env("SHARD"):
        if command not in SHARD:
            raise SystemExit(f"::error::input shard: promoter {command} has no --shard")
        args += ["--shard", _env("SHARD")]
    try:
        args += shlex.split(_env("ARGS"))
    except ValueError as e:
        raise SystemExit(f"::error::input args: {e}") from None
    return [*args, "--output", "json"]


def image() -> str:
    """INPUT_IMAGE, the promoter image to run instead of an install; empty: none."""
    ref = _env("IMAGE")
    m = IMAGE.match(ref)
    if ref and (m is None or len(m["path"]) + len(m["host"] or "") > 255 or (
            m["host"] and "." not in m["host"] and ":" not in m["host"]
            and m["host"] != "localhost" and not re.fullmatch(_COMPONENT, m["host"]))):
        raise SystemExit(f"::error::input image: {ref!r} is not an image reference "
                         "(registry/name:tag, ideally pinned @sha256:<digest>)")
    return ref


def _mount(path: str, what: str, readonly: bool = False) -> list[str]:
    """A bind mount of ``path`` at the same path in the container."""
    if ":" in path or "\n" in path:
        raise SystemExit(f"::error::input image: cannot mount {what} {path!r} (':' in the path)")
    return ["--volume", f"{path}:{path}{':ro' if readonly else ''}"]


def docker_argv(ref: str, args: list[str], workdir: str, env: dict[str, str]) -> list[str]:
    """``docker run`` of the promoter image ``ref`` with promoter's ``args``, in ``workdir``:
    the workspace (and ``workdir``, when outside it), the event, output and summary files and
    the docker config mounted at the paths the runner gave them, the runner's uid:gid so files
    promoter writes stay the job's, and the environment passed by name only (``--env NAME``:
    docker reads the value from its own environment, so no secret is ever on a command
    line). ``env`` is the environment docker runs with; a docker config is added to it."""
    docker = shutil.which("docker", path=env.get("PATH"))
    if docker is None:
        raise SystemExit("::error::input image: docker is not on PATH "
                         "(the image needs a Linux runner with docker, e.g. ubuntu-latest)")
    workspace = os.path.abspath(env.get("GITHUB_WORKSPACE") or workdir)
    mounts = _mount(workspace, "the workspace")
    if os.path.commonpath([workspace, workdir]) != workspace:
        mounts += _mount(workdir, "the working directory")
    event = env.get("GITHUB_EVENT_PATH")
    if event and os.path.isfile(event):
        mounts += _mount(event, "the event file", readonly=True)
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "PROMOTER_ANNOTATIONS"):
        path = env.get(name)
        if path:
            open(path, "a", encoding="utf-8").close()  # docker would make a missing one a folder
            mounts += _mount(path, name)
    config = env.get("DOCKER_CONFIG") or os.path.join(env.get("HOME") or "~", ".docker")
    if os.path.isfile(os.path.join(config, "config.json")):  # docker login's credentials
        env["DOCKER_CONFIG"] = config
        mounts += _mount(config, "the docker config", readonly=True)
    extra = _env("IMAGE_ENV").replace(",", " ").split()
    bad = [n for n in extra if not ENV_NAME.match(n)]
    if bad:
        raise SystemExit(f"::error::input image-env: {bad[0]!r} is not a variable name")
    names = sorted({n for n in env if (n.startswith(PASS_PREFIXES) or n in PASS_NAMES)
                    and n not in OWN} | {n for n in extra if n in env})
    user = f"{os.getuid()}:{os.getgid()}"
    return [docker, "run", "--rm", "--user", user, "--workdir", workdir, *mounts,
            *[w for n in names for w in ("--env", n)], ref, *args]


def pull_requests(result: Any) -> list[dict[str, Any]]:
    """The pull requests a run opened, updated or closed (not those it left alone)."""
    if not isinstance(result, dict):
        return []
    prs = result.get("pull_requests") or []
    return [p for p in prs if isinstance(p, dict) and p.get("outcome") not in ("unchanged",)]


_ANNOTATION = re.compile(r"^::(error|warning|notice)( [^:\r\n]*)?::[^\r\n]*$")


def _only_annotations(text: str) -> str:
    """The lines of ``text`` that are one annotation command each (nothing else is let out
    of the fence: no other workflow command, whatever a message held)."""
    return "".join(line + "\n" for line in text.splitlines() if _ANNOTATION.match(line))


_MEANING = {1: "problems found", 2: "bad input", 3: "retry later: a remote did not answer",
            4: "internal error"}


def error_line(error: object) -> str:
    """One envelope error as ``file:line:col: key: message`` (a string as it is)."""
    if not isinstance(error, dict):
        return str(error)
    where = ":".join(str(error[k]) for k in ("file", "line", "column")
                     if error.get(k) is not None) if error.get("file") else ""
    return ": ".join(str(p) for p in (where, error.get("key"), error.get("message")) if p)


def _cell(value: object) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def summary(command: str, code: int, result: Any) -> str:
    meaning = f" ({_MEANING[code]})" if code in _MEANING else ""
    out = [f"### promoter {command}: {'ok' if code == 0 else f'exit {code}{meaning}'}", ""]
    if isinstance(result, dict) and "pull_requests" in result:
        prs = result["pull_requests"]
        if prs:
            out += ["| environment | branch | outcome | pull request |", "|---|---|---|---|"]
            out += [f"| {_cell(p.get('env'))} | `{_cell(p.get('branch'))}` | "
                    f"{_cell(p.get('outcome'))} | {_cell(p.get('url') or p.get('number'))} |"
                    for p in prs]
        else:
            out.append("No pull request was opened or updated.")
    plan = result.get("plan") if isinstance(result, dict) else result
    if isinstance(plan, list) and plan and all(isinstance(p, dict) for p in plan):
        out += ["", "Planned:", ""]
        out += [f"- {_cell(p.get('title'))} (`{_cell(p.get('branch'))}` into "
                f"`{_cell(p.get('base'))}`)" for p in plan]
    errors = result.get("errors") if isinstance(result, dict) else None
    if errors:
        out += ["", "Errors:", ""] + [f"- {_cell(error_line(e))}" for e in errors]
    text = "\n".join(out) + "\n"
    return text if len(text.encode()) < SUMMARY_LIMIT else text[:SUMMARY_LIMIT // 2] + "\n…\n"


def run() -> int:
    token = _env("TOKEN")
    env = dict(os.environ)
    if token:
        _mask(token)
        env["GITHUB_TOKEN"] = token
    ref = image()
    args = argv()
    workdir = os.path.abspath(_env("WORKING_DIRECTORY") or os.environ.get("GITHUB_WORKSPACE")
                              or ".")
    with tempfile.TemporaryDirectory(prefix="promoter-") as tmp:
        annotations = Path(tmp) / "annotations.txt"
        env["PROMOTER_ANNOTATIONS"] = str(annotations)
        if ref:
            command = docker_argv(ref, args, workdir, env)
        else:
            command = [os.environ.get("PROMOTER_PYTHON") or sys.executable, "-m", "promoter",
                       *args]
        proc = subprocess.run(command, cwd=workdir, env=env,
                              capture_output=True, text=True, check=False)
        stop = secrets.token_hex(16)  # promoter's output may quote untrusted text: no commands
        print(f"::stop-commands::{stop}", flush=True)
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
        print(f"::{stop}::", flush=True)
        # promoter wrote these itself, escaped (promoter.report.github): outside the fence,
        # so the runner turns them into annotations on the files and lines they name
        if annotations.is_file():
            sys.stdout.write(_only_annotations(annotations.read_text(encoding="utf-8")))
            sys.stdout.flush()
    try:
        result: Any = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        result = None
    _write_output("result", proc.stdout.strip() or "null")
    _write_output("pull-requests", json.dumps(pull_requests(result)))
    _write_output("exit-code", str(proc.returncode))
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path and args[0] != "check":  # promoter check writes its own summary
        with open(path, "a", encoding="utf-8") as f:
            f.write(summary(args[0], proc.returncode, result))
    return proc.returncode


if __name__ == "__main__":
    steps = {"key": cache_key, "install": install, "run": run}
    if len(sys.argv) != 2 or sys.argv[1] not in steps:
        raise SystemExit("usage: promoter_action.py key|install|run")
    sys.exit(steps[sys.argv[1]]())
