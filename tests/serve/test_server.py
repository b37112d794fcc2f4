"""The receiver over real HTTP on loopback, with a recording ``run``: signatures, replays, limits,
the queue and per-repository order, health and a graceful stop."""

from __future__ import annotations

import functools
import http.client
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promoter.serve import (
    Dispatcher,
    Job,
    Receiver,
    Running,
    Secrets,
    github_signature,
    start,
)
from tests.serve import payloads
from tests.servers.fake_gitlab import hook_headers

SECRET, OLD = "hook-secret-1", "hook-secret-0"
GL_TOKEN = "gitlab-token-1"


@dataclass
class Recorder:
    jobs: list[Job] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    active: dict[str, int] = field(default_factory=dict)
    overlap: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail: bool = False

    def __post_init__(self) -> None:
        self.gate.set()

    def __call__(self, job: Job) -> None:
        with self.lock:
            self.active[job.repo] = self.active.get(job.repo, 0) + 1
            self.overlap |= self.active[job.repo] > 1
        try:
            self.gate.wait(10)
            time.sleep(0.002)
            if self.fail:
                raise RuntimeError("token ghp-SECRET-1234 leaked?")
            with self.lock:
                self.jobs.append(job)
        finally:
            with self.lock:
                self.active[job.repo] -= 1


@dataclass
class Server:
    running: Running
    rec: Recorder

    def post(self, path: str, body: bytes, headers: dict[str, str]
             ) -> tuple[int, dict[str, Any], dict[str, str]]:
        host, port = self.running.server.server_address[:2]
        conn = http.client.HTTPConnection(str(host), port, timeout=10)
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, json.loads(data), dict(resp.getheaders())
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        host, port = self.running.server.server_address[:2]
        conn = http.client.HTTPConnection(str(host), port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())

    def github(self, event: str, payload: Any, *, secret: str = SECRET,
               delivery: str | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
        body = json.dumps(payload).encode()
        return self.post("/webhooks/github", body, {
            "Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": github_signature(secret, body)})

    def wait_idle(self, timeout: float = 10) -> None:
        d = self.running.server.receiver.dispatcher
        deadline = time.monotonic() + timeout
        while (d.queued or d.running) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not d.queued


def comment_payload(repo: str = "acme/gitops", number: int = 1, cid: int = 10,
                    body: str = "/promote") -> dict[str, Any]:
    return {"action": "created", "repository": {"full_name": repo},
            "issue": {"number": number, "pull_request": {"url": "u"}},
            "comment": {"id": cid, "body": body, "user": {"login": "alice", "type": "User"}}}


def make(rec: Recorder, **kw: Any) -> Server:
    dispatcher = Dispatcher(rec, workers=kw.pop("workers", 4),
                            max_queued=kw.pop("max_queued", 100))
    keys = Secrets(github=(OLD, SECRET), gitlab=(GL_TOKEN,), registry=("reg-token",))
    return Server(start(Receiver(secrets=keys, dispatcher=dispatcher), **kw), rec)


@pytest.fixture
def server() -> Iterator[Server]:
    s = make(Recorder(), max_body=64 * 1024)
    yield s
    s.running.stop(timeout=5)


def test_signed_delivery_is_queued_and_run_once_even_when_replayed(server: Server) -> None:
    status, doc, _ = server.github("issue_comment", comment_payload(), delivery="d-1")
    assert (status, doc) == (202, {"status": "queued", "delivery": "d-1", "kind": "comment"})
    for _ in range(3):
        status, doc, _ = server.github("issue_comment", comment_payload(), delivery="d-1")
        assert (status, doc) == (200, {"status": "duplicate", "delivery": "d-1"})
    server.wait_idle()
    assert [j.delivery for j in server.rec.jobs] == ["d-1"]
    job = server.rec.jobs[0]
    assert job.comment is not None and job.comment.body == "/promote"
    assert server.get("/healthz") == (200, {
        "status": "ok", "queued": 0, "running": 0, "received": 4, "done": 1, "failed": 0,
        "duplicates": 3, "rejected": 0})


def test_old_secret_still_accepted_while_rotating(server: Server) -> None:
    assert server.github("issue_comment", comment_payload(), secret=OLD)[0] == 202


@pytest.mark.parametrize("tamper", ["forged", "body", "missing"])
def test_forged_signatures_are_rejected_and_nothing_runs(server: Server, tamper: str) -> None:
    body = json.dumps(comment_payload()).encode()
    sig = github_signature("guess" if tamper == "forged" else SECRET, body)
    headers = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "x",
               "X-Hub-Signature-256": sig}
    if tamper == "missing":
        del headers["X-Hub-Signature-256"]
    sent = body + b" " if tamper == "body" else body
    status, doc, _ = server.post("/webhooks/github", sent, headers)
    assert (status, doc) == (401, {"error": "signature does not match"})
    # a forged delivery does not poison the id: the genuine one still runs
    assert server.github("issue_comment", comment_payload(), delivery="x")[0] == 202
    server.wait_idle()
    assert len(server.rec.jobs) == 1


