"""The verifier and the signature gate, as pure functions over signatures made in the test."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from promoter.errors import InputError
from promoter.gates import GateState
from promoter.signature_gate import signature
from promoter.signing import (
    Keyless,
    PublicKey,
    Requirement,
    Signature,
    Verification,
    load_key,
    load_roots,
    pattern,
    verify,
)
from tests.signing.cosign import (
    IDENTITY,
    ISSUER,
    NOW,
    Fulcio,
    Rekor,
    ec_key,
    key_signature,
    keyless_signature,
    payload,
    public_pem,
)

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


@pytest.fixture(scope="module")
def fulcio() -> Fulcio:
    return Fulcio()


@pytest.fixture(scope="module")
def rekor() -> Rekor:
    return Rekor()


def keyless(fulcio: Fulcio, rekor: Rekor | None = None, **kw: object) -> Requirement:
    signer = Keyless(roots=load_roots("fulcio.pem", fulcio.roots_pem),
                     rekor_keys=(load_key("rekor.pub", rekor.public_pem),) if rekor else (),
                     **{"identity": IDENTITY, "issuer": ISSUER, **kw})  # type: ignore[arg-type]
    return Requirement(keyless=(signer,))


# --- key-based ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [ec_key, lambda: rsa.generate_private_key(65537, 2048),
                                  ed25519.Ed25519PrivateKey.generate],
                         ids=["ecdsa-p256", "rsa", "ed25519"])
def test_key_signature_verifies(make: object) -> None:
    key = make()  # type: ignore[operator]
    req = Requirement(keys=(load_key("cosign.pub", public_pem(key)),))
    result = verify([key_signature(key, payload(DIGEST), "sha256-ab.sig")], DIGEST, req, now=NOW)
    assert result == Verification(verified=True, by="key cosign.pub", signatures=1,
                                  source="sha256-ab.sig")
    assert result.text == "signed by key cosign.pub"


def test_no_signature_is_refused() -> None:
    req = Requirement(keys=(load_key("cosign.pub", public_pem(ec_key())),))
    assert verify([], DIGEST, req, now=NOW) == Verification(verified=False,
                                                            reason="no signature")


def test_other_key_is_refused() -> None:
    req = Requirement(keys=(load_key("cosign.pub", public_pem(ec_key())),))
    result = verify([key_signature(ec_key(), payload(DIGEST))], DIGEST, req, now=NOW)
    assert (result.verified, result.reason) == (False, "signed by another key")


def test_payload_of_another_digest_is_refused() -> None:
    key = ec_key()
    req = Requirement(keys=(load_key("cosign.pub", public_pem(key)),))
    result = verify([key_signature(key, payload(OTHER))], DIGEST, req, now=NOW)
    assert result.reason == "payload digest differs: signed sha256:cdcdcdcdcdcd, image is " \
                            "sha256:abababababab"


def test_tampered_payload_is_refused() -> None:
    key = ec_key()
    req = Requirement(keys=(load_key("cosign.pub", public_pem(key)),))
    sig = key_signature(key, payload(OTHER))
    forged = replace(sig, payload=payload(DIGEST))  # the digest swapped after signing
    assert verify([forged], DIGEST, req, now=NOW).reason == "signed by another key"


def test_docker_reference_checked_when_configured() -> None:
    key = ec_key()
    pub = load_key("cosign.pub", public_pem(key))
    sig = key_signature(key, payload(DIGEST, "ghcr.io/acme/app"))
    good = Requirement(keys=(pub,), docker_reference="ghcr.io/acme/app")
    bad = Requirement(keys=(pub,), docker_reference="ghcr.io/acme/other")
    assert verify([sig], DIGEST, good, now=NOW).verified
    assert verify([sig], DIGEST, bad, now=NOW).reason == \
        "payload names another image: ghcr.io/acme/app (expected ghcr.io/acme/other)"


def test_not_a_simple_signing_payload() -> None:
    key = ec_key()
    req = Requirement(keys=(load_key("k", public_pem(key)),))
    result = verify([key_signature(key, b'{"critical": 1}')], DIGEST, req, now=NOW)
    assert result.reason == "payload is not a cosign simple-signing document"


def test_one_good_signature_among_bad_ones_is_enough_and_the_best_reason_is_told() -> None:
    key = ec_key()
    req = Requirement(keys=(load_key("cosign.pub", public_pem(key)),))
    stranger = key_signature(ec_key(), payload(DIGEST), "a")
    other_digest = key_signature(key, payload(OTHER), "b")
    good = key_signature(key, payload(DIGEST), "c")
    assert verify([stranger, other_digest, good], DIGEST, req, now=NOW).source == "c"
    refused = verify([stranger, other_digest], DIGEST, req, now=NOW)
    assert refused.reason == ("payload digest differs: signed sha256:cdcdcdcdcdcd, image is "
                              "sha256:abababababab (2 signatures, none trusted)")


def test_garbage_signature_annotation() -> None:
    req = Requirement(keys=(load_key("k", public_pem(ec_key())),))
    sig = Signature(payload=payload(DIGEST), signature="not base64!")
    assert verify([sig], DIGEST, req, now=NOW).reason == "signature annotation is not base64"


def test_bad_trust_material_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"^cosign\.pub: not a PEM public key$"):
        load_key("cosign.pub", b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")
    with pytest.raises(InputError, match=r"^roots\.pem: no PEM certificate in it$"):
        load_roots("roots.pem", b"nothing")
    with pytest.raises(InputError, match=r"^identity-regexp: not a regular expression"):
        pattern("identity-regexp", "(")
    with pytest.raises(InputError, match="names no key"):
        verify([], DIGEST, Requirement(), now=NOW)


# --- keyless -----------------------------------------------------------------------------------

def test_keyless_with_rekor_verifies_long_after_the_certificate_expired(
        fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST))
    later = NOW + timedelta(days=3)  # the 10-minute certificate is long expired: Rekor vouches
    result = verify([sig], DIGEST, keyless(fulcio, rekor), now=later)
    assert (result.verified, result.by) == (True, f"{IDENTITY} (issuer {ISSUER})")


def test_keyless_without_rekor_needs_a_certificate_valid_now(fulcio: Fulcio) -> None:
    sig = keyless_signature(fulcio, None, payload(DIGEST))
    assert verify([sig], DIGEST, keyless(fulcio), now=NOW).verified
    late = verify([sig], DIGEST, keyless(fulcio), now=NOW + timedelta(hours=1))
    assert late.reason.startswith("certificate not valid at now ")


def test_keyless_identity_by_regexp_and_email(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST))
    req = keyless(fulcio, rekor, identity=None,
                  identity_regexp=pattern("r", r"https://github\.example/acme/.*"))
    assert verify([sig], DIGEST, req, now=NOW).verified
    mail = keyless_signature(fulcio, rekor, payload(DIGEST), identity="dev@acme.test")
    assert verify([mail], DIGEST, keyless(fulcio, rekor, identity="dev@acme.test"),
                  now=NOW).by == f"dev@acme.test (issuer {ISSUER})"
    partial = keyless(fulcio, rekor, identity=None, identity_regexp=pattern("r", "acme"))
    assert not verify([sig], DIGEST, partial, now=NOW).verified  # a match is a full match


def test_other_identity_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST), identity="https://evil.test/ci")
    result = verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW)
    assert result.reason == f"signed by another identity: https://evil.test/ci (expected " \
                            f"{IDENTITY})"


def test_other_issuer_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST), issuer="https://accounts.evil.test")
    result = verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW)
    assert result.reason == f"issued by another OIDC issuer: https://accounts.evil.test " \
                            f"(expected {ISSUER})"
    none = keyless_signature(fulcio, rekor, payload(DIGEST), issuer=None)
    assert verify([none], DIGEST, keyless(fulcio, rekor), now=NOW).reason == \
        f"issued by another OIDC issuer: none (expected {ISSUER})"


def test_certificate_of_another_ca_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(Fulcio(), rekor, payload(DIGEST))  # a CA nobody configured
    result = verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW)
    assert result.reason.startswith("certificate does not chain to the configured root")


def test_certificate_without_code_signing_is_refused(fulcio: Fulcio) -> None:
    key = ec_key()
    cert = fulcio.leaf(key, code_signing=False)
    good = keyless_signature(fulcio, None, payload(DIGEST))
    from cryptography.hazmat.primitives import serialization

    from tests.signing.cosign import sign_bytes
    sig = replace(good, certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
                  signature=base64.b64encode(sign_bytes(key, payload(DIGEST))).decode())
    assert verify([sig], DIGEST, keyless(fulcio), now=NOW).reason.startswith(
        "certificate does not chain to the configured root")


def test_signing_time_outside_the_certificate_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    issued = NOW - timedelta(hours=2)
    sig = keyless_signature(fulcio, rekor, payload(DIGEST), issued=issued,
                            integrated=issued + timedelta(minutes=30))  # logged after expiry
    result = verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW)
    assert result.reason.startswith("certificate not valid at signing time ")
    assert "(valid " in result.reason


def test_set_signed_by_another_log_key_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST), rekor_signer=ec_key())
    assert verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW).reason == \
        "Rekor bundle: signed entry timestamp does not verify"


def test_set_over_a_changed_time_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST))
    assert sig.bundle is not None
    bundle = json.loads(sig.bundle)
    bundle["Payload"]["integratedTime"] += 1  # moved into the validity window, say
    tampered = replace(sig, bundle=json.dumps(bundle))
    assert verify([tampered], DIGEST, keyless(fulcio, rekor), now=NOW).reason == \
        "Rekor bundle: signed entry timestamp does not verify"


def test_bundle_of_another_signature_is_refused(fulcio: Fulcio, rekor: Rekor) -> None:
    first = keyless_signature(fulcio, rekor, payload(DIGEST))
    second = keyless_signature(fulcio, rekor, payload(DIGEST))
    mixed = replace(second, bundle=first.bundle)
    assert verify([mixed], DIGEST, keyless(fulcio, rekor), now=NOW).reason == \
        "Rekor bundle records another signature"


def test_rekor_required_when_configured(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, None, payload(DIGEST))
    assert verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW).reason == \
        "no Rekor bundle with the signature"
    unknown = keyless_signature(fulcio, Rekor(), payload(DIGEST))
    assert verify([unknown], DIGEST, keyless(fulcio, rekor), now=NOW).reason.startswith(
        "Rekor bundle from an unknown log ")


def test_keyless_payload_digest_checked(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(OTHER))
    assert verify([sig], DIGEST, keyless(fulcio, rekor), now=NOW).reason.startswith(
        "payload digest differs")


def test_keyless_signature_not_by_its_certificate(fulcio: Fulcio, rekor: Rekor) -> None:
    sig = keyless_signature(fulcio, rekor, payload(DIGEST))
    other = key_signature(ec_key(), payload(DIGEST))
    forged = replace(sig, signature=other.signature)
    assert verify([forged], DIGEST, keyless(fulcio, rekor), now=NOW).reason == \
        "signature does not verify with its certificate"


def test_key_signature_where_keyless_is_expected(fulcio: Fulcio) -> None:
    sig = key_signature(ec_key(), payload(DIGEST))
    assert verify([sig], DIGEST, keyless(fulcio), now=NOW).reason == \
        "no certificate with the signature (keyless expected)"


def test_key_or_keyless_either_will_do(fulcio: Fulcio, rekor: Rekor) -> None:
    key = ec_key()
    req = replace(keyless(fulcio, rekor), keys=(PublicKey(name="team.pub",
                                                          key=key.public_key()),))
    assert verify([key_signature(key, payload(DIGEST))], DIGEST, req, now=NOW).by == \
        "key team.pub"
    assert verify([keyless_signature(fulcio, rekor, payload(DIGEST))], DIGEST, req,
                  now=NOW).by.startswith(IDENTITY)


# --- the gate ----------------------------------------------------------------------------------

def test_gate_states_and_details() -> None:
    ok = Verification(verified=True, by="key cosign.pub", signatures=1)
    assert signature(False, DIGEST, None).detail == "signature: not required"
    assert signature(False, DIGEST, None).passed
    g = signature(True, DIGEST, ok)
    assert (g.state, g.detail, g.name) == (GateState.PASS, "signature: signed by key cosign.pub",
                                           "signature")
    none = signature(True, DIGEST, Verification(verified=False, reason="no signature"))
    assert (none.state, none.detail) == (GateState.FAIL,
                                         "signature: no signature for sha256:abababababab")
    bad = signature(True, DIGEST, Verification(verified=False, reason="signed by another key"))
    assert (bad.state, bad.detail) == (GateState.FAIL,
                                       "signature: not trusted: signed by another key")
    down = signature(True, DIGEST, None, error="ghcr.io answered 503 (after 4 attempts)")
    assert (down.state, down.passed) == (GateState.PENDING, False)
    assert down.detail == "signature: cannot read signatures: ghcr.io answered 503 (after 4 " \
                          "attempts)"


@pytest.mark.parametrize("module", ["signing.py", "signature_gate.py"])
def test_verifier_and_gate_are_pure(module: str) -> None:
    from tests.test_architecture import FORBIDDEN, PKG, _imports

    names = _imports(PKG / module)
    assert not [n for n in names for f in FORBIDDEN if n == f or n.startswith(f + ".")]
    assert "promoter.registry" not in names and "time" not in names
