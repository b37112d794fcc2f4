"""``promoter status``: a real git repository with a dated history (dev -> staging -> prod), the
matrix it gives (versions, ages, pending pull requests, drift) in every output, and the HTML page
rendered by headless Chromium (the screenshot is kept under ``test-artifacts/``).

:class:`GitOps` builds such a repository; the check and rollback tests use it too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.config import Config, load_config
from promoter.flows.status import Status, status
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import GitWorkspace
from promoter.render.html import status_html
from promoter.render.json import document
from promoter.render.markdown import markdown as status_markdown
from promoter.render.text import format_age
from promoter.render.text import text as status_text

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]
images:
  - name: {host}/acme/web
    newTag: "{web}"  # promoter
  - name: {host}/acme/api
    newTag: {api}
"""

CONFIG = """\
environments:
  - {{name: dev, paths: [overlays/dev], track: true}}
  - {{name: staging, paths: [overlays/staging]}}
  - {{name: prod, paths: [overlays/prod]}}
images:
  - {{name: web, repository: {host}/acme/web}}
  - {{name: api, repository: {host}/acme/api}}
"""


class GitOps:
    """A GitOps repository (local mode: branches are its own refs) with dated commits."""

    def __init__(self, path: Path, config: str = CONFIG, *, host: str = "registry.example",
                 extra: str = "") -> None:
        self.path = path
        self.host = host
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.versions: dict[str, dict[str, str]] = {}
        (path / ".promoter.yaml").write_text(config.format(host=host) + extra)

    def git(self, *args: str, when: datetime | None = None) -> str:
        env = dict(os.environ)
        if when is not None:
            stamp = f"@{int(when.timestamp())} +0000"
            env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        return subprocess.run(["git", "-C", str(self.path), *args], check=True, env=env,
                              capture_output=True, text=True).stdout.strip()

    def write(self, env: str, *, when: datetime, message: str | None = None,
              **images: str) -> str:
        """Set the versions of ``images`` in ``env`` and commit on the current branch."""
        current = self.versions.setdefault(env, {"web": "1.0.0", "api": "2.0.0"})
        current.update(images)
        f = self.path / "overlays" / env / "kustomization.yaml"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(KUSTOMIZATION.format(host=self.host, **current))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message or f"{env}: {images}", when=when)
        return self.git("rev-parse", "HEAD")

    def config(self) -> Config:
        return load_config(self.path / ".promoter.yaml", root=self.path)

    def workspace(self) -> GitWorkspace:
        return GitWorkspace.open(self.path)


def pipeline(path: Path, **kw: str) -> GitOps:
    """web: 1.0.0 everywhere (10 days ago), 1.1.0 through dev (5d) and staging (3d), 1.2.0 in
    dev (1d); api: 2.1.0 put into prod by hand two hours ago (drift)."""
    g = GitOps(path, **kw)
    start = NOW - timedelta(days=10)
    for env in ("dev", "staging", "prod"):
        g.write(env, when=start, message=f"{env}: start")
    g.write("dev", web="1.1.0", when=NOW - timedelta(days=5))
    g.write("staging", web="1.1.0", when=NOW - timedelta(days=3))
    g.write("dev", web="1.2.0", when=NOW - timedelta(days=1))
    g.write("prod", api="2.1.0", when=NOW - timedelta(hours=2), message="hotfix by hand")
    return g


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    return pipeline(tmp_path / "gitops")


def _status(g: GitOps, forge: MemoryForge | None = None) -> Status:
    with g.workspace() as ws:
        return status(g.config(), ws, forge, now=NOW)


def test_matrix_versions_ages_and_drift(gitops: GitOps) -> None:
    st = _status(gitops)
    assert st.errors == ()
    got = {(c.image, c.env): (c.tag, format_age(c.age(NOW))) for c in st.cells}
    assert got == {
        ("web", "dev"): ("1.2.0", "1d 0h"), ("web", "staging"): ("1.1.0", "3d 0h"),
        ("web", "prod"): ("1.0.0", "10d 0h"),
        ("api", "dev"): ("2.0.0", "10d 0h"), ("api", "staging"): ("2.0.0", "10d 0h"),
        ("api", "prod"): ("2.1.0", "2h 0m")}
    assert [(c.image, c.env) for c in st.drifts] == [("api", "prod")]
    assert st.drifts[0].drift == ("prod runs 2.1.0, which staging never ran: changed by hand, "
                                  "not promoted")


def test_a_version_that_passed_through_earlier_does_not_drift(gitops: GitOps) -> None:
    """prod goes back to 1.0.0 after 1.1.0: staging ran 1.0.0 once, so that is no drift."""
    gitops.write("prod", web="1.1.0", when=NOW - timedelta(hours=5))
    gitops.write("prod", web="1.0.0", when=NOW - timedelta(hours=1), message="rollback")
    st = _status(gitops)
    web = st.cell("web", "prod")
    assert web is not None and (web.tag, web.drift) == ("1.0.0", None)
    assert format_age(web.age(NOW)) == "1h 0m"  # the rollback's own age, not the first run's


