"""``promoter serve`` and the dashboard: an ``Issue Hook`` for a ticked box, delivered to the
real receiver, runs ``/promote ENV`` on that pull request for a writer, once."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from promoter.cli.serve_cmd import make_runner
from promoter.config import parse_config
from promoter.flows import dashboard
from promoter.forge import PRState
from promoter.serve import Dispatcher, Receiver, Secrets, start
from tests.serve.worlds import config, make_world
from tests.servers.fake_gitlab import FakeGitLab, hook_headers
from tests.servers.git_http import commit_to

pytestmark = pytest.mark.integration


def test_gitlab_issue_hook_for_a_ticked_box_runs_promote_once(
        gitlab: FakeGitLab, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world("gitlab", gitlab)
    text = config("gitlab", gitlab.url, world.name) + "dashboard: true\n"
    commit_to(world.bare, "main", {".promoter.yaml": text}, message="dashboard on")
    monkeypatch.setenv("FORGE_TOKEN", world.token)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    board = dashboard.update(parse_config(text), world.forge())
    assert board.outcome is dashboard.Outcome.CREATED and board.number is not None
    before = world.forge().get_issue(board.number).body
    after = before.replace("- [ ] <!-- promoter:promote env=dev image=api",
                           "- [x] <!-- promoter:promote env=dev image=api")
    assert after != before
    gitlab.edit_issue(world.name, board.number, after)
    hook = {"object_kind": "issue", "user": {"username": "alice"},
            "project": {"path_with_namespace": world.name},
            "object_attributes": {"iid": board.number, "action": "update"},
            "changes": {"description": {"previous": before, "current": after}}}

    dispatcher = Dispatcher(make_runner(None, world.clone_url, None), workers=2,
                            key=lambda job: "repository")
    running = start(Receiver(secrets=Secrets(gitlab=("gl-hook-token",)), dispatcher=dispatcher))
    try:
        for _ in range(2):  # a redelivery runs nothing twice
            req = urllib.request.Request(
                f"{running.server.url}/webhooks/gitlab", data=json.dumps(hook).encode(),
                headers=hook_headers("Issue Hook", token="gl-hook-token", uuid="issue-1"))
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status in (200, 202)
        deadline = time.monotonic() + 30
        while dispatcher.stats.done < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert running.stop(timeout=20)
    assert dispatcher.stats.done == 1 and dispatcher.stats.duplicates == 1
    # auto-merge with nothing left to wait for: GitLab merges at once
    assert world.forge().get(world.number).state is PRState.MERGED
    final = world.forge().get_issue(board.number).body
    assert "[x]" not in final and f"pr={world.number}" not in final  # no longer pending
