"""``charts:``: what a chart entry becomes, and its mistakes with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.charts import ChartSource
from promoter.cli import main
from promoter.config import parse_config
from promoter.errors import ConfigError
from promoter.refs import ImageRef

ENVS = "environments: [{name: dev, paths: [dev]}, {name: prod, paths: [prod]}]\n"


def test_charts_become_images_with_a_chart_source() -> None:
    cfg = parse_config(ENVS + """\
images: [{repository: ghcr.io/acme/api}]
charts:
  - chart: podinfo
    repository: oci://ghcr.io/stefanprodan/charts/
    policy: {semver: ^6, min-age: 3d}
  - name: ingress
    chart: ingress-nginx
    repository: https://kubernetes.github.io/ingress-nginx
    targets: {prod: [{file: prod/app.yaml, kind: chart}]}
""")
    api, podinfo, ingress = cfg.images
    assert api.chart is None
    assert podinfo.chart == ChartSource(chart="podinfo",
                                        repository="oci://ghcr.io/stefanprodan/charts")
    assert podinfo.repository == ImageRef("ghcr.io", "stefanprodan/charts/podinfo")
    assert (podinfo.policy.range, podinfo.environments) == ("^6", ("dev", "prod"))
    assert ingress.name == "ingress"
    assert ingress.repository == ImageRef("kubernetes.github.io", "ingress-nginx/ingress-nginx")
    assert ingress.environments == ("prod",)


@pytest.mark.parametrize(("text", "message"), [
    ("charts: [{chart: web, repository: 'ftp://x.example/c'}]\n",
     ".promoter.yaml:2:35: charts[0].repository: not a chart repository: give oci://host/path "
     "or an http(s):// Helm repository URL (no credentials in it)"),
    ("charts: [{chart: web, repository: 'https://user:pw@x.example/c'}]\n",
     ".promoter.yaml:2:35: charts[0].repository: not a chart repository: give oci://host/path "
     "or an http(s):// Helm repository URL (no credentials in it)"),  # the password not shown
    ("charts: [{chart: 'a/b', repository: 'oci://x.example/c'}]\n",
     ".promoter.yaml:2:18: charts[0].chart: must be a chart name of letters, digits, '.', '_' "
     "and '-'"),
    ("images: [{repository: x.example/web}]\ncharts: [{chart: web, repository: 'oci://x.example/c'}]\n",
     ".promoter.yaml:3:10: charts[0]: duplicate chart 'web' (also images[0]); give one a "
     "distinct name"),
    ("charts: [{chart: web, repository: 'oci://x.example/c', policy: {strategy: digest}}]\n",
     ".promoter.yaml:2:75: charts[0].policy.strategy: a chart version has no digest to follow; "
     "digest is for images"),
    ("charts: [{chart: web, repository: 'oci://x.example/c', policy: {platform: linux/amd64}}]\n",
     ".promoter.yaml:2:65: charts[0].policy.platform: a chart has no platforms; platform is for "
     "images"),
    ("charts: [{chart: Web, repository: 'oci://x.example/c'}]\n",
     ".promoter.yaml:2:35: charts[0].repository: 'oci://x.example/c' with chart 'Web' does not "
     "make a valid repository path (lower-case letters, digits, . _ -)"),
])
def test_chart_mistakes(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(ENVS + text, file=".promoter.yaml")
    assert str(info.value) == message


def test_validate_counts_charts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".promoter.yaml").write_text(
        ENVS + "charts: [{chart: web, repository: 'https://c.example/stable'}]\n")
    assert main(["config", "validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out == (
        f"{tmp_path / '.promoter.yaml'}: ok: 0 image(s), 1 chart(s); environments dev* -> prod "
        "(* tracks the registry); forge local\n")
