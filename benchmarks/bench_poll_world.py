"""The world of ``bench_poll.py``: a GitOps repository of N images and the floors it is measured
against (a plain ruamel.yaml round trip, ``git fast-import`` + one push, raw REST calls).

The repository: dev, staging and prod, each with Kustomize overlays
(``overlays/<env>/team-NN/kustomization.yaml``, four images per file, plus a patch with no
image) and Helm values files (``charts/svc-NN/values-<env>.yaml``, four image blocks per file),
with comments and every quoting style. Images are ``<host>/bench/app-NNNN`` (the repositories
``seed.py`` writes), pinned at ``1.0.0`` .. ``1.0.4``; ``.promoter.yaml`` lists every image
with the policy ``semver: ^1.0``, found through the environments' paths (dev tracks).
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from ruamel.yaml import YAML

ENVS = ("dev", "staging", "prod")
PER_FILE = 4
KUSTOMIZE_SHARE = 0.6  # of the images; the rest are in Helm values files
QUOTES = ('"{}"', "{}", "'{}'")
COMPONENTS = ("api", "worker", "cron", "sidecar")
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "GIT_TERMINAL_PROMPT": "0"}


def image_name(i: int) -> str:
    return f"app-{i:04d}"


def start_tag(i: int) -> str:
    return f"1.0.{i % 5}"


def _kustomization(host: str, env: str, team: int, images: Sequence[int]) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization",
             f"# team-{team:02d} in {env}: promoter moves newTag, people move the rest",
             f"namespace: team-{team:02d}-{env}", "", "resources:",
             f"  - ../../../base/team-{team:02d}", "", "patches:", "  - path: replicas.yaml", "",
             "images:"]
    for i in images:
        quoted = QUOTES[i % len(QUOTES)].format(start_tag(i))
        lines += [f"  # {image_name(i)}: owned by team {team:02d}",
                  f"  - name: {host}/bench/{image_name(i)}",
                  f"    newTag: {quoted}   # pinned by promoter"]
    return "\n".join(lines) + "\n"


def _patch(team: int) -> str:
    return (f"# replicas of team-{team:02d}: no image here\napiVersion: apps/v1\nkind: Deployment"
            f"\nmetadata:\n  name: team-{team:02d}\nspec:\n  replicas: 2\n")


def _values(host: str, env: str, chart: int, images: Sequence[int]) -> str:
    lines = [f"# Helm values for svc-{chart:02d} in {env}.", "replicaCount: 1", ""]
    for component, i in zip(COMPONENTS, images, strict=False):
        quoted = QUOTES[(i + 1) % len(QUOTES)].format(start_tag(i))
        lines += [f"{component}:", "  image:", f"    repository: {host}/bench/{image_name(i)}",
                  f"    tag: {quoted}        # {component} of svc-{chart:02d}",
                  "    pullPolicy: IfNotPresent", "  resources: {}", ""]
    return "\n".join(lines)


def gitops_files(host: str, n: int, *, images: Sequence[int] | None = None) -> dict[str, str]:
    """Every file of the repository except ``.promoter.yaml``: path -> text (``images``: which
    image numbers it holds, default the first ``n``)."""
    ids = list(range(n) if images is None else images)
    n = len(ids)
    k = round(n * KUSTOMIZE_SHARE)
    groups = [ids[s:min(s + PER_FILE, k)] for s in range(0, k, PER_FILE)]
    charts = [ids[s:min(s + PER_FILE, n)] for s in range(k, n, PER_FILE)]
    files: dict[str, str] = {"README.md": "# GitOps repository for bench_poll.py\n"}
    for env in ENVS:
        for team, images in enumerate(groups):
            d = f"overlays/{env}/team-{team:02d}"
            files[f"{d}/kustomization.yaml"] = _kustomization(host, env, team, images)
            files[f"{d}/replicas.yaml"] = _patch(team)
        for chart, images in enumerate(charts):
            files[f"charts/svc-{chart:02d}/values-{env}.yaml"] = _values(host, env, chart, images)
    return files


def config_text(host: str, n: int, *, forge: Mapping[str, str], group: str = "image",
                images: Sequence[int] | None = None) -> str:
    """``.promoter.yaml``: every image, dev tracking, ``forge`` as given."""
    lines = ["# bench_poll.py: dev follows the registry; staging and prod wait for promotion.",
             "environments:"]
    for env in ENVS:
        lines += [f"  - name: {env}",
                  f"    paths: [overlays/{env}, \"charts/*/values-{env}.yaml\"]"]
    lines += ["defaults:", "  policy:", "    semver: \"^1.0\"", "images:"]
    for i in range(n) if images is None else images:
        lines += [f"  - name: {image_name(i)}", f"    repository: {host}/bench/{image_name(i)}"]
    lines += ["forge:", *(f"  {k}: {v}" for k, v in forge.items()),
              "pull-requests:", f"  group: {group}", "  labels: [promoter]"]
    return "\n".join(lines) + "\n"


def tracked_files(files: Mapping[str, str], env: str = "dev") -> dict[str, str]:
    """The YAML files of one environment (what locate reads and the edits touch)."""
    return {p: t for p, t in files.items() if p.startswith(f"overlays/{env}/")
            or p.endswith(f"/values-{env}.yaml")}


# --- git ----------------------------------------------------------------------------------------

def git(*args: str, cwd: Path | None = None, input: bytes | None = None) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                         capture_output=True, input=input)
    return out.stdout.decode().strip()


def write_repo(repo: Path, files: Mapping[str, str]) -> None:
    """A checkout with ``files`` committed on ``main``."""
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("init", "--quiet", "--initial-branch=main", str(repo))
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--no-gpg-sign", "-m", "GitOps repository", cwd=repo)


def fast_import_stream(base: str, branches: Sequence[tuple[str, str, Mapping[str, str]]]
                       ) -> bytes:
    """A ``git fast-import`` stream: one commit per (branch, message, files) on ``base``."""
    out = io.BytesIO()
    for branch, message, files in branches:
        msg = message.encode()
        out.write(f"commit refs/heads/{branch}\n".encode())
        out.write(b"committer bench <bench@example.invalid> 1700000000 +0000\n")
        out.write(b"data %d\n%s\n" % (len(msg), msg))
        out.write(f"from {base}\n".encode())
        for path, text in files.items():
            data = text.encode()
            out.write(f"M 100644 inline {path}\n".encode())
            out.write(b"data %d\n%s\n" % (len(data), data))
    return out.getvalue()


def git_floor(repo: Path, branches: Sequence[tuple[str, str, Mapping[str, str]]], *,
              push: bool) -> None:
    """The least git work for the same branches: (fetch,) one ``git fast-import`` of every
    commit, (one ``git push`` of every branch)."""
    if push:
        git("fetch", "--quiet", "--prune", "--no-tags", "origin",
            "+refs/heads/*:refs/remotes/origin/*", cwd=repo)
    base = git("rev-parse", "origin/main" if push else "main", cwd=repo)
    git("fast-import", "--quiet", cwd=repo, input=fast_import_stream(base, branches))
    if push:
        git("push", "--quiet", "origin", *(f"refs/heads/{b}:refs/heads/{b}"
                                           for b, _, _ in branches), cwd=repo)


# --- baselines ------------------------------------------------------------------------------------

def yaml_floor(texts: Sequence[str]) -> None:
    """A plain ruamel.yaml round trip (``YAML()`` load_all + dump_all) of every text."""
    for text in texts:
        yaml = YAML()
        docs = list(yaml.load_all(text))
        yaml.dump_all(docs, io.StringIO())


def forge_floor(api: str, repo: str, token: str, pulls: Sequence[tuple[str, str, str]],
                labels: Sequence[str]) -> None:
    """The least REST work for the same pull requests: per (head, title, body) one
    ``POST pulls`` and one ``POST issues/N/labels`` over one keep-alive connection."""
    headers = {"Authorization": f"token {token}", "Accept": "application/vnd.github+json"}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as client:
        for head, title, body in pulls:
            r = client.post(f"/repos/{repo}/pulls",
                            json={"head": head, "base": "main", "title": title, "body": body})
            r.raise_for_status()
            number = r.json()["number"]
            client.post(f"/repos/{repo}/issues/{number}/labels",
                        json={"labels": list(labels)}).raise_for_status()
