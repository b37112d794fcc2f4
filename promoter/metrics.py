"""Prometheus metrics of ``promoter serve`` and ``promoter watch`` (``GET /metrics``).

One :class:`Metrics` per process owns its own :class:`prometheus_client.CollectorRegistry` (so
tests and two servers in one process never share counters). The names, all prefixed
``promoter_``::

    promoter_runs_total{kind,outcome}            polls (watch), jobs (serve: comment, promote,
                                                 poll); outcome ok / failed
    promoter_errors_total{where}                 run (watch), job (serve), image, registry
    promoter_images_scanned_total                images whose tags a poll looked at
    promoter_pull_requests_total{action}         opened, updated (and closed, commented...)
    promoter_registry_requests_total{host,kind,status}
                                                 every exchange on the wire: kind is ping, tags,
                                                 manifest_get, manifest_head, blob, token;
                                                 status the HTTP code or "error"
    promoter_registry_request_duration_seconds{host,kind}   a histogram of the same
    promoter_queue_depth, promoter_jobs_running  serve's queue, read at scrape time (with
                                                 --queue: messages waiting in Redis; 0 running)
    promoter_queue_reachable                     1 while the queue answers (always 1 in memory)
    promoter_deliveries_total{source,outcome}    webhooks: github, gitlab, registry, unknown;
                                                 queued (enqueued), duplicate (de-duplicated,
                                                 in Redis with --queue), ignored, rejected,
                                                 full, unavailable (Redis did not answer)
    promoter_last_run_timestamp_seconds{outcome} when the last ok / failed run ended
    promoter_build_info{version}                 always 1

The registry client knows nothing of this module: :meth:`Metrics.registry_request` has the shape
of :data:`promoter.registry.oci.RequestObserver` and is handed to the client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from promoter import __version__

# registry exchanges: a loopback answer takes a millisecond, a slow Hub token minutes
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# the classic text format every Prometheus (and agents) reads; generate_latest writes it
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter("promoter_runs", "Polls (watch) and jobs (serve) that ended.",
                            ["kind", "outcome"], registry=r)
        self.errors = Counter("promoter_errors", "Failures, by where they happened.",
                              ["where"], registry=r)
        self.images_scanned = Counter("promoter_images_scanned",
                                      "Images whose registry tags a poll looked at.",
                                      registry=r)
        self.pull_requests = Counter("promoter_pull_requests",
                                     "Pull/merge requests promoter acted on, by action.",
                                     ["action"], registry=r)
        self.registry_requests = Counter("promoter_registry_requests",
                                         "Registry exchanges on the wire.",
                                         ["host", "kind", "status"], registry=r)
        self.registry_latency = Histogram("promoter_registry_request_duration_seconds",
                                          "Time of one registry exchange.", ["host", "kind"],
                                          buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("promoter_queue_depth", "Jobs waiting or running (serve).",
                                 registry=r)
        self.jobs_running = Gauge("promoter_jobs_running", "Jobs running now (serve).",
                                  registry=r)
        self.queue_reachable = Gauge("promoter_queue_reachable",
                                     "1 while the job queue answers (serve).", registry=r)
        self.deliveries = Counter("promoter_deliveries", "Webhook deliveries received.",
                                  ["source", "outcome"], registry=r)
        self.last_run = Gauge("promoter_last_run_timestamp_seconds",
                              "When the last run with this outcome ended (Unix time).",
                              ["outcome"], registry=r)
        Gauge("promoter_build_info", "The running promoter.", ["version"],
              registry=r).labels(version=__version__).set(1)

    # -- what the edges report -------------------------------------------------------------
    def run(self, kind: str, ok: bool, *, where: str = "run") -> None:
        """A poll (``where="run"``) or a job (``where="job"``) ended."""
        outcome = "ok" if ok else "failed"
        self.runs.labels(kind=kind, outcome=outcome).inc()
        self.last_run.labels(outcome=outcome).set(self.clock())
        if not ok:
            self.errors.labels(where=where).inc()

    def poll_done(self, scanned: int, actions: Iterable[str], errors: int) -> None:
        """What one poll (or promotion) did: images it scanned, what it did to each pull
        request (``opened``, ``updated``, ``closed``, ``commented``; ``kept`` and the local
        forge's ``""`` are nothing done), and how many images failed."""
        self.images_scanned.inc(scanned)
        for action in actions:
            if action and action != "kept":
                self.pull_requests.labels(action=action).inc()
        if errors:
            self.errors.labels(where="image").inc(errors)

    def registry_request(self, host: str, kind: str, status: int | None, seconds: float) -> None:
        """One registry exchange (``status`` None: a transport error)."""
        self.registry_requests.labels(host=host, kind=kind,
                                      status=str(status) if status else "error").inc()
        self.registry_latency.labels(host=host, kind=kind).observe(seconds)
        if status is None:
            self.errors.labels(where="registry").inc()

    def delivery(self, source: str, outcome: str) -> None:
        self.deliveries.labels(source=source, outcome=outcome).inc()

    def watch_queue(self, depth: Callable[[], int], running: Callable[[], int],
                    reachable: Callable[[], bool] = lambda: True) -> None:
        """Read the queue's depth, running jobs and reachability at each scrape."""
        self.queue_depth.set_function(depth)
        self.jobs_running.set_function(running)
        self.queue_reachable.set_function(lambda: 1.0 if reachable() else 0.0)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
