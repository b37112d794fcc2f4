"""find-images and set-image through ``promoter.cli.main``: contract keys, exit codes, files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from promoter.cli import main
from tests.envelope import body

KUSTOMIZATION = """\
resources:
  - deployment.yaml
images:
  - name: ghcr.io/acme/api   # api
    newTag: "1.0.0"
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/acme/api:1.0.0
        - name: proxy
          image: nginx:1.25
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "kustomization.yaml").write_text(KUSTOMIZATION)
    (tmp_path / "app" / "deployment.yaml").write_text(DEPLOYMENT)
    (tmp_path / "app" / "template.yaml").write_text(
        "{{- if .Values.enabled }}\nimage: {{ .Values.image }}\n{{- end }}\n")
    (tmp_path / "app" / "README.md").write_text("image: not yaml\n")
    return tmp_path


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_find_images_json_contract(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["find-images", str(tree), "--output", "json"]) == 0
    out, err = capsys.readouterr()
    items = body(json.loads(out), command="find-images", exit_code=0)["images"]
    assert all(list(i) == ["file", "line", "kind", "name", "tag", "digest"] for i in items)
    app = tree / "app"
    assert items == [
        {"file": str(app / "deployment.yaml"), "line": 10, "kind": "manifest",
         "name": "ghcr.io/acme/api", "tag": "1.0.0", "digest": None},
        {"file": str(app / "deployment.yaml"), "line": 12, "kind": "manifest",
         "name": "nginx", "tag": "1.25", "digest": None},
        {"file": str(app / "kustomization.yaml"), "line": 5, "kind": "kustomize",
         "name": "ghcr.io/acme/api", "tag": "1.0.0", "digest": None},
    ]
    # the Helm template is reported and skipped, never fatal; README.md is not scanned
    assert err == (f"promoter: warning: skipped {app / 'template.yaml'}:1:3: invalid YAML: "
                   "while parsing a flow node did not find expected node content\n")


def test_find_images_text(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["find-images", str(tree / "app" / "deployment.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"{tree / 'app' / 'deployment.yaml'}:10: manifest ghcr.io/acme/api:1.0.0",
        f"{tree / 'app' / 'deployment.yaml'}:12: manifest nginx:1.25"]


def test_set_image_everywhere_with_diff(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(tree / "app" / "deployment.yaml", 0o640)
    assert main(["set-image", str(tree), "--image", "ghcr.io/acme/api", "--tag", "1.1.0",
                 "--diff"]) == 0
    out = capsys.readouterr().out
    assert "-          image: ghcr.io/acme/api:1.0.0\n+          image: ghcr.io/acme/api:1.1.0\n" \
        in out
    assert '-    newTag: "1.0.0"\n+    newTag: "1.1.0"\n' in out
    assert (tree / "app" / "deployment.yaml").read_text() == DEPLOYMENT.replace(
        "api:1.0.0", "api:1.1.0")
    assert (tree / "app" / "kustomization.yaml").read_text() == KUSTOMIZATION.replace(
        '"1.0.0"', '"1.1.0"')
    assert stat.S_IMODE((tree / "app" / "deployment.yaml").stat().st_mode) == 0o640
    assert not [p for p in (tree / "app").iterdir() if p.name.startswith(".promoter-")]


def test_equivalent_name_matches(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tree / "app" / "deployment.yaml")
    assert main(["set-image", path, "--image", "docker.io/library/nginx", "--tag", "1.27"]) == 0
    assert "image: nginx:1.27\n" in Path(path).read_text()
    assert capsys.readouterr().out == f"{path}: updated\n"


def test_up_to_date_writes_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tree / "app" / "deployment.yaml"
    before = path.stat()
    assert main(["set-image", str(path), "--image", "nginx", "--tag", "1.25"]) == 0
    assert capsys.readouterr().out == f"{path}: up to date\n"
    after = path.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_dry_run_writes_nothing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(tree)
    assert main(["set-image", str(tree / "app"), "--image", "nginx", "--tag", "2",
                 "--dry-run"]) == 0
    assert capsys.readouterr().out == f"{tree / 'app' / 'deployment.yaml'}: would update\n"
    assert _snapshot(tree) == before


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--image", "ghcr.io/acme/nothing", "--tag", "1"], 1,
     "promoter: error: ghcr.io/acme/nothing: referenced nowhere in {tree}\n"),
    (["--image", "nginx", "--tag", "not a tag"], 2,
     "promoter: error: set-image: not a valid tag: 'not a tag'\n"),
    (["--image", "nginx", "--digest", "sha256:short"], 2,
     "promoter: error: set-image: not a valid digest: 'sha256:short'\n"),
    (["--image", "nginx", "--new-name", "Bad Name"], 2,
     "promoter: error: set-image: not a valid image name: 'Bad Name'\n"),
    (["--image", "nginx"], 2, "promoter: error: set-image: give --tag, --digest and/or "
     "--new-name\n"),
    (["--image", "Not An Image", "--tag", "1"], 2,
     "promoter: error: set-image: not a valid image reference: 'Not An Image'\n"),
])
def test_set_image_errors(tree: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                          code: int, message: str) -> None:
    before = _snapshot(tree)
    assert main(["set-image", str(tree), *args]) == code
    assert capsys.readouterr().err == message.format(tree=tree)
    assert _snapshot(tree) == before


