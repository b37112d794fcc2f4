"""Hypothesis fuzzing of the webhook parser under time and memory bounds (issue 15).

Every input, signed so that it reaches the parser, gets a one-line answer: a status the
receiver documents, never the last-resort 400 of a shape the parsers missed, never an
exception. Each example is bounded in CPU time (``process_time``: other processes on a busy
machine do not count) and in memory allocated at the peak (``tracemalloc``), relative to the
body's size: the parser does work linear in its input, and deep nesting costs no recursion.
"""

from __future__ import annotations

import functools
import json
import time
import tracemalloc
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promoter.serve import Dispatcher, Job, Receiver, Secrets, github_signature
from promoter.webhooks import Reject, github_job, gitlab_job, parse_json, registry_job

SECRET, GL_TOKEN, REG = "fuzz-secret", "fuzz-gitlab", "fuzz-registry"
CPU_SECONDS = 0.5  # per example; a 1 MB body parses in a few milliseconds
MEMORY_PER_BYTE = 64  # peak bytes allocated per body byte (JSON objects are larger than text)
MEMORY_FLOOR = 2 * 1024 * 1024

KEYS = ["issue", "comment", "number", "id", "user", "login", "type", "body", "action",
        "pull_request", "merged", "base", "ref", "object_attributes", "noteable_type", "note",
        "merge_request", "iid", "username", "bot", "system", "events", "target", "repository",
        "tag", "request", "host", "push_data", "repo_name", "event_data", "resources",
        "resource_url", "registry_package", "package", "package_type", "package_version",
        "container_metadata", "name", "package_url", "namespace", "owner", "deleted", "after",
        "project", "path_with_namespace", "full_name", "target_branch"]
json_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=5), kids, max_size=6),
    max_leaves=40)


def deep(depth: int, opener: str, closer: str, core: str = "1") -> bytes:
    return (opener * depth + core + closer * depth).encode()


bodies = st.one_of(
    json_docs.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=512),
    st.builds(deep, st.integers(1, 200_000), st.just("["), st.just("]"), st.just("")),
    st.builds(deep, st.integers(1, 200_000), st.just('{"issue":'), st.just("}")),
    st.builds(deep, st.integers(1, 50_000), st.just('{"a":['), st.just("]}")),
    st.text(max_size=256).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
EVENTS = ["issue_comment", "pull_request", "push", "registry_package", "package",
          "Note Hook", "Merge Request Hook", "Push Hook", "ping", ""]


def bounded(fn: Any, body: bytes) -> Any:
    """``fn()``, asserting it stays within the CPU and memory bounds for ``body``."""
    tracemalloc.start()
    cpu = time.process_time()
    try:
        result = fn()
    finally:
        spent = time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert spent < CPU_SECONDS, (spent, len(body))
    assert peak < MEMORY_FLOOR + MEMORY_PER_BYTE * len(body), (peak, len(body))
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(body=bodies, event=st.sampled_from(EVENTS),
       form=st.booleans())
def test_the_parser_answers_every_body_within_bounds(body: bytes, event: str,
                                                     form: bool) -> None:
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    sent = b"payload=" + body if form else body

    def parse() -> list[Job | None | int]:
        out: list[Job | None | int] = []
        try:
            doc = parse_json(sent, ctype)
        except Reject as e:
            return [e.status]
        for job_of in (lambda: github_job(event, "d", doc), lambda: gitlab_job(event, "d", doc),
                       lambda: registry_job("d", doc)):
            try:
                out.append(job_of())
            except Reject as e:
                out.append(e.status)
        return out

    answers = bounded(parse, sent)
    assert all(a in (400,) or a is None or isinstance(a, Job) for a in answers), answers


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(body=bodies, path=st.sampled_from(["/webhooks/github", "/webhooks/gitlab",
                                          "/webhooks/registry", "/webhooks/x"]),
       event=st.sampled_from(EVENTS), delivery=st.text(min_size=1, max_size=12))
def test_signed_deliveries_get_a_documented_answer_within_bounds(
        body: bytes, path: str, event: str, delivery: str) -> None:
    receiver = _receiver()
    headers = {"x-github-event": event, "x-github-delivery": delivery, "x-gitlab-event": event,
               "x-hub-signature-256": github_signature(SECRET, body),
               "x-gitlab-token": GL_TOKEN, "idempotency-key": delivery,
               "authorization": f"Bearer {REG}"}
    status, answer = bounded(lambda: receiver.receive(path, headers, body), body)
    assert status in (200, 202, 400, 404, 503), (status, answer)
    assert answer != {"error": "the payload does not have the expected shape"}
    assert "\n" not in json.dumps(answer)  # one line, whatever the input


@functools.cache
def _receiver() -> Receiver:
    """One receiver for every example: jobs are dropped (the queue's own tests run them)."""
    return Receiver(secrets=Secrets(github=(SECRET,), gitlab=(GL_TOKEN,), registry=(REG,)),
                    dispatcher=Dispatcher(lambda job: None, workers=1, max_queued=100_000))
