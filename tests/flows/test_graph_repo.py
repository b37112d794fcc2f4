"""A promotion graph in a real git repository: ``status`` shows each environment's sources and
which fan-in source lags (text, Markdown, JSON, HTML), ``check`` holds a PR into a fan-in to
versions every source runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from promoter.flows.check import CheckReport, check
from promoter.flows.status import Status, status
from promoter.registry.memory import MemoryRegistry
from promoter.render.html import status_html
from promoter.render.json import document
from promoter.render.markdown import markdown as status_markdown
from promoter.render.text import text as status_text
from tests.flows.test_status import NOW, GitOps

CONFIG = """\
environments:
  - {{name: dev, paths: [overlays/dev], track: true}}
  - {{name: staging, paths: [overlays/staging]}}
  - {{name: eu, from: staging, paths: [overlays/eu]}}
  - {{name: us, from: staging, paths: [overlays/us]}}
  - {{name: prod, from: [eu, us], paths: [overlays/prod]}}
images:
  - {{name: web, repository: {host}/acme/web}}
  - {{name: api, repository: {host}/acme/api}}
"""
ENVS = ("dev", "staging", "eu", "us", "prod")
LAG = ("the sources disagree on web: eu runs 1.1.0, us runs 1.0.0 (us lags); it moves only "
       "when every source runs the same version")


@pytest.fixture
def gitops(tmp_path: Path) -> GitOps:
    """web 1.1.0 through dev, staging and eu; us (and prod) still run 1.0.0."""
    g = GitOps(tmp_path / "gitops", CONFIG)
    for env in ENVS:
        g.write(env, when=NOW - timedelta(days=10), message=f"{env}: start")
    for i, env in enumerate(("dev", "staging", "eu")):
        g.write(env, web="1.1.0", when=NOW - timedelta(days=5 - i))
    return g


def _status(g: GitOps) -> Status:
    with g.workspace() as ws:
        return status(g.config(), ws, None, now=NOW)


def test_status_shows_the_sources_and_the_lagging_one(gitops: GitOps) -> None:
    st = _status(gitops)
    assert st.graph == (("dev", ()), ("staging", ("dev",)), ("eu", ("staging",)),
                        ("us", ("staging",)), ("prod", ("eu", "us")))
    assert [(c.image, c.env, c.lagging) for c in st.lagging] == [("web", "prod", LAG)]
    assert st.drifts == ()
    lines = status_text(st).splitlines()
    assert lines[-5:] == ["from: staging <- dev", "from: eu <- staging", "from: us <- staging",
                          "from: prod <- eu, us", f"lagging: web in prod: {LAG}"]
    md = status_markdown(st)
    assert "**Promotion graph**\n\n- dev from the registry\n- staging from dev\n" in md
    assert "- prod from eu, us\n" in md
    assert f"**Waiting for a source**\n\n- `web` in prod: {LAG}\n" in md
    doc = document(st)
    assert doc["environments"] == list(ENVS)  # the documented key keeps its shape
    assert doc["graph"] == [
        {"name": "dev", "from": [], "depth": 0}, {"name": "staging", "from": ["dev"], "depth": 1},
        {"name": "eu", "from": ["staging"], "depth": 2},
        {"name": "us", "from": ["staging"], "depth": 2},
        {"name": "prod", "from": ["eu", "us"], "depth": 3}]
    assert doc["images"][0]["environments"]["prod"]["lagging"] == LAG
    assert doc["images"][0]["environments"]["eu"]["lagging"] is None
    json.dumps(doc)
    page = status_html(st)
    assert '<section class="graph"><h2>Promotion graph</h2>' in page
    for edge in ("dev &rarr; staging", "staging &rarr; eu", "staging &rarr; us",
                 "eu &rarr; prod", "us &rarr; prod"):
        assert f"<li>{edge}</li>" in page
    # eu and us share a column (depth 2)
    assert ('<div class="depth"><div class="node">eu<small>from staging</small></div>'
            '<div class="node">us<small>from staging</small></div></div>') in page
    assert "&#8987; the sources disagree on web" in page


def test_a_linear_status_shows_no_graph(tmp_path: Path) -> None:
    from tests.flows.test_status import pipeline

    st = _status(pipeline(tmp_path / "line"))
    assert st.linear and st.lagging == ()
    assert "from:" not in status_text(st)
    assert "Promotion graph" not in status_markdown(st) + status_html(st)


def _check(g: GitOps, branch: str, env: str, **images: str) -> CheckReport:
    g.git("checkout", "-q", "-b", branch, "main")
    g.write(env, when=NOW, **images)
    g.git("checkout", "-q", "main")
    registry = MemoryRegistry()
    for tag in ("1.0.0", "1.1.0"):
        registry.push(f"{g.host}/acme/web:{tag}")
    with g.workspace() as ws:
        base, tip = ws.branch_head("main"), ws.branch_head(branch)
        assert base and tip
        return check(g.config(), ws, registry, base=base, head=tip, base_branch="main")


def test_check_holds_a_fan_in_to_what_every_source_runs(gitops: GitOps) -> None:
    report = _check(gitops, "early", "prod", web="1.1.0")
    assert [v.message for v in report.violations] == [
        "web: prod gets 1.1.0 but us runs 1.0.0: a version enters prod only from eu, us "
        "(every one of them)"]
    gitops.versions["prod"]["web"] = "1.0.0"
    gitops.write("us", web="1.1.0", when=NOW - timedelta(hours=1))
    assert _check(gitops, "ready", "prod", web="1.1.0").violations == ()


def test_check_lets_each_fan_out_target_take_its_source(gitops: GitOps) -> None:
    assert _check(gitops, "to-us", "us", web="1.1.0").violations == ()
    gitops.versions["us"]["web"] = "1.0.0"
    report = _check(gitops, "skip", "us", web="1.0.0", api="2.1.0")
    assert [v.message for v in report.violations if v.rule.value == "order"] == [
        "api: us gets 2.1.0 but staging runs 2.0.0: a version enters us only from staging"]
