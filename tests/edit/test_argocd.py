"""Argo CD: Application/ApplicationSet helm.parameters and kustomize.images, .argocd-source."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.edit import apply_changes, find_sites, set_image
from promoter.edit.finders import argocd
from promoter.edit.model import Change, Kind, Site
from promoter.edit.yamlpos import parse_yaml
from promoter.errors import EditError

DIGEST = "sha256:" + "0123456789abcdef" * 4


def sites(text: str, path: str = "app.yaml") -> list[Site]:
    return list(argocd.find(parse_yaml(text, path)))


def spans(text: str, site: Site) -> dict[str, str]:
    out = {}
    for part in ("whole", "name_span", "tag", "digest", "at"):
        span = getattr(site, part)
        if span is not None:
            out[part] = text[span.start:span.end]
    return out


def summary(text: str, path: str = "app.yaml") -> list[tuple[str, str, int, dict[str, str]]]:
    return [(s.name, str(s.ref), s.line, spans(text, s)) for s in sites(text, path)]


APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
spec:
  source:
    repoURL: https://example.com/charts.git
    helm:
      parameters:
      - name: image.repository
        value: ghcr.io/org/guestbook
      - name: image.tag
        value: "1.10"
      - name: replicaCount
        value: "2"
      - name: worker.image.registry
        value: quay.io
      - name: worker.image.repository
        value: org/worker
      - name: worker.image.tag
        value: v2.0.0
      - name: sidecar.image
        value: 'nginx:1.25'
      - name: lonely.tag
        value: "3.0"
"""


def test_helm_parameters_are_grouped_by_prefix() -> None:
    assert summary(APPLICATION) == [
        ("ghcr.io/org/guestbook", "ghcr.io/org/guestbook:1.10", 13,
         {"name_span": "ghcr.io/org/guestbook", "tag": '"1.10"', "at": "image.repository"}),
        ("quay.io/org/worker", "quay.io/org/worker:v2.0.0", 21,
         {"name_span": "org/worker", "tag": "v2.0.0", "at": "worker.image.registry"}),
        ("nginx", "docker.io/library/nginx:1.25", 23, {"whole": "'nginx:1.25'"}),
    ]  # lonely.tag names no image: skipped
    (first, *_) = sites(APPLICATION)
    assert first.kind is Kind.ARGOCD
    assert first.yaml_path == ("spec", "source", "helm", "parameters", 1, "value")


MULTI_SOURCE = f"""\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: shop
spec:
  sources:
  - repoURL: https://example.com/a.git
    kustomize:
      images:
      - ghcr.io/org/api:1.2.3
      - "web=ghcr.io/org/web:2.0.0"
      - db=postgres@{DIGEST}
      - cache=redis
      - queue:4.0 # a comment
      - ${{IMAGE}}
  - repoURL: https://example.com/b.git
    kustomize:
      images:
        - >-
          ghcr.io/azure-samples/ai-service=ghcr.io/azure-samples/ai-service:2.2.0
"""


def test_kustomize_images_strings_in_every_source() -> None:
    assert summary(MULTI_SOURCE) == [
        ("ghcr.io/org/api", "ghcr.io/org/api:1.2.3", 10, {"whole": "ghcr.io/org/api:1.2.3"}),
        ("web", "docker.io/library/web:2.0.0", 11, {"whole": '"web=ghcr.io/org/web:2.0.0"'}),
        ("db", f"docker.io/library/db@{DIGEST}", 12, {"whole": f"db=postgres@{DIGEST}"}),
        ("cache", "docker.io/library/cache", 13, {"whole": "cache=redis"}),
        ("queue", "docker.io/library/queue:4.0", 14, {"whole": "queue:4.0"}),
        # a folded string: reported (the engine refuses to rewrite block scalars)
        ("ghcr.io/azure-samples/ai-service", "ghcr.io/azure-samples/ai-service:2.2.0", 19,
         {"whole": ">-\n          ghcr.io/azure-samples/ai-service=ghcr.io/azure-samples/"
                   "ai-service:2.2.0\n"}),
    ]
    assert sites(MULTI_SOURCE)[-1].yaml_path == ("spec", "sources", 1, "kustomize", "images", 0)


APPLICATION_SET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: apps
spec:
  generators:
  - list:
      elements:
      - stage: test
  template:
    metadata:
      name: 'app-{{stage}}'
      annotations:
        argocd-image-updater.argoproj.io/image-list: api=ghcr.io/org/api
        argocd-image-updater.argoproj.io/api.helm.image-name: api.imageName
        argocd-image-updater.argoproj.io/api.helm.image-tag: api.version
    spec:
      source:
        helm:
          parameters:
          - name: api.version
            value: 5.1.0
          - name: templated.image
            value: 'ghcr.io/org/{{stage}}:1.0'
        kustomize:
          images:
          - public.ecr.aws/nginx/nginx=public.ecr.aws/nginx/nginx:1.24.0
"""


def test_application_set_template_and_image_updater_annotations() -> None:
    assert summary(APPLICATION_SET) == [
        # the tag parameter is named by the annotations, the image by image-list
        ("ghcr.io/org/api", "ghcr.io/org/api:5.1.0", 22, {"tag": "5.1.0", "at": "api.version"}),
        ("public.ecr.aws/nginx/nginx", "public.ecr.aws/nginx/nginx:1.24.0", 27,
         {"whole": "public.ecr.aws/nginx/nginx=public.ecr.aws/nginx/nginx:1.24.0"}),
    ]


SOURCE_FILE = """\
helm:
  parameters:
  - name: image.name
    value: docker.io/library/nginx
    forcestring: true
  - name: image.tag
    value: 1.17.10
    forcestring: true
