"""set_image and find_in_paths over real files: fallbacks, cycles, notes, problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.edit import Kind, Problem, find_in_paths, set_image
from promoter.errors import EditError, NotFound


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_no_entry_is_added_when_the_resources_do_not_use_the_image(tmp_path: Path) -> None:
    _write(tmp_path, {
        "a/kustomization.yaml": "resources:\n- ../b\n- https://example.com/x.yaml\n"
                                "- github.com/org/repo//base?ref=v1\n",
        "b/kustomization.yaml": "resources:\n- ../a\n- pod.yaml\n",  # a cycle back to a
        "b/pod.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: other:1\n",
    })
    with pytest.raises(NotFound, match=r"^ghcr.io/acme/app: referenced nowhere in "):
        set_image([str(tmp_path / "a")], "ghcr.io/acme/app", tag="2")
    assert (tmp_path / "a" / "kustomization.yaml").read_text().count("images") == 0


def test_entry_is_added_through_nested_bases(tmp_path: Path) -> None:
    _write(tmp_path, {
        "overlay/kustomization.yaml": "resources:\n- ../mid\n",
        "mid/kustomization.yaml": "resources:\n- ../base\n",
        "base/kustomization.yaml": "resources:\n- pod.yaml\n",
        "base/pod.yaml": "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: other:1\n"
                         "  - image: docker.io/library/nginx:1.25\n",
    })
    result = set_image([str(tmp_path / "overlay")], "nginx", tag="1.27")
    assert (tmp_path / "overlay" / "kustomization.yaml").read_text() == (
        "resources:\n- ../mid\nimages:\n- name: nginx\n  newTag: \"1.27\"\n")
    assert result.notes == (f"{tmp_path / 'overlay' / 'kustomization.yaml'}: added an images "
                            "entry for nginx",)


def test_separate_digest_stays_with_a_note(tmp_path: Path) -> None:
    _write(tmp_path, {"kustomization.yaml": "images:\n- name: app\n  newTag: '1'\n"
                                            "  digest: sha256:" + "a" * 64 + "\n"})
    result = set_image([str(tmp_path)], "app", tag="2")
    (edit,) = result.changed
    assert edit.new == edit.old.replace("'1'", "'2'")
    assert result.notes == (f"{tmp_path / 'kustomization.yaml'}:3:11: app keeps its digest "
                            f"sha256:{'a' * 64}, which still decides the image",)


def test_problems_and_helm_paths(tmp_path: Path) -> None:
    _write(tmp_path, {
        "templates/deploy.yaml": "image: {{ .Values.image }}:{{ .Values.tag }}\n",
        "values.yaml": "api:\n  img: acme/api\n  version: \"1.0\"\n",
    })
    sites, problems = find_in_paths([str(tmp_path)])
    assert sites == ()
    assert problems == (Problem(file=str(tmp_path / "templates" / "deploy.yaml"), message=(
        f"{tmp_path / 'templates' / 'deploy.yaml'}:1:27: invalid YAML: while parsing a block "
        "mapping did not find expected key")),)
    sites, _ = find_in_paths([str(tmp_path)], helm_paths=["api.version"])
    assert [(s.kind, s.name, s.ref.tag, s.line) for s in sites] == [
        (Kind.HELM, "acme/api", "1.0", 3)]
    result = set_image([str(tmp_path / "values.yaml")], "acme/api", tag="1.1",
                       helm_paths=["api.version"])
    assert result.changed[0].new == "api:\n  img: acme/api\n  version: \"1.1\"\n"


def test_new_name_across_a_separate_registry_key_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"values.yaml": "image:\n  registry: quay.io\n  repository: acme/x\n"
                                     "  tag: v1\n"})
    with pytest.raises(EditError, match="names its registry in a separate key"):
        set_image([str(tmp_path)], "quay.io/acme/x", new_name="ghcr.io/acme/x")
    set_image([str(tmp_path)], "quay.io/acme/x", new_name="quay.io/acme/y")
    assert "repository: acme/y\n" in (tmp_path / "values.yaml").read_text()
