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
# the OCI distribution spec's tag grammar, ASCII only (``\w`` would admit any letter)
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
MAX_TAG = 128
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_TAG_RE = re.compile(_TAG)
_DIGEST_RE = re.compile(_DIGEST)


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
        m = _REFERENCE.fullmatch(text.strip())
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


def tag_problem(tag: object) -> str | None:
    """Why ``tag`` is not an OCI tag (``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``, the whole text,
    ASCII), or None when it is one. The one validator of tags: registries' answers,
    ``set-image --tag``, ``rollback --to`` and ``/rollback --to`` all go through it."""
    if not isinstance(tag, str):
        return f"not a string but a JSON {_json_type(tag)}"
    if not tag:
        return "empty"
    if len(tag) > MAX_TAG:
        return f"longer than {MAX_TAG} characters"
    if _TAG_RE.fullmatch(tag) is None:
        if tag[0] in ".-":
            return "must start with a letter, a digit or _"
        at = next(i for i, ch in enumerate(tag) if ch not in _TAG_CHARS)
        return f"character {tag[at]!r} at {at + 1}: only A-Z a-z 0-9 _ . - are allowed"
    return None


def check_tag(tag: str, what: str) -> str:
    """``tag`` when it is a valid OCI tag, else :class:`InputError` naming ``what`` and the
    tag (shortened, so that a hostile one cannot flood a message)."""
    problem = tag_problem(tag)
    if problem is not None:
        raise InputError(f"{what}: not a valid tag: {shorten(tag)} ({problem})")
    return tag


def shorten(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters for one-line messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 4]}...{text[-1]}"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) \
        else type(value).__name__


def is_valid_tag(tag: str) -> bool:
    return tag_problem(tag) is None


def is_valid_digest(digest: str) -> bool:
    return _DIGEST_RE.fullmatch(digest) is not None
