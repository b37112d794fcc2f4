"""The finders: one module per kind of place that pins an image, listed in one dict.

A finder is ``def find(yf: YamlFile) -> Iterator[Site]``: pure, it only reads the composed
documents (and, for markers, the text). It yields a :class:`~promoter.edit.model.Site` for every
reference it can edit and skips shapes it cannot (it never raises for them).

De-duplication rule. One scalar may be found by several finders (a ``# promoter:`` marker on a
manifest's ``image:``, an Argo CD Application's ``kustomize.images`` that also looks like Helm
values). :func:`promoter.edit.engine.find_sites` keeps **one Site per value span** (the site's
``(whole, name_span, tag, digest)`` spans), choosing by :data:`PRIORITY`:
marker > argocd > kustomize > manifest > helm > chart. A marker wins because the user wrote it
for that scalar; Helm's heuristics come last among images because they are the least specific
(a chart version is never an image's scalar, so its place does not matter). Two sites with
different spans that share a scalar (an anchor used by two images) are both kept; the engine
decides about such shared values when it edits (see :mod:`promoter.edit.engine`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from promoter.edit.finders import argocd, chart, helm, kustomize, manifest, marker
from promoter.edit.model import Kind, Site
from promoter.edit.yamlpos import YamlFile

Finder = Callable[[YamlFile], Iterator[Site]]

FINDERS: dict[Kind, Finder] = {
    Kind.MARKER: marker.find,
    Kind.ARGOCD: argocd.find,
    Kind.KUSTOMIZE: kustomize.find,
    Kind.MANIFEST: manifest.find,
    Kind.HELM: helm.find,
    Kind.CHART: chart.find,
}

# Lower wins when two finders report the same span.
PRIORITY: dict[Kind, int] = {
    Kind.MARKER: 0,
    Kind.ARGOCD: 1,
    Kind.KUSTOMIZE: 2,
    Kind.MANIFEST: 3,
    Kind.HELM: 4,
    Kind.CHART: 5,
}
