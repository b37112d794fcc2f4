"""Structured logs (text and JSON, secrets redacted) and serve's /metrics over real HTTP."""

from __future__ import annotations

import http.client
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from promoter import logs, secrets
from promoter.cli import main
from promoter.metrics import Metrics
from promoter.serve import Dispatcher, Receiver, Secrets, start
from tests.serve.test_server import SECRET, Recorder, Server, comment_payload


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in logs.LOGGERS}
    yield
    for n, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:], lg.propagate = handlers, propagate
        lg.setLevel(level)


def test_text_lines_have_time_level_name_and_no_secret(restore_logging: None) -> None:
    secrets.register("glpat-LOGSECRET-99")
    out = io.StringIO()
    logs.setup(level=logging.INFO, fmt="text", stream=out)
    logging.getLogger("promoter.serve").info("token %s used", "glpat-LOGSECRET-99")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO promoter\.serve: "
                        r"token \*\*\* used\n", out.getvalue()), out.getvalue()


def test_json_lines_are_objects_and_redact_the_traceback(restore_logging: None) -> None:
    value = 's"ecret\\-JSON-1'  # a quote and a backslash: JSON escapes both
    secrets.register(value)
    out = io.StringIO()
    logs.setup(level=logging.DEBUG, fmt="json", stream=out)
    try:
        raise RuntimeError(f"boom {value}")
    except RuntimeError:
        logging.getLogger("promoter.x").exception("failed with %s", value)
    line = out.getvalue()
    assert "ecret" not in line
    doc = json.loads(line)
    assert (doc["level"], doc["logger"], doc["message"]) == ("error", "promoter.x",
                                                             "failed with ***")
    assert "RuntimeError: boom ***" in doc["error"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["time"])


def test_log_format_from_the_environment_and_a_bad_one(
        restore_logging: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PROMOTER_LOG_FORMAT", "yaml")
    assert main(["schema"]) == 2
    assert "yaml" in capsys.readouterr().err
    monkeypatch.setenv("PROMOTER_LOG_FORMAT", "json")
    assert main(["schema"]) == 0
    handler = logging.getLogger("promoter").handlers[0]
    assert isinstance(handler.formatter, logs.JsonFormatter)


def test_serve_metrics_count_deliveries_jobs_and_queue() -> None:
    metrics = Metrics()
    rec = Recorder()
    rec.gate.clear()
    dispatcher = Dispatcher(rec, workers=1, done=lambda job, ok: metrics.run(
        job.kind.value, ok, where="job"))
    receiver = Receiver(secrets=Secrets(github=(SECRET,)), dispatcher=dispatcher,
                        metrics=metrics)
    s = Server(start(receiver), rec)
    try:
        for i in range(3):
            s.github("issue_comment", comment_payload(cid=i), delivery=f"m-{i}")
        s.github("issue_comment", comment_payload(), delivery="m-0")
        s.github("issue_comment", comment_payload(), secret="wrong")
        text = _metrics(s)
        assert "promoter_queue_depth 3.0" in text
        rec.gate.set()
        s.wait_idle()
        text = _metrics(s)
    finally:
        s.running.stop(timeout=5)
    for line in ('promoter_deliveries_total{outcome="queued",source="github"} 3.0',
                 'promoter_deliveries_total{outcome="duplicate",source="github"} 1.0',
                 'promoter_deliveries_total{outcome="rejected",source="github"} 1.0',
                 'promoter_runs_total{kind="comment",outcome="ok"} 3.0',
                 "promoter_queue_depth 0.0", "promoter_jobs_running 0.0"):
        assert line in text, (line, text)
    assert re.search(r'promoter_build_info\{version="[^"]+"\} 1\.0', text)


def _metrics(s: Server) -> str:
    host, port = s.running.server.server_address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    return resp.read().decode()
