"""Serve real bare git repositories over smart HTTP with ``git http-backend`` (CGI), on 127.0.0.1.

Clone and push work exactly as against GitHub or GitLab, including token auth::

    with GitHttpServer(root, tokens={"s3cret"}) as srv:
        srv.create_repo("owner/repo")                # bare repo root/owner/repo.git, one commit
        url = srv.clone_url("owner/repo", token="s3cret")
        # http://x-access-token:s3cret@127.0.0.1:PORT/owner/repo.git

Auth is what the forges accept: HTTP basic with any user name and a known token as the password
(``x-access-token:TOKEN`` on GitHub, ``oauth2:TOKEN`` on GitLab) or ``Authorization: Bearer``.
Without credentials the answer is ``401`` with ``WWW-Authenticate: Basic``, so git asks for them;
a wrong token is also ``401``. With ``tokens=None`` everything is open (read and push).

The fake forges mount the same handler for paths ending in ``.git/...`` (see :func:`serve_git`),
so the API and git always agree about branches and SHAs.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

LOOPBACK = "127.0.0.1"
GIT_PATH = re.compile(r"^/(?P<repo>[^?]+?\.git)(?P<rest>/.*)?$")
_INIT_DATE = "2025-01-01T00:00:00Z"


def git(*args: str, cwd: Path | None = None, input: str | None = None,
        env: dict[str, str] | None = None) -> str:
    """Run git, raise with stderr on failure, return stdout stripped."""
    out = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, text=True,
                         env=env)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def resolve(bare: Path, ref: str) -> str | None:
    """The commit ``ref`` names in the bare repository, or None.

    Branch refs are read from the ref files (no process: the fakes resolve refs on every
    response); anything else goes through ``git rev-parse``.
    """
    if ref.startswith("refs/heads/"):
        loose = bare / ref
        if loose.is_file():
            value = loose.read_text().strip()
            if len(value) == 40:
                return value
        elif not loose.exists():
            packed = bare / "packed-refs"
            lines = packed.read_text().splitlines() if packed.is_file() else []
            return next((line[:40] for line in lines if line[41:] == ref), None)
    out = subprocess.run(["git", "--git-dir", str(bare), "rev-parse", "--verify", "--quiet",
                          f"{ref}^{{commit}}"], capture_output=True, text=True)
    return out.stdout.strip() or None


def init_bare(path: Path, *, branch: str = "main",
              files: dict[str, str] | None = None) -> str:
    """Create a bare repository at ``path`` with one commit of ``files`` on ``branch``.

    Returns the commit SHA. The commit is deterministic (fixed author and dates).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", f"--initial-branch={branch}", str(path))
    git("--git-dir", str(path), "config", "http.receivepack", "true")
    content = files if files is not None else {"README.md": "# test\n"}
    env = dict(os.environ, GIT_AUTHOR_NAME="Seed", GIT_AUTHOR_EMAIL="seed@example.com",
               GIT_COMMITTER_NAME="Seed", GIT_COMMITTER_EMAIL="seed@example.com",
               GIT_AUTHOR_DATE=_INIT_DATE, GIT_COMMITTER_DATE=_INIT_DATE,
               GIT_INDEX_FILE=str(path / "seed-index"))
    for name, text in content.items():
        blob = git("--git-dir", str(path), "hash-object", "-w", "--stdin", input=text)
        git("--git-dir", str(path), "update-index", "--add", "--cacheinfo",
            f"100644,{blob},{name}", env=env)
    tree = git("--git-dir", str(path), "write-tree", env=env)
    (path / "seed-index").unlink()
    sha = git("--git-dir", str(path), "commit-tree", tree, "-m", "Initial commit", env=env)
    git("--git-dir", str(path), "update-ref", f"refs/heads/{branch}", sha)
    return sha


