"""The chart finder: which chart versions are pins, and which are not."""

from __future__ import annotations

import pytest

from promoter.edit import find_sites
from promoter.edit.model import Kind
from promoter.edit.ops import matches


def _charts(text: str, path: str = "x.yaml") -> list[tuple[str, str | None, str | None, int]]:
    return [(s.name, s.ref.tag, s.chart_repo, s.line) for s in find_sites(text, path)
            if s.kind is Kind.CHART]


def test_chart_yaml_dependencies() -> None:
    text = ("apiVersion: v2\nname: a\nversion: 1.0.0\ndependencies:\n"
            "- {name: redis, version: 18.1.0, repository: 'https://c.example/stable'}\n"
            "- {name: pg, version: 1.2.3, repository: '@bitnami'}\n"
            "- {name: kafka, version: 2.0.0, repository: 'alias:bitnami'}\n"
            "- {name: local, version: 0.1.0, repository: 'file://../local'}\n"
            "- {name: nover, repository: 'https://c.example'}\n"
            "- {name: empty, version: '', repository: 'https://c.example'}\n")
    assert _charts(text, "charts/a/Chart.yaml") == [
        ("redis", "18.1.0", "https://c.example/stable", 5),
        ("pg", "1.2.3", None, 6),
        ("kafka", "2.0.0", None, 7),
    ]
    # the same text in a file not named Chart.yaml is not a chart's metadata
    assert _charts(text, "charts/a/values.yaml") == []


@pytest.mark.parametrize("version", ["~1.2.0", "^2", ">=1.0 <2.0", "1.x", "1.2.X", "*",
                                     "1.0 || 2.0", "=1.2.3", "HEAD", "main", "latest"])
def test_ranges_and_git_revisions_are_not_pins(version: str) -> None:
    text = f"dependencies:\n- name: redis\n  version: '{version}'\n  repository: https://c.example\n"
    assert _charts(text, "Chart.yaml") == []


def test_helmrelease_chart_spec_and_not_chart_ref() -> None:
    text = ("apiVersion: helm.toolkit.fluxcd.io/v2beta1\nkind: HelmRelease\nspec:\n"
            "  chart:\n    spec: {chart: podinfo, version: 6.5.0, sourceRef: {kind: HelmRepository,"
            " name: p}}\n---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n"
            "spec:\n  chartRef: {kind: OCIRepository, name: podinfo}\n  version: 1.0.0\n")
    assert _charts(text) == [("podinfo", "6.5.0", None, 5)]


def test_argocd_only_sources_with_a_chart() -> None:
    text = ("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nspec:\n  template:\n"
            "    spec:\n      source: {repoURL: 'https://c.example', chart: web, "
            "targetRevision: 1.2.3}\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\n"
            "spec:\n  source: {repoURL: 'https://github.com/a/b', path: x, "
            "targetRevision: v1.2.3}\n")
    assert _charts(text) == [("web", "1.2.3", "https://c.example", 6)]


def test_kustomize_helm_charts() -> None:
    text = ("helmCharts:\n- name: web\n  repo: oci://r.example/charts\n  version: 0.9.1\n"
            "- name: norepo\n  version: 1.0.0\n")
    assert _charts(text, "kustomization.yaml") == [
        ("web", "0.9.1", "oci://r.example/charts", 4), ("norepo", "1.0.0", None, 6)]


def test_a_chart_version_is_never_an_images() -> None:
    text = "helmCharts:\n- name: nginx\n  repo: https://c.example\n  version: 1.0.0\n"
    (site,) = [s for s in find_sites(text, "kustomization.yaml") if s.kind is Kind.CHART]
    assert not matches(site, "nginx")
    assert not matches(site, "c.example/nginx")
