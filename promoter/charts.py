"""Helm charts as artifacts: where a chart lives, and what a Helm repository index says.

Pure: no network here (:mod:`promoter.registry.charts` fetches, this module reads).

A chart lives in one of two kinds of repository:

- an OCI registry, written ``oci://host/path``: chart ``c`` is the OCI repository
  ``host/path/c`` and each chart version is a tag. OCI tags cannot hold ``+``, so Helm pushes
  ``1.2.3+build`` as the tag ``1.2.3_build``; :func:`version_of_tag` maps it back and
  :func:`tag_of_version` there again.
- an HTTP(S) Helm repository ``https://host/path``, whose ``index.yaml`` lists
  ``entries.<chart>[].version`` (with ``created`` and ``digest``); :func:`parse_index` reads it.

Both get an :class:`~promoter.refs.ImageRef` identity (:attr:`ChartSource.ref`,
``host/path/chart``) so the flows can carry a chart through the same pipeline as an image. Files
name a chart by its name and, where the shape has one, its repository; :func:`same_repository`
compares repositories the way files write them (with or without ``oci://``, a trailing ``/``,
``http`` or ``https``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import yaml

from promoter.errors import RegistryError
from promoter.refs import ImageRef

OCI_SCHEME = "oci://"
CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
_SCHEME = re.compile(r"^(?:oci|https?)://", re.IGNORECASE)
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; Python reads microseconds


@dataclass(frozen=True, slots=True, kw_only=True)
class ChartSource:
    """A configured chart: its name and the repository (``oci://…`` or ``http(s)://…``)."""

    chart: str
    repository: str  # as configured, without a trailing "/"

    @property
    def oci(self) -> bool:
        return self.repository.lower().startswith(OCI_SCHEME)

    @property
    def index_url(self) -> str:
        """The HTTP repository's ``index.yaml``."""
        return f"{self.repository.rstrip('/')}/index.yaml"

    @property
    def ref(self) -> ImageRef:
        """``host/path/chart``: the OCI repository of an OCI chart, an identity otherwise."""
        host, _, path = _SCHEME.sub("", self.repository).partition("/")
        repo = f"{path.strip('/')}/{self.chart}" if path.strip("/") else self.chart
        return ImageRef(host.lower(), repo)


def normalise_repository(url: str) -> str:
    """``url`` without scheme and trailing ``/``, host in lower case: what files compare."""
    host, sep, path = _SCHEME.sub("", url.strip()).partition("/")
    return (host.lower() + sep + path).rstrip("/")


def same_repository(written: str | None, source: ChartSource) -> bool:
    """Whether a file's repository (None: the shape names none) is ``source``'s."""
    return written is None or normalise_repository(written) == normalise_repository(
        source.repository)


def version_of_tag(tag: str) -> str:
    """An OCI chart tag as the chart version it stands for (``_`` was ``+``)."""
    return tag.replace("_", "+")


def tag_of_version(version: str) -> str:
    """A chart version as its OCI tag."""
    return version.replace("+", "_")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChartVersion:
    """One ``entries.<chart>[]`` item of an ``index.yaml``."""

    version: str
    created: datetime | None = None
    digest: str | None = None  # "sha256:<hex>" of the .tgz, when the index gives it


def _created(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _entry(raw: object) -> ChartVersion | None:
    if not isinstance(raw, Mapping):
        return None
    version = raw.get("version")
    if not isinstance(version, str) or not version.strip() or any(c.isspace() for c in version):
        return None
    digest = raw.get("digest")
    return ChartVersion(version=version, created=_created(raw.get("created")),
                        digest=f"sha256:{digest}" if isinstance(digest, str)
                        and re.fullmatch(r"[0-9a-f]{64}", digest) else None)


def parse_index(text: str | bytes, *, url: str = "index.yaml"
                ) -> Mapping[str, tuple[ChartVersion, ...]]:
    """Chart name -> its versions, as listed by a Helm repository ``index.yaml``.

    Entries without a usable ``version`` (missing, not a string, with white space) are left
    out; an index that is not YAML or has no ``entries`` mapping is a :class:`RegistryError`
    naming ``url`` (the repository answered something that is not an index)."""
    try:
        # every scalar a string: a version written 1.10 stays "1.10", not the float 1.1
        data: Any = yaml.load(text, Loader=getattr(yaml, "CBaseLoader", yaml.BaseLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise RegistryError(f"{url}{where}: not a Helm repository index (invalid YAML)"
                            ) from None
    entries = data.get("entries") if isinstance(data, Mapping) else None
    if entries is None and isinstance(data, Mapping) and "apiVersion" in data:
        entries = {}
    if not isinstance(entries, Mapping):
        raise RegistryError(f"{url}: not a Helm repository index (no entries mapping)")
    out: dict[str, tuple[ChartVersion, ...]] = {}
    for name, items in entries.items():
        if not isinstance(name, str) or not isinstance(items, list):
            continue
        out[name] = tuple(v for v in map(_entry, items) if v is not None)
    return out