def commit_to(path: Path, branch: str, files: dict[str, str], *, base: str | None = None,
              message: str = "Change files") -> str:
    """Commit ``files`` (path -> text) on top of ``base`` (default: ``branch``) in the bare
    repository ``path`` and point ``refs/heads/<branch>`` at it; returns the new SHA."""
    gd = ["--git-dir", str(path)]
    parent = git(*gd, "rev-parse", "--verify", f"{base or branch}^{{commit}}")
    index = path / f"index-{os.getpid()}-{threading.get_ident()}"
    env = dict(os.environ, GIT_INDEX_FILE=str(index))
    try:
        git(*gd, "read-tree", parent, env=env)
        for name, text in files.items():
            blob = git(*gd, "hash-object", "-w", "--stdin", input=text)
            git(*gd, "update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", env=env)
        tree = git(*gd, "write-tree", env=env)
    finally:
        index.unlink(missing_ok=True)
    sha = git(*gd, "commit-tree", tree, "-p", parent, "-m", message)
    git(*gd, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def merge_into(bare: Path, target: str, head: str, *, squash: bool, message: str) -> str | None:
    """Merge commit ``head`` into branch ``target`` of the bare repository (a merge commit, or
    one parent when ``squash``); the new commit, or None on a conflict."""
    base = resolve(bare, f"refs/heads/{target}") or ""
    merged = subprocess.run(["git", "--git-dir", str(bare), "merge-tree", "--write-tree", base,
                             head], capture_output=True, text=True)
    if merged.returncode != 0:
        return None
    parents = ["-p", base] + ([] if squash else ["-p", head])
    sha = git("--git-dir", str(bare), "commit-tree", merged.stdout.split()[0], *parents,
              "-m", message)
    git("--git-dir", str(bare), "update-ref", f"refs/heads/{target}", sha, base)
    return sha


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def token_of(handler: BaseHTTPRequestHandler) -> str | None:
    """The token in Basic (password) or Bearer credentials, or None."""
    auth = handler.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except ValueError:
            return None
        return decoded.partition(":")[2] or None
    return None


def _unauthorized(handler: BaseHTTPRequestHandler) -> None:
    body = b"Authentication required\n"
    handler.send_response(401)
    handler.send_header("WWW-Authenticate", 'Basic realm="git"')
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve_git(handler: BaseHTTPRequestHandler, root: Path,
              tokens: Collection[str] | None) -> bool:
    """Answer ``handler``'s request through ``git http-backend`` if its path is a git path.

    Returns False (and sends nothing) when the path is not ``/<...>.git/...``.
    """
    parts = urlsplit(handler.path)
    m = GIT_PATH.match(parts.path)
    if not m or not (root / m["repo"]).is_dir():
        return False
    if tokens is not None and token_of(handler) not in tokens:
        _unauthorized(handler)
        return True
    body = _read_body(handler)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": os.environ.get("HOME", str(root)),
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "REQUEST_METHOD": handler.command,
        "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": "git",
        "REMOTE_ADDR": LOOPBACK,
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"),
                        ("Git-Protocol", "GIT_PROTOCOL")):
        if handler.headers.get(header):
            env[var] = handler.headers[header]
    proc = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env)
    head, _, payload = proc.stdout.partition(b"\r\n\r\n")
    if not _:
        head, _, payload = proc.stdout.partition(b"\n\n")
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers.append((name, value.strip()))
    if proc.returncode != 0 and not proc.stdout:
        status, payload = 500, proc.stderr
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)
    return True


class GitHttpServer:
    """A threaded HTTP server on 127.0.0.1 serving every ``*.git`` directory under ``root``."""

    def __init__(self, root: Path, *, tokens: Collection[str] | None = None) -> None:
        self.root = root
        self.tokens = set(tokens) if tokens is not None else None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per response

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _go(self) -> None:
                if not serve_git(self, server.root, server.tokens):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            do_GET = do_POST = _go

        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def create_repo(self, name: str, *, branch: str = "main",
                    files: dict[str, str] | None = None) -> str:
        """A bare repository ``root/<name>.git`` with one commit; returns its SHA."""
        return init_bare(self.root / f"{name}.git", branch=branch, files=files)

    def clone_url(self, name: str, *, token: str | None = None,
                  user: str = "x-access-token") -> str:
        creds = f"{quote(user, safe='')}:{quote(token, safe='')}@" if token else ""
        return f"http://{creds}{LOOPBACK}:{self._httpd.server_address[1]}/{name}.git"

    def start(self) -> GitHttpServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------
# The common part of the fake forges: one HTTP server for the API and for git.

Json = Any
Result = tuple[int, Json] | tuple[int, Json, dict[str, str]]


@dataclass(frozen=True)
class Recorded:
    """One response a fake forge sent; ``op`` names the operation (GitHub's operationId)."""

    op: str
    method: str
    path: str
    status: int
    body: Json
    injected: bool = False
    request: Json = None  # the JSON body the client sent


@dataclass
class _Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Json
    times: int
    headers: dict[str, str]


class Abort(Exception):
    """Raised inside a handler to answer at once (for example 404 for an invisible project)."""

    def __init__(self, status: int, body: Json) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass
class Request:
    login: str | None  # who the token belongs to (None: unknown token or a JWT)
    token: str | None
    body: Json
    query: dict[str, str]
    headers: Message


Handler = Callable[..., Result]
Route = tuple[str, re.Pattern[str], str, Handler]


