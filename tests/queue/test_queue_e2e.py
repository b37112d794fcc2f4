"""``serve --queue`` and worker processes end to end, on a real ``redis-server``: signed HTTP
deliveries are enqueued by the receiver and run by two worker processes, each exactly once;
a redelivered webhook runs nothing more; jobs of one repository never overlap across
workers; a worker SIGKILLed mid-job loses nothing; and a real promotion and a real comment
command go from ``promoter serve --queue`` through ``promoter worker`` to the fake GitHub."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from promoter.demo.push import Pusher
from promoter.queue import RedisQueue, Tuning, wait_idle
from promoter.serve import Receiver, Running, Secrets, github_signature, start
from tests.queue.hook_worker import RUNS, STARTED
from tests.serve.worlds import BOT, KUST, make_world, pin_web
from tests.servers.fake_github import FakeGitHub
from tests.servers.git_http import commit_to
from tests.servers.redis_server import LocalRedis
from tests.servers.registry import LocalRegistry, stop_process

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "queue-hook-secret"


def wait_for(check: Any, timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


def push_body(repo: str) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "after": "a" * 40,
                       "repository": {"full_name": repo}}).encode()


def deliver(url: str, event: str, delivery: str, body: bytes) -> int:
    req = urllib.request.Request(f"{url}/webhooks/github", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": github_signature(SECRET, body)})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@contextmanager
def hook_workers(url: str, n: int, *, job_seconds: float) -> Iterator[list[subprocess.Popen[str]]]:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.queue.hook_worker", url,
                               "--job-seconds", str(job_seconds)], env=env(), cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(n)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        yield procs
    finally:
        for p in procs:
            stop_process(p, timeout=20)


@contextmanager
def receiver(url: str) -> Iterator[Running]:
    q = RedisQueue(url, tuning=Tuning())
    running = start(Receiver(secrets=Secrets(github=(SECRET,)), dispatcher=q,
                             deliveries=q.deliveries))
    try:
        yield running
    finally:
        running.stop(timeout=5)


def runs(conn: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(r) for r in conn.lrange(RUNS, 0, -1)]


def test_two_workers_run_each_delivery_once_and_one_repository_at_a_time(
        redis_server: LocalRedis) -> None:
    conn = redis.Redis.from_url(redis_server.url)
    deliveries = [(str(uuid.uuid4()), f"acme/repo-{i % 4}") for i in range(32)]
    with hook_workers(redis_server.url, 2, job_seconds=0.05) as procs, \
            receiver(redis_server.url) as running:
        for d, repo in deliveries:
            assert deliver(running.server.url, "push", d, push_body(repo)) == 202
        for d, repo in deliveries[::3]:  # the forge redelivers some: answered, not run
            assert deliver(running.server.url, "push", d, push_body(repo)) == 200
        wait_for(lambda: conn.llen(RUNS) >= len(deliveries), what="every delivery ran")
        assert wait_idle(redis_server.url, timeout=30)
        time.sleep(0.3)  # a second run would have shown by now
    done = runs(conn)
    assert sorted(r["delivery"] for r in done) == sorted(d for d, _ in deliveries)
    assert {r["pid"] for r in done} == {p.pid for p in procs}  # both workers took jobs
    for repo in {repo for _, repo in deliveries}:
        spans = sorted((r["start"], r["end"]) for r in done if r["repo"] == repo)
        assert all(e <= s for (_, e), (s, _) in zip(spans, spans[1:], strict=False)), repo


def test_a_worker_killed_mid_job_loses_nothing(redis_server: LocalRedis) -> None:
    conn = redis.Redis.from_url(redis_server.url)
    deliveries = [(str(uuid.uuid4()), f"acme/repo-{i % 5}") for i in range(20)]
    with hook_workers(redis_server.url, 2, job_seconds=0.4) as procs, \
            receiver(redis_server.url) as running:
        victim, survivor = procs
        for d, repo in deliveries:
            assert deliver(running.server.url, "push", d, push_body(repo)) == 202

        def victim_busy() -> bool:
            return any(s.decode().endswith(f" {victim.pid}")
                       for s in conn.lrange(STARTED, 0, -1))

        wait_for(victim_busy, what="the victim started a job")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed = {s.decode().split()[0] for s in conn.lrange(STARTED, 0, -1)
                  if s.decode().endswith(f" {victim.pid}")}
        wait_for(lambda: {r["delivery"] for r in runs(conn)} >= {d for d, _ in deliveries},
                 what="every delivery completed after the kill")
    done = runs(conn)
    assert sorted(r["delivery"] for r in done) == sorted(d for d, _ in deliveries)
    unfinished = killed - {r["delivery"] for r in done if r["pid"] == victim.pid}
    assert unfinished  # the victim died with a job half done ...
    assert all(r["pid"] == survivor.pid for r in done if r["delivery"] in unfinished)  # ...
    # ... that the survivor ran to the end


def test_serve_queue_and_worker_processes_promote_and_answer_a_comment(
        github: FakeGitHub, redis_server: LocalRedis, tmp_path: Path) -> None:
    world = make_world("github", github)
    commit_to(world.bare, "main", {"dev/kustomization.yaml": KUST.replace("1.0.0", "1.2.0")})
    e = {**env(), "FORGE_TOKEN": world.token, "PROMOTER_GIT_TOKEN": world.token,
         "HOOK_SECRET": SECRET}
    common = ["--queue", redis_server.url]
    serve = subprocess.Popen(
        [sys.executable, "-m", "promoter", "--log-format", "json", "serve", "--port", "0",
         "--github-secret-env", "HOOK_SECRET", *common],
        env=e, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    workers = [subprocess.Popen(
        [sys.executable, "-m", "promoter", "--log-format", "json", "worker", *common,
         "--clone", world.clone_url, "--concurrency", "2", "--heartbeat-timeout", "2",
         "--lock-lease", "2", "--min-backoff", "0.1"],
        env=e, stderr=subprocess.PIPE, text=True, cwd=tmp_path) for _ in range(2)]
    try:
        assert serve.stderr is not None
        line = serve.stderr.readline()
        assert line.startswith("promoter serve: listening on http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip()
        for w in workers:
            assert w.stderr is not None
            assert w.stderr.readline().startswith("promoter worker: running jobs"), w
        push = str(uuid.uuid4())
        assert deliver(url, "push", push, push_body(world.name)) == 202
        assert deliver(url, "push", push, push_body(world.name)) == 200  # redelivered
        cid = world.comment("alice", "/hold")
        assert deliver(url, "issue_comment", str(uuid.uuid4()),
                       json.dumps(world.event(cid)).encode()) == 202
        repo = github.repos[world.name]
        wait_for(lambda: any(p.head == "promoter/prod/api" for p in github.pulls_of(world.name))
                 and any(c.user == BOT for c in repo.comments.values()), timeout=120,
                 what="the promotion PR and the comment reply")
        assert wait_idle(redis_server.url, timeout=60)
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            health = json.loads(resp.read())
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        for p in (serve, *workers):
            p.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=30) for p in (serve, *workers)] == [0, 0, 0]
        logs = "".join(p.stderr.read() for p in (serve, *workers) if p.stderr)
    finally:
        for p in (serve, *workers):
            stop_process(p)
    assert (health["queue"], health["queue_reachable"]) == ("redis", True)
    for text in ('promoter_deliveries_total{outcome="queued",source="github"} 2.0',
                 'promoter_deliveries_total{outcome="duplicate",source="github"} 1.0'):
        assert text in metrics, metrics
    prs = [p for p in github.pulls_of(world.name) if p.head == "promoter/prod/api"]
    assert [p.title for p in prs] == ["Promote api to 1.2.0 in prod"]
    replies = [c.body for c in repo.comments.values() if c.user == BOT]
    assert len(replies) == 1 and replies[0].startswith("@alice\n- `/hold`: on hold")
    assert "Traceback" not in logs and world.token not in logs
    assert "promote ok=True" in logs and "comment outcome=done" in logs


def test_fleet_workers_run_each_repository_s_job_and_split_a_registry_push(
        github: FakeGitHub, redis_server: LocalRedis, tmp_path: Path) -> None:
    a, b = make_world("github", github), make_world("github", github)
    github.tokens[a.token] = BOT
    github.set_permission(b.name, BOT, "write")
    e = {**env(), "FORGE_TOKEN": a.token, "PROMOTER_GIT_TOKEN": a.token,
         "HOOK_SECRET": SECRET, "REG_TOKEN": "reg-queue-token"}
    common = ["--queue", redis_server.url]
    serve = subprocess.Popen(
        [sys.executable, "-m", "promoter", "--log-format", "json", "serve", "--port", "0",
         "--github-secret-env", "HOOK_SECRET", "--registry-token-env", "REG_TOKEN", *common],
        env=e, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    fleet = ["--clone", a.clone_url, "--clone", b.clone_url]
    workers = [subprocess.Popen(
        [sys.executable, "-m", "promoter", "--log-format", "json", "worker", *common, *fleet,
         "--concurrency", "2", "--heartbeat-timeout", "2", "--lock-lease", "2",
         "--min-backoff", "0.1"],
        env=e, stderr=subprocess.PIPE, text=True, cwd=tmp_path) for _ in range(2)]
    try:
        assert serve.stderr is not None
        url = serve.stderr.readline().rsplit(" ", 1)[1].strip()
        for w in workers:
            assert w.stderr is not None
            assert "2 repositories" in w.stderr.readline()
            assert w.stderr.readline().startswith("promoter worker: running jobs")
        endpoint = {"name": "promoter", "url": f"{url}/webhooks/registry",
                    "headers": {"Authorization": ["Bearer reg-queue-token"]},
                    "timeout": "5s", "threshold": 3, "backoff": "1s"}
        with LocalRegistry("anonymous", notifications=[endpoint]) as reg:
            web = f"{reg.host}/fleetq/web"
            for w in (a, b):
                pin_web(github, w.name, w.bare, web)
            Pusher(reg.url).push("fleetq/web", "1.3.0")  # one notification, two repositories
            wait_for(lambda: all(any(p.head == "promoter/dev/web" for p in
                                     github.pulls_of(w.name)) for w in (a, b)),
                     timeout=120, what="a PR in each repository of the fleet")
            assert wait_idle(redis_server.url, timeout=60)
        for p in (serve, *workers):
            p.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=30) for p in (serve, *workers)] == [0, 0, 0]
        logs = "".join(p.stderr.read() for p in (serve, *workers) if p.stderr)
    finally:
        for p in (serve, *workers):
            stop_process(p)
    for w in (a, b):
        assert [p.title for p in github.pulls_of(w.name) if p.head == "promoter/dev/web"] == [
            "Promote web to 1.3.0 in dev"]
    assert "split into 2 jobs" in logs
    assert "Traceback" not in logs and a.token not in logs