NOTE = {"object_kind": "note", "user": {"username": "alice"},
        "project": {"path_with_namespace": "grp/gitops"},
        "object_attributes": {"id": 5, "note": "/hold", "noteable_type": "MergeRequest",
                              "action": "create", "system": False},
        "merge_request": {"iid": 3}}


def test_gitlab_token_and_idempotency_key(server: Server) -> None:
    body = json.dumps(NOTE).encode()
    ok = hook_headers("Note Hook", token=GL_TOKEN, uuid="k-1")
    assert server.post("/webhooks/gitlab", body, ok)[:2] == (
        202, {"status": "queued", "delivery": "k-1", "kind": "comment"})
    assert server.post("/webhooks/gitlab", body, ok)[1]["status"] == "duplicate"
    bad = hook_headers("Note Hook", token="gitlab-token-2", uuid="k-2")
    assert server.post("/webhooks/gitlab", body, bad)[:2] == (
        401, {"error": "token or signature does not match"})
    none = hook_headers("Note Hook", uuid="k-3")
    assert server.post("/webhooks/gitlab", body, none)[0] == 401


@pytest.mark.parametrize(("path", "body", "headers", "status", "error"), [
    ("/webhooks/github", b"not json", {"X-GitHub-Event": "issue_comment",
                                       "X-GitHub-Delivery": "1"}, 400,
     "the body is not a JSON payload"),
    ("/webhooks/github", b"[1]", {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "1"},
     400, "the payload is not a JSON object"),
    ("/webhooks/github", b'{"issue": {}}', {"X-GitHub-Event": "issue_comment",
                                            "X-GitHub-Delivery": "1"}, 400,
     "issue_comment 1: issue.number is missing or not a int"),
    ("/webhooks/github", b"{}", {"X-GitHub-Event": "issue_comment"}, 400,
     "X-GitHub-Delivery and X-GitHub-Event are required"),
    ("/elsewhere", b"{}", {}, 404, "no such endpoint"),
    ("/webhooks/registry", b"{}", {"Authorization": "Bearer nope"}, 401,
     "token does not match"),
])
def test_bad_deliveries_get_a_one_line_4xx(server: Server, path: str, body: bytes,
                                           headers: dict[str, str], status: int,
                                           error: str) -> None:
    if path == "/webhooks/github":
        headers = {**headers, "X-Hub-Signature-256": github_signature(SECRET, body)}
    got, doc, _ = server.post(path, body, headers)
    assert (got, doc) == (status, {"error": error})
    assert "Traceback" not in json.dumps(doc)


def test_size_limit_and_content_length(server: Server) -> None:
    big = b"x" * (64 * 1024 + 1)
    status, doc, _ = server.post("/webhooks/github", big, {})
    assert (status, doc) == (413, {"error": "body over 65536 bytes"})
    host, port = server.running.server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=5)
    conn.putrequest("POST", "/webhooks/github")
    conn.endheaders()
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())) == (411, {"error":
                                                            "Content-Length is required"})
    assert server.get("/nope")[0] == 404


def test_events_with_nothing_to_do_are_answered_ignored(server: Server) -> None:
    status, doc, _ = server.github("pull_request", {"action": "opened", "pull_request": {}},
                                   delivery="p-1")
    assert (status, doc) == (200, {"status": "ignored", "delivery": "p-1"})
    assert server.github("ping", {"zen": "Design for failure."})[0] == 200


def test_registry_notifications_need_their_token(server: Server) -> None:
    body = json.dumps(payloads.distribution_push("127.0.0.1:5000", "team/api", "1.2")).encode()
    status, doc, _ = server.post("/webhooks/registry", body,
                                 {"Authorization": "Bearer reg-token"})
    assert (status, doc["status"], doc["kind"]) == (202, "queued", "poll")
    hub = json.dumps(payloads.docker_hub_push("acme/api", "v3")).encode()
    assert server.post("/webhooks/registry?token=reg-token", hub, {})[0] == 202
    server.wait_idle()
    assert sorted(j.images for j in server.rec.jobs) == [
        (("127.0.0.1:5000/team/api", "1.2"),), (("docker.io/acme/api", "v3"),)]


