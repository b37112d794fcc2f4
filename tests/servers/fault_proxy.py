#!/usr/bin/env python3
"""A small fault-injecting HTTP proxy in front of a registry (or any HTTP server), on 127.0.0.1.

Every request is forwarded unchanged unless a rule matches it. A rule has a fault, a path regex
(``re.search`` on the request path with query), a method (or any) and how many times it fires;
the first matching rule with fires left is used and spends one. Faults:

* ``status``   - answer ``status`` (500, 503, 429...) with ``headers`` (``Retry-After``...), no
  forwarding;
* ``slow``     - wait ``delay`` seconds, then forward (to hit the client's timeout);
* ``truncate`` - forward, then send the headers with the full ``Content-Length`` and only half
  the body, and close (the client sees the connection end mid-answer);
* ``garbage``  - forward, then send a body cut in half with a matching ``Content-Length``
  (valid HTTP, truncated JSON);
* ``drop``     - close the connection without any answer;
* ``gone``     - the server goes away: this and every later request get the connection closed
  and the listening socket is shut (connection refused from then on);
* ``dribble``  - forward, then send the whole answer (status line, headers, body) one byte
  every ``delay`` seconds, as a hostile or broken registry might: each read gets a byte well
  within any read timeout, so only an overall deadline ends it;
* ``rewrite``  - forward, then send ``rewrite(body)`` instead of the body, with ``headers``
  added (hostile contents in an answer that is valid HTTP).

Library use (tests)::

    with FaultProxy("http://127.0.0.1:5000") as proxy:
        proxy.add("status", path=r"/tags/list", status=500, times=2)
        ... talk to proxy.url ...
        proxy.hits   # [(method, path, fault or "pass", status)], in order
        proxy.max_inflight   # the most requests it handled at once

CLI: ``python fault_proxy.py --upstream URL [--port 0]`` (plain forwarding, for manual tests).
Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
FAULTS = ("status", "slow", "truncate", "garbage", "drop", "gone", "dribble", "rewrite")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailers", "transfer-encoding", "upgrade", "content-length"}


@dataclass
class Rule:
    fault: str
    path: str = ""
    method: str | None = None
    times: int = 1  # -1: forever
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    rewrite: Callable[[bytes], bytes] | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.times != 0 and (self.method is None or self.method == method)
                and re.search(self.path, path) is not None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def _forward(self, body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = self.proxy.upstream_netloc
        conn = http.client.HTTPConnection(*self.proxy.upstream, timeout=30)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _send(self, status: int, headers: list[tuple[str, str]], data: bytes,
              length: int | None = None) -> None:
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _dribble(self, status: int, headers: list[tuple[str, str]], data: bytes,
                 delay: float) -> None:
        lines = [f"HTTP/1.1 {status} Dribbling"] + [
            f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP
            and k.lower() not in ("date", "server")] + [f"Content-Length: {len(data)}", "", ""]
        raw = "\r\n".join(lines).encode() + (data if self.command != "HEAD" else b"")
        self.close_connection = True
        for i in range(len(raw)):
            try:
                self.wfile.write(raw[i:i + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up
            time.sleep(delay)

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self) -> None:
        self.proxy.enter()
        try:
            self._handle_one()
        finally:
            self.proxy.leave()

    def _handle_one(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        rule = self.proxy.take(self.command, self.path)
        fault = rule.fault if rule else "pass"
        if self.proxy.is_gone or fault == "gone":
            self.proxy.record(self.command, self.path, "gone", 0)
            self.proxy.go_away()
            self._abort()
            return
        if fault == "drop":
            self.proxy.record(self.command, self.path, fault, 0)
            self._abort()
            return
        if rule is not None and fault == "status":
            self.proxy.record(self.command, self.path, fault, rule.status)
            self._send(rule.status, list(rule.headers.items()) +
                       [("Content-Type", "application/json")],
                       b'{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}')
            return
        if rule is not None and fault == "slow":
            time.sleep(rule.delay)
        try:
            status, headers, data = self._forward(body)
        except OSError:
            self.proxy.record(self.command, self.path, "upstream-error", 502)
            self._send(502, [("Content-Type", "text/plain")], b"upstream error")
            return
        self.proxy.record(self.command, self.path, fault, status)
        if fault == "truncate" and self.command != "HEAD":
            self._send(status, headers, data[: len(data) // 2], length=len(data))
            self._abort()
            return
        if fault == "garbage":
            data = data[: len(data) // 2]
        if rule is not None and rule.rewrite is not None:
            data = rule.rewrite(data)
            headers = [*headers, *rule.headers.items()]
        if rule is not None and fault == "dribble":
            self._dribble(status, headers, data, rule.delay)
            return
        if self.command == "HEAD":
            length_header = next((v for k, v in headers if k.lower() == "content-length"), "0")
            self._send(status, headers, b"", length=int(length_header))
            return
        self._send(status, headers, data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815


class FaultProxy:
    """See the module docstring. ``url``/``host`` are the proxy's; start with ``with``."""

    def __init__(self, upstream: str, *, port: int = 0) -> None:
        u = urlsplit(upstream)
        if u.scheme != "http" or u.hostname is None:
            raise ValueError("upstream must be http://HOST:PORT")
        self.upstream = (u.hostname, u.port or 80)
        self.upstream_netloc = u.netloc
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.hits: list[tuple[str, str, str, int]] = []
        self.is_gone = False
        self.inflight = 0
        self.max_inflight = 0  # the most requests handled at once since clear()
        handler = type("BoundFaultHandler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer((LOOPBACK, port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def add(self, fault: str, *, path: str = "", method: str | None = None, times: int = 1,
            status: int = 500, headers: dict[str, str] | None = None,
            delay: float = 0.0, rewrite: Callable[[bytes], bytes] | None = None) -> Rule:
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        rule = Rule(fault, path, method, times, status, dict(headers or {}), delay, rewrite)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.hits.clear()
            self.max_inflight = self.inflight

    def enter(self) -> None:
        with self._lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def leave(self) -> None:
        with self._lock:
            self.inflight -= 1

    def take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    if rule.times > 0:
                        rule.times -= 1
                    return rule
        return None

    def record(self, method: str, path: str, fault: str, status: int) -> None:
        with self._lock:
            self.hits.append((method, path, fault, status))

    def go_away(self) -> None:
        with self._lock:
            if self.is_gone:
                return
            self.is_gone = True

        def down() -> None:
            self._server.shutdown()
            self._server.socket.close()  # refuse new connections from now on

        threading.Thread(target=down, daemon=True).start()

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self.is_gone:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    with FaultProxy(args.upstream, port=args.port) as proxy:
        print(f"fault proxy on {proxy.url} -> {args.upstream}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
