"""Argo CD: image overrides written into Applications and Image Updater's write-back files.

Shapes, in each source of an ``argoproj.io`` ``Application`` (``spec.source``,
``spec.sources[*]``) and of an ``ApplicationSet`` template (``spec.template.spec.source(s)``):

- ``helm.parameters``: a list of ``{name, value}``. Parameters are grouped by the prefix before
  their last ``.``: ``<p>.tag`` is the tag, ``<p>.repository`` / ``<p>.name`` / ``<p>.repo`` /
  ``<p>.image`` (without a tag) the name, ``<p>.registry`` goes in front of the name and
  ``<p>.digest`` is the digest; a name parameter (``<p>.image``, ``<p>.name``,
  ``<p>.repository``...) whose value holds a tag or digest is a whole reference. Argo CD Image
  Updater's annotations ``argocd-image-updater.argoproj.io/<alias>.helm.image-name`` /
  ``.image-tag`` / ``.image-spec`` name parameters too, and its ``image-list`` gives the image
  when no name parameter is written. A group with a tag but no image name anywhere is skipped.
- ``kustomize.images``: a list of strings in ``kustomize edit set image`` syntax:
  ``name:tag``, ``name@digest``, ``name=newName``, ``name=newName:tag[@digest]``.
  ``Site.name`` is ``name`` (what kustomize matches, as in the Kustomize finder) and
  ``Site.ref`` that image with the written tag/digest; the ``whole`` span is the string, whose
  ``name=newName`` part the engine keeps when it sets a tag or digest (``split_written`` reads
  it as the name). Folded strings (``- >-``) are reported; the engine refuses to rewrite block
  scalars.

and the same ``helm.parameters`` / ``kustomize.images`` at the top of
``.argocd-source-<app>.yaml`` (and ``.argocd-source.yaml``), the files Argo CD Image Updater's
git write-back creates.

``helm.values`` strings and ``helm.valuesObject`` mappings hold chart values; their images are
found by the Helm finder, which looks at every file.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace

from promoter.edit import yamlpos
from promoter.edit.model import Kind, Site
from promoter.refs import ImageRef

API_GROUP = "argoproj.io/"
UPDATER = "argocd-image-updater.argoproj.io/"
_SOURCE_FILE = re.compile(r"\.argocd-source(?:-.+)?\.ya?ml")
_UPDATER_PARAM = re.compile(r"(?P<alias>[^./]+)\.helm\.image-(?P<role>name|tag|spec)")

_NAME_LEAVES = frozenset({"repository", "name", "repo"})
_ROLES = {"tag": "tag", "digest": "digest", "registry": "registry", "name": "name",
          "spec": "whole"}


def find(yf: yamlpos.YamlFile) -> Iterator[Site]:
    """Every image override in Argo CD sources (see the module docstring)."""
    if _SOURCE_FILE.fullmatch(posixpath.basename(yf.path.replace("\\", "/"))):
        for index, doc in enumerate(yf.documents):
            yield from _source(yf, doc, (), index, _Updater())
        return
    for index, doc in enumerate(yf.documents):
        api = yamlpos.scalar_value(yamlpos.mapping_get(doc, "apiVersion")) or ""
        kind = yamlpos.scalar_value(yamlpos.mapping_get(doc, "kind"))
        if not api.startswith(API_GROUP):
            continue
        spec: yamlpos.YamlPath
        if kind == "Application":
            spec, meta = ("spec",), yamlpos.mapping_get(doc, "metadata")
        elif kind == "ApplicationSet":
            spec = ("spec", "template", "spec")
            template = yamlpos.mapping_get(yamlpos.mapping_get(doc, "spec"), "template")
            meta = yamlpos.mapping_get(template, "metadata")
        else:
            continue
        updater = _Updater.read(yamlpos.mapping_get(meta, "annotations"))
        spec_node = _get(doc, spec)
        source = yamlpos.mapping_get(spec_node, "source")
        if source is not None:
            yield from _source(yf, source, (*spec, "source"), index, updater)
        sources = yamlpos.mapping_get(spec_node, "sources")
        if isinstance(sources, yamlpos.SequenceNode):
            for i, item in enumerate(sources.value):
                yield from _source(yf, item, (*spec, "sources", i), index, updater)


def _get(node: yamlpos.Node | None, path: yamlpos.YamlPath) -> yamlpos.Node | None:
    for key in path:
        node = yamlpos.mapping_get(node, str(key))
    return node


@dataclass(frozen=True, slots=True)
class _Updater:
    """What Image Updater's annotations say: parameter name -> (alias, role), alias -> image."""

    params: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, annotations: yamlpos.Node | None) -> _Updater:
        params: dict[str, tuple[str, str]] = {}
        images: dict[str, str] = {}
        for key, _, value_node in yamlpos.iter_mapping(annotations):
            value = yamlpos.scalar_value(value_node)
            if not key.startswith(UPDATER) or not value:
                continue
            key = key.removeprefix(UPDATER)
            m = _UPDATER_PARAM.fullmatch(key)
            if m:
                params[value] = (m["alias"], _ROLES[m["role"]])
            elif key == "image-list":
                for item in value.split(","):
                    alias, eq, image = item.strip().rpartition("=")
                    if eq and alias:
                        images[alias] = yamlpos.split_written(image)[0]
        return cls(params, images)


