"""The registry port: what promoter asks of a container registry.

:class:`Registry` is the seam; :mod:`promoter.registry.oci` is the real implementation (httpx,
OCI distribution API) and :mod:`promoter.registry.memory` the in-memory one used by flow tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from promoter.refs import ImageRef


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
