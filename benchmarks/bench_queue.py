"""``serve --queue`` with 1, 2 and 4 worker processes against the in-process Dispatcher, on a
real ``redis-server`` on loopback::

    python benchmarks/bench_queue.py                    # 2,000 deliveries over 20 repositories
    python benchmarks/bench_queue.py --deliveries 5000 --job-ms 10 --json out.json

Every run gets the same 2,000 signed GitHub ``push`` deliveries (one per job, over ``--repos``
repositories, 10% sent a second time with the same ``X-GitHub-Delivery``) from ``--clients``
keep-alive connections to a real :class:`~promoter.serve.Receiver` over HTTP:

- ``dispatcher``: the default single-process mode, jobs on ``--threads`` threads of this
  process (:class:`~promoter.serve.Dispatcher`). The baseline of every ratio.
- ``queue xN``: the receiver enqueues into Redis (:class:`~promoter.queue.RedisQueue`) and N
  worker processes (``tests/queue/hook_worker.py``: :func:`promoter.queue.work`, the real
  broker, locks and retries, ``--threads`` each) run the jobs.
- ``queue x2, one SIGKILLed``: as ``queue x2``, and one worker is killed when a third of the
  jobs ended; its jobs must complete on the other.

A job sleeps ``--job-ms`` and records when it ended. Figures: jobs/s (first delivery sent to
last job ended), p50/p99 latency from a delivery's send to its job's end, and proofs: every
delivery ran exactly once (the kill run: at least once, and how many ran twice), no replay
ran, jobs of one repository never overlapped. Exit status 1 if a proof fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.benchlib import ratio, write_json  # noqa: E402
from promoter.queue import RedisQueue, Tuning, wait_idle  # noqa: E402
from promoter.serve import Dispatcher, Job, JobSink, Receiver, Secrets, start  # noqa: E402
from promoter.serve import github_signature as sign  # noqa: E402
from tests.queue.hook_worker import RUNS  # noqa: E402
from tests.servers.redis_server import LocalRedis  # noqa: E402
from tests.servers.registry import stop_process  # noqa: E402

SECRET = "bench-queue-secret"
Item = tuple[str, str, bytes]  # delivery, repo, body


def deliveries(n: int, repos: int, replay: float, seed: int = 11) -> tuple[list[Item], int]:
    rnd = random.Random(seed)
    out: list[Item] = []
    for i in range(n):
        repo = f"acme/gitops-{i % repos}"
        body = json.dumps({"ref": "refs/heads/main", "after": f"{i:040x}",
                           "repository": {"full_name": repo}}).encode()
        out.append((str(uuid.UUID(int=rnd.getrandbits(128))), repo, body))
    rnd.shuffle(out)
    replays = rnd.sample(out, int(n * replay))
    return out + replays, len(replays)


def send_all(port: int, items: list[Item], clients: int) -> tuple[dict[str, float], Counter[int]]:
    """Send every item; (delivery -> when its first send started, statuses)."""
    lock = threading.Lock()
    sent: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    it = iter(items)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                break
            delivery, _, body = item
            t0 = time.time()
            conn.request("POST", "/webhooks/github", body=body, headers={
                "Content-Type": "application/json", "X-GitHub-Event": "push",
                "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, body)})
            resp = conn.getresponse()
            resp.read()
            with lock:
                sent.setdefault(delivery, t0)
                statuses[resp.status] += 1
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sent, statuses


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def figures(name: str, sent: dict[str, float], statuses: Counter[int],
            done: list[dict[str, Any]], unique: int, replays: int, *,
            killed: bool = False) -> dict[str, Any]:
    runs = Counter(r["delivery"] for r in done)
    first_end: dict[str, float] = {}
    for r in done:
        first_end[r["delivery"]] = min(first_end.get(r["delivery"], r["end"]), r["end"])
    lat = [first_end[d] - sent[d] for d in first_end if d in sent]
    overlap = False
    by_repo: dict[str, list[tuple[float, float]]] = {}
    for r in done:
        by_repo.setdefault(r["repo"], []).append((r["start"], r["end"]))
    for spans in by_repo.values():
        spans.sort()
        overlap |= any(e > s for (_, e), (s, _) in zip(spans, spans[1:], strict=False))
    seconds = max(first_end.values()) - min(sent.values())
    proofs = {
        "every delivery ran": set(runs) == set(sent) and len(runs) == unique,
        "exactly once": all(v == 1 for v in runs.values()) or killed,
        "no replay ran, nothing 5xx": statuses == Counter({202: unique, 200: replays}),
        "jobs of one repository never overlapped": not overlap,
    }
    return {"name": name, "jobs": len(runs), "seconds": seconds, "jobs_per_s": len(runs) / seconds,
            "p50_ms": pct(lat, 50) * 1000, "p99_ms": pct(lat, 99) * 1000,
            "ran_twice": sum(1 for v in runs.values() if v > 1),
            "failed_proofs": [k for k, ok in proofs.items() if not ok]}


class Recorder:
    """The baseline's job: what the hook worker does, into a list of this process."""

    def __init__(self, job_s: float) -> None:
        self.job_s = job_s
        self.done: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, job: Job) -> None:
        start = time.time()
        time.sleep(self.job_s)
        with self.lock:
            self.done.append({"delivery": job.delivery, "repo": job.repo, "start": start,
                              "end": time.time()})


