"""Helm chart versions: the places that pin a chart to one version.

Shapes (each Site has kind ``chart``, ``name`` the chart's name, ``tag`` the version scalar,
``chart_repo`` the repository when the shape writes one):

- ``Chart.yaml`` (or ``Chart.yml``): ``dependencies[].version`` with its ``name`` and
  ``repository`` (``oci://…`` or ``https://…``; a repository alias ``@name`` /
  ``alias:name`` counts as unknown, a ``file://`` dependency is not a chart from a repository
  and is skipped);
- Flux ``HelmRelease`` (``helm.toolkit.fluxcd.io``): ``spec.chart.spec.version`` with
  ``spec.chart.spec.chart`` as the name (the repository is a ``sourceRef`` to another object,
  so none). A v2 ``spec.chartRef`` points at an ``OCIRepository`` or ``HelmChart`` object that
  holds the version itself: it is left alone;
- Argo CD ``Application`` / ``ApplicationSet`` sources with a ``chart`` key:
  ``spec.source(s)[].targetRevision``, the repository ``repoURL`` (OCI sources write it
  without ``oci://``);
- kustomize ``helmCharts[].version`` with ``name`` and ``repo``.

Only exact versions are sites (Helm requires SemVer, so a value not starting with a digit or
``v`` and a digit, such as an Argo CD ``targetRevision: HEAD``, is a git revision and skipped): a
range (``~1.2.0``, ``^2``, ``>=1 <2``, ``1.x``, ``*``) lets
Helm choose and is not pinned, so it is skipped, as is an empty or missing version (there is
no value to set, and adding one would change what the chart resolves to).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from promoter.edit import yamlpos
from promoter.edit.model import Kind, Site
from promoter.refs import ImageRef

_RANGE = re.compile(r"[\s^~<>=*|]|(^|\.)[xX](\.|$)")
_VERSION = re.compile(r"v?[0-9]")  # chart versions are SemVer: "HEAD", "main" are git revisions
_CHART_FILES = frozenset({"Chart.yaml", "Chart.yml"})


def find(yf: yamlpos.YamlFile) -> Iterator[Site]:
    """Every pinned chart version (see the module docstring)."""
    chart_file = posixpath.basename(yf.path.replace("\\", "/")) in _CHART_FILES
    for index, doc in enumerate(yf.documents):
        if chart_file:
            yield from _dependencies(yf, doc, index)
            continue
        api = yamlpos.scalar_value(yamlpos.mapping_get(doc, "apiVersion")) or ""
        kind = yamlpos.scalar_value(yamlpos.mapping_get(doc, "kind")) or ""
        if api.startswith("helm.toolkit.fluxcd.io/") and kind == "HelmRelease":
            yield from _helm_release(yf, doc, index)
        elif api.startswith("argoproj.io/") and kind in ("Application", "ApplicationSet"):
            yield from _argocd(yf, doc, index, kind)
        elif yamlpos.mapping_get(doc, "helmCharts") is not None:
            yield from _kustomize(yf, doc, index)


def _site(yf: yamlpos.YamlFile, *, name: str | None, version: yamlpos.Node | None,
          repo: str | None, at: yamlpos.Node | None, path: yamlpos.YamlPath,
          document: int) -> Site | None:
    written = yamlpos.scalar_value(version)
    if (not name or not isinstance(version, yamlpos.ScalarNode) or yamlpos.is_null(version)
            or not written or _RANGE.search(written) or not _VERSION.match(written)):
        return None
    if repo is not None and (repo.startswith(("@", "alias:")) or not repo):
        repo = None
    return Site(file=yf.path, kind=Kind.CHART, name=name,
                ref=ImageRef(_host(repo), name, tag=written),
                tag=yamlpos.span_of(version, yf),
                at=yamlpos.span_of(at, yf) if isinstance(at, yamlpos.ScalarNode) else None,
                yaml_path=path, document=document, chart_repo=repo)


def _host(repo: str | None) -> str:
    if repo is None:
        return ""
    return re.sub(r"^[a-zA-Z]+://", "", repo).partition("/")[0].lower()


def _dependencies(yf: yamlpos.YamlFile, doc: yamlpos.Node, index: int) -> Iterator[Site]:
    deps = yamlpos.mapping_get(doc, "dependencies")
    if not isinstance(deps, yamlpos.SequenceNode):
        return
    for i, item in enumerate(deps.value):
        repo = yamlpos.scalar_value(yamlpos.mapping_get(item, "repository"))
        if repo is not None and repo.lower().startswith("file://"):
            continue
        name_node = yamlpos.mapping_get(item, "name")
        site = _site(yf, name=yamlpos.scalar_value(name_node),
                     version=yamlpos.mapping_get(item, "version"), repo=repo, at=name_node,
                     path=("dependencies", i, "version"), document=index)
        if site is not None:
            yield site


def _helm_release(yf: yamlpos.YamlFile, doc: yamlpos.Node, index: int) -> Iterator[Site]:
    spec = yamlpos.mapping_get(yamlpos.mapping_get(yamlpos.mapping_get(doc, "spec"), "chart"),
                               "spec")
    name_node = yamlpos.mapping_get(spec, "chart")
    site = _site(yf, name=yamlpos.scalar_value(name_node),
                 version=yamlpos.mapping_get(spec, "version"), repo=None, at=name_node,
                 path=("spec", "chart", "spec", "version"), document=index)
    if site is not None:
        yield site


def _argocd(yf: yamlpos.YamlFile, doc: yamlpos.Node, index: int, kind: str) -> Iterator[Site]:
    path: yamlpos.YamlPath = ("spec",) if kind == "Application" else ("spec", "template", "spec")
    spec: yamlpos.Node | None = doc
    for key in path:
        spec = yamlpos.mapping_get(spec, str(key))
    sources: list[tuple[yamlpos.Node, yamlpos.YamlPath]] = []
    source = yamlpos.mapping_get(spec, "source")
    if source is not None:
        sources.append((source, (*path, "source")))
    many = yamlpos.mapping_get(spec, "sources")
    if isinstance(many, yamlpos.SequenceNode):
        sources.extend((item, (*path, "sources", i)) for i, item in enumerate(many.value))
    for node, at in sources:
        name_node = yamlpos.mapping_get(node, "chart")
        site = _site(yf, name=yamlpos.scalar_value(name_node),
                     version=yamlpos.mapping_get(node, "targetRevision"),
                     repo=yamlpos.scalar_value(yamlpos.mapping_get(node, "repoURL")),
                     at=name_node, path=(*at, "targetRevision"), document=index)
        if site is not None:
            yield site


def _kustomize(yf: yamlpos.YamlFile, doc: yamlpos.Node, index: int) -> Iterator[Site]:
    charts = yamlpos.mapping_get(doc, "helmCharts")
    if not isinstance(charts, yamlpos.SequenceNode):
        return
    for i, item in enumerate(charts.value):
        name_node = yamlpos.mapping_get(item, "name")
        site = _site(yf, name=yamlpos.scalar_value(name_node),
                     version=yamlpos.mapping_get(item, "version"),
                     repo=yamlpos.scalar_value(yamlpos.mapping_get(item, "repo")),
                     at=name_node, path=("helmCharts", i, "version"), document=index)
        if site is not None:
            yield site
