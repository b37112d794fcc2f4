"""``promoter serve`` end to end: a real docker-registry's push notification polls just the
pushed image into a PR on the fake GitHub; a signed comment delivery to the real process gets
its reply; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from promoter.cli.serve_cmd import make_fleet_runner, make_runner
from promoter.demo.push import Pusher
from promoter.fleet import Member
from promoter.serve import Dispatcher, Job, JobKind, Receiver, Secrets, github_signature, start
from tests.serve.worlds import BOT, make_world, pin_web
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab, hook_headers
from tests.servers.git_http import commit_to
from tests.servers.registry import LocalRegistry

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent.parent


def wait_for(check: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_registry_push_notification_polls_just_that_image(
        github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world("github", github)
    monkeypatch.setenv("FORGE_TOKEN", world.token)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    dispatcher = Dispatcher(make_runner(None, world.clone_url, None), workers=2)
    running = start(Receiver(secrets=Secrets(registry=("reg-token-1",)), dispatcher=dispatcher))
    try:
        endpoint = {"name": "promoter", "url": f"{running.server.url}/webhooks/registry",
                    "headers": {"Authorization": ["Bearer reg-token-1"]}, "timeout": "5s",
                    "threshold": 3, "backoff": "1s"}
        with LocalRegistry("anonymous", notifications=[endpoint]) as reg:
            web, other = f"{reg.host}/e2e/web", f"{reg.host}/e2e/other"
            pusher = Pusher(reg.url)
            # pushed while the config does not name it yet: the notification starts nothing
            pusher.push("e2e/other", "1.5.0")
            wait_for(lambda: dispatcher.stats.received >= 1)
            wait_for(lambda: dispatcher.queued == 0 and dispatcher.running == 0)
            text = f"""\
environments:
  - {{name: dev, paths: [dev]}}
images:
  - {{name: web, repository: {web}}}
  - {{name: other, repository: {other}}}
