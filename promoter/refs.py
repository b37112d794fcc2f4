"""Image references, parsed by the distribution reference grammar.

``[host[:port]/]path[:tag][@algorithm:hex]``. The first path component is a registry host when
it contains a ``.`` or a ``:`` or is ``localhost`` (distribution's ``splitDockerDomain``);
otherwise the image lives on Docker Hub, where a one-component path gets ``library/``.
``nginx`` and ``docker.io/library/nginx`` therefore have the same :attr:`ImageRef.name`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from promoter.errors import InputError

DOCKER_HUB = "docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io",
                          "registry.hub.docker.com"})

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_HOST_COMPONENT}(?:\.{_HOST_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")


def split_domain(name: str) -> tuple[str, str]:
    """Split a reference name into (registry, repository), normalised like distribution does."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return registry, repository


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference. ``registry`` and ``repository`` are normalised."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse ``text``; raise :class:`InputError` when it is not a valid reference."""
        m = _REFERENCE.match(text.strip())
        if m is None:
            raise InputError(f"not a valid image reference: {text!r}")
        registry, repository = split_domain(m["name"])
        return cls(registry, repository, m["tag"], m["digest"])

    @classmethod
    def try_parse(cls, text: str) -> ImageRef | None:
        """Like :meth:`parse`, but ``None`` instead of an error."""
        try:
            return cls.parse(text)
        except InputError:
            return None

    @property
    def name(self) -> str:
        """``registry/repository``: the identity used to match references."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """The short name people write: ``nginx`` for ``docker.io/library/nginx``."""
        if self.registry == DOCKER_HUB:
            return self.repository.removeprefix("library/")
        return self.name

    def with_tag(self, tag: str | None) -> ImageRef:
        return replace(self, tag=tag)

    def with_digest(self, digest: str | None) -> ImageRef:
        return replace(self, digest=digest)

    def same_image(self, other: ImageRef) -> bool:
        return self.registry == other.registry and self.repository == other.repository

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def normalize_name(text: str) -> str | None:
    """The normalised ``registry/repository`` of a name (tag/digest ignored), or None."""
    ref = ImageRef.try_parse(text)
    return ref.name if ref else None


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG_RE.match(tag))


def is_valid_digest(digest: str) -> bool:
    return bool(_DIGEST_RE.match(digest))
