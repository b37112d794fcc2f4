"""Registry answers kept across runs, revalidated with the HTTP validators registries send.

Two kinds of answer are worth keeping:

* content-addressed ones (``manifests/sha256:…``, ``blobs/sha256:…``): what such a URL
  names never changes, so a kept answer is used without asking at all (the config blob that
  gives an image's build time, the platform manifest of an index);
* answers with an ``ETag`` or ``Last-Modified`` (a manifest by tag; a tag list, where the
  registry sends one): the next run asks with ``If-None-Match`` / ``If-Modified-Since`` and a
  ``304`` means the kept body holds.

:class:`MemoryCache` keeps them for the life of the process (``watch``, ``serve``);
:class:`DiskCache` in a directory (``PROMOTER_CACHE_DIR``), for runs from cron or CI. Keys are
URLs, never credentials; a registry still authorises every request that reaches it, so a
``304`` only confirms what that caller may read. Bodies are small JSON documents (a tag page,
a manifest, an image config); anything larger than :data:`MAX_BODY` is not kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

__all__ = ["MAX_BODY", "Cached", "DiskCache", "HttpCache", "MemoryCache", "immutable"]

MAX_BODY = 4 * 2**20
KEPT_HEADERS = ("content-type", "docker-content-digest", "link", "etag", "last-modified")
_DIGEST_PATH = re.compile(r"/(?:manifests|blobs)/sha256:[0-9a-f]{64}$")


def immutable(path: str) -> bool:
    """Whether the registry URL path names its content by digest (never changes)."""
    return _DIGEST_PATH.search(path.split("?", 1)[0]) is not None


@dataclass(frozen=True, slots=True)
class Cached:
    """A kept ``200`` answer: its body and the headers the client reads."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def validators(self) -> dict[str, str]:
        """The conditional-request headers this answer allows (empty: none)."""
        out = {}
        if "etag" in self.headers:
            out["If-None-Match"] = self.headers["etag"]
        if "last-modified" in self.headers:
            out["If-Modified-Since"] = self.headers["last-modified"]
        return out

    @staticmethod
    def keep(headers: dict[str, str], body: bytes) -> Cached | None:
        """The answer to keep from a response's (lower-cased) headers, or None."""
        if len(body) > MAX_BODY:
            return None
        return Cached(body=body, headers={k: v for k, v in headers.items()
                                          if k in KEPT_HEADERS})


class HttpCache(Protocol):
    def get(self, url: str) -> Cached | None: ...

    def put(self, url: str, answer: Cached) -> None: ...


class MemoryCache:
    """Kept answers in this process (thread-safe), at most ``size`` of them."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: dict[str, Cached] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> Cached | None:
        with self._lock:
            return self._entries.get(url)

    def put(self, url: str, answer: Cached) -> None:
        with self._lock:
            self._entries.pop(url, None)
            self._entries[url] = answer
            while len(self._entries) > self._size:
                self._entries.pop(next(iter(self._entries)))


class DiskCache:
    """Kept answers as one small JSON file per URL under ``root`` (made ``0700``), written
    atomically; a file that does not read back is ignored (and replaced by the next answer)."""

    VERSION = 1

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, url: str) -> Path:
        h = hashlib.sha256(url.encode()).hexdigest()
        return self.root / h[:2] / f"{h}.json"

    def get(self, url: str) -> Cached | None:
        try:
            doc = json.loads(self._path(url).read_bytes())
            if doc.get("v") != self.VERSION or doc.get("url") != url:
                return None
            return Cached(body=base64.b64decode(doc["body"]),
                          headers={str(k): str(v) for k, v in doc["headers"].items()})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log.debug("registry cache: unreadable entry for %s: %s", url, e)
            return None

    def put(self, url: str, answer: Cached) -> None:
        path = self._path(url)
        doc = {"v": self.VERSION, "url": url, "headers": answer.headers,
               "body": base64.b64encode(answer.body).decode("ascii")}
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(doc, f)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as e:  # a full or read-only disk costs requests, never the run
            log.warning("registry cache: cannot write %s: %s", path.parent, e.strerror)
