"""``promoter demo``: the main job end to end on this machine alone.

1. start Debian's ``docker-registry`` on 127.0.0.1 and push a few tiny real images;
2. write a GitOps repository with dev/staging/prod overlays (Kustomize and Helm values, with
   comments) and a ``.promoter.yaml`` using the ``local`` forge, and commit it;
3. run ``poll`` against them (the same flow as ``promoter poll``) and show the branches it
   pushed for dev, with their diffs;
4. merge them, as a reviewer would, and run ``promote`` (the same flow as ``promoter promote``)
   from dev to staging: the promotion branch carries exactly what dev now runs, its gates
   shown; stop the registry, leave the repository.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from promoter.config import load_config
from promoter.demo.localregistry import DemoRegistry
from promoter.demo.push import Pusher
from promoter.flows.poll import Report, poll
from promoter.flows.promote import Report as PromoteReport
from promoter.flows.promote import promote
from promoter.flows.publish import PRResult
from promoter.gitrepo import GitWorkspace
from promoter.registry.oci import OciRegistry

IMAGES: dict[str, tuple[str, ...]] = {
    "demo/web": ("1.0.0", "1.1.0", "1.2.0", "1.2.1", "2.0.0-rc.1"),
    "demo/api": ("0.9.0", "1.0.0", "1.0.1", "1.1.0"),
}

CONFIG = """\
# promoter's demo: dev follows the registry; staging and prod receive promotions.
environments:
  - name: dev
    paths: [overlays/dev, charts/api/values-dev.yaml]
  - name: staging
    paths: [overlays/staging, charts/api/values-staging.yaml]
  - name: prod
    paths: [overlays/prod, charts/api/values-prod.yaml]

images:
  - name: web
    repository: {host}/demo/web
    policy:
      semver: "^1.0"          # stable 1.x only: 2.0.0-rc.1 is not taken
  - name: api
    repository: {host}/demo/api

forge:
  type: local                 # branches and commits only; github or gitlab open PRs
  base-branch: main
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: shop-{env}

resources:
  - ../../base

# The web front end. promoter moves newTag and nothing else.
images:
  - name: {host}/demo/web
    newTag: "1.0.0"   # pinned by promoter
"""

BASE = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: {host}/demo/web:1.0.0
          ports:
            - containerPort: 8080
"""

VALUES = """\
# Helm values for the api chart in {env}.
replicaCount: 1

image:
  repository: {host}/demo/api
  tag: '1.0.0'        # quoted on purpose: the quotes stay
  pullPolicy: IfNotPresent

resources: {{}}
"""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def write_repo(repo: Path, host: str) -> None:
    """The demo GitOps repository, committed on ``main``."""
    files = {".promoter.yaml": CONFIG.format(host=host),
             "base/kustomization.yaml": BASE,
             "base/deployment.yaml": DEPLOYMENT.format(host=host)}
    for env in ("dev", "staging", "prod"):
        files[f"overlays/{env}/kustomization.yaml"] = KUSTOMIZATION.format(env=env, host=host)
        files[f"charts/api/values-{env}.yaml"] = VALUES.format(env=env, host=host)
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    _git(repo.parent, "init", "--quiet", "--initial-branch=main", str(repo))
    _git(repo, "add", "--all")
    _git(repo, "-c", "user.name=Demo", "-c", "user.email=demo@example.com", "commit",
         "--quiet", "--no-gpg-sign", "-m", "GitOps repository for the promoter demo")


def run_demo(workdir: Path, echo: Callable[[str], None]) -> bool:
    """Run the demo in ``workdir`` (created; must be empty or absent); whether the poll and
    the promotion both made their branches without an error."""
    repo = workdir / "gitops"
    if repo.exists() and any(repo.iterdir()):
        from promoter.errors import InputError

        raise InputError(f"{repo}: exists and is not empty; give another --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    with DemoRegistry() as reg:
        echo(f"registry: {reg.url} (docker-registry, anonymous)")
        pusher = Pusher(reg.url)
        for name, tags in IMAGES.items():
            for tag in tags:
                pusher.push(name, tag)
            echo(f"  pushed {name}: {', '.join(tags)}")
        write_repo(repo, reg.host)
        echo(f"repository: {repo} (dev/staging/prod overlays and Helm values)")
        cfg = load_config(repo / ".promoter.yaml", root=repo)
        with GitWorkspace.open(repo) as ws:
            report = poll(cfg, ws, OciRegistry(), None)
        echo("")
        _show(repo, report.results, echo)
        for e in report.errors:
            echo(f"error: {e}")
        promoted = None
        if report.results and not report.errors:
            promoted = _promote_to_staging(repo, report, echo)
    echo(f"The demo repository stays in {repo}; its promoter branches hold the changes.")
    echo("")
    for line in next_steps(repo):
        echo(line)
    return report.ok and bool(report.results) and promoted is not None and \
        promoted.ok and bool(promoted.results)


def _show(repo: Path, results: Sequence[PRResult], echo: Callable[[str], None]) -> None:
    for r in results:
        images = ", ".join(f"{k} -> {v}" for k, v in sorted(r.images.items()))
        echo(f"branch {r.branch}: {r.outcome} ({images})")
        echo(_git(repo, "diff", "--stat", f"main...{r.branch}").rstrip())
        echo(_git(repo, "diff", f"main...{r.branch}").rstrip())
        echo("")


def _promote_to_staging(repo: Path, report: Report, echo: Callable[[str], None]
                        ) -> PromoteReport:
    """Merge the dev branches (the review a pull request would get) and delete them, then
    promote dev's versions into staging: a branch per image that sets staging to exactly
    what dev runs."""
    for r in report.results:  # merged and deleted, as a forge does with a merged PR
        _git(repo, "-c", "user.name=Demo", "-c", "user.email=demo@example.com", "merge",
             "--quiet", "--no-ff", "--no-gpg-sign", "-m", f"Merge {r.branch}", r.branch)
        _git(repo, "branch", "--quiet", "-d", r.branch)
    echo(f"merged {', '.join(r.branch for r in report.results)} into main (the review a pull "
         "request would get); promoting dev to staging:")
    cfg = load_config(repo / ".promoter.yaml", root=repo)
    with GitWorkspace.open(repo) as ws:
        promoted = promote(cfg, ws, None, source="dev", target="staging",
                           now=datetime.now(UTC))
    for step in promoted.images:
        echo(f"  {step.source} -> {step.target}: {step.image} {step.from_tag} -> "
             f"{step.to_tag} ({step.update.value}) {step.decision.value}")
    echo("")
    _show(repo, promoted.results, echo)
    for e in promoted.errors:
        echo(f"error: {e}")
    return promoted


def next_steps(repo: Path) -> list[str]:
    """What to try after the demo, in the repository it leaves (its registry has stopped)."""
    return [
        "Try next:",
        f"  cd {repo}",
        "  git log --oneline --all --graph       # main and the branches promoter pushed",
        "  promoter status                       # images x environments, from git alone",
        "  promoter config validate              # the config the demo wrote",
        "  promoter schema > promoter.schema.json  # for your editor",
        "The demo's registry has stopped, so `promoter plan` there exits 3 (retry later);",
        "run `promoter demo` again for a fresh registry and repository, and see README.md",
        "for your own registry and forge.",
    ]