def test_one_job_per_repository_at_a_time_in_order() -> None:
    s = make(Recorder(), workers=4)
    try:
        for i in range(40):
            repo = f"acme/r{i % 3}"
            s.github("issue_comment", comment_payload(repo=repo, cid=i), delivery=f"o-{i}")
        s.wait_idle()
        assert not s.rec.overlap
        for r in range(3):
            ids = [j.comment.comment_id for j in s.rec.jobs if j.repo == f"acme/r{r}"
                   and j.comment is not None]
            assert ids == sorted(ids) and len(ids) in (13, 14)
    finally:
        s.running.stop(timeout=5)


def test_full_queue_answers_503_and_a_redelivery_runs_later() -> None:
    rec = Recorder()
    rec.gate.clear()  # workers block until released
    s = make(rec, workers=1, max_queued=2)
    try:
        codes = [s.github("issue_comment", comment_payload(cid=i), delivery=f"q-{i}")
                 for i in range(4)]
        assert [c[0] for c in codes] == [202, 202, 503, 503]
        assert codes[2][1] == {"error": "the queue is full; deliver again later"}
        assert {k.lower(): v for k, v in codes[2][2].items()}["retry-after"] == "30"
        rec.gate.set()
        s.wait_idle()
        assert s.github("issue_comment", comment_payload(cid=2), delivery="q-2")[0] == 202
        s.wait_idle()
        assert [j.delivery for j in rec.jobs] == ["q-0", "q-1", "q-2"]
    finally:
        s.running.stop(timeout=5)


def test_graceful_stop_finishes_queued_jobs_and_refuses_new_ones() -> None:
    rec = Recorder()
    rec.gate.clear()
    s = make(rec, workers=2)
    for i in range(6):
        s.github("issue_comment", comment_payload(repo=f"r{i}", cid=i), delivery=f"g-{i}")
    threading.Timer(0.2, rec.gate.set).start()
    assert s.running.stop(timeout=10) is True
    assert sorted(j.delivery for j in rec.jobs) == [f"g-{i}" for i in range(6)]
    with pytest.raises(OSError):
        s.github("issue_comment", comment_payload(), delivery="late")


def test_a_failing_job_is_counted_and_logged_without_secrets(
        caplog: pytest.LogCaptureFixture) -> None:
    from promoter import secrets

    secrets.register("ghp-SECRET-1234")
    rec = Recorder(fail=True)
    s = make(rec)
    try:
        s.github("issue_comment", comment_payload(), delivery="f-1")
        s.wait_idle()
        assert s.get("/healthz")[1]["failed"] == 1
        assert "ghp-SECRET-1234" not in caplog.text
        assert "job failed: kind=comment delivery=f-1: RuntimeError: token *** leaked?" \
            in caplog.text
    finally:
        s.running.stop(timeout=5)


def test_form_encoded_github_delivery(server: Server) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(comment_payload(cid=77))}).encode()
    status, doc, _ = server.post("/webhooks/github", body, {
        "Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "issue_comment",
        "X-GitHub-Delivery": "form-1", "X-Hub-Signature-256": github_signature(SECRET, body)})
    assert (status, doc["status"]) == (202, "queued")
    server.wait_idle()
    assert [j.comment.comment_id for j in server.rec.jobs if j.comment] == [77]


def test_gitlab_signed_webhook_over_http() -> None:
    import base64

    key = "whsec_" + base64.b64encode(b"s" * 32).decode()
    rec = Recorder()
    dispatcher = Dispatcher(rec, workers=1)
    receiver = Receiver(secrets=Secrets(gitlab_signing=(key,)), dispatcher=dispatcher)
    s = Server(start(receiver), rec)
    try:
        body = json.dumps({"object_kind": "push", "ref": "refs/heads/main", "after": "a" * 40,
                           "project": {"path_with_namespace": "grp/gitops"}}).encode()
        headers = hook_headers("Push Hook", uuid="w-1", body=body, signing_token=key)
        assert s.post("/webhooks/gitlab", body, headers)[0] == 202
        assert s.post("/webhooks/gitlab", body, headers)[1]["status"] == "duplicate"
        stale = hook_headers("Push Hook", uuid="w-2", body=body, signing_token=key,
                             timestamp=int(time.time()) - 3600)
        assert s.post("/webhooks/gitlab", body, stale)[0] == 401
        forged = hook_headers("Push Hook", uuid="w-3", body=body + b" ", signing_token=key)
        assert s.post("/webhooks/gitlab", body, forged)[0] == 401
        s.wait_idle()
        assert [(j.kind.value, j.branch) for j in rec.jobs] == [("promote", "main")]
    finally:
        s.running.stop(timeout=5)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(["/webhooks/github", "/webhooks/gitlab", "/webhooks/registry",
                             "/x"]),
       event=st.sampled_from(["issue_comment", "pull_request", "push", "registry_package",
                              "package", "Note Hook", "Merge Request Hook", "Push Hook", ""]),
       doc=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                        lambda kids: st.lists(kids, max_size=3)
                        | st.dictionaries(st.sampled_from(
                            ["issue", "comment", "number", "id", "user", "login", "action",
                             "pull_request", "object_attributes", "merge_request", "iid",
                             "events", "target", "tag", "repository", "push_data", "ref",
                             "package_version", "registry_package", "type", "event_data"]),
                            kids, max_size=5), max_leaves=20))
