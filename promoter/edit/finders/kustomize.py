"""Kustomize ``images:`` entries.

Shapes: the top-level ``images:`` sequence of a ``kustomization.yaml`` / ``kustomization.yml`` /
``Kustomization`` file, of any document with ``kind: Kustomization`` or ``Component`` and a
``kustomize.config.k8s.io`` apiVersion or none (kustomize defaults it), or of a document
without ``kind`` whose ``images:`` entries have ``newName``/``newTag``/``digest``, and
``spec.images`` of a Flux ``kustomize.toolkit.fluxcd.io`` Kustomization. Each entry is a
mapping (block or flow) with ``name`` and any of ``newName``, ``newTag``, ``digest``.

A Site's ``name`` and ``ref`` are the entry's ``name`` (what kustomize matches in the
resources), with ``newTag``/``digest`` as tag and digest; ``name_span`` is ``newName``'s value,
``new_name`` its text (``Site.deployed`` is the image that really runs) and ``at`` is
``name``'s value. Its ``yaml_path`` is ``(..., "images", i, "newTag")`` even when
the entry has no ``newTag`` yet, so the editor knows which mapping a new key goes into.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import replace

from promoter.edit.model import Kind, Site
from promoter.edit.yamlpos import (
    Node,
    SequenceNode,
    YamlFile,
    YamlPath,
    mapping_get,
    scalar_value,
    site_from_parts,
)

# file names (a suffix, so ``overlays__dev__kustomization.yaml`` in the corpus counts too)
FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ENTRY_KEYS = ("newName", "newTag", "digest")
CONFIG_API = "kustomize.config.k8s.io/"
FLUX_API = "kustomize.toolkit.fluxcd.io/"


def images_of(yf: YamlFile, index: int, doc: Node) -> tuple[YamlPath, Node | None] | None:
    """``(path, images node)`` of a document that is a Kustomization, else None."""
    api = scalar_value(mapping_get(doc, "apiVersion")) or ""
    kind = scalar_value(mapping_get(doc, "kind"))
    if kind == "Kustomization" and api.startswith(FLUX_API):
        return ("spec", "images"), mapping_get(mapping_get(doc, "spec"), "images")
    images = mapping_get(doc, "images")
    if kind in ("Kustomization", "Component") and (api.startswith(CONFIG_API) or not api):
        return ("images",), images
    if kind is not None:
        return None
    base = posixpath.basename(yf.path.replace("\\", "/"))
    if index == 0 and base.endswith(FILE_NAMES):
        return ("images",), images
    if isinstance(images, SequenceNode) and any(
            mapping_get(e, k) is not None for e in images.value for k in ENTRY_KEYS):
        return ("images",), images
    return None


def find(yf: YamlFile) -> Iterator[Site]:
    for index, doc in enumerate(yf.documents):
        found = images_of(yf, index, doc)
        if found is None:
            continue
        path, images = found
        if not isinstance(images, SequenceNode):
            continue
        for i, entry in enumerate(images.value):
            name_node = mapping_get(entry, "name")
            name = scalar_value(name_node)
            if not name:
                continue
            site = site_from_parts(
                yf, Kind.KUSTOMIZE, name=name, name_node=mapping_get(entry, "newName"),
                tag_node=mapping_get(entry, "newTag"), digest_node=mapping_get(entry, "digest"),
                at_node=name_node, path=(*path, i, "newTag"), document=index)
            if site is not None:
                new_name = scalar_value(mapping_get(entry, "newName"))
                yield replace(site, new_name=new_name) if new_name else site
