"""Raw Kubernetes manifests: ``image:`` of every container.

Shapes: in any document that has ``apiVersion`` and ``kind``, every sequence under a key
``containers``, ``initContainers`` or ``ephemeralContainers`` whose items are mappings with a
scalar ``image: name[:tag][@digest]``. The search is by key at any depth, so every workload
kind is covered (Pod ``spec``, Deployment/StatefulSet/DaemonSet/ReplicaSet/Job ``template``,
CronJob ``jobTemplate.spec.template``, ``List`` items and CRDs that embed a pod spec), and so are
multi-document files. Values that are not image references (``{{ .Values.image }}``) are skipped.

Also a container's ``env`` entries named ``*_IMAGE`` (``RELAY_IMAGE``, ``SUBSCRIBER_IMAGE``)
whose ``value`` is a reference with a tag or digest: operators read images from them.
"""

from __future__ import annotations

from collections.abc import Iterator

from promoter.edit.model import Kind, Site
from promoter.edit.yamlpos import (
    Node,
    SequenceNode,
    YamlFile,
    YamlPath,
    mapping_get,
    scalar_value,
    site_from_whole,
    walk,
)

CONTAINER_KEYS = frozenset({"containers", "initContainers", "ephemeralContainers"})


def find(yf: YamlFile) -> Iterator[Site]:
    for doc_index, doc in enumerate(yf.documents):
        if mapping_get(doc, "apiVersion") is None or mapping_get(doc, "kind") is None:
            continue
        for path, node in walk(doc):
            if not path or path[-1] not in CONTAINER_KEYS or not isinstance(node, SequenceNode):
                continue
            for i, item in enumerate(node.value):
                image = mapping_get(item, "image")
                site = None if image is None else site_from_whole(
                    yf, Kind.MANIFEST, image, path=(*path, i, "image"), document=doc_index)
                if site is not None:
                    yield site
                yield from _env_images(yf, mapping_get(item, "env"), (*path, i, "env"),
                                       doc_index)


def _env_images(yf: YamlFile, env: Node | None, path: YamlPath, doc: int) -> Iterator[Site]:
    """``env`` entries named ``*_IMAGE`` whose value is a tagged (or pinned) reference."""
    if not isinstance(env, SequenceNode):
        return
    for j, entry in enumerate(env.value):
        name = scalar_value(mapping_get(entry, "name")) or ""
        value = mapping_get(entry, "value")
        if not name.upper().endswith("IMAGE") or value is None:
            continue
        site = site_from_whole(yf, Kind.MANIFEST, value, path=(*path, j, "value"), document=doc)
        if site is not None and (site.ref.tag or site.ref.digest):
            yield site
