"""Raw Kubernetes manifests: ``image:`` of every container.

Shapes: in any document that has ``apiVersion`` and ``kind``, every sequence under a key
``containers``, ``initContainers`` or ``ephemeralContainers`` whose items are mappings with a
scalar ``image: name[:tag][@digest]``. The search is by key at any depth, so every workload
kind is covered (Pod ``spec``, Deployment/StatefulSet/DaemonSet/ReplicaSet/Job ``template``,
CronJob ``jobTemplate.spec.template``, ``List`` items and CRDs that embed a pod spec), and so are
multi-document files. Values that are not image references (``{{ .Values.image }}``) are skipped.

Also a container's ``env`` entries named ``*_IMAGE`` (``RELAY_IMAGE``, ``SUBSCRIBER_IMAGE``)
whose ``value`` is a reference with a tag or digest: operators read images from them.

Images outside pod templates, in the same documents: any key ``image`` or ending in ``image``
(``spec.image`` of a Prometheus/Alertmanager or database operator, ``spec.exporter.image``,
Argo Workflows ``container.image`` / ``script.image``, Tekton ``steps[].image`` /
``sidecars[].image``, Knative's ``queue-sidecar-image`` config) whose scalar value is a
reference **with a tag or digest**: an untagged value there is often a repository that a
``version:`` key completes, or a pattern to watch (Flux ``ImageRepository``, whose kinds are
skipped). Not searched: ``status`` (written by the cluster), ``metadata`` (labels and
annotations describe, they do not run) and ``values`` / ``valuesObject`` (Helm values, the Helm
finder's).

JSON 6902 patches (a list of ``{op, path, value}``, as in kustomize ``patches``): a value
added or replaced at a path ending in ``/image``, and the ``image`` of a container added under
a ``containers`` path.

docker-compose files: ``services.<name>.image`` in a document without ``apiVersion``/``kind``
whose ``services`` mapping holds a service with ``image`` or ``build`` (a ``build:`` beside the
image is fine: the image is what gets tagged). Compose interpolation (``${TAG:-1.0}``) is left
alone, as is any template placeholder (``{{ }}``, ``$(params.x)``): such a value is never a
reference.
"""

from __future__ import annotations

from collections.abc import Iterator

from promoter.edit import yamlpos
from promoter.edit.model import Kind, Site

CONTAINER_KEYS = frozenset({"containers", "initContainers", "ephemeralContainers"})
SKIPPED_SUBTREES = frozenset({"status", "metadata", "values", "valuesObject"})
FLUX_IMAGE_API = "image.toolkit.fluxcd.io/"
_PLACEHOLDERS = ("{{", "${", "$(", "<%")


def is_placeholder(value: str) -> bool:
    """A template or interpolation placeholder, never an image reference."""
    return any(p in value for p in _PLACEHOLDERS)


def find(yf: yamlpos.YamlFile) -> Iterator[Site]:
    for doc_index, doc in enumerate(yf.documents):
        if isinstance(doc, yamlpos.SequenceNode):
            yield from _json_patch(yf, doc, doc_index)
            continue
        api_version = yamlpos.mapping_get(doc, "apiVersion")
        if api_version is None or yamlpos.mapping_get(doc, "kind") is None:
            yield from _compose(yf, doc, doc_index)
            continue
        yield from _containers(yf, doc, doc_index)
        if not (yamlpos.scalar_value(api_version) or "").startswith(FLUX_IMAGE_API):
            yield from _image_keys(yf, doc, (), doc_index)


def _whole(yf: yamlpos.YamlFile, node: yamlpos.Node, path: yamlpos.YamlPath,
           doc: int) -> Site | None:
    if is_placeholder(yamlpos.scalar_value(node) or ""):
        return None
    return yamlpos.site_from_whole(yf, Kind.MANIFEST, node, path=path, document=doc)


