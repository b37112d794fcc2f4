"""Real files (tests/testdata/chart-corpus/ and the chart-holding files of the image corpus):
the chart finder reports exactly the pinned versions a reader sees, and each one is edited
byte-exactly (only the version's characters change; the new value reads back)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.edit import find_sites
from promoter.edit.model import Kind
from tests.edit.test_corpus import check_edit

DATA = Path(__file__).resolve().parent.parent / "testdata"

# file (under tests/testdata) -> (chart, version, repository as written, line) of every pin
EXPECTED: dict[str, list[tuple[str, str, str | None, int]]] = {
    "chart-corpus/bitnami__charts__bitnami__wordpress__Chart.yaml": [],  # 7.x.x: ranges
    "chart-corpus/argoproj__argocd-example-apps__helm-dependency__Chart.yaml": [
        ("wordpress", "9.0.3", "https://charts.helm.sh/stable", 27)],
    "chart-corpus/fluxcd__flux2-hub-spoke-example__infrastructure__controllers__"
    "ingress-nginx.yaml": [],  # version: "*"
    "chart-corpus/dkoshkin__homelab__infrastructure__controllers__ingress-nginx.yaml": [
        ("ingress-nginx", "4.4.2", None, 28)],
    "corpus/argocd/Cybe-Asia__digital-school-gitops__argocd__loki-stack-application.yaml": [
        ("loki-stack", "2.10.2", "https://grafana.github.io/helm-charts", 18)],
    "corpus/argocd/DigiBugCat__cassandra-k8s__argocd__apps__vm-k8s-stack.yaml": [
        ("victoria-metrics-k8s-stack", "0.72.4", "https://victoriametrics.github.io/helm-charts/",
         11)],
    "corpus/argocd/biosimulations__deployment__cluster__applications__prometheus.yaml": [
        ("kube-prometheus-stack", "34.1.1", "https://prometheus-community.github.io/helm-charts",
         15)],
    # targetRevision: HEAD beside chart: chart-name is a git revision, not a chart version
    "corpus/argocd/argoproj__argo-cd__docs__operator-manual__application.yaml": [],
    "corpus/helm-values/renovatebot__renovate__lib__modules__manager__helm-values____fixtures"
    "____single_file_with_multiple_documents.yaml": [("metallb", "0.13.10", None, 23)],
    "corpus/kustomize/tasty-savings__ts-infra__overlays__prod__kustomization.yml": [
        ("argo-cd", "5.29.1", "https://argoproj.github.io/argo-helm", 34)],
    # a Flux $imagepolicy marker on the version: both the marker's site and the chart's
    "corpus/flux-markers/valentin-mogenius__fleet-infra__clusters__my-cluster__"
    "podinfo-chart-helm-release.yaml": [("podinfo", "5.0.0", None, 13)],
    "corpus/flux-markers/jshaw86__fluxci-example__applications__my-cluster__"
    "simple-server-release.yaml": [],  # version: '*'
    "corpus/helm-values/fluxcd__flux2-kustomize-helm-example__apps__base__podinfo__release.yaml":
        [],  # no version: the latest
}


def test_every_chart_corpus_file_is_listed() -> None:
    listed = {p for p in EXPECTED if p.startswith("chart-corpus/")}
    files = {f"chart-corpus/{p.name}" for p in (DATA / "chart-corpus").glob("*.y*ml")}
    assert files == listed


def _source_paths() -> dict[str, str]:
    """chart-corpus file -> its path in its repository (a Chart.yaml is known by its name)."""
    rows = (DATA / "chart-corpus" / "SOURCES.tsv").read_text().splitlines()[1:]
    return {f"chart-corpus/{r.split(chr(9))[0]}": r.split(chr(9))[2] for r in rows}


@pytest.mark.parametrize("rel", list(EXPECTED))
def test_chart_corpus_file(rel: str) -> None:
    text = (DATA / rel).read_bytes().decode()
    path = _source_paths().get(rel, rel)
    sites = [s for s in find_sites(text, path) if s.kind is Kind.CHART]
    assert [(s.name, s.ref.tag, s.chart_repo, s.line) for s in sites] == EXPECTED[rel]
    for site in sites:
        check_edit(text, path, site)


def test_no_other_image_corpus_file_pins_a_chart() -> None:
    for path in sorted((DATA / "corpus").glob("*/*.y*ml")):
        rel = str(path.relative_to(DATA))
        if rel in EXPECTED or path.parent.name == "invalid" or rel.endswith(
                "rhn-gls-rtaniguchi__kustomize-done-properly__overlays__prod__kustomization.yml"):
            continue  # invalid YAML (test_corpus.INVALID)
        text = path.read_bytes().decode()
        assert [s for s in find_sites(text, rel) if s.kind is Kind.CHART] == [], rel