forge: {{type: github, url: "{github.url}", repository: {world.name}, token-env: FORGE_TOKEN}}
"""
            commit_to(world.bare, "main", {
                ".promoter.yaml": text,
                "dev/kustomization.yaml": f"images:\n  - name: {web}\n    newTag: 1.0.0\n"
                                          f"  - name: {other}\n    newTag: 1.0.0\n"})
            before = {p.head for p in github.pulls_of(world.name)}
            pusher.push("e2e/web", "1.2.0")  # polls web only, though other:1.5.0 waits too
            wait_for(lambda: any(p.head == "promoter/dev/web"
                                 for p in github.pulls_of(world.name)))
            wait_for(lambda: dispatcher.queued == 0 and dispatcher.running == 0)
    finally:
        assert running.stop(timeout=20)
    assert {p.head for p in github.pulls_of(world.name)} - before == {"promoter/dev/web"}
    pr = next(p for p in github.pulls_of(world.name) if p.head == "promoter/dev/web")
    assert pr.title == "Promote web to 1.2.0 in dev"
    assert dispatcher.stats.failed == 0


def test_promoter_serve_process_answers_a_comment_and_stops_on_sigterm(
        github: FakeGitHub, tmp_path: Path) -> None:
    world = make_world("github", github)
    env = {k: v for k, v in os.environ.items()}
    env.update(FORGE_TOKEN=world.token, PROMOTER_GIT_TOKEN=world.token,
               HOOK_SECRET="s3cret-new", HOOK_SECRET_OLD="s3cret-old",
               PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "promoter", "--log-format", "json", "serve", "--port", "0",
         "--clone", world.clone_url,
         "--github-secret-env", "HOOK_SECRET", "--github-secret-env", "HOOK_SECRET_OLD"],
        env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("promoter serve: listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            assert json.loads(resp.read())["status"] == "ok"
        cid = world.comment("alice", "/hold")
        body = json.dumps(world.event(cid)).encode()
        delivery = str(uuid.uuid4())
        for _ in range(2):  # a redelivery runs nothing more
            req = urllib.request.Request(f"{url}/webhooks/github", data=body, headers={
                "Content-Type": "application/json", "X-GitHub-Event": "issue_comment",
                "X-GitHub-Delivery": delivery,
                "X-Hub-Signature-256": github_signature("s3cret-old", body)})
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status in (200, 202)
        repo = github.repos[world.name]
        wait_for(lambda: any(c.user == BOT for c in repo.comments.values()))

        def job_done() -> bool:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
                return bool(json.loads(resp.read())["done"] == 1)

        wait_for(job_done)
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        rest = proc.stderr.read()
        assert "stopping; finishing queued jobs" in rest and "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    replies = [c.body for c in repo.comments.values() if c.user == BOT]
    assert len(replies) == 1 and replies[0].startswith("@alice\n- `/hold`: on hold")
    for line in ('promoter_deliveries_total{outcome="queued",source="github"} 1.0',
                 'promoter_deliveries_total{outcome="duplicate",source="github"} 1.0',
                 'promoter_runs_total{kind="comment",outcome="ok"} 1.0'):
        assert line in metrics, metrics
    logged = [json.loads(x) for x in rest.splitlines() if x.startswith("{")]
    assert any(d["logger"] == "promoter.cli.serve_cmd" and d["level"] == "info"
               and "comment outcome=done" in d["message"] for d in logged), rest
    assert world.token not in rest
    assert "promoter/hold" in repo.pulls[world.number].labels


def test_gitlab_note_hook_runs_the_command_once(gitlab: FakeGitLab,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world("gitlab", gitlab)
    monkeypatch.setenv("FORGE_TOKEN", world.token)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.token)
    dispatcher = Dispatcher(make_runner(None, world.clone_url, None), workers=2,
                            key=lambda job: "repository")
    running = start(Receiver(secrets=Secrets(gitlab=("gl-hook-token",)), dispatcher=dispatcher))
    try:
        nid = world.comment("alice", "/promote")
        body = json.dumps(world.event(nid)).encode()
        headers = hook_headers("Note Hook", token="gl-hook-token", uuid="note-delivery-1")
        for _ in range(2):
            req = urllib.request.Request(f"{running.server.url}/webhooks/gitlab", data=body,
                                         headers=headers)
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert resp.status in (200, 202)
        wait_for(lambda: dispatcher.stats.done == 1)
    finally:
        assert running.stop(timeout=20)
    project = gitlab.project(world.name)
    replies = [n.body for n in project.notes.values() if n.author == BOT]
    assert replies == ["@alice\n- `/promote`: auto-merge is on: the forge merges this pull "
                       "request once its required checks and reviews pass.\n"]
    assert [e[2] for e in project.notes[nid].emoji] == ["eyes"]
    assert dispatcher.stats.duplicates == 1


def test_a_fleet_serve_runs_a_registry_push_in_every_repository_with_the_image(
        github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="promoter.cli.serve_cmd")
    worlds = [make_world("github", github) for _ in range(3)]
    for w in worlds:  # one bot token for the fleet
        github.tokens[worlds[0].token] = BOT
        github.set_permission(w.name, BOT, "write")
    monkeypatch.setenv("FORGE_TOKEN", worlds[0].token)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", worlds[0].token)
    members = [Member(name=w.name, clone=w.clone_url) for w in worlds]
    members.append(Member(name="acme/gone", clone=f"{github.url}/acme/gone.git"))
    dispatcher = Dispatcher(make_fleet_runner(members), workers=3,
                            key=lambda job: job.repo.lower() or "registry")
    running = start(Receiver(secrets=Secrets(registry=("reg-token-2",)), dispatcher=dispatcher))
    try:
        endpoint = {"name": "promoter", "url": f"{running.server.url}/webhooks/registry",
                    "headers": {"Authorization": ["Bearer reg-token-2"]}, "timeout": "5s",
                    "threshold": 3, "backoff": "1s"}
        with LocalRegistry("anonymous", notifications=[endpoint]) as reg:
            web = f"{reg.host}/fleet/web"
            for w in worlds[:2]:  # the third repository does not pin the image
                pin_web(github, w.name, w.bare, web)
            Pusher(reg.url).push("fleet/web", "1.2.0")
            wait_for(lambda: all(any(p.head == "promoter/dev/web"
                                     for p in github.pulls_of(w.name)) for w in worlds[:2]))
            wait_for(lambda: dispatcher.queued == 0 and dispatcher.running == 0)
        # a comment delivery for a repository outside the fleet runs nothing
        dispatcher.submit(Job(kind=JobKind.PROMOTE, delivery="d-1", source="github",
                              repo="other/repo", branch="main"))
        wait_for(lambda: dispatcher.queued == 0 and dispatcher.running == 0)
    finally:
        assert running.stop(timeout=20)
    assert not any(p.head == "promoter/dev/web" for p in github.pulls_of(worlds[2].name))
    assert "is for other/repo, not a repository of the fleet; ignored" in caplog.text
    # the member whose clone fails is that member's failure, logged; the others ran
    assert "repository=acme/gone" in caplog.text
    assert dispatcher.stats.failed >= 1
