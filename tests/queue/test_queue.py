"""The Redis guarantees of :mod:`promoter.queue` against a real ``redis-server``: delivery
de-duplication shared by receivers, the repository lock and its lease, retries with backoff,
dead-letter, a job's JSON form, and the receiver's answers while Redis is down."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis

from promoter import secrets
from promoter.errors import InputError, RetryableError
from promoter.metrics import Metrics
from promoter.queue import RedisDeliveries, RedisQueue, RepoLock, Tuning, check_url, wait_idle, work
from promoter.serve import Receiver, Secrets, github_signature, start
from promoter.webhooks import CommentEvent, Job, JobKind, job_from_json, job_to_json
from tests.servers.redis_server import LocalRedis

TOKEN = "ghp-queue-test-token-0123456789"
FAST = Tuning(heartbeat_timeout_ms=1500, lease_ms=900, busy_delay_ms=30, max_retries=3,
              min_backoff_ms=100, poll_ms=50)


def job(delivery: str, repo: str = "acme/gitops") -> Job:
    return Job(kind=JobKind.PROMOTE, delivery=delivery, source="github", repo=repo,
               branch="main")


@contextmanager
def worker(url: str, run: Callable[[Job], None], concurrency: int = 2) -> Iterator[None]:
    stop, ready = threading.Event(), threading.Event()
    t = threading.Thread(target=work, args=(url, run), kwargs=dict(
        stop=stop, concurrency=concurrency, tuning=FAST, ready=ready.set), daemon=True)
    t.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        stop.set()
        t.join(30)


def test_a_job_survives_json_both_ways_and_a_foreign_message_is_an_input_error() -> None:
    comment = CommentEvent(number=4, comment_id=9, author="alice", body="/hold", edited=True)
    for j in (job("d1"), Job(kind=JobKind.COMMENT, delivery="d2", source="gitlab", repo="g/p",
                             comment=comment),
              Job(kind=JobKind.POLL, delivery="d3", source="registry",
                  images=(("ghcr.io/acme/api", "1.2.0"),))):
        assert job_from_json(json.loads(json.dumps(job_to_json(j)))) == j
    with pytest.raises(InputError, match="job: kind 'build' is not one of comment, promote"):
        job_from_json({**job_to_json(job("d")), "kind": "build"})
    with pytest.raises(InputError, match="job: images must be"):
        job_from_json({**job_to_json(job("d")), "images": [["only-one"]]})


def test_queue_urls_are_checked_and_a_password_is_never_shown() -> None:
    assert check_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(InputError, match=r"^--queue http://h: not a redis:// URL$"):
        check_url("http://h")
    with pytest.raises(InputError) as e:
        check_url("redis://:hunter2@h:6379/zero")
    assert str(e.value) == "--queue redis://:***@h:6379/zero: the database must be a number, " \
                           "not 'zero'"


def test_deliveries_are_remembered_in_redis_per_source_for_their_ttl(
        redis_server: LocalRedis) -> None:
    conn = redis.Redis.from_url(redis_server.url)
    one, other = RedisDeliveries(conn, ttl=1), RedisDeliveries(conn, ttl=1)  # two replicas
    assert one.first_time("github", "abc")
    assert not other.first_time("github", "abc")
    assert other.first_time("gitlab", "abc")  # ids are unique per sender only
    time.sleep(1.2)
    assert one.first_time("github", "abc")  # expired
    one.forget("github", "abc")
    assert other.first_time("github", "abc")


def test_the_repository_lock_is_exclusive_and_its_lease_is_renewed_while_held(
        redis_server: LocalRedis) -> None:
    conn = redis.Redis.from_url(redis_server.url)
    a, b = RepoLock(conn, lease_ms=300), RepoLock(conn, lease_ms=300)
    with a.held("acme/gitops") as mine:
        assert mine
        time.sleep(1.0)  # over three leases: only renewal keeps it
        with b.held("acme/gitops") as theirs:
            assert not theirs
        with b.held("acme/other") as other:
            assert other
    with b.held("acme/gitops") as now:
        assert now  # released at once, not after the lease
    # a holder that stops renewing (a dead worker) loses the lock after one lease
    conn.set("promoter:lock:stale", "x", px=300)
    assert 0 < int(conn.pttl("promoter:lock:stale")) <= 300


def test_a_retryable_failure_is_retried_with_backoff_and_an_input_error_dead_letters(
        redis_server: LocalRedis, caplog: pytest.LogCaptureFixture) -> None:
    runs: dict[str, list[float]] = {}

    def run(j: Job) -> None:
        runs.setdefault(j.delivery, []).append(time.monotonic())
        n = len(runs[j.delivery])
        if j.delivery == "flaky" and n <= 2:
            raise RetryableError(f"the forge did not answer (token {TOKEN} hidden)")
        if j.delivery == "down":
            raise RetryableError("the forge did not answer")
        if j.delivery == "bad":
            raise InputError(".promoter.yaml:3:1: images: bad")

    secrets.register(TOKEN)
    q = RedisQueue(redis_server.url, tuning=FAST)
    with caplog.at_level(logging.INFO), worker(redis_server.url, run):
        for d in ("flaky", "down", "bad", "fine"):
            assert q.submit(job(d, repo=d))
        assert wait_idle(redis_server.url, timeout=30)
    assert {d: len(t) for d, t in runs.items()} == {"flaky": 3, "down": 4, "bad": 1, "fine": 1}
    gaps = [b - a for a, b in zip(runs["down"], runs["down"][1:], strict=False)]
    assert gaps[2] > gaps[0] >= 0.05  # exponential: 100 ms, 200 ms, 400 ms (with jitter)
    dead = [r.getMessage() for r in caplog.records if "dead-letter" in r.getMessage()]
    assert sorted(m.split()[1] for m in dead) == ["delivery=bad", "delivery=down"], dead
    assert TOKEN not in caplog.text
    conn = redis.Redis.from_url(redis_server.url)
    assert conn.zcard("promoter:jobs.XQ") == 2  # kept in the dead-letter queue


def test_jobs_of_one_repository_never_overlap_and_a_busy_one_waits_its_turn(
        redis_server: LocalRedis) -> None:
    spans: list[tuple[str, float, float]] = []
    lock = threading.Lock()

    def run(j: Job) -> None:
        start = time.monotonic()
        time.sleep(0.15)
        with lock:
            spans.append((j.repo, start, time.monotonic()))

    q = RedisQueue(redis_server.url, tuning=FAST)
    with worker(redis_server.url, run, concurrency=4), worker(redis_server.url, run,
                                                              concurrency=4):
        for i in range(12):
            assert q.submit(job(f"d{i}", repo=f"acme/r{i % 3}"))
        assert wait_idle(redis_server.url, timeout=30)
    assert len(spans) == 12  # none dropped while its repository was busy
    for repo in ("acme/r0", "acme/r1", "acme/r2"):
        mine = sorted((s, e) for r, s, e in spans if r == repo)
        assert all(e <= s2 for (_, e), (s2, _) in zip(mine, mine[1:], strict=False)), mine
    # different repositories did run at the same time (8 threads, 3 repositories)
    assert any(s2 < e for (_, s, e) in spans for (_, s2, _) in spans if s < s2)


def _post(url: str, delivery: str, body: bytes) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(f"{url}/webhooks/github", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": github_signature("s3", body)})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def test_the_receiver_enqueues_dedups_across_replicas_and_answers_503_while_redis_is_down(
        redis_server: LocalRedis) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": "a" * 40,
                       "repository": {"full_name": "acme/gitops"}}).encode()
    replicas = []
    metrics = Metrics()
    for i in range(2):
        q = RedisQueue(redis_server.url, tuning=FAST)
        replicas.append(start(Receiver(secrets=Secrets(github=("s3",)), dispatcher=q,
                                       deliveries=q.deliveries,
                                       metrics=metrics if i == 0 else None)))
    try:
        a, b = (r.server.url for r in replicas)
        assert _post(a, "d-1", body) == (202, {"status": "queued", "delivery": "d-1",
                                               "kind": "promote"})
        assert _post(b, "d-1", body) == (200, {"status": "duplicate", "delivery": "d-1"})
        status, doc = _health(a)
        assert (status, doc["queue"], doc["queue_reachable"], doc["queued"]) == (
            200, "redis", True, 1)
        conn = redis.Redis.from_url(redis_server.url)
        (message,) = [json.loads(m) for m in conn.hvals("promoter:jobs.msgs")]
        assert job_from_json(message["args"][0]) == job("d-1")
        assert "promoter_queue_reachable 1.0" in _metrics(a)
        redis_server.stop()
        assert _post(a, "d-2", body) == (503, {"error": "the queue is unreachable; deliver "
                                                        "again later"})
        status, doc = _health(a)
        assert (status, doc["status"], doc["queue_reachable"]) == (503, "unavailable", False)
        text = _metrics(a)
        for line in ("promoter_queue_reachable 0.0",
                     'promoter_deliveries_total{outcome="queued",source="github"} 1.0',
                     'promoter_deliveries_total{outcome="unavailable",source="github"} 1.0'):
            assert line in text, text
    finally:
        for r in replicas:
            r.stop(timeout=5)


def test_worker_and_serve_refuse_a_bad_queue_url_and_a_silent_redis_without_the_password(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from promoter.cli import main
    from tests.servers.registry import free_port

    assert main(["worker", "--queue", "http://:pw-1234567@h/0"]) == 2
    assert main(["worker", "--queue", f"redis://:pw-1234567@127.0.0.1:{free_port()}/0"]) == 3
    monkeypatch.setenv("HOOK", "s3cret-hook-value")
    assert main(["serve", "--queue", "redis://h/zero", "--github-secret-env", "HOOK"]) == 2
    err = capsys.readouterr().err
    assert "--queue http://:***@h/0: not a redis:// URL" in err
    assert ":***@127.0.0.1:" in err and "does not answer" in err
    assert "--queue redis://h/zero: the database must be a number" in err
    assert "pw-1234567" not in err


def test_a_job_whose_repository_is_locked_waits_for_the_lock_and_then_runs_once(
        redis_server: LocalRedis, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[float] = []
    conn = redis.Redis.from_url(redis_server.url)
    q = RedisQueue(redis_server.url, tuning=FAST)
    with caplog.at_level(logging.DEBUG, "promoter.queue"), \
            worker(redis_server.url, lambda j: ran.append(time.monotonic())):
        with RepoLock(conn, lease_ms=900).held("acme/busy") as mine:  # another worker's job
            assert mine
            assert q.submit(job("waits", repo="acme/busy"))
            time.sleep(1.0)
            released = time.monotonic()
            assert ran == []
            # sent again with a delay (30-60 ms here) each time, not spun on
            waits = sum("its repository is busy" in r.getMessage() for r in caplog.records)
            assert 5 <= waits <= 1000 / 30 + 2, waits
        assert wait_idle(redis_server.url, timeout=10)
    assert len(ran) == 1 and ran[0] >= released
