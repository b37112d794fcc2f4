"""A GitOps repository on a fake GitHub or GitLab with one promoter pull request open, for the
comment CLI and the webhook server tests; and webhook payloads from ``@octokit/webhooks-examples``
re-pointed at that state."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from promoter.forge import Forge, open_forge
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.git_http import commit_to

BOT = "promoter-bot"
EXAMPLES = (Path(__file__).resolve().parent.parent / "npm" / "node_modules" / "@octokit"
            / "webhooks-examples" / "api.github.com" / "index.json")
_n = itertools.count(1)

KUST = "images:\n  - name: ghcr.io/acme/api\n    newTag: 1.0.0\n"


def config(kind: str, url: str, repo: str) -> str:
    key = "repository" if kind == "github" else "project"
    return f"""\
environments:
  - {{name: dev, paths: [dev]}}
  - name: prod
    paths: [prod]
    allowed-commenters: {{users: [sre-sam]}}
images:
  - {{name: api, repository: ghcr.io/acme/api}}
forge: {{type: {kind}, url: "{url}", {key}: {repo}, token-env: FORGE_TOKEN}}
"""


@dataclass
class ForgeWorld:
    kind: str
    server: FakeGitHub | FakeGitLab
    name: str
    bare: Path
    token: str
    number: int  # the open promoter pull request

    @property
    def clone_url(self) -> str:
        return f"{self.server.url}/{self.name}.git"

    def forge(self) -> Forge:
        return open_forge(self.kind, repo=self.name, url=self.server.url, token=self.token,
                          retries=0, throttle=False)

    def comment(self, user: str, body: str) -> int:
        if isinstance(self.server, FakeGitHub):
            return self.server.add_comment(self.name, self.number, user, body)
        return self.server.add_note(self.name, self.number, user, body)

    def grant(self, user: str, role: str | None) -> None:
        if isinstance(self.server, FakeGitHub):
            self.server.set_permission(self.name, user, role)
        else:
            levels = {"read": 20, "write": 30, "maintain": 40, "admin": 50}
            self.server.set_access(self.name, user, levels[role] if role else None)

    def event(self, comment_id: int) -> dict[str, Any]:
        """The webhook payload the forge would send for that comment, from its state."""
        if isinstance(self.server, FakeGitHub):
            return self.server.event("issue_comment", self.name, self.number, action="created",
                                     comment_id=comment_id)
        return self.server.note_event(self.name, self.number, comment_id)


def make_world(kind: str, server: FakeGitHub | FakeGitLab) -> ForgeWorld:
    i = next(_n)
    name = f"acme/comments-{kind}-{i}"
    files = {"dev/kustomization.yaml": KUST, "prod/kustomization.yaml": KUST,
             ".promoter.yaml": config(kind, server.url, name)}
    if isinstance(server, FakeGitHub):
        gh_repo = server.add_repo(name, files=files)
        gh_repo.required_contexts = ("ci/build",)  # protected main: auto-merge has to wait
        bare = gh_repo.path
        token = server.add_user(BOT, token=f"ghp-comments-token-{i}")
        server.set_permission(name, BOT, "write")
    else:
        bare = server.add_project(name, files=files).bare
        token = server.add_user(BOT, token=f"glpat-comments-token-{i}")
        server.set_access(name, BOT, 30)
    commit_to(bare, "promoter/dev/api", {"dev/kustomization.yaml": KUST.replace("1.0.0", "1.1.0")},
              base="main", message="Promote api to 1.1.0 in dev")
    world = ForgeWorld(kind=kind, server=server, name=name, bare=bare, token=token, number=0)
    pr = world.forge().create(
        head="promoter/dev/api", base="main", title="Promote api to 1.1.0 in dev",
        body='promoter moves 1 image(s)\n\n<!-- promoter:meta {"env":"dev",'
             '"images":{"api":"1.1.0"},"source":null} -->\n')
    world.number = pr.number
    world.grant("alice", "write")
    world.grant("rita", "read")
    return world


@cache
def _examples() -> dict[str, list[dict[str, Any]]]:
    data = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    return {e["name"]: e["examples"] for e in data}


def examples_available() -> bool:
    return EXAMPLES.is_file()


def example(name: str, action: str | None = None) -> dict[str, Any]:
    """A deep copy of the first ``@octokit/webhooks-examples`` payload of ``name`` (and
    ``action``)."""
    found = next(e for e in _examples()[name] if action is None or e.get("action") == action)
    return copy.deepcopy(found)


def github_example_comment(world: ForgeWorld, comment_id: int, user: str, body: str
                           ) -> dict[str, Any]:
    """The real ``issue_comment.created`` example, re-pointed at ``world``'s PR and comment:
    the repository, the issue number (with ``issue.pull_request``, as on a PR), the comment."""
    payload = example("issue_comment", "created")
    owner, repo = world.name.split("/")
    payload["repository"].update(full_name=world.name, name=repo)
    payload["repository"]["owner"]["login"] = owner
    base = world.server.url
    n = world.number
    payload["issue"].update(number=n, pull_request={
        "url": f"{base}/repos/{world.name}/pulls/{n}", "html_url": f"{base}/{world.name}/pull/{n}",
        "diff_url": f"{base}/{world.name}/pull/{n}.diff",
        "patch_url": f"{base}/{world.name}/pull/{n}.patch", "merged_at": None})
    payload["comment"].update(id=comment_id, body=body)
    payload["comment"]["user"].update(login=user, type="User")
    payload["sender"].update(login=user, type="User")
    return payload


def pin_web(github: FakeGitHub, name: str, bare: Path, web: str) -> None:
    """Make the repository ``name`` track the image ``web`` in dev, pinned at 1.0.0 (its
    config and kustomization committed on main), so a push of ``web`` polls it."""
    commit_to(bare, "main", {
        ".promoter.yaml": f"""\
environments:
  - {{name: dev, paths: [dev]}}
images:
  - {{name: web, repository: {web}}}
forge: {{type: github, url: "{github.url}", repository: {name}, token-env: FORGE_TOKEN}}
""", "dev/kustomization.yaml": f"images:\n  - name: {web}\n    newTag: 1.0.0\n"})
