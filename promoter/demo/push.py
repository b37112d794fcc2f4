"""Push tiny but real OCI images to a registry (one shared layer, one manifest per tag)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def _layer() -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        body = b"promoter demo\n"
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(body), 0, 0o644
        tar.addfile(info, io.BytesIO(body))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), _digest(tar_bytes)


class Pusher:
    """Pushes tags of tiny images over the distribution API (anonymous registries)."""

    def __init__(self, base_url: str, client: httpx.Client | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=30)
        self.layer, self.diff_id = _layer()
        self._uploaded: set[tuple[str, str]] = set()

    def _blob(self, repo: str, data: bytes) -> str:
        digest = _digest(data)
        if (repo, digest) in self._uploaded:
            return digest
        r = self.client.post(f"{self.base}/v2/{repo}/blobs/uploads/")
        r.raise_for_status()
        location = httpx.URL(self.base).join(r.headers["Location"])
        put = self.client.put(location.copy_merge_params({"digest": digest}), content=data,
                              headers={"Content-Type": "application/octet-stream"})
        put.raise_for_status()
        self._uploaded.add((repo, digest))
        return digest

    def push(self, repo: str, tag: str, *, created: str = "2026-01-01T00:00:00Z") -> str:
        """Push ``repo:tag``; return its manifest digest."""
        config = _canonical({
            "architecture": "amd64", "os": "linux", "created": created,
            "config": {"Labels": {"org.opencontainers.image.version": tag}},
            "rootfs": {"type": "layers", "diff_ids": [self.diff_id]},
        })
        manifest = _canonical({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self._blob(repo, config),
                       "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": self._blob(repo, self.layer),
                        "size": len(self.layer)}],
            "annotations": {"org.opencontainers.image.version": tag},
        })
        r = self.client.put(f"{self.base}/v2/{repo}/manifests/{tag}", content=manifest,
                            headers={"Content-Type": OCI_MANIFEST})
        r.raise_for_status()
        return _digest(manifest)
