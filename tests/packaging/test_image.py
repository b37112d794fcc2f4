"""The container image: the Dockerfile linted by hadolint, then its stages replayed into
directories (mmdebstrap + chroot, no container engine here) and the image's promoter and git
run as its non-root user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.dockerfile import Stage, chroot, ignored, instructions, replay

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
IN_CI = bool(os.environ.get("CI"))  # read at import: the autouse fixture strips CI
VERSION = "9.8.7"


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        if IN_CI:
            pytest.fail(f"{name} is missing: scripts/setup installs it")
        pytest.skip(f"{name} is not installed (scripts/setup installs it)")
    return found


def test_hadolint_passes() -> None:
    proc = subprocess.run([_tool("hadolint"), "--no-color", str(DOCKERFILE)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_is_a_real_check(tmp_path: Path) -> None:
    """The linter this file relies on refuses what the image must not do."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install git\nUSER root\n")
    proc = subprocess.run([_tool("hadolint"), "--no-color", str(bad)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode != 0
    assert "DL3007" in proc.stdout and "DL3002" in proc.stdout  # :latest, ends as root


def test_the_runtime_stage_shape() -> None:
    steps = instructions(DOCKERFILE.read_text())
    froms = [rest for kw, rest in steps if kw == "FROM"]
    assert len(froms) == 2 and froms[0].endswith(" AS build")  # multi-stage
    last = steps[[kw for kw, _ in steps].index("FROM", 1):]
    users = [rest for kw, rest in last if kw == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("ENTRYPOINT", '["promoter"]') in last
    assert any(kw == "COPY" and rest.startswith("--from=build ") for kw, rest in last)
    assert any(kw == "LABEL" and 'org.opencontainers.image.version="${VERSION}"' in rest
               for kw, rest in last)


def test_dockerignore_keeps_the_context_to_the_package() -> None:
    patterns = [ln for ln in (ROOT / ".dockerignore").read_text().splitlines()
                if ln and not ln.startswith("#")]
    for path in (".git", ".venv/bin/python", "tests/ci/actions.py", "promoter/__pycache__/x.pyc",
                 "tests/npm/node_modules/x"):
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "constraints/dev.txt", "promoter/cli/__init__.py",
                 "README.md", "promoter/data/schema.json"):
        assert not ignored(path, patterns), path


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    mmdebstrap = _tool("mmdebstrap")
    work = tmp_path_factory.mktemp("image")
    base = work / "base"
    subprocess.run([mmdebstrap, "--quiet", "--mode=root", "--variant=apt", "bookworm",
                    str(base)], check=True, capture_output=True, timeout=600)
    host_ca = Path("/etc/ssl/certs/ca-certificates.crt")  # this machine's, proxy CA included
    stages = replay(DOCKERFILE, ROOT, base, work, {"VERSION": VERSION,
                                                    "SOURCE": "https://example.com/promoter"},
                    build_ca=host_ca if host_ca.is_file() else None)
    try:
        yield stages[-1]
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.integration
def test_the_image_runs_promoter_and_git_as_its_user(image: Stage) -> None:
    proc = chroot(image, [*image.entrypoint, "--version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"promoter, version {VERSION}"
    git = chroot(image, ["git", "--version"])
    assert git.returncode == 0 and git.stdout.startswith("git version "), git.stderr
    who = chroot(image, ["id", "-u"])
    assert who.stdout.strip() == "10001"
    # the queue extra is in: the worker Deployment (deploy/kubernetes/queue) runs this image
    queue = chroot(image, ["/opt/promoter/bin/python", "-c", "import promoter.queue"])
    assert queue.returncode == 0, queue.stderr
    assert image.labels["org.opencontainers.image.version"] == VERSION
    assert image.labels["org.opencontainers.image.source"] == "https://example.com/promoter"
    assert image.expose == ["8080"]


@pytest.mark.slow
@pytest.mark.integration
def test_the_image_holds_no_build_material(image: Stage) -> None:
    root = image.root
    venv = root / "opt" / "promoter"
    assert not list((venv / "bin").glob("pip*"))
    assert not list(venv.rglob("__pycache__"))
    assert not (root / "src").exists()  # the build context stayed in the build stage
    assert not list((root / "var" / "lib" / "apt" / "lists").glob("*_Packages"))
    help_ = chroot(image, [*image.entrypoint, *image.cmd])
    assert help_.returncode == 0 and "watch" in help_.stdout and "serve" in help_.stdout
    # the user cannot write where promoter is installed
    write = chroot(image, ["sh", "-c", "touch /opt/promoter/x"])
    assert write.returncode != 0
