"""A fake Argo CD API server: ``GET /api/v1/applications/{name}`` on a stdlib HTTP server thread.

It answers what promoter reads of a real one, in Argo CD's JSON shapes (``v1alpha1.Application``;
errors as ``{"error", "code", "message"}`` gRPC-gateway bodies):

* a bearer token is required (``Authorization: Bearer <token>``): none or another one is 401;
* an unknown Application is 404 (code 5), one outside the ``?project=`` asked for 403 (code 7);
* :meth:`FakeArgoCD.put` sets an Application's sync status and revision(s), health, the last
  sync operation (phase, revision, ``finishedAt``) and ``reconciledAt``;
* :meth:`FakeArgoCD.fail_next` answers the next requests with a status (502, 503, ...);
* with ``tls`` (an ``ssl.SSLContext`` holding a certificate) it speaks HTTPS.

``requests`` records (path with query, whether the token was right) for assertions.
"""

from __future__ import annotations

import json
import ssl
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LOOPBACK = "127.0.0.1"
PREFIX = "/api/v1/applications/"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


class _Handler(BaseHTTPRequestHandler):
    server_version = "argocd-server-fake"
    fake: FakeArgoCD

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: int, message: str) -> None:
        self._send(status, {"error": message, "code": code, "message": message})

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        fake = self.fake
        url = urlsplit(self.path)
        ok = self.headers.get("Authorization") == f"Bearer {fake.token}"
        with fake.lock:
            fake.requests.append((self.path, ok))
            failing = fake.failures.pop(0) if fake.failures else None
        if failing is not None:
            self._error(failing, 14, "upstream connect error")
            return
        if not ok:
            self._error(401, 16, "invalid session: token signature is invalid")
            return
        if not url.path.startswith(PREFIX) or "/" in url.path[len(PREFIX):]:
            self._error(404, 5, "Not Found")
            return
        name = unquote(url.path[len(PREFIX):])
        with fake.lock:
            app = fake.apps.get(name)
        if app is None:
            self._error(404, 5, f'applications.argoproj.io "{name}" not found')
            return
        project = parse_qs(url.query).get("project")
        if project and app["spec"]["project"] not in project:
            self._error(403, 7, "permission denied")
            return
        self._send(200, app)


class FakeArgoCD:
    """See the module docstring. Start with ``with``; ``url`` is the server's address."""

    def __init__(self, *, token: str = "argocd-fake-token", tls: ssl.SSLContext | None = None
                 ) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.apps: dict[str, dict[str, Any]] = {}
        self.failures: list[int] = []
        self.requests: list[tuple[str, bool]] = []
        handler = type("BoundArgoCDHandler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((LOOPBACK, 0), handler)
        self._server.daemon_threads = True
        self._tls = tls is not None
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{'localhost' if self._tls else LOOPBACK}" \
               f":{self.port}"

    def put(self, name: str, *, revision: str | list[str], sync: str = "Synced",
            health: str = "Healthy", finished_at: datetime | None = None,
            phase: str = "Succeeded", synced: str | list[str] | None = None,
            message: str = "successfully synced (all tasks run)", project: str = "default",
            reconciled_at: datetime | None = None,
            health_since: datetime | None = None) -> dict[str, Any]:
        """Set Application ``name``: ``revision`` (a list: a multi-source one) is what it is
        synced to; ``synced`` what its last operation synced to (default: ``revision``),
        ending ``finished_at`` (None: no operation recorded)."""
        many = isinstance(revision, list)
        sync_doc: dict[str, Any] = {"status": sync,
                                    ("revisions" if many else "revision"): revision}
        op_rev = revision if synced is None else synced
        status: dict[str, Any] = {
            "sync": sync_doc,
            "health": {"status": health, **({"lastTransitionTime": _iso(health_since)}
                                            if health_since else {})},
            "reconciledAt": _iso(reconciled_at or datetime.now(UTC)),
            "resources": [{"kind": "Deployment", "name": "web", "status": sync,
                           "health": {"status": health}}],
        }
        if finished_at is not None:
            key = "revisions" if isinstance(op_rev, list) else "revision"
            status["operationState"] = {
                "operation": {"sync": {key: op_rev}, "initiatedBy": {"automated": True}},
                "phase": phase, "message": message,
                "syncResult": {key: op_rev, "resources": []},
                "startedAt": _iso(finished_at), "finishedAt": _iso(finished_at)}
        app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": name, "namespace": "argocd"},
               "spec": {"project": project, "destination": {"namespace": name},
                        "source": {"repoURL": "https://git.invalid/gitops.git",
                                   "path": f"overlays/{name}", "targetRevision": "main"}},
               "status": status}
        with self.lock:
            self.apps[name] = app
        return app

    def fail_next(self, status: int, *, times: int = 1) -> None:
        with self.lock:
            self.failures.extend([status] * times)

    def start(self) -> FakeArgoCD:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeArgoCD:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
