"""An in-memory :class:`~promoter.registry.Registry` for flow tests: stateful, no I/O.

Push tags (with a digest, a build time, platforms), delete them, make a repository fail; the
registry answers like the real one, with the same error messages, and records every call in
:attr:`MemoryRegistry.calls` so a test can assert what was asked::

    reg = MemoryRegistry()
    reg.push("ghcr.io/acme/app:1.2.3", created=datetime(2024, 1, 1, tzinfo=UTC))
    reg.fail("ghcr.io/acme/broken", "ghcr.io/acme/broken: ghcr.io answered 500 (after 4 attempts)")
    reg.sign("ghcr.io/acme/app:1.2.3", Signature(payload=..., signature=...))
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from promoter.errors import RegistryError, RegistryRefused
from promoter.refs import ImageRef
from promoter.registry import Enough, ManifestInfo
from promoter.signing import Signature

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _ref(image: ImageRef | str) -> ImageRef:
    return image if isinstance(image, ImageRef) else ImageRef.parse(image)


class MemoryRegistry:
    """See the module docstring. Tags are listed in push order."""

    def __init__(self) -> None:
        self._repos: dict[str, dict[str, ManifestInfo]] = {}
        self._failures: dict[str, str] = {}
        self._signatures: dict[tuple[str, str], list[Signature]] = {}  # (name, digest)
        # ("list_tags" | "manifest" | "prepare" | "signatures", ref)
        self.calls: list[tuple[str, str]] = []

    # -- state --------------------------------------------------------------------------
    def push(self, image: ImageRef | str, *, digest: str | None = None,
             created: datetime | None = None, platforms: Sequence[str] = ()) -> ManifestInfo:
        """Put ``image``'s tag (default ``latest``); the digest defaults to one derived from
        the name, tag and build time, so a re-push with another time moves it."""
        ref = _ref(image)
        tag = ref.tag or "latest"
        if digest is None:
            seed = f"{ref.name}:{tag}:{created.isoformat() if created else ''}"
            digest = "sha256:" + hashlib.sha256(seed.encode()).hexdigest()
        info = ManifestInfo(digest=digest, media_type=OCI_INDEX if platforms else OCI_MANIFEST,
                            created=created, platforms=tuple(platforms))
        tags = self._repos.setdefault(ref.name, {})
        tags.pop(tag, None)
        tags[tag] = info
        return info

    def delete(self, image: ImageRef | str) -> None:
        """Remove a tag, or the whole repository when no tag is given."""
        ref = _ref(image)
        if ref.tag is None:
            self._repos.pop(ref.name, None)
        else:
            self._repos.get(ref.name, {}).pop(ref.tag, None)

    def sign(self, image: ImageRef | str, *signatures: Signature) -> str:
        """Store signatures for ``image``'s manifest (its digest, or its tag's digest as pushed);
        returns that digest."""
        ref = _ref(image)
        digest = ref.digest
        if digest is None:
            tag = ref.tag or "latest"
            info = self._repos.get(ref.name, {}).get(tag)
            if info is None:
                raise KeyError(f"sign {ref.name}:{tag}: push it first")
            digest = info.digest
        self._signatures.setdefault((ref.name, digest), []).extend(signatures)
        return digest

    def fail(self, image: ImageRef | str, message: str | None) -> None:
        """Make every call for this repository raise ``RegistryError(message)``; None heals."""
        name = _ref(image).name
        if message is None:
            self._failures.pop(name, None)
        else:
            self._failures[name] = message

    # -- the Registry protocol ------------------------------------------------------------
    def _repo(self, image: ImageRef) -> dict[str, ManifestInfo]:
        if image.name in self._failures:
            raise RegistryError(self._failures[image.name])
        tags = self._repos.get(image.name)
        if tags is None:
            raise RegistryRefused(f"repository not found: {image.name} (NAME_UNKNOWN)")
        return tags

    async def list_tags(self, image: ImageRef) -> tuple[str, ...]:
        self.calls.append(("list_tags", image.name))
        return tuple(self._repo(image))

    async def manifest(self, image: ImageRef, *, created: bool = False,
                       platform: str | None = None) -> ManifestInfo:
        self.calls.append(("manifest", str(image)))
        tags = self._repo(image)
        if image.digest:
            for info in tags.values():
                if info.digest == image.digest:
                    return self._answer(info, created, platform, str(image))
            raise RegistryRefused(f"not found: {image.name}@{image.digest} (MANIFEST_UNKNOWN)")
        tag = image.tag or "latest"
        if tag not in tags:
            raise RegistryRefused(f"not found: {image.name}:{tag} (MANIFEST_UNKNOWN)")
        return self._answer(tags[tag], created, platform, f"{image.name}:{tag}")

    @staticmethod
    def _answer(info: ManifestInfo, created: bool, platform: str | None,
                what: str) -> ManifestInfo:
        if platform is not None and info.platforms and platform not in info.platforms:
            raise RegistryError(f"{what}: no {platform} manifest in the index (has "
                                f"{', '.join(info.platforms)})")
        if created or platform is not None:
            return info
        return ManifestInfo(digest=info.digest, media_type=info.media_type)

    async def signatures(self, image: ImageRef, digest: str, *,
                         enough: Enough | None = None) -> tuple[Signature, ...]:
        self.calls.append(("signatures", f"{image.name}@{digest}"))
        if image.name in self._failures:  # an unknown repository has no signatures, as in OCI
            raise RegistryError(self._failures[image.name])
        return tuple(self._signatures.get((image.name, digest), ()))

    async def prepare(self, images: Sequence[ImageRef]) -> None:
        self.calls.extend(("prepare", i.name) for i in images)
