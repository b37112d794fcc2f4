"""Read action metadata and run a composite action's steps the way a runner does."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from promoter.demo.push import Pusher
from tests.servers.registry import LocalRegistry

ROOT = Path(__file__).resolve().parents[2]
ACTIONS = (ROOT / "action.yml", *sorted((ROOT / "actions").glob("*/action.yml")))
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    assert isinstance(data, dict)
    return data


def read_outputs(path: Path) -> dict[str, str]:
    """A ``$GITHUB_OUTPUT`` file: ``name=value`` lines and ``name<<DELIM`` heredocs."""
    out: dict[str, str] = {}
    lines = iter(path.read_text().splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            for nxt in lines:
                if nxt == delim:
                    break
                body.append(nxt)
            else:
                raise AssertionError(f"{name}: heredoc {delim} never closed")
            out[name] = "\n".join(body)
        elif line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


@dataclass
class Run:
    outputs: dict[str, str]  # the action's outputs
    steps: dict[str, dict[str, str]]  # step id -> its outputs
    log: str  # stdout and stderr of every step
    codes: list[int]


CONDITION = re.compile(r"^([\w.-]+)\s*(==|!=)\s*'([^']*)'$")


def run_action(path: Path, inputs: Mapping[str, str], *, runner: Path, workspace: Path,
               environ: Mapping[str, str], cache: Path | None = None,
               python: str | None = None) -> Run:
    """Run the composite action at ``path`` step by step, as a runner would: ``${{ }}`` is
    expanded only in ``env:``, ``with:`` values and outputs (a test asserts ``run:`` has none),
    ``if:`` holds ``X == 'v'`` / ``X != 'v'`` comparisons joined by ``&&``, each ``run:`` goes to
    ``bash --noprofile --norc -eo pipefail`` with GITHUB_* and RUNNER_* set. Stops at the first
    failing step, like a runner.

    Two ``uses:`` actions are stood in for: ``actions/setup-python`` answers ``python-path``
    with ``python`` (default: the interpreter running the tests), and ``actions/cache``
    restores ``path`` from, and saves it after a successful job into, the directory ``cache``
    (default ``runner/cache``) under its key, as the cache service would."""
    meta = load(path)
    declared = meta.get("inputs") or {}
    values = {k: str(inputs.get(k, (v or {}).get("default", ""))) for k, v in declared.items()}
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs not declared: {unknown}"
    runner.mkdir(parents=True, exist_ok=True)
    summary = runner / "summary.md"
    steps: dict[str, dict[str, str]] = {}
    token = environ.get("GITHUB_TOKEN", "")

    def expand(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m[1]
            if expr == "github.token":
                return token
            parts = expr.split(".")
            if parts[0] == "inputs" and len(parts) == 2:
                return values[parts[1]]
            if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
                return steps.get(parts[1], {}).get(parts[3], "")
            raise AssertionError(f"{path}: expression not understood by this test: {expr}")
        return EXPR.sub(one, text)

    def lookup(expr: str) -> str:
        return expand("${{ " + expr + " }}")

    def condition(text: str) -> bool:
        def one(part: str) -> bool:
            m = CONDITION.match(part.strip())
            assert m is not None, f"{path}: if: not understood by this test: {text}"
            return (lookup(m[1]) == m[3]) == (m[2] == "==")
        return all([one(part) for part in text.split("&&")])  # every part is checked

    store = cache or runner / "cache"
    saves: list[tuple[Path, Path]] = []

    def uses(step: dict[str, Any]) -> dict[str, str]:
        name = step["uses"].split("@")[0]
        args = {k: expand(str(v)) for k, v in (step.get("with") or {}).items()}
        if name == "actions/setup-python":
            base = python or getattr(sys, "_base_executable", sys.executable)
            return {"python-path": base, "python-version": args.get("python-version", "")}
        if name == "actions/cache":
            target, saved = Path(args["path"]), store / args["key"]
            if saved.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(saved, target, symlinks=True)
                return {"cache-hit": "true"}
            saves.append((target, saved))
            return {"cache-hit": "false"}
        raise AssertionError(f"{path}: uses {name} is not stood in for by this test")

    # defaults like ${{ github.token }} are expressions too
    values = {k: expand(v) for k, v in values.items()}
    log: list[str] = []
    codes: list[int] = []
    for i, step in enumerate(meta["runs"]["steps"]):
        if "if" in step and not condition(str(step["if"])):
            continue
        if "uses" in step:
            steps[step["id"]] = uses(step)
            continue
        out_file = runner / f"output_{i}"
        out_file.write_text("")
        env = {**environ, "GITHUB_ACTION_PATH": str(path.parent), "GITHUB_OUTPUT": str(out_file),
               "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(workspace),
               "RUNNER_TEMP": str(runner), "GITHUB_ACTIONS": "true", "CI": "true",
               **{k: expand(str(v)) for k, v in (step.get("env") or {}).items()}}
        assert step["shell"] == "bash"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               step["run"]], cwd=workspace, env=env, capture_output=True,
                              text=True, check=False)
        log.append(proc.stdout + proc.stderr)
        codes.append(proc.returncode)
        if "id" in step:
            steps[step["id"]] = read_outputs(out_file)
        if proc.returncode:
            break
    if not any(codes):  # actions/cache saves in its post step, after a successful job
        for target, saved in saves:
            if target.is_dir() and not saved.exists():
                shutil.copytree(target, saved, symlinks=True)
    outputs = {k: expand(str(v["value"])) for k, v in (meta.get("outputs") or {}).items()}
    return Run(outputs=outputs, steps=steps, log="".join(log), codes=codes)


def runner_environ(home: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "VIRTUAL_ENV",
            "PYTHONPATH")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("HOME", str(home))
    # python3 on PATH is the interpreter running the tests (scripts/setup's .venv), the one
    # promoter is installed for: install false means "the promoter already on the runner"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return {**env, **extra}


@contextlib.contextmanager
def seeded_registry() -> Iterator[str]:
    """A local registry where the demo's web and api each have a newer patch or minor tag;
    yields its host."""
    with LocalRegistry("anonymous") as reg:
        pusher = Pusher(reg.url)
        for name, tags in {"demo/web": ("1.0.0", "1.0.1"), "demo/api": ("1.0.0", "1.1.0")}.items():
            for tag in tags:
                pusher.push(name, tag)
        yield reg.host


@dataclass(frozen=True)
class Annotation:
    level: str
    properties: dict[str, str]
    message: str


_COMMAND = re.compile(r"^::(?P<cmd>[a-z-]+)(?: (?P<props>[^\n]*?))?::(?P<data>.*)$")


def _unescape(text: str, *, prop: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for code, ch in [*pairs, ("%25", "%")]:
        text = text.replace(code, ch)
    return text


def parse_annotations(log: str) -> list[Annotation]:
    """The annotations a runner makes of ``log``, as it reads workflow commands: nothing
    between ``::stop-commands::TOKEN`` and ``::TOKEN::``; properties split at ``,``, each at
    its first ``=``, both unescaped."""
    found: list[Annotation] = []
    fence: str | None = None
    for line in log.splitlines():
        if fence is not None:
            if line == f"::{fence}::":
                fence = None
            continue
        m = _COMMAND.match(line)
        if m is None:
            continue
        if m["cmd"] == "stop-commands":
            fence = m["data"]
        elif m["cmd"] in ("error", "warning", "notice"):
            props = dict(p.split("=", 1) for p in (m["props"] or "").split(",") if "=" in p)
            found.append(Annotation(level=m["cmd"],
                                    properties={k: _unescape(v, prop=True)
                                                for k, v in props.items()},
                                    message=_unescape(m["data"], prop=False)))
    return found
