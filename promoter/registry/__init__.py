"""The registry port: what promoter asks of a container registry.

:class:`Registry` is the seam; :mod:`promoter.registry.oci` is the real implementation (httpx,
OCI distribution API) and :mod:`promoter.registry.memory` the in-memory one used by flow tests.
Both are also a :class:`SignatureSource` (cosign signatures of a digest, for the signature
gate; :mod:`promoter.registry.signatures` is the real one's HTTP part).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from promoter.refs import ImageRef
from promoter.signing import Signature


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestInfo:
    """What a manifest HEAD/GET tells about one tag."""

    digest: str
    media_type: str
    created: datetime | None = None  # from the config blob, when asked for
    platforms: tuple[str, ...] = ()  # "linux/amd64", ... for an index


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanResult:
    """The outcome for one image of a scan: tags, or the reason there are none."""

    image: ImageRef
    tags: tuple[str, ...] = ()
    error: str | None = None
    retryable: bool = False  # the error is a registry that did not answer
    manifests: Mapping[str, ManifestInfo] = field(default_factory=dict)


class Registry(Protocol):
    async def list_tags(self, image: ImageRef) -> tuple[str, ...]:
        """All tags of the repository, every page followed. Order unspecified; callers sort."""
        ...

    async def manifest(self, image: ImageRef, *, created: bool = False,
                       platform: str | None = None) -> ManifestInfo:
        """Digest and media type of ``image``'s tag (or digest), by a manifest HEAD.

        With ``created`` the config blob is fetched for its build time; with ``platform``
        (``os/arch``) the matching manifest of an index is used for that.
        """
        ...

    async def prepare(self, images: Sequence[ImageRef]) -> None:
        """A hint before a scan: these images come next (the real registry pings their hosts
        and fetches tokens for many repositories per token request). May do nothing."""
        ...


Enough = Callable[[Sequence[Signature]], bool]


class SignatureSource(Protocol):
    async def signatures(self, image: ImageRef, digest: str, *,
                         enough: Enough | None = None) -> tuple[Signature, ...]:
        """Every cosign signature stored for ``image``'s manifest ``digest`` (cosign's
        ``sha256-<hex>.sig`` tag, then the OCI referrers), unverified: the caller verifies them
        with :func:`promoter.signing.verify`. When ``enough(found so far)`` is true after the
        tag scheme, the referrers are not asked. Empty when there are none; RegistryError when
        the registry cannot be read."""
        ...
