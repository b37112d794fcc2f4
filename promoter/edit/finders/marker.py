"""Marker comments: a comment at the end of a scalar's line says which image the scalar holds.

Two grammars are read, on any scalar of any YAML file (docker-compose, CRDs, patches...):

**Flux setter markers**, read as Flux's image-automation-controller reads them (kyaml
``fieldmeta`` with the ``$imagepolicy`` short hand): the comment after ``#`` (any number of
``#``) must be a JSON object of strings with a non-empty ``"$imagepolicy"``::

    image: ghcr.io/org/app:1.2.3 # {"$imagepolicy": "flux-system:app"}
    repository: ghcr.io/org/app  # {"$imagepolicy": "flux-system:app:name"}
    tag: 1.2.3                   # {"$imagepolicy": "flux-system:app:tag"}
    digest: sha256:...           # {"$imagepolicy": "flux-system:app:digest"}

The policy reference is ``namespace:name``; a third part ``tag``, ``name`` or ``digest`` says
the scalar holds only that part, without one it holds the whole reference. A reference with
another number of parts, or any other third part, is never set by Flux and is ignored here too.

**promoter's own marker**, for files no finder knows::

    image: ghcr.io/org/app:1.2.3   # promoter: ghcr.io/org/app
    APP_VERSION: "1.2.3"           # promoter: ghcr.io/org/app:tag
    repo: ghcr.io/org/app          # promoter: ghcr.io/org/app:name
    pin: sha256:...                # promoter: ghcr.io/org/app:digest

A trailing ``:tag`` / ``:name`` / ``:digest`` is always read as the variant (so a marker cannot
name an image *tagged* ``tag``); any other tag or digest written in the marker is ignored, the
marker names an image, not a version.

What ``Site.name`` is, and how ``set-image --image NAME`` reaches the site:

* promoter marker: the image written in the marker (``ghcr.io/org/app``); ``Site.ref`` is that
  image with the tag/digest read from the marked scalars, so an equivalent reference
  (``docker.io/library/nginx`` for ``nginx``) matches too.
* Flux whole marker: the image written in the value (``ghcr.io/org/app`` of
  ``ghcr.io/org/app:1.2.3``), parsed into ``Site.ref``.
* Flux ``:name`` marker: the value of that scalar; the ``:tag`` and ``:digest`` markers of the
  same policy in the same mapping (or sequence) join it in one site.
* Flux ``:tag`` / ``:digest`` markers without a ``:name`` partner: the value does not give the
  image. When the scalar belongs to a reference another finder reports with its image (the
  ``newTag`` of a Kustomize entry, the ``tag`` of a Helm image mapping), no marker site is
  made: that finder's site names the image and edits the same scalar, so ``set-image`` reaches
  it by the image as everywhere else. Otherwise ``Site.name`` is the policy reference
  ``namespace:name`` (``flux-system:app``) and ``Site.ref`` is a placeholder that no image
  reference equals (:data:`POLICY_REGISTRY` ``/namespace:name``): ``set-image`` reaches these
  sites only by that exact policy reference.

* A whole marker (no third part) on a value that is only a tag, which another finder reports
  as the tag of its image (``newTag: 1.2.3 # {"$imagepolicy": "ns:app"}``): that finder's site
  is kept, so the entry keeps its image name and the value stays a tag.

Scalars with the marker must be the last thing on their line (a comment after a flow collection
belongs to the collection, as in Flux). Block scalars, empty values and values that are not a
valid reference/tag/digest for their variant are skipped, with a warning naming file:line.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

from promoter.edit.finders import argocd, helm, kustomize
from promoter.edit.model import Field, Kind, Site, Span
from promoter.edit.yamlpos import (
    Node,
    ScalarNode,
    YamlFile,
    site_from_parts,
    site_from_whole,
    span_of,
    split_written,
    walk,
)
from promoter.refs import ImageRef

log = logging.getLogger(__name__)

POLICY_REGISTRY = "$imagepolicy"  # Site.ref.registry of a site named by a Flux policy only

_COMMENT = re.compile(r"[ \t]+#(?P<body>[^\r\n]*)")
_PROMOTER = re.compile(r"\s*promoter:\s*(?P<ref>\S+)\s*")
_VARIANTS = {"tag": Field.TAG, "name": Field.NAME, "digest": Field.DIGEST}
_POLICY_PART = re.compile(r"[^:\s]+")
_PLACEHOLDER = "policy.invalid/placeholder"  # a valid name standing in for a Flux policy


class Grammar(enum.Enum):
    FLUX = "flux"
    PROMOTER = "promoter"


@dataclass(frozen=True, slots=True, kw_only=True)
class Marker:
    """A parsed marker comment: which image (or Flux policy) and which part of it."""

    grammar: Grammar
    key: str  # the policy "ns:name", or the image as written in a promoter marker
    field: Field


def parse_marker(comment: str) -> Marker | None:
    """Read a comment body (the text after its first ``#``); ``None`` when it is no marker."""
    flux = _parse_flux(comment)
    if flux is not None:
        return flux
    m = _PROMOTER.fullmatch(comment)
    if m is None:
        return None
    ref, field = m["ref"], Field.WHOLE
    base, sep, suffix = ref.rpartition(":")
    if sep and suffix in _VARIANTS:
        ref, field = base, _VARIANTS[suffix]
    if ImageRef.try_parse(ref) is None:
        return None
    # the marker names an image: a tag or digest written in it is dropped
    ref = split_written(ref)[0]
    return Marker(grammar=Grammar.PROMOTER, key=ref, field=field)


def _parse_flux(comment: str) -> Marker | None:
    try:
        data = json.loads(comment.lstrip("#"))
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None
    setter = data.get("$imagepolicy")
    if not setter:
        return None
    parts = setter.split(":")
    if not 2 <= len(parts) <= 3 or not all(_POLICY_PART.fullmatch(p) for p in parts):
        return None
    field = Field.WHOLE
    if len(parts) == 3:
        if parts[2] not in _VARIANTS:
            return None
        field = _VARIANTS[parts[2]]
    return Marker(grammar=Grammar.FLUX, key=f"{parts[0]}:{parts[1]}", field=field)


def marker_after(node: ScalarNode, yf: YamlFile) -> Marker | None:
    """The marker in the comment that ends a scalar's line, if the scalar is last on it."""
    if node.style in ("|", ">"):
        return None
    end = yf.offset(node.end_mark)
    if end <= yf.offset(node.start_mark):
        return None  # an empty value: the comment belongs to the key
    m = _COMMENT.match(yf.text, end)
    if m is None:
        return None
    return parse_marker(m["body"])


@dataclass(slots=True)
class _Found:
    """One marked scalar, before markers of the same image are grouped into a site."""

    marker: Marker
    node: ScalarNode
    span: Span
    path: tuple[str | int, ...]
    parent: int  # id of the collection holding the scalar


def find(yf: YamlFile) -> Iterator[Site]:
    """Every marked scalar, one site per image and collection (see the module docstring)."""
    if "$imagepolicy" not in yf.text and "promoter:" not in yf.text:
        return  # no marker can be there (both grammars need one of these words)
    named: set[int] | None = None  # tag/digest values another finder names an image for
    for site in _find(yf):
        # a ":tag"/":digest" marker without its name, or a whole marker on what is only a tag
        # (``newTag: 1.2 # {"$imagepolicy": "ns:app"}``): the finder that knows the image wins
        parts = (site.tag, site.digest) if site.ref.registry == POLICY_REGISTRY else (
            (site.whole,) if site.whole is not None and ":" not in site.name and
            "/" not in site.name else ())
        if parts:
            if named is None:
                named = _named_values(yf)
            if any(s.start in named for s in parts if s is not None):
                continue
        yield site


def _named_values(yf: YamlFile) -> set[int]:
    """Starts of the tag/digest values that the Kustomize, Helm or Argo CD finder reports."""
    return {span.start for finder in (kustomize.find, helm.find, argocd.find)
            for site in finder(yf) for span in (site.tag, site.digest) if span is not None}


def _find(yf: YamlFile) -> Iterator[Site]:
    for doc_index, doc in enumerate(yf.documents):
        groups: dict[tuple[Grammar, str, int], list[_Found]] = {}
        seen: set[int] = set()
        for path, node, parent in _scalars(doc):
            start = yf.offset(node.start_mark)
            if start in seen:  # reached again through an alias
                continue
            seen.add(start)
            marker = marker_after(node, yf)
            if marker is None:
                continue
            found = _Found(marker=marker, node=node, span=span_of(node, yf), path=path,
                           parent=parent)
            groups.setdefault((marker.grammar, marker.key, parent), []).append(found)
        for group in groups.values():
            yield from _sites(group, yf, doc_index)


def _scalars(doc: Node) -> Iterator[tuple[tuple[str | int, ...], ScalarNode, int]]:
    """Value scalars (never mapping keys) with their path and the id of their collection."""
    parents: dict[tuple[str | int, ...], int] = {}
    for path, node in walk(doc):
        parents[path] = id(node)
        if isinstance(node, ScalarNode) and path:
            yield path, node, parents.get(path[:-1], 0)


def _sites(group: list[_Found], yf: YamlFile, doc_index: int) -> Iterator[Site]:
    """Turn the markers of one image in one collection into sites."""
    by_field: dict[Field, list[_Found]] = {}
    for f in group:
        by_field.setdefault(f.marker.field, []).append(f)
    for whole in by_field.pop(Field.WHOLE, []):
        site = _whole_site(whole, yf, doc_index)
        if site is not None:
            yield site
    # the parts: pair the n-th name with the n-th tag and digest (normally one of each)
    names, tags, digests = (by_field.get(f, []) for f in (Field.NAME, Field.TAG, Field.DIGEST))
    for i in range(max(len(names), len(tags), len(digests))):
        site = _parts_site(
            name=names[i] if i < len(names) else None,
            tag=tags[i] if i < len(tags) else None,
            digest=digests[i] if i < len(digests) else None,
            yf=yf, doc_index=doc_index)
        if site is not None:
            yield site


def _skip(f: _Found, yf: YamlFile, why: str) -> None:
    log.warning("%s: marker skipped: %s", yf.where(f.span.start), why)


def _whole_site(f: _Found, yf: YamlFile, doc_index: int) -> Site | None:
    site = site_from_whole(yf, Kind.MARKER, f.node, path=f.path, document=doc_index)
    if site is None:
        _skip(f, yf, f"{f.node.value!r} is not an image reference")
        return None
    if f.marker.grammar is Grammar.PROMOTER:
        named = ImageRef.parse(f.marker.key)
        site = replace(site, name=f.marker.key, ref=ImageRef(
            named.registry, named.repository, site.ref.tag, site.ref.digest))
    return site


def _parts_site(*, name: _Found | None, tag: _Found | None, digest: _Found | None,
                yf: YamlFile, doc_index: int) -> Site | None:
    main = tag or name or digest
    if main is None:
        return None
    marker = main.marker
    policy_only = marker.grammar is Grammar.FLUX and name is None
    if marker.grammar is Grammar.PROMOTER:
        site_name = marker.key
    elif name is not None:
        site_name = str(name.node.value).strip()
    else:  # checked as a name only; replaced by the policy below
        site_name = _PLACEHOLDER
    site = site_from_parts(yf, Kind.MARKER, name=site_name,
                           name_node=name.node if name else None,
                           tag_node=tag.node if tag else None,
                           digest_node=digest.node if digest else None,
                           path=main.path, document=doc_index)
    if site is None:
        values = ", ".join(repr(str(f.node.value)) for f in (name, tag, digest) if f)
        _skip(main, yf, f"{values} is not an image name, tag or digest")
        return None
    if policy_only:
        site = replace(site, name=marker.key, ref=ImageRef(
            POLICY_REGISTRY, marker.key, site.ref.tag, site.ref.digest))
    return site
