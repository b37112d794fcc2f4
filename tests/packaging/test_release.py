"""scripts/release: refuses a version the CHANGELOG and the GitLab component do not name,
builds an sdist and a wheel that twine check passes, and the wheel installs into a fresh
virtual environment where ``promoter --version`` prints the release."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.ci.actions import ROOT, load
from tests.ci.gitlab import released

RELEASE = ROOT / "scripts" / "release"


def _run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(cwd / "scripts" / "release"), *args], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          check=False, timeout=900)


def test_a_version_without_a_changelog_section_or_default_is_refused(tmp_path: Path) -> None:
    proc = _run("--version", "9.9.9", PROMOTER_DIST=str(tmp_path / "dist"))
    assert proc.returncode == 1
    assert "CHANGELOG.md:1: no '## [9.9.9]' section" in proc.stderr
    assert "templates/promoter.yml: its default version is not 9.9.9" in proc.stderr
    assert ".gitlab-ci-template.yml: its default version is not 9.9.9" in proc.stderr
    assert not (tmp_path / "dist").exists()  # nothing built


@pytest.mark.parametrize("version", ["v1.2.3", "1.2", "1.2.3-rc.1; rm -rf x"])
def test_a_malformed_version_is_refused(version: str) -> None:
    proc = _run("--version", version)
    assert proc.returncode == 2 and "is not X.Y.Z" in proc.stderr


def test_a_clone_without_a_tag_needs_an_explicit_version(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    shutil.copy(RELEASE, clone / "scripts" / "release")
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    proc = _run(cwd=clone)
    assert proc.returncode == 2 and "HEAD has no vX.Y.Z tag" in proc.stderr


def test_the_workflow_builds_with_the_script_and_publishes_without_a_token() -> None:
    wf = load(ROOT / ".github" / "workflows" / "release.yml")
    on = wf.get("on") or wf.get(True)
    assert list(on) == ["push"] and on["push"]["tags"]
    assert wf["permissions"] == {"contents": "read"}
    jobs = wf["jobs"]
    assert any(s.get("run") == "bash scripts/release" for s in jobs["dist"]["steps"])
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}  # trusted publishing
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish")
               for s in jobs["pypi"]["steps"])
    for job in jobs.values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step  # expressions go through env:


@pytest.mark.slow
def test_release_builds_checked_artifacts_that_install(tmp_path: Path) -> None:
    version = released()
    dist = tmp_path / "dist"
    proc = _run("--version", version, PROMOTER_DIST=str(dist))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout  # twine check, sdist and wheel
    wheel, = dist.glob(f"gitops_promoter-{version}-py3-none-any.whl")
    sdist, = dist.glob(f"gitops_promoter-{version}.tar.gz")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(f"gitops_promoter-{version}.dist-info/METADATA").decode()
    assert "promoter/py.typed" in names and "promoter/cli/__init__.py" in names
    assert not any(n.startswith("tests/") for n in names)
    assert f"Version: {version}\n" in meta and "Name: gitops-promoter\n" in meta
    assert "Requires-Dist: semver" in meta and "Requires-Dist: requests" in meta
    assert "Requires-Dist: pyjwt" not in meta.lower()
    with tarfile.open(sdist) as t:
        assert f"gitops_promoter-{version}/pyproject.toml" in t.getnames()

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "-c", str(ROOT / "constraints" / "dev.txt"), str(wheel)], check=True,
                   timeout=600)
    out = subprocess.run([str(venv / "bin" / "promoter"), "--version"], capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == f"promoter, version {version}"
