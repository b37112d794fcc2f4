"""Plain data shared by the editing engine's finders, splicer and verifier."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from promoter.refs import ImageRef


class Kind(enum.Enum):
    KUSTOMIZE = "kustomize"
    HELM = "helm"
    MANIFEST = "manifest"
    MARKER = "marker"
    ARGOCD = "argocd"


class Field(enum.Enum):
    """Which part of an image reference a scalar holds."""

    WHOLE = "whole"  # "repo:tag@digest" in one scalar (or a prefix of it, see Site)
    NAME = "name"  # repository (or newName) alone
    TAG = "tag"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A scalar's place in the decoded text: character offsets, end exclusive."""

    start: int
    end: int
    line: int  # 1-based
    column: int  # 1-based
    style: str  # "" plain, "'" or '"' quoted, "|" / ">" block


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """One place where a file pins an image."""

    file: str
    kind: Kind
    name: str  # the image as the file names it
    ref: ImageRef  # normalised; tag/digest as found
    tag: Span | None = None
    digest: Span | None = None
    whole: Span | None = None  # a scalar holding "name[:tag][@digest]"
    name_span: Span | None = None  # a scalar holding only the name (newName, repository)
    yaml_path: tuple[str | int, ...] = ()  # path of the (tag or whole) scalar in its document
    document: int = 0

    @property
    def line(self) -> int:
        """1-based line of the tag value when there is one, else of the reference."""
        for span in (self.tag, self.whole, self.name_span, self.digest):
            if span is not None:
                return span.line
        return 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """Set an image at a site: ``None`` leaves that part as it is."""

    site: Site
    tag: str | None = None
    digest: str | None = None
    new_name: str | None = None
