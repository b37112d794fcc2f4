"""References with no tag or digest (``image: busybox``, a Helm ``tag: ""`` meaning the chart's
appVersion): poll and promote leave them alone and say so, unless the config asks for them
(``include-untagged: true`` or a ``{file, key}`` target). Real registry, real git."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.config import load_config
from promoter.demo.push import Pusher
from promoter.flows.poll import Report, poll
from promoter.flows.promote import Decision, promote
from promoter.gitrepo import GitWorkspace
from promoter.registry.oci import OciRegistry
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
_n = itertools.count(1)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      containers:
        - name: web
          image: {host}/{ns}/web:1.0.0
        - name: tool
          image: {host}/{ns}/tool
"""

VALUES = """\
image:
  repository: {host}/{ns}/api
  tag: ""   # the chart's appVersion
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


class Repo:
    """A GitOps repository on disk with dev (tracked) and prod, and three images pushed."""

    def __init__(self, root: Path, host: str, pusher: Pusher, images: str) -> None:
        self.ns = f"untagged{next(_n)}"
        self.root, self.host = root, host
        for name in ("web", "tool", "api"):
            for tag in ("1.0.0", "1.1.0"):
                pusher.push(f"{self.ns}/{name}", tag)
        fmt = {"host": host, "ns": self.ns}
        files = {
            ".promoter.yaml": (
                "environments:\n"
                "  - {name: dev, paths: [dev]}\n"
                "  - {name: prod, paths: [prod]}\n"
                "images:\n" + images.format(**fmt) +
                "forge: {type: local}\n"),
            "dev/deployment.yaml": DEPLOYMENT.format(**fmt),
            "dev/values.yaml": VALUES.format(**fmt),
            "prod/deployment.yaml": DEPLOYMENT.format(**fmt),
            "prod/values.yaml": VALUES.format(**fmt),
        }
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        _git(root.parent, "init", "--quiet", "--initial-branch=main", str(root))
        _git(root, "add", "--all")
        _git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "--quiet",
             "--no-gpg-sign", "-m", "gitops")

    def poll(self) -> Report:
        with GitWorkspace.open(self.root) as ws:
            return poll(load_config(self.root / ".promoter.yaml", root=self.root), ws,
                        OciRegistry(), None)

    def show(self, rev: str, path: str) -> str:
        return _git(self.root, "show", f"{rev}:{path}")

    def branches(self) -> list[str]:
        return sorted(_git(self.root, "branch", "--format=%(refname:short)").split())


PLAIN = """\
  - {{name: web, repository: "{host}/{ns}/web"}}
  - {{name: tool, repository: "{host}/{ns}/tool"}}
  - {{name: api, repository: "{host}/{ns}/api"}}