def _source(yf: yamlpos.YamlFile, source: yamlpos.Node, path: yamlpos.YamlPath, doc: int,
            updater: _Updater) -> Iterator[Site]:
    helm = yamlpos.mapping_get(source, "helm")
    params = yamlpos.mapping_get(helm, "parameters")
    if isinstance(params, yamlpos.SequenceNode):
        yield from _helm_parameters(yf, params, (*path, "helm", "parameters"), doc, updater)
    images = yamlpos.mapping_get(yamlpos.mapping_get(source, "kustomize"), "images")
    if isinstance(images, yamlpos.SequenceNode):
        for i, item in enumerate(images.value):
            site = _kustomize_image(yf, item, (*path, "kustomize", "images", i), doc)
            if site is not None:
                yield site


@dataclass(slots=True)
class _Group:
    """The parameters of one image: role -> (value node, path of the value)."""

    parts: dict[str, tuple[yamlpos.ScalarNode, yamlpos.YamlPath]] = field(default_factory=dict)
    at: yamlpos.ScalarNode | None = None  # the first parameter's name, for line numbers


def _helm_parameters(yf: yamlpos.YamlFile, params: yamlpos.SequenceNode, path: yamlpos.YamlPath,
                     doc: int, updater: _Updater) -> Iterator[Site]:
    groups: dict[str, _Group] = {}
    for i, item in enumerate(params.value):
        name_node = yamlpos.mapping_get(item, "name")
        value_node = yamlpos.mapping_get(item, "value")
        name = yamlpos.scalar_value(name_node)
        if not name or not isinstance(value_node, yamlpos.ScalarNode):
            continue
        known = updater.params.get(name)
        role: str | None
        if known is not None:
            group_key, role = f"alias:{known[0]}", known[1]
        else:
            prefix, _, leaf = name.rpartition(".")
            role = _role(leaf, str(value_node.value))
            group_key = f"prefix:{prefix}"
        if role is None:
            continue
        group = groups.setdefault(group_key, _Group())
        if group.at is None and isinstance(name_node, yamlpos.ScalarNode):
            group.at = name_node
        group.parts.setdefault(role, (value_node, (*path, i, "value")))
    for key, group in groups.items():
        alias = key.removeprefix("alias:") if key.startswith("alias:") else None
        site = _group_site(yf, group, doc, updater.images.get(alias) if alias else None)
        if site is not None:
            yield site


def _role(leaf: str, value: str) -> str | None:
    if leaf in ("tag", "digest", "registry"):
        return leaf
    if leaf in _NAME_LEAVES or leaf.lower().endswith("image"):
        # a name parameter holding a whole reference ("image.name=ghcr.io/x:1.2") is one
        last = value.rpartition("/")[2]
        ref = ImageRef.try_parse(value) if (":" in last or "@" in value) else None
        if ref is not None and (ref.tag or ref.digest):
            return "whole"
        return "name"
    return None


def _group_site(yf: yamlpos.YamlFile, group: _Group, doc: int, image: str | None) -> Site | None:
    parts = group.parts
    if "whole" in parts:
        node, path = parts["whole"]
        return yamlpos.site_from_whole(yf, Kind.ARGOCD, node, path=path, document=doc)
    if "tag" not in parts and "digest" not in parts:
        return None
    name_node, _ = parts.get("name", (None, ()))
    name = yamlpos.scalar_value(name_node) or image
    if not name:
        return None
    registry = yamlpos.scalar_value(parts["registry"][0]) if "registry" in parts else None
    if registry and name_node is not None:
        name = f"{registry.rstrip('/')}/{name}"
    tag_node, tag_path = parts.get("tag", (None, ()))
    digest_node, digest_path = parts.get("digest", (None, ()))
    return yamlpos.site_from_parts(yf, Kind.ARGOCD, name=name, name_node=name_node,
                                   tag_node=tag_node, digest_node=digest_node, at_node=group.at,
                                   path=tag_path or digest_path, document=doc)


def _kustomize_image(yf: yamlpos.YamlFile, item: yamlpos.Node, path: yamlpos.YamlPath,
                     doc: int) -> Site | None:
    """``name[=newName][:tag][@digest]`` in one string scalar."""
    site = yamlpos.site_from_whole(yf, Kind.ARGOCD, item, path=path, document=doc)
    value = yamlpos.scalar_value(item)
    if site is not None or value is None or "=" not in value:
        return site
    name, _, new = value.partition("=")
    name_ref = ImageRef.try_parse(name)
    new_ref = ImageRef.try_parse(new)
    if name_ref is None or new_ref is None or name_ref.tag or name_ref.digest:
        return None
    return Site(file=yf.path, kind=Kind.ARGOCD, name=name,
                ref=replace(name_ref, tag=new_ref.tag, digest=new_ref.digest),
                whole=yamlpos.span_of(item, yf), yaml_path=path, document=doc)
