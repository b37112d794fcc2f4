"""``promoter watch``: the schedule (fake clock), and a real process stopped by SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter.cli import main
from promoter.cli.watch_cmd import _human
from promoter.demo.push import Pusher
from promoter.demo.run import write_repo
from promoter.errors import InputError, RegistryError
from promoter.flows.watch import Schedule, Tick, parse_duration, parse_jitter, watch
from tests.servers.registry import LocalRegistry


class Clock:
    """The injected wait: records each wait, asks to stop after ``stop_after`` waits."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after
        self.stopped = False

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            self.stopped = True
        return self.stopped


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("1d", 86400), ("1.5h", 5400),
    ("1w", 604800)])  # the config's grammar: soak and min-age spell durations the same way
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, key="--interval") == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "0", "0s", "-5m", "5 m m", "1h 30m", "90",
                                  "0.5s"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(InputError, match="--interval"):
        parse_duration(text, key="--interval")


@pytest.mark.parametrize(("seconds", "text"), [
    (0.01, "0s"), (0.5, "0.5s"), (3, "3s"), (42.4, "42s"), (303, "5m3s"), (3600, "1h0m"),
    (5400, "1h30m")])
def test_waits_read_as_durations(seconds: float, text: str) -> None:
    assert _human(seconds) == text


@pytest.mark.parametrize(("text", "value"), [("10%", 0.1), ("0", 0.0), ("0.25", 0.25)])
def test_jitter(text: str, value: float) -> None:
    assert parse_jitter(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["100%", "1", "-1%", "x", "%"])
def test_bad_jitter(text: str) -> None:
    with pytest.raises(InputError, match="--jitter"):
        parse_jitter(text)


def test_failures_back_off_exponentially_up_to_the_cap_and_success_resets() -> None:
    outcomes = iter([True, False, False, False, False, False, True, True])
    clock = Clock()
    ticks: list[Tick] = []
    last = watch(lambda: next(outcomes), Schedule(interval=60, jitter=0, backoff_max=600,
                                                  max_runs=8),
                 wait=clock.wait, stopping=lambda: clock.stopped, on_tick=ticks.append)
    assert last is not None and last.run == 8 and last.ok
    assert clock.waits == [60, 120, 240, 480, 600, 600, 60]
    assert [t.failures for t in ticks] == [0, 1, 2, 3, 4, 5, 0, 0]
    assert ticks[-1].wait is None


def test_a_raising_run_is_a_failure_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    calls: list[int] = []

    def run() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RegistryError("registry 127.0.0.1:1: connection refused")
        if len(calls) == 2:
            raise ValueError("boom")
        return True

    clock = Clock()
    last = watch(run, Schedule(interval=10, jitter=0, max_runs=3), wait=clock.wait,
                 stopping=lambda: clock.stopped)
    assert last is not None and last.run == 3
    assert clock.waits == [20, 40]
    assert "connection refused" in caplog.text and "ValueError: boom" in caplog.text


def test_stop_during_a_run_lets_it_finish_and_starts_no_other() -> None:
    stop = {"asked": False}
    finished: list[int] = []

    def run() -> bool:
        stop["asked"] = True  # SIGTERM arrives mid-run
        finished.append(1)
        return True

    clock = Clock()
    last = watch(run, Schedule(interval=10), wait=clock.wait, stopping=lambda: stop["asked"])
    assert last == Tick(run=1, ok=True, failures=0, wait=None)
    assert finished == [1] and clock.waits == []


def test_a_stop_while_waiting_ends_the_loop() -> None:
    clock = Clock(stop_after=2)
    last = watch(lambda: True, Schedule(interval=10), wait=clock.wait,
                 stopping=lambda: clock.stopped)
    assert last is not None and last.run == 2


def test_stopped_before_the_first_run() -> None:
    assert watch(lambda: True, Schedule(interval=10), wait=lambda _: True,
                 stopping=lambda: True) is None


@given(failures=st.integers(min_value=0, max_value=10_000), rand=st.floats(0, 1, exclude_max=True),
       interval=st.floats(1, 86400), jitter=st.floats(0, 0.99), cap=st.floats(1, 86400))
def test_waits_stay_within_jitter_of_the_interval_and_the_cap(
        failures: int, rand: float, interval: float, jitter: float, cap: float) -> None:
    s = Schedule(interval=interval, jitter=jitter, backoff_max=cap)
    d = s.delay(failures, rand)
    top = max(interval, cap) if failures else interval
    assert interval * (1 - jitter) - 1e-6 <= d <= top * (1 + jitter) + 1e-6


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    with LocalRegistry("anonymous") as reg:
        pusher = Pusher(reg.url)
        pusher.push("demo/web", "1.0.1")
        pusher.push("demo/api", "1.0.0")
        path = tmp_path_factory.mktemp("watch") / "gitops"
        write_repo(path, reg.host)
        yield path, reg.host