def serve_and_send(sink: JobSink, deliveries_: Any, items: list[Item], clients: int
                   ) -> tuple[dict[str, float], Counter[int], Callable[[], bool]]:
    running = start(Receiver(secrets=Secrets(github=(SECRET,)), dispatcher=sink,
                             deliveries=deliveries_))
    sent, statuses = send_all(running.server.server_address[1], items, clients)
    return sent, statuses, lambda: running.stop(timeout=300)


def workers(url: str, n: int, threads: int, job_s: float) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.queue.hook_worker", url,
                               "--concurrency", str(threads), "--job-seconds", str(job_s)],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return procs


def queue_run(redis_url: str, n: int, args: argparse.Namespace, items: list[Item],
              unique: int, replays: int, *, kill: bool = False) -> dict[str, Any]:
    import redis

    conn = redis.Redis.from_url(redis_url)
    conn.flushall()
    procs = workers(redis_url, n, args.threads, args.job_ms / 1000)
    try:
        q = RedisQueue(redis_url, tuning=Tuning(), max_queued=10 * len(items))
        if kill:
            def killer() -> None:
                while conn.llen(RUNS) < unique // 3:
                    time.sleep(0.01)
                procs[0].send_signal(signal.SIGKILL)
                procs[0].wait()

            t = threading.Thread(target=killer, daemon=True)
            t.start()
        sent, statuses, stop = serve_and_send(q, q.deliveries, items, args.clients)
        deadline = time.monotonic() + 300
        while (len({json.loads(r)["delivery"] for r in conn.lrange(RUNS, 0, -1)}) < unique
               and time.monotonic() < deadline):
            time.sleep(0.02)
        wait_idle(redis_url, timeout=60)
        stop()
        done = [json.loads(r) for r in conn.lrange(RUNS, 0, -1)]
    finally:
        for p in procs:
            stop_process(p, timeout=30)
    name = f"queue x{n}" + (", one SIGKILLed" if kill else "")
    return figures(name, sent, statuses, done, unique, replays, killed=kill)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--deliveries", type=int, default=2000)
    ap.add_argument("--repos", type=int, default=20)
    ap.add_argument("--replay", type=float, default=0.10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--threads", type=int, default=4, help="job threads per process")
    ap.add_argument("--job-ms", type=float, default=5.0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    items, replays = deliveries(args.deliveries, args.repos, args.replay)
    unique = args.deliveries

    rec = Recorder(args.job_ms / 1000)
    d = Dispatcher(rec, workers=args.threads, max_queued=10 * len(items))
    from promoter.serve import Deliveries

    sent, statuses, stop = serve_and_send(d, Deliveries(), items, args.clients)
    stop()
    results = [figures("dispatcher", sent, statuses, rec.done, unique, replays)]
    with LocalRedis() as r:
        for n in (1, 2, 4):
            results.append(queue_run(r.url, n, args, items, unique, replays))
        results.append(queue_run(r.url, 2, args, items, unique, replays, kill=True))

    base = results[0]
    print(f"{unique} deliveries (+{replays} replays) over {args.repos} repositories, "
          f"{args.clients} clients, {args.threads} job threads per process, "
          f"job {args.job_ms} ms")
    failed = []
    for res in results:
        verdict = "ok" if not res["failed_proofs"] else "FAILED: " + ", ".join(
            res["failed_proofs"])
        res["ratio_jobs_per_s"] = ratio(res["jobs_per_s"], base["jobs_per_s"])
        res["ratio_p99"] = ratio(res["p99_ms"], base["p99_ms"])
        print(f"  {res['name']:24} {res['jobs_per_s']:7.0f} jobs/s (x{res['ratio_jobs_per_s']:.2f})"
              f"  p50 {res['p50_ms']:7.1f} ms  p99 {res['p99_ms']:7.1f} ms "
              f"(x{res['ratio_p99']:.2f})  ran twice {res['ran_twice']}"
              f"  {verdict}")
        failed += res["failed_proofs"]
    if args.json:
        write_json(args.json, {"deliveries": unique, "replays": replays, "repos": args.repos,
                               "job_ms": args.job_ms, "threads": args.threads,
                               "runs": results})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