class FakeForgeServer:
    """A threaded HTTP server on 127.0.0.1: ``*.git`` paths go to ``git http-backend``, the rest
    to :meth:`dispatch`, which records every request and response, applies injected failures,
    authenticates, routes, and answers ``501`` (listed in :attr:`unknown`) for what it does not
    know. Subclasses provide :meth:`routes`, :meth:`authenticate`, :meth:`error_body` and
    :meth:`api_path`."""

    name = "fake forge"
    extra_headers: dict[str, str] = {}
    read_only_message = "403 Forbidden"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()
        self.tokens: dict[str, str] = {}  # token -> login
        self.read_only: set[str] = set()  # tokens that may only GET (403 otherwise)
        self.recorded: list[Recorded] = []
        self.unknown: list[str] = []
        self.requests: list[tuple[str, str, Json]] = []  # (method, path, body) as received
        self._failures: list[_Failure] = []
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._httpd.server_address[1]}"
        self._routes: list[Route] = []

    # -- for subclasses ------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, str, Handler]]:
        raise NotImplementedError

    def authenticate(self, headers: Message) -> tuple[str | None, str | None]:
        """(login, token) from the request headers; (None, None) when absent or unknown."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Json:
        raise NotImplementedError

    def api_path(self, path: str) -> str | None:
        """The path below the API root, or None when ``path`` is not an API path."""
        return path

    def anonymous_ok(self, op: str) -> bool:
        """Whether ``op`` handles a request without a known token itself (e.g. a JWT)."""
        return False

    # -- test API ------------------------------------------------------------------------------
    def fail_next(self, method: str, path: str, *, status: int = 500,
                  body: Json = None, times: int = 1,
                  headers: dict[str, str] | None = None) -> None:
        """The next ``times`` requests matching ``method`` and regex ``path`` (searched in the
        API path) answer ``status`` with ``body`` (a forge-shaped error by default) and
        ``headers`` (e.g. ``{"Retry-After": "1"}`` with a 429)."""
        message = "Server Error" if status >= 500 else "Validation Failed"
        self._failures.append(_Failure(method, re.compile(path), status,
                                       self.error_body(status, message) if body is None
                                       else body, times, dict(headers or {})))

    def start(self) -> FakeForgeServer:
        self._routes = [(m, re.compile(rx), op, fn) for m, rx, op, fn in self.routes()]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- plumbing ------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per response

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _go(self) -> None:
                if serve_git(self, fake.root, set(fake.tokens)):
                    return
                raw = _read_body(self)
                status, payload, headers = fake.dispatch(self.command, self.path, raw,
                                                         self.headers)
                out = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                for k, v in {**fake.extra_headers, **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _go

        return H

    def dispatch(self, method: str, raw_path: str, raw: bytes, headers: Message
                 ) -> tuple[int, Json, dict[str, str]]:
        parts = urlsplit(raw_path)
        path = self.api_path(parts.path)
        with self.lock:
            self.requests.append((method, parts.path, raw))
            if path is None:
                self.unknown.append(f"{method} {raw_path}")
                return 404, self.error_body(404, "Not Found"), {}
            try:
                body: Json = json.loads(raw) if raw else None
            except ValueError:
                return 400, self.error_body(400, "Problems parsing JSON"), {}
            for f in self._failures:
                if f.times > 0 and f.method == method and f.path.search(path):
                    f.times -= 1
                    self.recorded.append(Recorded("injected", method, path, f.status, f.body,
                                                  injected=True, request=body))
                    return f.status, f.body, f.headers
            login, token = self.authenticate(headers)
            for m, rx, op, fn in self._routes:
                match = rx.match(path)
                if m != method or not match:
                    continue
                if login is None and not (token and self.anonymous_ok(op)):
                    return 401, self.error_body(401, "Bad credentials"), {}
                if token in self.read_only and method != "GET":
                    payload = self.error_body(403, self.read_only_message)
                    self.recorded.append(Recorded(op, method, path, 403, payload, request=body))
                    return 403, payload, {}
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                try:
                    result = fn(Request(login, token, body, query, headers), **params)
                except Abort as abort:
                    result = (abort.status, abort.body)
                status, payload = result[0], result[1]
                extra = result[2] if len(result) == 3 else {}
                self.recorded.append(Recorded(op, method, path, status, payload, request=body))
                return status, payload, extra
            self.unknown.append(f"{method} {raw_path}")
            return 501, self.error_body(501, f"{self.name}: {method} {path} is not "
                                             "implemented"), {}

    def paged(self, req: Request, path: str, items: list[Json], *, default: int = 30
              ) -> tuple[int, Json, dict[str, str]]:
        """One page of ``items`` with GitHub's ``Link`` header and GitLab's ``X-*`` headers."""
        per_page = max(1, min(100, int(req.query.get("per_page", default))))
        page = max(1, int(req.query.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        others = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(req.query.items())
                          if k != "page")
        link = [f'<{self.url}{path}?{others}&page={p}>; rel="{rel}"'
                for p, rel in ((page + 1, "next"), (1, "first"), (last, "last"))
                if rel != "next" or page < last]
        headers = {"Link": ", ".join(link), "X-Page": str(page), "X-Per-Page": str(per_page),
                   "X-Total": str(len(items)), "X-Total-Pages": str(last),
                   "X-Next-Page": str(page + 1) if page < last else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else ""}
        return 200, chunk, headers