@pytest.mark.integration
def test_watch_max_runs_polls_and_exits_zero(repo: tuple[Path, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--repo", str(repo[0]), "--dry-run", "--interval", "1s",
                 "--jitter", "0", "--max-runs", "2"]) == 0
    out = capsys.readouterr()
    assert out.out.count("web: 1.0.0 -> 1.0.1") == 2
    assert "run 1 ok; next run in 1s" in out.err and "run 2 ok; stopping" in out.err


@pytest.mark.integration
def test_failing_polls_back_off_and_max_runs_exits_with_the_last_result(
        repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.yaml"
    assert main(["watch", "--repo", str(repo[0]), "--config", str(missing), "--dry-run",
                 "--interval", "1s", "--jitter", "0", "--backoff-max", "2s",
                 "--max-runs", "3"]) == 1
    err = capsys.readouterr().err
    assert err.count("absent.yaml") == 3  # each failed run says why, in one line
    assert "run 1 failed; next run in 2s" in err  # the first failure already doubles the wait
    assert "run 3 failed (3 in a row); stopping" in err


@pytest.mark.integration
def test_bad_interval_is_a_usage_error(repo: tuple[Path, str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--repo", str(repo[0]), "--interval", "soon"]) == 2
    assert "--interval: invalid duration 'soon'" in capsys.readouterr().err


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_sleeping_process_with_exit_zero(repo: tuple[Path, str],
                                                             sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "promoter", "watch", "--repo", str(repo[0]), "--dry-run",
         "--interval", "1h"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy())
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the first run is over: it now sleeps for an hour
        assert "run 1 ok; next run in" in line, line + proc.stderr.read()
        start = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert time.monotonic() - start < 10
    assert f"{sig.name}: stopping after the current run" in err
    assert "web: 1.0.0 -> 1.0.1" in out


@pytest.mark.parametrize(("text", "address"), [
    ("0.0.0.0:8080", ("0.0.0.0", 8080)), (":8080", ("0.0.0.0", 8080)),
    ("[::]:9090", ("::", 9090)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("localhost:80", ("localhost", 80))])
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    from promoter.cli.watch_cmd import parse_listen

    assert parse_listen(text) == address


@pytest.mark.parametrize("text", ["8080", "host:", "h:99999", "[::1:80", "a:b:80", ""])
def test_bad_listen_addresses_name_the_option(text: str) -> None:
    from promoter.cli.watch_cmd import parse_listen

    with pytest.raises(InputError, match="^--listen: "):
        parse_listen(text)


@pytest.mark.integration
def test_watch_listen_serves_health_and_metrics_of_its_runs(repo: tuple[Path, str]) -> None:
    import http.client
    import json
    import re

    proc = subprocess.Popen(
        [sys.executable, "-m", "promoter", "--log-format", "json", "watch", "--repo",
         str(repo[0]), "--dry-run", "--interval", "1h", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"on http://127\.0\.0\.1:(\d+)$", line.strip())
        assert m, line
        while "run 1 ok" not in (line := proc.stderr.readline()):
            assert line, proc.stderr.read()
        conn = http.client.HTTPConnection("127.0.0.1", int(m[1]), timeout=10)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        health = json.loads(resp.read())
        assert (resp.status, health["status"], health["runs"], health["last_run_ok"],
                health["failures"]) == (200, "ok", 1, True, 0)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200 and resp.getheader("Content-Type", "").startswith("text/plain")
        conn.request("POST", "/metrics", body=b"")
        assert conn.getresponse().status == 405
        conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert 'promoter_runs_total{kind="poll",outcome="ok"} 1.0' in text
    assert "promoter_images_scanned_total 2.0" in text  # the demo repository's two images
    tags = re.search(rf'promoter_registry_requests_total{{host="{re.escape(repo[1])}",'
                     r'kind="tags",status="200"} (\d+)\.0', text)
    assert tags and int(tags[1]) >= 2, text
    assert "_created" not in text
    assert re.search(r'promoter_registry_request_duration_seconds_count\{host="[^"]+",'
                     r'kind="tags"\} [1-9]', text)
    assert 'promoter_last_run_timestamp_seconds{outcome="ok"}' in text


@pytest.mark.integration
def test_watch_listen_on_a_taken_port_is_one_line(repo: tuple[Path, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["watch", "--repo", str(repo[0]), "--dry-run", "--max-runs", "1",
                     "--listen", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"promoter: error: --listen 127.0.0.1:{port}: "), err


@pytest.mark.integration
def test_watch_over_a_fleet_polls_every_repository_each_run(
        repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second = tmp_path / "second"
    shutil.copytree(repo[0], second, symlinks=True)
    assert main(["watch", "--repo", str(repo[0]), "--repo", str(second), "--dry-run",
                 "--interval", "1s", "--jitter", "0", "--max-runs", "2"]) == 0
    out = capsys.readouterr()
    assert out.out.count(f"== {repo[0].name} ==") == 2 and out.out.count("== second ==") == 2
    assert out.out.count("web: 1.0.0 -> 1.0.1") == 4
    assert out.out.count("2 repositories: 2 ok, 0 failed") == 2
    assert "run 2 ok; stopping" in out.err