"""


Make = Callable[..., Repo]


@pytest.fixture
def make(tmp_path: Path, registry: LocalRegistry, pusher: Pusher) -> Make:
    def build(images: str = PLAIN) -> Repo:
        return Repo(tmp_path / f"gitops{next(_n)}", registry.host, pusher, images)
    return build


def test_poll_leaves_untagged_references_alone_and_says_where(make: Make) -> None:
    repo = make()
    report = repo.poll()
    assert report.ok, report
    assert repo.branches() == ["main", "promoter/dev/web"]
    deployment = repo.show("promoter/dev/web", "dev/deployment.yaml")
    assert deployment == DEPLOYMENT.format(host=repo.host, ns=repo.ns).replace(
        "web:1.0.0", "web:1.1.0")  # the untagged tool beside it is untouched
    assert repo.show("promoter/dev/web", "dev/values.yaml") == repo.show("main",
                                                                         "dev/values.yaml")
    notes = dict(report.plan.skipped)
    assert notes.keys() == {"tool", "api"}
    assert notes["tool"].startswith(f"dev/deployment.yaml:12:18: {repo.host}/{repo.ns}/tool "
                                    "has no tag or digest in dev")
    assert notes["api"].startswith(f"dev/values.yaml:3:8: {repo.host}/{repo.ns}/api has no "
                                   "tag or digest in dev")
    assert all("left alone" in n and "include-untagged: true" in n for n in notes.values())
    assert not report.errors  # an image held back is not a failure


def test_plan_output_names_each_untagged_site_and_exits_zero(
        make: Make, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make()
    assert main(["plan", "--repo", str(repo.root)]) == 0
    out = capsys.readouterr().out
    assert "dev/deployment.yaml:12:18:" in out and "dev/values.yaml:3:8:" in out
    assert out.count("has no tag or digest") == 2


def test_include_untagged_pins_them(make: Make) -> None:
    images = PLAIN.replace('/tool"}}', '/tool", include-untagged: true}}').replace(
        '/api"}}', '/api", include-untagged: true}}')
    repo = make(images)
    report = repo.poll()
    assert report.ok, report
    assert report.plan.skipped == ()
    assert repo.branches() == ["main", "promoter/dev/api", "promoter/dev/tool",
                               "promoter/dev/web"]
    assert repo.show("promoter/dev/tool", "dev/deployment.yaml") == DEPLOYMENT.format(
        host=repo.host, ns=repo.ns).replace(f"{repo.ns}/tool\n", f"{repo.ns}/tool:1.1.0\n")
    assert repo.show("promoter/dev/api", "dev/values.yaml") == VALUES.format(
        host=repo.host, ns=repo.ns).replace('tag: ""', 'tag: "1.1.0"')


def test_a_target_naming_the_key_pins_it_and_only_it(make: Make) -> None:
    images = PLAIN.replace(
        '  - {{name: api, repository: "{host}/{ns}/api"}}\n',
        '  - name: api\n'
        '    repository: "{host}/{ns}/api"\n'
        '    targets:\n'
        '      dev: [{{file: dev/values.yaml, key: image.tag}}]\n'
        '  - name: tool\n'
        '    repository: "{host}/{ns}/tool"\n'
        '    targets:\n'
        '      dev: [{{file: dev/deployment.yaml, key: spec.template.spec.containers.1.image}}]\n'
    ).replace('  - {{name: tool, repository: "{host}/{ns}/tool"}}\n', "")
    repo = make(images)
    report = repo.poll()
    assert report.ok, report
    assert report.plan.skipped == ()
    assert repo.show("promoter/dev/api", "dev/values.yaml") == VALUES.format(
        host=repo.host, ns=repo.ns).replace('tag: ""', 'tag: "1.1.0"')
    assert repo.show("promoter/dev/tool", "dev/deployment.yaml") == DEPLOYMENT.format(
        host=repo.host, ns=repo.ns).replace(f"{repo.ns}/tool\n", f"{repo.ns}/tool:1.1.0\n")


def test_a_file_target_alone_does_not_ask_for_untagged_sites(make: Make) -> None:
    images = PLAIN.replace(
        '  - {{name: tool, repository: "{host}/{ns}/tool"}}\n',
        '  - name: tool\n'
        '    repository: "{host}/{ns}/tool"\n'
        '    targets: {{dev: [{{file: dev/deployment.yaml}}]}}\n')
    repo = make(images)
    report = repo.poll()
    assert report.ok, report
    assert "promoter/dev/tool" not in repo.branches()
    assert [i for i, _ in report.plan.skipped] == ["tool", "api"]


def test_promote_leaves_an_untagged_target_alone(make: Make) -> None:
    repo = make()
    # dev runs tool 1.0.0 pinned; prod's reference stays untagged
    path = repo.root / "dev/deployment.yaml"
    path.write_text(path.read_text().replace(f"{repo.ns}/tool\n", f"{repo.ns}/tool:1.0.0\n"))
    _git(repo.root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qam",
         "pin tool in dev", "--no-gpg-sign")
    cfg = load_config(repo.root / ".promoter.yaml", root=repo.root)
    with GitWorkspace.open(repo.root) as ws:
        report = promote(cfg, ws, None, target="prod", dry_run=True, now=datetime.now(UTC))
    assert report.ok, report
    tool = next(s for s in report.images if s.image == "tool")
    assert tool.decision is Decision.SKIPPED
    assert tool.reason == ("tool has no tag or digest in prod; left alone (include-untagged: "
                           "true on the image pins it)")
    assert any(i == "tool" and r.startswith("prod/deployment.yaml:12:18:")
               for i, r in report.plan.skipped)
    assert all(u.image != "tool" for pr in report.plan.pull_requests for u in pr.updates)