def test_text_and_markdown(gitops: GitOps) -> None:
    st = _status(gitops)
    assert status_text(st) == (
        "image  dev             staging         prod\n"
        "web    1.2.0 (1d 0h)   1.1.0 (3d 0h)   1.0.0 (10d 0h)\n"
        "api    2.0.0 (10d 0h)  2.0.0 (10d 0h)  2.1.0 (2h 0m) !\n"
        "drift: api: prod runs 2.1.0, which staging never ran: changed by hand, not promoted\n")
    md = status_markdown(st)
    assert md.splitlines()[:4] == [
        "| image | dev | staging | prod |", "| --- | --- | --- | --- |",
        "| `web` | **1.2.0** (1d 0h) | **1.1.0** (3d 0h) | **1.0.0** (10d 0h) |",
        "| `api` | **2.0.0** (10d 0h) | **2.0.0** (10d 0h) | "
        "**2.1.0** (2h 0m)<br>:warning: drift |"]
    assert "- `api`: prod runs 2.1.0, which staging never ran" in md


def test_pending_promoter_prs_from_the_forge(gitops: GitOps) -> None:
    forge = MemoryForge("acme/gitops")
    forge.set_branch("main", gitops.git("rev-parse", "HEAD"))
    forge.set_branch("promoter/staging/web", "1" * 40)
    forge.create(head="promoter/staging/web", base="main", title="Promote web to 1.2.0",
                 body='x\n<!-- promoter:meta {"env":"staging","images":{"web":"1.2.0"}} -->\n')
    forge.set_branch("someone/else", "2" * 40)
    forge.create(head="someone/else", base="main", title="unrelated", body="no metadata")
    st = _status(gitops, forge)
    cell = st.cell("web", "staging")
    assert cell is not None
    assert [(p.tag, p.rollback) for p in cell.pending] == [("1.2.0", False)]
    assert sum(len(c.pending) for c in st.cells) == 1
    assert "1.1.0 (3d 0h) -> 1.2.0 #" in status_text(st)
    doc = document(st)
    assert doc["images"][0]["environments"]["staging"]["pending"][0]["tag"] == "1.2.0"


def test_cli_json_and_html_file(gitops: GitOps, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--repo", str(gitops.path), "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["environments"] == ["dev", "staging", "prod"]
    web = doc["images"][0]
    assert (web["name"], web["repository"]) == ("web", "registry.example/acme/web")
    assert {e: v["tag"] for e, v in web["environments"].items()} == {
        "dev": "1.2.0", "staging": "1.1.0", "prod": "1.0.0"}
    assert doc["images"][1]["environments"]["prod"]["drift"].startswith("prod runs 2.1.0")
    out = tmp_path / "status.html"
    assert main(["status", "--repo", str(gitops.path), "--output", "html", "--out",
                 str(out)]) == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "1.2.0" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "<link" not in page and "src=" not in page  # self-contained


def test_unknown_branch_is_reported_not_raised(tmp_path: Path) -> None:
    g = GitOps(tmp_path / "g", CONFIG.replace("{{name: prod, paths: [overlays/prod]}}",
                                              "{{name: prod, paths: [overlays/prod], "
                                              "branch: release}}"))
    for env in ("dev", "staging", "prod"):
        g.write(env, when=NOW - timedelta(days=1))
    st = _status(g)
    assert tuple(map(str, st.errors)) == ("prod: branch release does not exist",)
    assert {c.env for c in st.cells} == {"dev", "staging"}


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_html_page_rendered_in_headless_chromium(gitops: GitOps, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed")
    forge = MemoryForge("acme/gitops", url="https://github.example/acme/gitops")
    forge.set_branch("main", gitops.git("rev-parse", "HEAD"))
    forge.set_branch("promoter/staging/web", "1" * 40)
    forge.create(head="promoter/staging/web", base="main", title="Promote web to 1.2.0",
                 body='<!-- promoter:meta {"env":"staging","images":{"web":"1.2.0"}} -->')
    forge.set_branch("promoter/rollback/dev/api", "2" * 40)
    pr = forge.create(head="promoter/rollback/dev/api", base="main", title="Roll back api",
                      body='<!-- promoter:meta {"env":"dev","images":{"api":"1.9.0"}} -->')
    forge.add_labels(pr.number, ("promoter/rollback",))
    page = tmp_path / "status.html"
    page.write_text(status_html(_status(gitops, forge)))
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "status.png"
    shot.unlink(missing_ok=True)
    shutil.copy(page, artifacts / "status.html")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
                    f"--screenshot={shot}", "--window-size=1200,800", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 800)
    assert len(set(data[100:4000])) > 50  # not a blank page


def test_html_escapes_everything_from_files_and_forge() -> None:
    from promoter.flows.status import Cell, Pending

    evil = '<img src=x onerror="alert(1)">'
    st = Status(generated=NOW, environments=("dev", "prod"), images=(evil,),
                repositories={evil: evil},
                cells=(Cell(image=evil, env="dev", tag=evil, digest=None,
                            pending=(Pending(number=1, url='javascript:"x"', tag=evil),)),
                       Cell(image=evil, env="prod", tag="1.0.0", digest=None, drift=evil,
                            problems=(evil,))),
                errors=(evil,), forge=True)
    page = status_html(st)
    assert "<img" not in page and "javascript" not in page
    assert page.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") >= 5


def test_cli_without_forge_credentials_still_shows_the_matrix(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = pipeline(tmp_path / "g", extra="forge: {type: github, repository: acme/gitops, "
                                        "token-env: NO_SUCH_TOKEN}\n")
    assert main(["status", "--repo", str(g.path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("image  dev")
    assert err == ("promoter: note: pending pull requests not shown: forge.token-env names "
                   "the environment variable NO_SUCH_TOKEN, which is not set\n")