"""

SOURCE_FILE_KUSTOMIZE = """\
kustomize:
  images:
  - quay.io/org/app:v0.1.2
"""


@pytest.mark.parametrize("path", [
    ".argocd-source-guestbook.yaml", "apps/dev/.argocd-source-my-app.yml",
    ".argocd-source.yaml",
])
def test_image_updater_write_back_files(path: str) -> None:
    assert summary(SOURCE_FILE, path) == [
        ("docker.io/library/nginx", "docker.io/library/nginx:1.17.10", 7,
         {"name_span": "docker.io/library/nginx", "tag": "1.17.10", "at": "image.name"})]
    assert summary(SOURCE_FILE_KUSTOMIZE, path) == [
        ("quay.io/org/app", "quay.io/org/app:v0.1.2", 3, {"whole": "quay.io/org/app:v0.1.2"})]


@pytest.mark.parametrize(("text", "path"), [
    (SOURCE_FILE, "values.yaml"),  # the same shape in another file is no Argo CD file
    (SOURCE_FILE, "argocd-source-x.yaml"),
    (APPLICATION.replace("argoproj.io/v1alpha1", "example.com/v1"), "app.yaml"),
    (APPLICATION.replace("kind: Application", "kind: AppProject"), "app.yaml"),
    # name=... where name holds a tag is not kustomize syntax
    ('apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    kustomize:\n'
     '      images:\n      - "a:1=b:2"\n', "app.yaml"),
])
def test_what_is_not_an_argocd_image(text: str, path: str) -> None:
    assert sites(text, path) == []


def test_multi_document_files_keep_document_indexes() -> None:
    text = "kind: Namespace\napiVersion: v1\n---\n" + APPLICATION
    found = sites(text)
    assert {s.document for s in found} == {1}
    assert found[0].line == 16


# ---- editing through the engine ---------------------------------------------------------------


def _set(text: str, path: str, name: str, **change: str) -> str:
    (site,) = [s for s in find_sites(text, path) if s.name == name]
    return apply_changes(text, path, [Change(site=site, **change)])


@pytest.mark.parametrize(("name", "change", "old", "new"), [
    ("ghcr.io/org/guestbook", {"tag": "1.11"}, 'value: "1.10"', 'value: "1.11"'),
    ("quay.io/org/worker", {"tag": "2.0"}, "value: v2.0.0", 'value: "2.0"'),
    ("nginx", {"tag": "1.26"}, "value: 'nginx:1.25'", "value: 'nginx:1.26'"),
    ("ghcr.io/org/guestbook", {"new_name": "ghcr.io/org/gb"}, "value: ghcr.io/org/guestbook\n",
     "value: ghcr.io/org/gb\n"),
])
def test_helm_parameter_edits(name: str, change: dict[str, str], old: str, new: str) -> None:
    assert APPLICATION.count(old) == 1
    assert _set(APPLICATION, "app.yaml", name, **change) == APPLICATION.replace(old, new)


@pytest.mark.parametrize(("name", "change", "old", "new"), [
    ("web", {"tag": "2.1.0"}, '"web=ghcr.io/org/web:2.0.0"', '"web=ghcr.io/org/web:2.1.0"'),
    ("db", {"digest": "sha256:" + "ab" * 32}, f"db=postgres@{DIGEST}",
     "db=postgres@sha256:" + "ab" * 32),
    ("cache", {"tag": "7.2"}, "cache=redis\n", "cache=redis:7.2\n"),
    ("queue", {"tag": "4.1"}, "- queue:4.0 # a comment", "- queue:4.1 # a comment"),
])
def test_kustomize_images_edits_keep_the_name_part(name: str, change: dict[str, str], old: str,
                                                    new: str) -> None:
    assert MULTI_SOURCE.count(old) == 1
    assert _set(MULTI_SOURCE, "app.yaml", name, **change) == MULTI_SOURCE.replace(old, new)


def test_a_folded_one_line_kustomize_image_is_edited_in_its_line() -> None:
    new = _set(MULTI_SOURCE, "app.yaml", "ghcr.io/azure-samples/ai-service", tag="2.3.0")
    assert new == MULTI_SOURCE.replace("ai-service:2.2.0", "ai-service:2.3.0")


def test_a_folded_string_of_several_lines_is_refused_not_mangled() -> None:
    text = MULTI_SOURCE.replace("          ghcr.io/azure-samples/ai-service=",
                                "          ghcr.io/azure-samples/ai-service=\n\n          ")
    with pytest.raises(EditError, match="block scalar"):
        _set(text, "app.yaml", "ghcr.io/azure-samples/ai-service", tag="2.3.0")


def test_set_image_on_an_image_updater_write_back_file(tmp_path: Path) -> None:
    target = tmp_path / ".argocd-source-guestbook.yaml"
    target.write_bytes(SOURCE_FILE.replace("\n", "\r\n").encode())
    result = set_image([str(tmp_path)], "nginx", tag="1.19.0")
    assert result.written
    assert target.read_bytes() == SOURCE_FILE.replace("value: 1.17.10", "value: 1.19.0").replace(
        "\n", "\r\n").encode()


def test_a_new_name_keeps_the_kustomize_name_part() -> None:
    new = _set(MULTI_SOURCE, "app.yaml", "web", new_name="ghcr.io/org/web2")
    assert new == MULTI_SOURCE.replace('"web=ghcr.io/org/web:2.0.0"',
                                       '"web=ghcr.io/org/web2:2.0.0"')
