"""Replay a Dockerfile's stages into directories where no container engine runs.

Each ``FROM debian:<suite>[-slim]`` stage starts from a copy of a Debian root filesystem made
by ``mmdebstrap`` (what the Debian images are made of); ``RUN`` runs in it through ``chroot``
with the stage's ``ENV`` and ``ARG`` values, ``COPY`` copies from the build context (filtered
by ``.dockerignore``) or from an earlier stage, and ``LABEL``, ``USER``, ``WORKDIR``,
``ENTRYPOINT`` and ``CMD`` are recorded. Only the instructions our Dockerfile uses are
understood; anything else fails the replay. The commands run are the Dockerfile's own text.

A machine whose TLS goes through an interception proxy gives its CA bundle as ``build_ca``:
it is visible to ``RUN`` only (as ``docker build --secret`` would be), never left in a stage.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Stage:
    name: str
    root: Path
    args: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: {"PATH": DEFAULT_PATH})
    labels: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    expose: list[str] = field(default_factory=list)

    def vars(self) -> dict[str, str]:
        return {**self.args, **self.env}


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, rest) pairs: continuation lines joined, comment lines dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not buf):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        whole = (buf + line).strip()
        buf = ""
        if whole:
            keyword, _, rest = whole.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    assert not buf, "a continuation line ends the file"
    return out


def expand(text: str, values: Mapping[str, str]) -> str:
    return VAR.sub(lambda m: values.get(m[1] or m[2], ""), text)


def pairs(text: str, values: Mapping[str, str]) -> dict[str, str]:
    """``K=V K2="V 2"`` (LABEL, ENV) with variables expanded."""
    out = {}
    for word in shlex.split(text):
        key, sep, value = word.partition("=")
        assert sep, f"expected KEY=VALUE, got {word!r}"
        out[key] = expand(value, values)
    return out


def ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pat in patterns:
        bare = pat[3:] if pat.startswith("**/") else pat
        for i in range(len(parts)):
            prefix = "/".join(parts[: i + 1])
            if fnmatch.fnmatch(prefix, pat) or (pat != bare and fnmatch.fnmatch(parts[i], bare)):
                return True
    return False


def copy_context(context: Path, dest: Path) -> None:
    ignore_file = context / ".dockerignore"
    patterns = [ln.strip().rstrip("/") for ln in ignore_file.read_text().splitlines()
                if ln.strip() and not ln.lstrip().startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not replayed"
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = Path(dirpath).relative_to(context)
        keep = []
        for d in dirnames:
            rel = (rel_dir / d).as_posix()
            if not ignored(rel, patterns):
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = (rel_dir / f).as_posix()
            if ignored(rel, patterns):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dirpath) / f, target, follow_symlinks=False)


def inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


BUILD_CA = "/run/build-ca.crt"
CA_ENV = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def chroot(stage: Stage, argv: list[str], *, user: str | None = None,
           extra_env: Mapping[str, str] | None = None,
           timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``argv`` in the stage's root with only its environment (as ``docker run`` would)."""
    env = {"HOME": "/root", **stage.vars(), **(extra_env or {})}
    who = user or stage.user
    spec = [] if who in ("root", "0", "0:0") else [f"--userspec={who}"]
    cmd = ["chroot", *spec, str(stage.root), "/usr/bin/env", "-i",
           *[f"{k}={v}" for k, v in env.items()], "sh", "-c",
           'cd "$1" && shift && exec "$@"', "sh", stage.workdir, *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def replay(dockerfile: Path, context: Path, base: Path, work: Path,
           build_args: Mapping[str, str], build_ca: Path | None = None) -> list[Stage]:
    """Every stage of ``dockerfile``, replayed under ``work``; the last is the image."""
    stages: list[Stage] = []
    run_env = dict.fromkeys(CA_ENV, BUILD_CA) if build_ca else {}
    globals_: dict[str, str] = {}
    for keyword, rest in instructions(dockerfile.read_text()):
        stage = stages[-1] if stages else None
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            value = build_args.get(name, shlex.split(default)[0] if default else "")
            if stage is None:
                globals_[name] = value
            else:
                stage.args[name] = value
            continue
        if keyword == "FROM":
            words = expand(rest, globals_).split()
            image = words[0]
            assert re.fullmatch(r"debian:bookworm(-slim)?", image), f"base not replayed: {image}"
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            root = work / f"stage-{len(stages)}"
            subprocess.run(["cp", "-a", str(base), str(root)], check=True)
            stages.append(Stage(name=name, root=root))
            continue
        assert stage is not None, f"{keyword} before FROM"
        values = stage.vars()
        if keyword == "ENV":
            stage.env.update(pairs(rest, values))
        elif keyword == "LABEL":
            stage.labels.update(pairs(rest, values))
        elif keyword == "RUN":
            secret = inside(stage.root, BUILD_CA)
            if build_ca:
                shutil.copyfile(build_ca, secret)
            try:
                proc = chroot(stage, ["/bin/sh", "-c", rest], extra_env=run_env)
            finally:
                secret.unlink(missing_ok=True)
            assert proc.returncode == 0, f"RUN {rest}\n{proc.stdout}\n{proc.stderr}"
        elif keyword == "COPY":
            words = rest.split()
            source_stage = None
            if words[0].startswith("--from="):
                source_stage = next(s for s in stages if s.name == words[0][7:])
                words = words[1:]
            src, dst = words
            target = inside(stage.root, dst)
            if source_stage is not None:
                shutil.copytree(inside(source_stage.root, src), target, symlinks=True,
                                dirs_exist_ok=True)
            else:
                assert src == ".", "only the whole context is copied"
                copy_context(context, target)
        elif keyword == "USER":
            stage.user = expand(rest, values)
        elif keyword == "WORKDIR":
            stage.workdir = expand(rest, values)
            inside(stage.root, stage.workdir).mkdir(parents=True, exist_ok=True)
        elif keyword in ("ENTRYPOINT", "CMD"):
            setattr(stage, keyword.lower(), json.loads(rest))
        elif keyword == "EXPOSE":
            stage.expose += rest.split()
        else:
            raise AssertionError(f"instruction not replayed: {keyword}")
    return stages
