"""A ``promoter worker`` whose job only records itself in Redis: the real queue machinery of
:func:`promoter.queue.work` (broker, repository locks, retries, redelivery) with a job whose
runs are observable and whose length is chosen, for the kill and ordering tests and the
benchmark::

    python -m tests.queue.hook_worker URL --concurrency 2 --job-seconds 0.5

Every run appends ``{"delivery", "repo", "pid", "start", "end"}`` (JSON) to the list
``test:runs`` when it ends, and ``delivery pid`` to ``test:started`` when it starts. A delivery
id starting with ``fail-`` raises a retryable error the first two times it runs, ``bad-`` an
input error every time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import redis

from promoter.errors import InputError, RetryableError
from promoter.queue import Tuning, work
from promoter.webhooks import Job

STARTED, RUNS, ATTEMPTS = "test:started", "test:runs", "test:attempts"


def recorder(url: str, seconds: float) -> Callable[[Job], None]:
    conn = redis.Redis.from_url(url)
    pid = os.getpid()

    def run(job: Job) -> None:
        start = time.time()
        conn.rpush(STARTED, f"{job.delivery} {pid}")
        attempts = int(conn.hincrby(ATTEMPTS, job.delivery, 1))
        if job.delivery.startswith("bad-"):
            raise InputError(f"{job.delivery}: bad input")
        if job.delivery.startswith("fail-") and attempts <= 2:
            raise RetryableError(f"{job.delivery}: the forge did not answer (attempt {attempts})")
        time.sleep(seconds)
        conn.rpush(RUNS, json.dumps({"delivery": job.delivery, "repo": job.repo, "pid": pid,
                                     "start": start, "end": time.time()}))

    return run


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--job-seconds", type=float, default=0.0)
    p.add_argument("--heartbeat-ms", type=int, default=1500)
    p.add_argument("--lease-ms", type=int, default=1500)
    args = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tuning = Tuning(heartbeat_timeout_ms=args.heartbeat_ms, lease_ms=args.lease_ms,
                    busy_delay_ms=50, max_retries=3, min_backoff_ms=100, poll_ms=100)
    run = recorder(args.url, args.job_seconds)
    work(args.url, run, stop=stop, concurrency=args.concurrency,
         tuning=tuning, ready=lambda: print("ready", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