def test_any_signed_json_gets_an_answer_never_a_crash(path: str, event: str, doc: Any) -> None:
    receiver = _fuzz_receiver()
    body = json.dumps(doc).encode()
    headers = {"x-github-event": event, "x-github-delivery": "d", "x-gitlab-event": event,
               "x-hub-signature-256": github_signature(SECRET, body),
               "x-gitlab-token": GL_TOKEN, "idempotency-key": "k",
               "authorization": "Bearer reg-token"}
    status, answer = receiver.receive(path, headers, body)
    assert status in (200, 202, 400, 404), (status, answer)
    # the parsers themselves cope: the receiver's last-resort 400 never fires
    assert answer != {"error": "the payload does not have the expected shape"}, doc


@functools.cache
def _fuzz_receiver() -> Receiver:
    """One receiver for every example (its worker thread lives as long as the session)."""
    return Receiver(secrets=Secrets(github=(SECRET,), gitlab=(GL_TOKEN,),
                                    registry=("reg-token",)),
                    dispatcher=Dispatcher(Recorder(), workers=1, max_queued=10_000))


@pytest.fixture
def roomy() -> Iterator[Server]:
    s = make(Recorder())  # the default size limit (5 MB)
    yield s
    s.running.stop(timeout=5)


def test_signed_webhook_nested_100k_deep_is_a_400_not_a_500(roomy: Server) -> None:
    """Issue 15 item 11: the JSON parser's recursion limit is bad input, answered in one line."""
    server = roomy
    body = b"[" * 100_000 + b"]" * 100_000
    for path, headers in (
            ("/webhooks/github", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "deep-1",
                                  "X-Hub-Signature-256": github_signature(SECRET, body)}),
            ("/webhooks/gitlab", hook_headers("Push Hook", token=GL_TOKEN, uuid="deep-2")),
            ("/webhooks/registry", {"Authorization": "Bearer reg-token"})):
        status, doc, _ = server.post(path, body, headers)
        assert (status, doc) == (400, {"error": "the JSON payload is nested too deeply"}), path
    deep_object = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    sig = github_signature(SECRET, deep_object)
    assert server.post("/webhooks/github", deep_object, {
        "X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "deep-3",
        "X-Hub-Signature-256": sig})[:2] == (400, {"error":
                                                   "the JSON payload is nested too deeply"})
    assert server.get("/healthz")[1]["rejected"] == 4  # and the server still answers


def test_delivery_ids_are_per_source(server: Server) -> None:
    """Issue 15 item 12: a GitLab Idempotency-Key equal to an earlier GitHub delivery id is a
    delivery of its own; the same key again from GitLab is the duplicate."""
    assert server.github("issue_comment", comment_payload(), delivery="same-id")[0] == 202
    body = json.dumps(NOTE).encode()
    headers = hook_headers("Note Hook", token=GL_TOKEN, uuid="same-id")
    assert server.post("/webhooks/gitlab", body, headers)[1]["status"] == "queued"
    assert server.post("/webhooks/gitlab", body, headers)[1]["status"] == "duplicate"
    registry = json.dumps(payloads.distribution_push("127.0.0.1:5000", "team/api", "1")).encode()
    assert server.post("/webhooks/registry", registry, {
        "Authorization": "Bearer reg-token", "X-Delivery-Id": "same-id"})[0] == 202
    server.wait_idle()
    assert sorted(j.source for j in server.rec.jobs) == ["github", "gitlab", "registry"]


def test_oversize_body_is_answered_413_before_it_is_sent(server: Server) -> None:
    """The answer comes from the headers alone: the client never sends a byte of the body."""
    import socket

    host, port = server.running.server.server_address
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 10000000\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    assert json.loads(rest) == {"error": "body over 65536 bytes"}


def test_a_body_that_never_arrives_is_answered_408() -> None:
    import socket

    rec = Recorder()
    dispatcher = Dispatcher(rec, workers=1)
    receiver = Receiver(secrets=Secrets(github=(SECRET,)), dispatcher=dispatcher)
    running = start(receiver)
    running.app.body_timeout = 0.3
    try:
        with socket.create_connection(running.server.server_address, timeout=5) as sock:
            sock.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                         b"\r\nabc")
            data = sock.recv(4096)
        assert data.startswith(b"HTTP/1.1 408")
        assert rec.jobs == []
    finally:
        running.stop(timeout=5)
