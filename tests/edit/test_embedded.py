"""YAML held by block scalars (issue 11, class 3): Argo CD ``helm.values: |`` and inline
kustomize patches are read and edited in place, indent and chomping kept."""

from __future__ import annotations

import pytest

from promoter.edit import Change, Kind, apply_changes, find_sites
from promoter.errors import EditError

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
spec:
  template:
    spec:
      source:
        helm:
          values: |
            image:
              repository: ghcr.io/acme/app
              tag: "1.0"
            sideImage:
              repository: ghcr.io/acme/bare
"""


def test_sites_in_a_values_block_have_the_files_lines_and_columns() -> None:
    sites = find_sites(APP, "appset.yaml")
    assert [(s.kind, s.name, s.ref.tag, s.line, s.file) for s in sites] == [
        (Kind.HELM, "ghcr.io/acme/app", "1.0", 11, "appset.yaml"),
        (Kind.HELM, "ghcr.io/acme/bare", None, 13, "appset.yaml")]
    tag = sites[0].tag
    assert tag is not None and APP[tag.start:tag.end] == '"1.0"' and tag.column == 20


def test_an_edit_in_a_block_changes_only_that_value() -> None:
    site = find_sites(APP, "appset.yaml")[0]
    assert apply_changes(APP, "appset.yaml", [Change(site=site, tag="1.1")]) == APP.replace(
        'tag: "1.0"', 'tag: "1.1"')


def test_a_key_that_would_have_to_be_added_inside_a_block_is_refused() -> None:
    bare = find_sites(APP, "appset.yaml")[1]
    with pytest.raises(EditError, match=r"^appset.yaml:8:19: the reference inside this block "
                                        r"scalar has no value to set there"):
        apply_changes(APP, "appset.yaml", [Change(site=bare, tag="2")])


@pytest.mark.parametrize("values", [
    "values: >\n            image: ghcr.io/acme/app:1.0\n",  # folded: newlines are not kept
    "values: |2\n              image: ghcr.io/acme/app:1.0\n",  # explicit indentation
    "values: |\n            image: {{ .Values.image }}:1.0\n",  # a template, not YAML
    "values: |\n            image: ghcr.io/acme/app:1.0\n            bad: [\n",  # invalid
])
def test_blocks_that_are_not_plain_yaml_are_not_read(values: str) -> None:
    text = APP[:APP.index("values:")] + values
    assert find_sites(text, "appset.yaml") == ()


def test_a_block_elsewhere_is_only_text() -> None:
    text = ("apiVersion: v1\nkind: ConfigMap\ndata:\n  values: |\n"
            "    image: ghcr.io/acme/app:1.0\n")
    assert find_sites(text, "cm.yaml") == ()
