"""Helm values: image blocks at any depth, in mappings and in lists.

Shapes (a mapping is an *image mapping* when it has a ``tag``/``digest`` key or sits under a
key whose name ends in ``image``, any case):

- ``{repository, tag}``, ``{registry, repository, tag}``, ``{repository, tag, digest}``,
  ``{repository, digest}``: name ``registry/repository`` (``registry`` empty or missing:
  ``repository``), ``name_span`` the ``repository`` value;
- ``{repo, tag}`` (``repo`` beside a ``tag`` or ``digest``), under any key;
- ``{name, tag}`` under an ``*image`` key (no ``repository``);
- ``{registry, image, tag, digest}`` (ingress-nginx): ``image`` names the repository;
- ``{registry, repository, version}`` under an ``*image`` key (older bitnami charts);
- ``image: <repository>`` beside ``imageTag:`` / ``imageVersion:`` / ``imageDigest:`` (elastic,
  sentry charts; any ``<x>image`` key with ``<x>imageTag``);
- ``tag: v1.2@sha256:...``: tag and digest in the tag scalar (the Site's ``tag`` and ``digest``
  are then the same span; the editor rewrites both parts in it);
- ``repository: "repo:tag"`` holding a whole reference;
- ``<something>image: "repo:tag[@digest]"`` (``image``, ``initImage``, ``sidecarImage``...):
  the whole reference in one scalar.

Where: the whole document of a values file (a file whose name contains ``values``:
``values.yaml``, ``values-prod.yaml``, ``web.values.yml``); in a Kubernetes object (a document
with ``apiVersion`` and ``kind``: HelmRelease, Argo CD Application) only under ``values:`` /
``valuesObject:``, so a manifest's containers (the manifest finder's) and a Flux
ImageRepository's ``spec.image`` (a repository, not a pin) are not taken for values. Other
files (docker-compose, CI configs) are left to marker comments.
Tag-only overrides (``image: {tag: "1.2"}``, the repository is in the chart) name no image in
the file itself: :func:`find_overrides` names them from the chart's ``values.yaml`` beside the
file (:mod:`promoter.edit.ops` does that for ``values-*.yaml`` files); on their own they are not
reported.

Values that are not references (templates, ``true``, empty strings) are skipped. A tag may be
missing or empty (``tag: ""`` in charts that default to appVersion): the Site then has a tag
span (empty) or none, and the editor can set it.

User key paths (``api.image.tag``, ``workers.0.image``) are resolved by :func:`find_paths`:
a path to a whole-reference scalar, to an image mapping, or to a tag scalar whose mapping names
the image in ``repository``/``name``/``image``/``repo`` or a key ending in one of
``image``/``img``/``repository``/``repo``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence

from promoter.edit import yamlpos
from promoter.edit.model import Kind, Site

_NAME_KEYS = ("repository", "name", "image", "repo")
_NAME_SUFFIXES = ("image", "img", "repository", "repo")  # apiImage, proxyRepo...
VALUES_KEYS = frozenset({"values", "valuesObject"})


def _is_image_key(key: str | int | None) -> bool:
    return isinstance(key, str) and key.lower().endswith("image")


def _name_node(node: yamlpos.MappingNode, path: yamlpos.YamlPath,
               lenient: bool) -> yamlpos.Node | None:
    """The scalar naming the image in an image mapping: ``repository``, else ``image`` (a name
    without tag, beside ``tag``/``digest``), else ``name`` under an ``*image`` key."""
    repo = yamlpos.mapping_get(node, "repository")
    if repo is not None:
        return repo
    beside_tag = any(yamlpos.mapping_get(node, k) is not None for k in ("tag", "digest"))
    repo = yamlpos.mapping_get(node, "repo")  # {repo, tag}: beside a tag or digest only
    if isinstance(repo, yamlpos.ScalarNode) and beside_tag:
        return repo
    image = yamlpos.mapping_get(node, "image")
    if isinstance(image, yamlpos.ScalarNode) and beside_tag:
        return image
    if lenient or (path and _is_image_key(path[-1])):
        return yamlpos.mapping_get(node, "name")
    return None


def _image_mapping(yf: yamlpos.YamlFile, node: yamlpos.MappingNode, path: yamlpos.YamlPath,
                   doc: int, *, lenient: bool) -> Site | None:
    keys = {k for k, _, _ in yamlpos.iter_mapping(node)}
    if not (lenient or "tag" in keys or "digest" in keys or (path and _is_image_key(path[-1]))):
        return None
    name_node = _name_node(node, path, lenient)
    name = yamlpos.scalar_value(name_node)
    if not name or not isinstance(name_node, yamlpos.ScalarNode) or name_node.style in ("|", ">"):
        return None
    if any(c in name.rpartition("/")[2] for c in ":@"):  # repository: "repo:tag"
        key = next(k for k, kn, v in yamlpos.iter_mapping(node) if v is name_node)
        return yamlpos.site_from_whole(yf, Kind.HELM, name_node, path=(*path, key), document=doc)
    registry = yamlpos.scalar_value(yamlpos.mapping_get(node, "registry"))
    if registry and name_node is not yamlpos.mapping_get(node, "name"):
        name = f"{registry.rstrip('/')}/{name}"
    tag_key = "tag"
    if "tag" not in keys and "version" in keys and path and _is_image_key(path[-1]):
        tag_key = "version"  # bitnami's older {registry, repository, version}
    return yamlpos.site_from_parts(yf, Kind.HELM, name=name, name_node=name_node,
                                   tag_node=yamlpos.mapping_get(node, tag_key),
                                   digest_node=yamlpos.mapping_get(node, "digest"),
                                   path=(*path, tag_key), document=doc)


def _image_scalars(yf: yamlpos.YamlFile, node: yamlpos.MappingNode, path: yamlpos.YamlPath,
                   doc: int, taken: yamlpos.Node | None) -> Iterator[Site]:
    """``*image: repo:tag`` values of a mapping, and ``image`` + ``imageTag`` pairs (elastic)."""
    for key, _, value in yamlpos.iter_mapping(node):
        if not _is_image_key(key) or not isinstance(value, yamlpos.ScalarNode) or value is taken:
            continue
        tag_key = next((key + t for t in ("Tag", "Version") if yamlpos.mapping_get(node, key + t)
                        is not None), key + "Tag")
        tag_node = yamlpos.mapping_get(node, tag_key)
        digest_node = yamlpos.mapping_get(node, key + "Digest")
        name = yamlpos.scalar_value(value) or ""
        if (tag_node is not None or digest_node is not None) and ":" not in \
                name.rpartition("/")[2]:
            site = yamlpos.site_from_parts(yf, Kind.HELM, name=name, name_node=value,
                                           tag_node=tag_node, digest_node=digest_node,
                                           path=(*path, tag_key), document=doc)
        else:
            site = yamlpos.site_from_whole(yf, Kind.HELM, value, path=(*path, key), document=doc)
        if site is not None:
            yield site


def is_values_file(path: str) -> bool:
    """``values.yaml``, ``values-prod.yaml``, ``prod.values.yml``, ``my-values.yaml``..."""
    return "values" in posixpath.basename(path.replace("\\", "/")).lower()


def _values_roots(yf: yamlpos.YamlFile,
                  root: yamlpos.Node) -> Iterator[tuple[yamlpos.YamlPath, yamlpos.Node]]:
    """The whole document for a values file; for a Kubernetes object (HelmRelease, Argo CD
    Application) only what sits under ``values:`` / ``valuesObject:`` keys."""
    if yamlpos.mapping_get(root, "apiVersion") is None or yamlpos.mapping_get(root, "kind") is None:
        if is_values_file(yf.path):
            yield (), root
        return
    for path, node in yamlpos.walk(root):
        if path and path[-1] in VALUES_KEYS and isinstance(node, yamlpos.MappingNode):
            yield path, node


def find(yf: yamlpos.YamlFile) -> Iterator[Site]:
    for doc, top in enumerate(yf.documents):
        for base, root in _values_roots(yf, top):
            yield from _find_in(yf, doc, base, root)


def _find_in(yf: yamlpos.YamlFile, doc: int, base: yamlpos.YamlPath,
             root: yamlpos.Node) -> Iterator[Site]:
    for path, node in yamlpos.walk(root, base):
        if not isinstance(node, yamlpos.MappingNode):
            continue
        site = _image_mapping(yf, node, path, doc, lenient=False)
        if site is not None:
            yield site
        yield from _image_scalars(yf, node, path, doc, _name_node(node, path, False)
                                  if site is not None else None)


def _resolve(root: yamlpos.Node,
             keys: Sequence[str]) -> tuple[yamlpos.YamlPath, yamlpos.Node | None]:
    node: yamlpos.Node | None = root
    path: list[str | int] = []
    for key in keys:
        if isinstance(node, yamlpos.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            path.append(int(key))
        else:
            node = yamlpos.mapping_get(node, key)
            path.append(key)
        if node is None:
            break
    return tuple(path), node


def find_paths(yf: yamlpos.YamlFile, paths: Sequence[str]) -> Iterator[Site]:
    """Sites at user-given dotted key paths (``api.image.tag``); paths that miss are skipped."""
    for doc, root in enumerate(yf.documents):
        for dotted in paths:
            keys = dotted.split(".")
            path, node = _resolve(root, keys)
            site: Site | None = None
            if isinstance(node, yamlpos.MappingNode):
                site = _image_mapping(yf, node, path, doc, lenient=True)
            elif isinstance(node, yamlpos.ScalarNode) and len(keys) > 1:
                _, parent = _resolve(root, keys[:-1])
                name_key = next((k for k in _NAME_KEYS if k != keys[-1]
                                 and yamlpos.scalar_value(yamlpos.mapping_get(parent, k))),
                                None) or next(
                    (k for k, _, v in yamlpos.iter_mapping(parent) if k != keys[-1]
                     and k.lower().endswith(_NAME_SUFFIXES) and yamlpos.scalar_value(v)), None)
                if name_key is None and any(c in (yamlpos.scalar_value(node) or "") for c in ":/@"):
                    site = yamlpos.site_from_whole(yf, Kind.HELM, node, path=path, document=doc)
                elif name_key is not None:
                    name_node = yamlpos.mapping_get(parent, name_key)
                    site = yamlpos.site_from_parts(
                        yf, Kind.HELM, name=yamlpos.scalar_value(name_node) or "",
                        name_node=name_node, tag_node=node, path=path, document=doc)
            if site is not None:
                yield site


def find_overrides(yf: yamlpos.YamlFile, defaults: yamlpos.YamlFile) -> Iterator[Site]:
    """Tag-only overrides (``image: {tag: "1.2"}`` in ``values-prod.yaml``) named by the chart's
    defaults: the same key path in ``defaults`` (the ``values.yaml`` beside it) holds the image
    mapping that gives the name. Helm merges the two files the same way."""
    if len(yf.documents) != 1 or len(defaults.documents) != 1:
        return
    base = defaults.documents[0]
    for path, node in yamlpos.walk(yf.documents[0]):
        if not isinstance(node, yamlpos.MappingNode) or _name_node(node, path, False) is not None:
            continue
        tag_node = yamlpos.mapping_get(node, "tag")
        digest_node = yamlpos.mapping_get(node, "digest")
        if tag_node is None and digest_node is None:
            continue
        _, default = _resolve(base, [str(k) for k in path])
        if not isinstance(default, yamlpos.MappingNode):
            continue
        named = _image_mapping(defaults, default, path, 0, lenient=False)
        if named is None or named.whole is not None:
            continue
        site = yamlpos.site_from_parts(yf, Kind.HELM, name=named.name, tag_node=tag_node,
                                       digest_node=digest_node, path=(*path, "tag"))
        if site is not None:
            yield site
