"""Raw Kubernetes manifests: ``image:`` of every container.

Shapes: in any document that has ``apiVersion`` and ``kind``, every sequence under a key
``containers``, ``initContainers`` or ``ephemeralContainers`` whose items are mappings with a
scalar ``image: name[:tag][@digest]``. The search is by key at any depth, so every workload
kind is covered (Pod ``spec``, Deployment/StatefulSet/DaemonSet/ReplicaSet/Job ``template``,
CronJob ``jobTemplate.spec.template``, ``List`` items and CRDs that embed a pod spec), and so are
multi-document files. Values that are not image references (``{{ .Values.image }}``) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from promoter.edit.model import Kind, Site
from promoter.edit.yamlpos import (
    SequenceNode,
    YamlFile,
    iter_mapping,
    mapping_get,
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
                for key, _, value in iter_mapping(item):
                    if key != "image":
                        continue
                    site = site_from_whole(yf, Kind.MANIFEST, value, path=(*path, i, "image"),
                                           document=doc_index)
                    if site is not None:
                        yield site