def _compose(yf: yamlpos.YamlFile, doc: yamlpos.Node, doc_index: int) -> Iterator[Site]:
    services = yamlpos.mapping_get(doc, "services")
    if not isinstance(services, yamlpos.MappingNode) or not any(
            yamlpos.mapping_get(svc, k) is not None for _, _, svc in yamlpos.iter_mapping(services)
            for k in ("image", "build")):
        return
    for name, _, svc in yamlpos.iter_mapping(services):
        image = yamlpos.mapping_get(svc, "image")
        site = None if image is None else _whole(yf, image, ("services", name, "image"),
                                                 doc_index)
        if site is not None:
            yield site


def _json_patch(yf: yamlpos.YamlFile, doc: yamlpos.SequenceNode, doc_index: int) -> Iterator[Site]:
    """A JSON 6902 patch (a list of ``{op, path, value}``): a value set at ``.../image``, or a
    container (or list of containers) added under ``.../containers``."""
    if not doc.value or not all(yamlpos.mapping_get(op, "op") is not None and
                                yamlpos.mapping_get(op, "path") is not None for op in doc.value):
        return
    for i, op in enumerate(doc.value):
        target = yamlpos.scalar_value(yamlpos.mapping_get(op, "path")) or ""
        value = yamlpos.mapping_get(op, "value")
        verb = yamlpos.scalar_value(yamlpos.mapping_get(op, "op")) or ""
        if value is None or verb not in ("add", "replace"):
            continue
        if isinstance(value, yamlpos.ScalarNode):
            site = _whole(yf, value, (i, "value"), doc_index) if \
                target.endswith("/image") else None
            if site is not None:
                yield site
            continue
        items = list(enumerate(value.value)) if isinstance(value, yamlpos.SequenceNode) else [
            (None, value)]
        for j, item in items:
            image = yamlpos.mapping_get(item, "image")
            where: yamlpos.YamlPath = (i, "value") if j is None else (i, "value", j)
            site = None if image is None or "/containers" not in target else _whole(
                yf, image, (*where, "image"), doc_index)
            if site is not None:
                yield site


def _image_keys(yf: yamlpos.YamlFile, node: yamlpos.Node, path: yamlpos.YamlPath,
                doc: int) -> Iterator[Site]:
    """``*image: repo:tag`` scalars anywhere but in skipped subtrees (see the docstring)."""
    stack: list[tuple[yamlpos.YamlPath, yamlpos.Node]] = [(path, node)]
    seen: set[int] = set()
    while stack:
        p, n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yamlpos.SequenceNode):
            stack.extend(((*p, i), v) for i, v in reversed(list(enumerate(n.value))))
            continue
        for key, _, value in reversed(list(yamlpos.iter_mapping(n))):
            if key in SKIPPED_SUBTREES:
                continue
            if isinstance(value, yamlpos.ScalarNode):
                if key.lower().endswith("image"):
                    site = _whole(yf, value, (*p, key), doc)
                    if site is not None and (site.ref.tag or site.ref.digest):
                        yield site
            else:
                stack.append(((*p, key), value))


def _containers(yf: yamlpos.YamlFile, doc: yamlpos.Node, doc_index: int) -> Iterator[Site]:
    for path, node in yamlpos.walk(doc):
        if not path or path[-1] not in CONTAINER_KEYS or not isinstance(node, yamlpos.SequenceNode):
            continue
        for i, item in enumerate(node.value):
            image = yamlpos.mapping_get(item, "image")
            site = None if image is None else _whole(yf, image, (*path, i, "image"), doc_index)
            if site is not None:
                yield site
            env = yamlpos.mapping_get(item, "env")
            yield from _env_images(yf, env, (*path, i, "env"), doc_index)


def _env_images(yf: yamlpos.YamlFile, env: yamlpos.Node | None, path: yamlpos.YamlPath,
                doc: int) -> Iterator[Site]:
    """``env`` entries named ``*_IMAGE`` whose value is a tagged (or pinned) reference."""
    if not isinstance(env, yamlpos.SequenceNode):
        return
    for j, entry in enumerate(env.value):
        name = yamlpos.scalar_value(yamlpos.mapping_get(entry, "name")) or ""
        value = yamlpos.mapping_get(entry, "value")
        if not name.upper().endswith("IMAGE") or value is None:
            continue
        site = _whole(yf, value, (*path, j, "value"), doc)
        if site is not None and (site.ref.tag or site.ref.digest):
            yield site