def test_explicit_invalid_file_is_exit_2_and_nothing_written(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(tree)
    bad = tree / "app" / "template.yaml"
    assert main(["set-image", str(tree / "app" / "deployment.yaml"), str(bad),
                 "--image", "nginx", "--tag", "2"]) == 2
    assert capsys.readouterr().err == (
        f"promoter: error: {bad}:1:3: invalid YAML: while parsing a flow node did not find "
        "expected node content\n")
    assert _snapshot(tree) == before


def test_missing_path_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["find-images", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err == f"promoter: error: {tmp_path / 'nope'}: no such file or " \
        "directory\n"


def test_shared_anchor_between_images_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    text = ("api:\n  image:\n    repository: acme/api\n    tag: &v '1.0'\n"
            "worker:\n  image:\n    repository: acme/worker\n    tag: *v\n")
    values.write_text(text)
    assert main(["set-image", str(values), "--image", "acme/api", "--tag", "2.0"]) == 2
    assert capsys.readouterr().err == (
        f"promoter: error: {values}:4:13: this value (a YAML anchor) is shared by acme/api and "
        "acme/worker; refusing to change both (give each its own value first); nothing "
        "written\n")
    assert values.read_text() == text


def test_anchor_of_one_image_is_edited_with_a_note(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    text = "defaults: &img {repository: acme/api, tag: '1.0'}\napi:\n  image: *img\n"
    values.write_text(text)
    assert main(["set-image", str(values), "--image", "acme/api", "--tag", "2.0"]) == 0
    assert values.read_text() == text.replace("'1.0'", "'2.0'")
    err = capsys.readouterr().err
    assert err == (f"promoter: note: {values}:1:44: this value is shared through the YAML "
                   "anchor &img (at defaults/tag, api/image/tag); edited once, every alias "
                   "follows\n")


def test_ambiguous_kustomize_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    k = tmp_path / "kustomization.yaml"
    text = "images:\n- name: app\n  newTag: '1'\n- name: app\n  newTag: '2'\n"
    k.write_text(text)
    assert main(["set-image", str(tmp_path), "--image", "app", "--tag", "3"]) == 2
    assert capsys.readouterr().err == (
        f"promoter: error: {k}:4:9: ambiguous: app has two images entries (lines 3 and 5); "
        "nothing written\n")
    assert k.read_text() == text


def test_not_utf8_in_directory_is_skipped(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"image: caf\xe9:1\n")
    (tmp_path / "values.yaml").write_text("image: app:1\n")
    assert main(["find-images", str(tmp_path), "--output", "json"]) == 0
    out, err = capsys.readouterr()
    assert [i["name"] for i in json.loads(out)["images"]] == ["app"]
    assert err == f"promoter: warning: skipped {tmp_path / 'latin1.yaml'}: not UTF-8 text " \
        "(byte 10)\n"


def test_diff_with_dry_run_and_a_file_given_twice(
        tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(tree)
    path = tree / "app" / "deployment.yaml"
    assert main(["set-image", str(tree), str(path), "--image", "nginx", "--tag", "1.26",
                 "--diff", "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        f"--- a/{path}\n+++ b/{path}\n@@ -9,4 +9,4 @@\n"
        "         - name: api\n"
        "           image: ghcr.io/acme/api:1.0.0\n"
        "         - name: proxy\n"
        "-          image: nginx:1.25\n"
        "+          image: nginx:1.26\n")
    assert _snapshot(tree) == before


def test_explicit_file_not_utf8_is_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"image: caf\xe9:1\n")
    assert main(["set-image", str(bad), "--image", "x", "--tag", "1"]) == 2
    assert capsys.readouterr().err == f"promoter: error: {bad}: not UTF-8 text (byte 10)\n"


def test_symlinked_file_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real-values.yaml"
    real.write_text("image: app:1\n")
    link = tmp_path / "values.yaml"
    link.symlink_to(real)
    assert main(["set-image", str(link), "--image", "app", "--tag", "2"]) == 0
    assert link.is_symlink() and real.read_text() == "image: app:2\n"
