"""Real Helm chart repositories for tests: an HTTP one and pushing charts into an OCI registry.

* :class:`HelmRepository` serves a directory over HTTP on 127.0.0.1 from a thread
  (``http.server``): ``index.yaml`` (generated from the charts added, as ``helm repo index``
  writes it: ``entries.<chart>[]`` with ``version``, ``created``, ``digest``, ``urls``) and
  the chart ``.tgz`` files. It answers ``If-None-Match`` with ``304`` when the ETag matches,
  sends ``Last-Modified``, can require Basic auth, and records each request's path and
  headers in :attr:`HelmRepository.requests`.
* :func:`push_oci_chart` pushes a chart to an OCI registry as Helm does: a config blob with
  media type ``application/vnd.cncf.helm.config.v1+json`` (the Chart.yaml as JSON), one layer
  ``application/vnd.cncf.helm.chart.content.v1.tar+gzip`` (the .tgz), an OCI image manifest
  at the tag, ``+`` in the version written ``_``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def chart_tgz(name: str, version: str) -> bytes:
    """A real, minimal chart archive: ``<name>/Chart.yaml`` and one template."""
    files = {
        f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode(),
        f"{name}/templates/cm.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                     b"  name: {{ .Release.Name }}\n",
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class HelmRepository:
    """See the module docstring. ``add(chart, version, created=...)`` adds a chart version and
    rewrites ``index.yaml`` (its ETag changes)."""

    def __init__(self, root: Path, *, auth: tuple[str, str] | None = None) -> None:
        self.root = root
        self.auth = auth
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._write()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/charts"

    def add(self, chart: str, version: str, *, created: str = "2026-01-01T00:00:00Z") -> None:
        data = chart_tgz(chart, version)
        file = f"{chart}-{version}.tgz"
        (self.root / file).write_bytes(data)
        self.entries.setdefault(chart, []).insert(0, {
            "apiVersion": "v2", "name": chart, "version": version, "created": created,
            "digest": hashlib.sha256(data).hexdigest(), "urls": [file]})
        self._write()

    def _write(self) -> None:
        index = {"apiVersion": "v1", "entries": self.entries,
                 "generated": "2026-01-01T00:00:00Z"}
        (self.root / "index.yaml").write_text(yaml.safe_dump(index, sort_keys=True))

    def __enter__(self) -> HelmRepository:
        repo = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                repo.requests.append((self.path, dict(self.headers.items())))
                if repo.auth is not None:
                    want = "Basic " + base64.b64encode(":".join(repo.auth).encode()).decode()
                    if self.headers.get("Authorization") != want:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                        self.end_headers()
                        return
                name = self.path.removeprefix("/charts/")
                file = repo.root / name
                if "/" in name or not file.is_file():
                    self.send_response(404)
                    self.end_headers()
                    return
                data = file.read_bytes()
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-yaml" if name.endswith(".yaml")
                                 else "application/gzip")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
                self.end_headers()
                self.wfile.write(data)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def index_requests(self) -> Iterator[dict[str, str]]:
        return (h for p, h in self.requests if p.endswith("/index.yaml"))


def _canonical(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def push_oci_chart(base_url: str, repo: str, chart: str, version: str,
                   client: httpx.Client | None = None) -> str:
    """Push ``chart`` ``version`` to ``<base_url>/v2/<repo>/<chart>`` as Helm does; return the
    manifest digest."""
    http = client or httpx.Client(timeout=30)
    name = f"{repo}/{chart}"
    config = _canonical({"apiVersion": "v2", "name": chart, "version": version})
    layer = chart_tgz(chart, version)
    descriptors = []
    for data, media in ((config, HELM_CONFIG), (layer, HELM_LAYER)):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = http.post(f"{base_url}/v2/{name}/blobs/uploads/")
        r.raise_for_status()
        location = httpx.URL(base_url).join(r.headers["Location"])
        http.put(location.copy_merge_params({"digest": digest}), content=data,
                 headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        descriptors.append({"mediaType": media, "digest": digest, "size": len(data)})
    manifest = _canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": descriptors[0], "layers": descriptors[1:],
                           "annotations": {"org.opencontainers.image.title": chart,
                                           "org.opencontainers.image.version": version}})
    tag = version.replace("+", "_")
    http.put(f"{base_url}/v2/{name}/manifests/{tag}", content=manifest,
             headers={"Content-Type": OCI_MANIFEST}).raise_for_status()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()
