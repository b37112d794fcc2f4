"""``gates.signature`` in ``.promoter.yaml``: keys and keyless signers, files inside the
repository read and parsed at load, every mistake one line at its key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promoter.config import KeylessSigner, SignaturePolicy, load_config, parse_config
from promoter.errors import ConfigError
from promoter.signature_gate import requirement
from tests.signing.cosign import Fulcio, ec_key, public_pem

PEM = public_pem(ec_key())
ROOTS = Fulcio().roots_pem


def _text(signature: str) -> str:
    return f"""\
environments:
  - {{name: dev, paths: [d]}}
  - name: prod
    paths: [p]
    gates:
      signature: {signature}
images: [{{repository: ghcr.io/acme/api}}]
"""


def _write(root: Path, signature: str) -> Path:
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "cosign.pub").write_bytes(PEM)
    (root / "keys" / "roots.pem").write_bytes(ROOTS)
    path = root / ".promoter.yaml"
    path.write_text(_text(signature))
    return path


def _error(root: Path, signature: str) -> str:
    with pytest.raises(ConfigError) as e:
        load_config(_write(root, signature), root=root)
    return str(e.value)


def test_keys_and_keyless_signers_load(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, (
        "{keys: [keys/cosign.pub], docker-reference: ghcr.io/acme/api, keyless: "
        "[{roots: keys/roots.pem, identity-regexp: 'https://github.com/acme/.*', "
        "issuer: https://token.actions.githubusercontent.com, rekor-keys: [keys/cosign.pub]}]}")),
        root=tmp_path)
    policy = cfg.environment("prod").gates.signature
    assert policy == SignaturePolicy(
        keys=("keys/cosign.pub",), docker_reference="ghcr.io/acme/api",
        keyless=(KeylessSigner(roots="keys/roots.pem", identity_regexp="https://github.com/acme/.*",
                               issuer="https://token.actions.githubusercontent.com",
                               rekor_keys=("keys/cosign.pub",)),))
    assert cfg.environment("dev").gates.signature is None
    files = {"keys/cosign.pub": PEM, "keys/roots.pem": ROOTS}
    req = requirement(policy, files.get)
    assert [k.name for k in req.keys] == ["keys/cosign.pub"]
    assert req.keyless[0].identity_regexp is not None
    assert req.keyless[0].expected == "/https://github.com/acme/.*/"
    assert req.docker_reference == "ghcr.io/acme/api"


@pytest.mark.parametrize(("signature", "message"), [
    ("{keys: [keys/missing.pub]}",
     "6:26: environments[1].gates.signature.keys[0]: 'keys/missing.pub': cannot read it"),
    ("{keys: [keys/roots.pem]}",
     "6:26: environments[1].gates.signature.keys[0]: keys/roots.pem: not a PEM public key"),
    ("{keys: [../outside.pub]}",
     "environments[1].gates.signature.keys[0]: '../outside.pub' leaves the repository ('..')"),
    ("{keys: [/etc/cosign.pub]}", "is absolute; paths are relative to the repository root"),
    ("{keyless: [{roots: keys/cosign.pub, identity: a@b.c, issuer: https://i}]}",
     "environments[1].gates.signature.keyless[0].roots: keys/cosign.pub: no PEM certificate"),
    ("{keyless: [{roots: keys/roots.pem, identity: a@b.c, identity-regexp: x, issuer: i}]}",
     "give either identity or identity-regexp, not both"),
    ("{keyless: [{roots: keys/roots.pem, identity-regexp: '(', issuer: i}]}",
     "keyless[0].identity-regexp: invalid regular expression"),
    ("{keyless: [{roots: keys/roots.pem, identity: a@b.c}]}", "environments[1].gates.signature"),
    ("{docker-reference: x}", "environments[1].gates.signature"),
    ("{keys: [keys/cosign.pub], key: [x]}", "key"),
])
def test_mistakes_name_file_line_col_and_key(tmp_path: Path, signature: str,
                                              message: str) -> None:
    error = _error(tmp_path, signature)
    assert message in error
    assert error.startswith(str(tmp_path / ".promoter.yaml") + ":")


def test_a_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pub"
    outside.write_bytes(PEM)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "keys").mkdir()
    os.symlink(outside, root / "keys" / "link.pub")
    error = _error(root, "{keys: [keys/link.pub]}")
    assert "keys[0]: 'keys/link.pub' leaves the repository through a symlink" in error


def test_without_a_root_only_the_spelling_is_checked() -> None:
    cfg = parse_config(_text("{keys: [keys/cosign.pub]}"))
    assert cfg.environment("prod").gates.signature == SignaturePolicy(keys=("keys/cosign.pub",))
    with pytest.raises(ConfigError, match="leaves the repository"):
        parse_config(_text("{keys: [a/../../b.pub]}"))


def test_health_statuses_of_an_environment() -> None:
    text = _text("{keys: [k.pub]}").replace(
        "  - {name: dev, paths: [d]}",
        "  - {name: dev, paths: [d], health: {statuses: [argocd/api-dev]}}")
    cfg = parse_config(text)
    assert cfg.environment("dev").health_statuses == ("argocd/api-dev",)
    assert cfg.environment("prod").health_statuses == ()
    for bad in ("{statuses: []}", "{status: [x]}", "{}"):
        with pytest.raises(ConfigError, match=r"2:\d+: environments\[0\]\.health"):
            parse_config(text.replace("{statuses: [argocd/api-dev]}", bad))
