"""Unpinned references (issue 11, class 7): ``image: busybox`` and a Helm ``tag: ""`` that means
the chart's appVersion are left alone by ``set-image --tag`` unless asked for explicitly."""

from __future__ import annotations

from pathlib import Path

import pytest

from promoter.cli import main
from promoter.edit import find_sites
from promoter.edit.ops import is_unpinned

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: tools}
spec:
  containers:
    - {name: shell, image: busybox}
    - {name: pinned, image: "busybox:1.36"}
"""
VALUES = """\
image:
  repository: ghcr.io/acme/app
  tag: ""   # the chart's appVersion
sidecar:
  repository: ghcr.io/acme/app
  tag: "1.0"
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pod.yaml").write_text(POD)
    (tmp_path / "values.yaml").write_text(VALUES)
    return tmp_path


def test_only_references_found_by_shape_without_a_version_are_unpinned() -> None:
    pod = find_sites(POD, "pod.yaml")
    assert [is_unpinned(s) for s in pod] == [True, False]
    kustomize = find_sites("kind: Kustomization\nimages:\n- name: busybox\n  newName: x/y\n",
                           "kustomization.yaml")
    assert [is_unpinned(s) for s in kustomize] == [False]  # an entry the user wrote


def test_set_image_tag_leaves_unpinned_references_alone(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set-image", str(tree), "--image", "busybox", "--tag", "1.37"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{tree / 'pod.yaml'}: updated\n"
    assert err == (f"promoter: note: {tree / 'pod.yaml'}:6:28: busybox has no tag or digest (the "
                   "default decides what runs); left alone, --include-untagged pins it\n")
    assert (tree / "pod.yaml").read_text() == POD.replace('"busybox:1.36"', '"busybox:1.37"')


def test_a_file_with_only_unpinned_references_is_left_alone(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tree / "values.yaml"
    assert main(["set-image", str(values), "--image", "ghcr.io/acme/app", "--tag", "2.0",
                 "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert out == f"{values}: would update\n"
    assert f"{values}:3:8: ghcr.io/acme/app has no tag or digest" in err
    assert main(["set-image", str(values), "--image", "ghcr.io/acme/app", "--tag", "1.0"]) == 0
    assert capsys.readouterr().out == f"{values}: up to date\n"
    (tree / "only.yaml").write_text(POD.replace('"busybox:1.36"', "alpine:3"))
    assert main(["set-image", str(tree / "only.yaml"), "--image", "busybox", "--tag", "1"]) == 0
    assert capsys.readouterr().out == f"{tree / 'only.yaml'}: left alone\n"
    assert (tree / "only.yaml").read_text() == POD.replace('"busybox:1.36"', "alpine:3")


def test_include_untagged_or_a_helm_path_pins_them(tree: Path) -> None:
    assert main(["set-image", str(tree / "pod.yaml"), "--image", "busybox", "--tag", "1.37",
                 "--include-untagged"]) == 0
    assert "{name: shell, image: busybox:1.37}" in (tree / "pod.yaml").read_text()
    values = tree / "values.yaml"
    assert main(["set-image", str(values), "--image", "ghcr.io/acme/app", "--tag", "2.0",
                 "--helm-path", "image"]) == 0
    assert (values).read_text() == VALUES.replace('tag: ""', 'tag: "2.0"').replace(
        'tag: "1.0"', 'tag: "2.0"')


def test_a_new_name_alone_is_no_pin(tree: Path) -> None:
    assert main(["set-image", str(tree / "pod.yaml"), "--image", "busybox",
                 "--new-name", "mirror.example.com/busybox"]) == 0
    text = (tree / "pod.yaml").read_text()
    assert "image: mirror.example.com/busybox}" in text
    assert '"mirror.example.com/busybox:1.36"' in text
