"""The README's two commands from a fresh clone, in an environment as bare as a new machine's:
``env -i HOME=<empty> PATH=/usr/bin:/bin`` with the distribution's externally managed Python
(PEP 668). ``scripts/demo`` must make its own virtual environment, install only the package
and run the demo; ``scripts/test`` must install the test material and run ruff, mypy and the
pytest arguments it is given (a few tests here, so the suite does not run itself), and it
must fail when pytest collects nothing (exit 5)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.ci.actions import ROOT

IN_CI = bool(os.environ.get("CI"))  # read at import: the autouse fixture strips CI
SYSTEM_PATH = "/usr/bin:/bin"

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _bare(cmd: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["env", "-i", f"HOME={home}", f"PATH={SYSTEM_PATH}", *cmd], cwd=cwd,
                          capture_output=True, text=True, check=False, timeout=1200)


def _externally_managed(home: Path) -> Path:
    proc = _bare(["python3", "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                 Path.cwd(), home)
    marker = Path(proc.stdout.strip()) / "EXTERNALLY-MANAGED"
    if proc.returncode or not marker.is_file():
        message = f"the system python3 is not marked externally managed ({marker})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return marker


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the commit under test, as CI makes it (no tags, no .venv, no node_modules)."""
    path = tmp_path_factory.mktemp("fresh") / "promoter"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--no-tags", str(ROOT), str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "--detach", head], check=True)
    return path


def test_the_system_python_refuses_pip(tmp_path: Path) -> None:
    """The premise: pip into this python3 is refused, as on a stock Debian 12 / Ubuntu 24.04."""
    _externally_managed(tmp_path)
    proc = _bare(["python3", "-m", "pip", "install", "--dry-run", "semver"], tmp_path, tmp_path)
    assert proc.returncode != 0
    assert "externally-managed-environment" in proc.stdout + proc.stderr


def test_demo_then_test_from_a_fresh_clone(clone: Path, tmp_path: Path) -> None:
    _externally_managed(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    demo = _bare(["bash", "scripts/demo", "--workdir", str(tmp_path / "demo")], clone, home)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "registry: http://127.0.0.1:" in demo.stdout
    assert "branch promoter/dev/" in demo.stdout and ": created" in demo.stdout
    assert (clone / ".venv" / "bin" / "python").exists()
    assert not (clone / "tests" / "npm" / "node_modules").exists()  # no test-only material
    version = _bare([".venv/bin/promoter", "--version"], clone, home)
    assert version.stdout.startswith("promoter, version "), version.stderr

    test = _bare(["bash", "scripts/test", "-q", "-p", "no:cacheprovider",
                  "tests/policy/test_versions.py"], clone, home)
    out = test.stdout + test.stderr
    assert test.returncode == 0, out
    assert "All checks passed!" in out  # ruff
    assert "Success: no issues found" in out  # mypy --strict
    assert " passed" in test.stdout.splitlines()[-1]
    assert (clone / "tests" / "npm" / "node_modules" / "@octokit" / "openapi").is_dir()
    pins = _bare([".venv/bin/python", "-m", "pip", "freeze"], clone, home).stdout
    for line in (clone / "constraints" / "dev.txt").read_text().splitlines():
        if line.startswith(("ruff==", "mypy==", "pytest==")):
            assert line in pins.splitlines(), line  # the pinned tools, not the newest

    nothing = _bare(["bash", "scripts/test", "-q", "-p", "no:cacheprovider", "-k",
                     "no_test_has_this_name"], clone, home)
    assert nothing.returncode == 1
    assert "pytest collected no test (exit 5)" in nothing.stderr
