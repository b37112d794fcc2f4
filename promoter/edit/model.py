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
    CHART = "chart"  # a Helm chart's version (see promoter.edit.finders.chart)


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
    at: Span | None = None  # where the reference is named (Kustomize ``name``), for line numbers
    # path of the tag (or whole) scalar in its document; for a tag that is not written yet, the
    # path it would have (its parent is the mapping a new key goes into)
    yaml_path: tuple[str | int, ...] = ()
    document: int = 0
    new_name: str | None = None  # Kustomize ``newName`` as written: the image really deployed
    # a reference inside YAML held by a block scalar (Argo CD ``helm.values: |``, an inline
    # patch): that scalar's span, and the same site in the block's own text (see edit.embedded)
    within: Span | None = None
    inner: Site | None = None
    # a chart version site (Kind.CHART): the chart's repository as the file writes it (None:
    # the shape names none, e.g. a Flux HelmRelease's sourceRef); ``name`` is the chart's name
    chart_repo: str | None = None

    @property
    def deployed(self) -> ImageRef:
        """The image that runs: :attr:`ref`, renamed by a Kustomize ``newName``."""
        if self.new_name:
            renamed = ImageRef.try_parse(self.new_name)
            if renamed is not None:
                return ImageRef(renamed.registry, renamed.repository, self.ref.tag,
                                self.ref.digest)
        return self.ref

    @property
    def line(self) -> int:
        """1-based line of the tag value when there is one, else of the reference."""
        for span in (self.tag, self.whole, self.name_span, self.digest, self.at):
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """A file that was skipped (unparsable template, not UTF-8...), with a one-line reason."""

    file: str
    message: str  # "file:line:col: ..." as far as it is known
    outside: bool = False  # a symlink out of the walked directory: never read


@dataclass(frozen=True, slots=True, kw_only=True)
class FileEdit:
    """One file's text before and after a set-image run, and what people should know."""

    file: str
    old: str
    new: str
    sites: tuple[Site, ...] = ()  # the sites that were set
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True, slots=True, kw_only=True)
class SetResult:
    """What :func:`promoter.edit.set_image` did (or would do, with ``dry_run``)."""

    files: tuple[FileEdit, ...]  # every file holding the image, changed or not
    problems: tuple[Problem, ...] = ()
    written: bool = False

    @property
    def changed(self) -> tuple[FileEdit, ...]:
        return tuple(f for f in self.files if f.changed)

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(n for f in self.files for n in f.notes)
