"""Hostile trees and files (issue 15, the editing engine's part): nothing written outside the
tree, bounded work on every file, owners and modes kept, no reference skipped silently."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from promoter.cli import main
from promoter.edit import find_sites
from promoter.edit.files import MAX_FILE_BYTES
from promoter.edit.yamlpos import MAX_EXPANDED, expanded_size, parse_yaml
from promoter.errors import InputError

DEPLOYMENT = """\
apiVersion: v1
kind: Pod
metadata: {name: api, labels: {app: api}}
spec:
  containers:
  - name: api
    image: ghcr.io/acme/api:1.0.0
"""
BOMB = "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
    for p, k in zip(["", *"abcdefgh"], "abcdefghi", strict=True)) + "image: x:1\n"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """tree/link.yaml -> ../outside/x.yaml, and a file inside that holds the image too."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x.yaml").write_text(DEPLOYMENT)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "inside.yaml").write_text(DEPLOYMENT)
    (tmp_path / "tree" / "link.yaml").symlink_to("../outside/x.yaml")
    return tmp_path


def test_set_image_refuses_a_symlink_out_of_the_tree(
        linked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(linked)
    tree = linked / "tree"
    code = main(["set-image", str(tree), "--image", "ghcr.io/acme/api", "--tag", "2.0.0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"promoter: error: set-image: {tree / 'link.yaml'}: a symbolic link that "
                   f"leads out of {tree}; refusing to follow it (name the file itself to edit "
                   "it); it may reference ghcr.io/acme/api, so nothing was written\n")
    assert _snapshot(linked) == before


def test_find_images_skips_a_symlink_out_of_the_tree(
        linked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = linked / "tree"
    assert main(["find-images", str(tree)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{tree / 'inside.yaml'}:7: manifest ghcr.io/acme/api:1.0.0\n"
    assert "link.yaml: a symbolic link that leads out of" in err


def test_a_symlink_inside_the_tree_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text(DEPLOYMENT)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "link.yaml").symlink_to("../real.yaml")
    assert main(["set-image", str(tmp_path), "--image", "ghcr.io/acme/api", "--tag", "2"]) == 0
    assert "ghcr.io/acme/api:2\n" in (tmp_path / "real.yaml").read_text()
    assert (tmp_path / "sub" / "link.yaml").is_symlink()


def test_an_alias_bomb_is_refused_at_once(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert len(BOMB) < 500
    (tmp_path / "bomb.yaml").write_text(BOMB)
    started = time.monotonic()
    assert main(["find-images", str(tmp_path / "bomb.yaml")]) == 2
    assert time.monotonic() - started < 5
    assert capsys.readouterr().err == (
        f"promoter: error: {tmp_path / 'bomb.yaml'}:1:1: invalid YAML: aliases expand to more "
        f"than {MAX_EXPANDED} values (an alias bomb?); refusing to read it\n")


def test_a_bomb_in_a_later_document_names_that_document() -> None:
    with pytest.raises(InputError, match=r"^b\.yaml:3:1: invalid YAML: aliases expand"):
        find_sites("image: a:1\n---\n" + BOMB, "b.yaml")


def test_anchors_that_repeat_a_block_a_few_times_are_fine() -> None:
    text = ("base: &base {repository: ghcr.io/acme/api, tag: '1.0'}\n"
            + "".join(f"c{i}: {{image: *base}}\n" for i in range(200)))
    assert len(find_sites(text, "values.yaml")) >= 1


def test_expanded_size_counts_every_alias_and_ends_on_recursion() -> None:
    yf = parse_yaml("a: &x [1, 2]\nb: *x\nc: *x\n", "f.yaml")
    # root + 3 keys + 3 lists (shared, counted at each alias) of 1 + 2 scalars; 9 distinct
    assert expanded_size(yf.documents) == (1 + 3 + 3 * 3, 1 + 3 + 3)
    rec = parse_yaml("a: &x [1, *x]\n", "r.yaml")
    assert expanded_size(rec.documents) == (1 + 1 + 3, 4)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "values.yaml"
    with big.open("w") as f:
        f.write("image: ghcr.io/acme/api:1.0.0\n")
        f.write("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert main(["find-images", str(big)]) == 2
    assert capsys.readouterr().err == (
        f"promoter: error: {big}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; refusing "
        "to read it as an image file\n")
    before = big.read_bytes()
    assert main(["set-image", str(tmp_path), "--image", "ghcr.io/acme/api", "--tag", "2"]) == 2
    assert "may reference ghcr.io/acme/api, so nothing was written" in capsys.readouterr().err
    assert big.read_bytes() == before


def test_set_image_keeps_a_read_only_files_mode_or_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text(DEPLOYMENT)
    f.chmod(0o444)
    code = main(["set-image", str(f), "--image", "ghcr.io/acme/api", "--tag", "2.0.0"])
    if os.access(f, os.W_OK):  # root may write any file: the mode must survive
        assert code == 0
        assert "api:2.0.0" in f.read_text()
    else:
        assert code == 2
        assert capsys.readouterr().err == (
            f"promoter: error: {f}: cannot write: the file is read-only for this user; make it "
            "writable first; no file was changed\n")
        assert f.read_text() == DEPLOYMENT
    assert stat.S_IMODE(f.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["deploy.yaml"]  # no temporary file left


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_set_image_keeps_the_owner_of_another_users_file(tmp_path: Path) -> None:
    f = tmp_path / "deploy.yaml"
    f.write_text(DEPLOYMENT)
    os.chown(f, 4321, 4322)
    assert main(["set-image", str(f), "--image", "ghcr.io/acme/api", "--tag", "2.0.0"]) == 0
    assert "api:2.0.0" in f.read_text()
    assert (f.stat().st_uid, f.stat().st_gid) == (4321, 4322)


def test_set_image_refuses_when_an_invalid_file_mentions_the_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.yaml").write_text(DEPLOYMENT)
    (tmp_path / "broken.yaml").write_text("image: ghcr.io/acme/api:1.0.0\n  bad: [\n")
    before = _snapshot(tmp_path)
    code = main(["set-image", str(tmp_path), "--image", "ghcr.io/acme/api", "--tag", "2.0.0"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"promoter: error: set-image: {tmp_path / 'broken.yaml'}:2:")
    assert err.endswith("; it may reference ghcr.io/acme/api, so nothing was written\n")
    assert _snapshot(tmp_path) == before


def test_an_invalid_file_about_other_images_only_warns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.yaml").write_text(DEPLOYMENT)
    (tmp_path / "broken.yaml").write_text(  # names ghcr.io/acme/api-proxy, not the image
        "{{- if .Values.on }}\nimage: ghcr.io/acme/api-proxy:1\n# acme/api.md\n{{- end }}\n")
    assert main(["set-image", str(tmp_path), "--image", "ghcr.io/acme/api", "--tag", "2"]) == 0
    assert "warning: skipped" in capsys.readouterr().err
    assert "ghcr.io/acme/api:2\n" in (tmp_path / "ok.yaml").read_text()


def _as_nobody(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run promoter as the unprivileged user ``nobody`` (needs root and setpriv)."""
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
         "promoter", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to act as another user")
def test_another_user_cannot_replace_a_file_they_may_not_write_or_own() -> None:
    seen = _as_nobody(["--version"])
    if seen.returncode != 0 and "No module named promoter" in seen.stderr:
        pytest.skip("nobody cannot read this checkout (a directory above it is closed to "
                    "other users)")
    with tempfile.TemporaryDirectory() as d:  # pytest's own directory is closed to nobody
        _check_as_nobody(Path(d))


def _check_as_nobody(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)  # nobody may create files here, so a rename would be possible
    readonly = tmp_path / "readonly.yaml"
    readonly.write_text(DEPLOYMENT)
    os.chown(readonly, 65534, 65534)
    readonly.chmod(0o444)
    shared = tmp_path / "shared.yaml"  # writable by all, owned by root
    shared.write_text(DEPLOYMENT)
    shared.chmod(0o666)
    for f, why in ((readonly, "the file is read-only for this user; make it writable first"),
                   (shared, "owned by uid 0 gid 0, which this user cannot give a new file; "
                            "not replaced")):
        done = _as_nobody(["set-image", str(f), "--image", "ghcr.io/acme/api", "--tag", "2"])
        assert (done.returncode, done.stderr) == (
            2, f"promoter: error: {f}: cannot write: {why}; no file was changed\n")
        assert f.read_text() == DEPLOYMENT
    assert (shared.stat().st_uid, stat.S_IMODE(readonly.stat().st_mode)) == (0, 0o444)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readonly.yaml", "shared.yaml"]


@pytest.mark.parametrize("name", ["a-b", "_", "9", "A_1-"])
def test_a_bomb_with_any_anchor_name_the_parser_reads_is_refused(name: str) -> None:
    text = BOMB.replace("&a ", f"&{name} ").replace("*a,", f"*{name},").replace(
        "*a]", f"*{name}]")
    assert f"&{name} " in text
    with pytest.raises(InputError, match="aliases expand"):
        find_sites(text, "values.yaml")


@pytest.mark.parametrize("name", ["a:b", "&a", "a*", "\u00e4", "$"])
def test_anchor_names_the_parser_rejects_are_invalid_yaml(name: str) -> None:
    """So the screen may look for [0-9A-Za-z_-] names only ("&a:b" is the anchor "a")."""
    with pytest.raises(InputError, match="invalid YAML"):
        find_sites(f"a: &{name} [image]\nb: *{name}\n", "values.yaml")
