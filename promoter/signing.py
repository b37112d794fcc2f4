"""Cosign signature verification: pure functions over the signatures a registry holds.

A cosign signature of an image is a *simple-signing* payload (JSON naming the image's manifest
digest under ``critical.image.docker-manifest-digest``) and a base64 signature over it, found
in the registry (:mod:`promoter.registry.signatures` fetches them). It is trusted when:

* **key-based**: the signature verifies with one of the configured public keys (PEM as
  ``cosign generate-key-pair`` writes: ECDSA P-256 with SHA-256; RSA PKCS#1 v1.5 or PSS with
  SHA-256 and Ed25519 too);
* **keyless**: the signature verifies with the key of the certificate next to it; the
  certificate chains (with the intermediates of the chain annotation) to a configured
  Fulcio-style root, carries the ``codeSigning`` usage, names the expected identity in its
  SAN (exactly or by a regular expression) and the expected OIDC issuer in the Fulcio
  extension ``1.3.6.1.4.1.57264.1.8`` (or the older ``.1.1``). With Rekor public keys
  configured, a Rekor bundle is required: its signed entry timestamp (SET) verifies with the
  key its ``logID`` names, its entry is a ``hashedrekord`` of this very signature, payload
  and certificate, and its integrated time (the signing time) falls inside the
  certificate's validity. Without Rekor keys, the certificate must be valid ``now``.

Either way the payload must name the image's digest, and the configured
``docker-reference`` when there is one. Results are plain data: :class:`Verification` says
verified (by which key or identity) or refused with a one-line reason. Nothing here reads a
clock, a file or the network: the caller passes ``now`` and the PEM bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from promoter.errors import InputError

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
#: Fulcio's OIDC issuer extensions: the DER UTF8String one, and the deprecated raw one
ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
#: Fulcio's SAN otherName for identities that are neither an email nor a URI
OTHERNAME_USER = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")

NO_SIGNATURE = "no signature"

VerifyingKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


# --- what the registry holds -------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    """One cosign signature as stored in the registry: a layer and its annotations."""

    payload: bytes  # the simple-signing JSON, as signed
    signature: str  # base64, the ``dev.cosignproject.cosign/signature`` annotation
    certificate: str | None = None  # PEM leaf certificate (keyless)
    chain: str | None = None  # PEM intermediates and root (keyless)
    bundle: str | None = None  # the Rekor bundle JSON (keyless)
    source: str = ""  # where it was found, for logs: "sha256-....sig", "referrer sha256:..."


# --- what is trusted ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKey:
    """A trusted signing key; ``name`` is how results name it (a file name, a key id)."""

    name: str
    key: VerifyingKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyless:
    """A trusted keyless signer: which roots, which identity, which issuer, which Rekor."""

    roots: tuple[x509.Certificate, ...]
    identity: str | None = None  # exact SAN
    identity_regexp: re.Pattern[str] | None = None  # or a SAN matching it in full
    issuer: str | None = None  # exact OIDC issuer
    issuer_regexp: re.Pattern[str] | None = None
    rekor_keys: tuple[PublicKey, ...] = ()  # when given, a verified Rekor bundle is required

    @property
    def expected(self) -> str:
        if self.identity is not None:
            return self.identity
        return f"/{self.identity_regexp.pattern}/" if self.identity_regexp else "any identity"

    @property
    def expected_issuer(self) -> str:
        if self.issuer is not None:
            return self.issuer
        return f"/{self.issuer_regexp.pattern}/" if self.issuer_regexp else "any issuer"


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """What an environment asks of an image's signatures: any one key or keyless signer."""

    keys: tuple[PublicKey, ...] = ()
    keyless: tuple[Keyless, ...] = ()
    docker_reference: str | None = None  # ``critical.identity.docker-reference``, when set


def load_key(name: str, pem: bytes) -> PublicKey:
    """A public key from PEM; :class:`InputError` naming ``name`` when it is not one we can use."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InputError(f"{name}: not a PEM public key") from None
    if not isinstance(key, VerifyingKey):
        raise InputError(f"{name}: {type(key).__name__} keys are not supported "
                         "(ECDSA, RSA or Ed25519)")
    return PublicKey(name=name, key=key)


def load_roots(name: str, pem: bytes) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM bundle; :class:`InputError` naming ``name`` when it has none."""
    try:
        certs = tuple(x509.load_pem_x509_certificates(pem))
    except ValueError:
        certs = ()
    if not certs:
        raise InputError(f"{name}: no PEM certificate in it")
    return certs


def pattern(name: str, text: str) -> re.Pattern[str]:
    """A regular expression from config; :class:`InputError` naming ``name`` when invalid."""
    try:
        return re.compile(text)
    except re.error as e:
        raise InputError(f"{name}: not a regular expression: {e}") from None


# --- the result --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """Verified (``by`` names the key or identity) or refused (``reason``, one line)."""

    verified: bool
    by: str = ""
    reason: str = ""
    signatures: int = 0  # how many were looked at
    source: str = ""  # where the accepted one was found

    @property
    def text(self) -> str:
        return f"signed by {self.by}" if self.verified else self.reason


class _Refused(Exception):
    """One signature is not trusted; ``rank``: how far it got (the furthest explains best)."""

    def __init__(self, reason: str, rank: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rank = rank


_RANK_CRYPTO = 1  # the signature itself verified
_RANK_CLAIMS = 2  # ... and its signer is trusted: only the payload is wrong


def verify(signatures: Sequence[Signature], digest: str, requirement: Requirement, *,
           now: datetime) -> Verification:
    """Whether one of ``signatures`` is a trusted signature of the image ``digest``."""
    if not requirement.keys and not requirement.keyless:
        raise InputError("signature requirement names no key and no keyless signer")
    if not signatures:
        return Verification(verified=False, reason=NO_SIGNATURE)
    refusals: list[_Refused] = []
    for sig in signatures:
        try:
            by = _verify_one(sig, digest, requirement, now)
        except _Refused as refused:
            refusals.append(refused)
            continue
        return Verification(verified=True, by=by, signatures=len(signatures), source=sig.source)
    best = max(refusals, key=lambda r: r.rank)  # the first among the furthest
    count = len(signatures)
    suffix = f" ({count} signatures, none trusted)" if count > 1 else ""
    return Verification(verified=False, reason=best.reason + suffix, signatures=count)


def _verify_one(sig: Signature, digest: str, req: Requirement, now: datetime) -> str:
    try:
        raw = base64.b64decode(sig.signature, validate=True)
    except (binascii.Error, ValueError):
        raise _Refused("signature annotation is not base64") from None
    refusals: list[_Refused] = []
    by: str | None = None
    for key in req.keys:
        if _signed(key.key, raw, sig.payload):
            by = f"key {key.name}"
            break
    else:
        if req.keys:
            refusals.append(_Refused("signed by another key"))
    if by is None and req.keyless:
        if sig.certificate is None:
            refusals.append(_Refused("no certificate with the signature (keyless expected)"))
        else:
            for signer in req.keyless:
                try:
                    by = _keyless(sig, raw, signer, now)
                    break
                except _Refused as refused:
                    refusals.append(refused)
    if by is None:
        raise max(refusals, key=lambda r: r.rank)
    _claims(sig.payload, digest, req.docker_reference)
    return by


def _signed(key: VerifyingKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(_ec_hash(key)))
        else:
            try:
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                key.verify(signature, data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                        salt_length=padding.PSS.AUTO),
                           hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _ec_hash(key: ec.EllipticCurvePublicKey) -> hashes.HashAlgorithm:
    """The hash cosign and Fulcio pair with each curve."""
    size = key.curve.key_size
    return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()


def _claims(payload: bytes, digest: str, reference: str | None) -> None:
    """The payload names ``digest`` (and ``reference`` when given)."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        signed = critical["image"]["docker-manifest-digest"]
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        raise _Refused("payload is not a cosign simple-signing document", _RANK_CLAIMS) from None
    if signed != digest:
        raise _Refused(f"payload digest differs: signed {short_digest(str(signed))}, image is "
                       f"{short_digest(digest)}", _RANK_CLAIMS)
    if reference is not None:
        identity = critical.get("identity")
        named = identity.get("docker-reference") if isinstance(identity, dict) else None
        if named != reference:
            raise _Refused(f"payload names another image: {named or 'none'} (expected "
                           f"{reference})", _RANK_CLAIMS)


def short_digest(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits: enough to tell digests apart in a line."""
    algorithm, _, hexes = digest.partition(":")
    return f"{algorithm}:{hexes[:12]}" if hexes else digest[:24]


# --- keyless -----------------------------------------------------------------------------------

def _keyless(sig: Signature, raw: bytes, signer: Keyless, now: datetime) -> str:
    assert sig.certificate is not None
    try:
        leaf = x509.load_pem_x509_certificate(sig.certificate.encode())
        chain = x509.load_pem_x509_certificates(sig.chain.encode()) if sig.chain else []
    except ValueError:
        raise _Refused("certificate annotation is not a PEM certificate") from None
    key = leaf.public_key()
    if not isinstance(key, VerifyingKey) or not _signed(key, raw, sig.payload):
        raise _Refused("signature does not verify with its certificate")
    when = now
    if signer.rekor_keys:
        when = _rekor(sig, raw, leaf, signer.rekor_keys)
    _chain(leaf, chain, signer.roots, when, "signing time" if signer.rekor_keys else "now")
    issuer = _issuer(leaf)
    if not _matches(issuer, signer.issuer, signer.issuer_regexp):
        raise _Refused(f"issued by another OIDC issuer: {issuer or 'none'} (expected "
                       f"{signer.expected_issuer})", _RANK_CRYPTO)
    names = _identities(leaf)
    matched = next((n for n in names if _matches(n, signer.identity, signer.identity_regexp)),
                   None)
    if matched is None:
        raise _Refused(f"signed by another identity: {', '.join(names) or 'none'} (expected "
                       f"{signer.expected})", _RANK_CRYPTO)
    return f"{matched} (issuer {issuer})"


def _matches(value: str | None, exact: str | None, regexp: re.Pattern[str] | None) -> bool:
    if value is None:
        return exact is None and regexp is None
    if exact is not None and value != exact:
        return False
    return regexp is None or regexp.fullmatch(value) is not None


def _code_signing(policy: object, cert: x509.Certificate,
                  eku: x509.ExtendedKeyUsage | None) -> None:
    if eku is None or ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise ValueError("certificate is not for code signing")


def _ca_usage(policy: object, cert: x509.Certificate,
              eku: x509.ExtendedKeyUsage | None) -> None:
    """A CA may restrict its usages (Fulcio's intermediate does), but not away from ours."""
    if eku is not None and not {ExtendedKeyUsageOID.CODE_SIGNING,
                                ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku):
        raise ValueError("CA is not for code signing")


_EE_POLICY = ExtensionPolicy.permit_all().require_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _code_signing)
_CA_POLICY = ExtensionPolicy.webpki_defaults_ca().may_be_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ca_usage)


def _chain(leaf: x509.Certificate, chain: Sequence[x509.Certificate],
           roots: Sequence[x509.Certificate], when: datetime, moment: str) -> None:
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not start <= when <= end:
        raise _Refused(f"certificate not valid at {moment} {_stamp(when)} (valid {_stamp(start)}"
                       f" to {_stamp(end)})")
    verifier = (PolicyBuilder().store(Store(list(roots))).time(when)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
                .build_client_verifier())
    try:
        verifier.verify(leaf, [c for c in chain if c not in roots])
    except VerificationError as e:
        detail = str(e).splitlines()[0] if str(e) else "no path"
        raise _Refused(f"certificate does not chain to the configured root ({detail})"
                       ) from None


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _issuer(cert: x509.Certificate) -> str | None:
    for oid, der in ((ISSUER_V2, True), (ISSUER_V1, False)):
        try:
            ext = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        value = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
        text = _utf8_string(value) if der else value.decode("utf-8", "replace")
        if text:
            return text
    return None


def _utf8_string(der: bytes) -> str | None:
    """The text of a DER ``UTF8String`` (tag 12), None when ``der`` is not one."""
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            return None
        length, offset = int.from_bytes(der[2:2 + count], "big"), 2 + count
    if offset + length != len(der):
        return None
    try:
        return der[offset:].decode()
    except UnicodeDecodeError:
        return None


def _identities(cert: x509.Certificate) -> list[str]:
    """The certificate's SAN entries: emails, URIs, DNS names, Fulcio's username otherName."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for entry in san:
        if isinstance(entry, x509.RFC822Name | x509.UniformResourceIdentifier | x509.DNSName):
            names.append(entry.value)
        elif isinstance(entry, x509.OtherName) and entry.type_id == OTHERNAME_USER:
            text = _utf8_string(entry.value)
            if text:
                names.append(text)
    return names


# --- Rekor -------------------------------------------------------------------------------------

def log_id(key: PublicKey) -> str:
    """Rekor's log id of a key: the hex SHA-256 of its DER SubjectPublicKeyInfo."""
    der = key.key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def canonical_json(value: object) -> bytes:
    """RFC 8785-style canonical JSON as Rekor signs it (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _rekor(sig: Signature, raw: bytes, leaf: x509.Certificate,
           keys: Sequence[PublicKey]) -> datetime:
    """The signing time a verified Rekor bundle proves; refused when there is none."""
    if not sig.bundle:
        raise _Refused("no Rekor bundle with the signature")
    try:
        bundle = json.loads(sig.bundle)
        set_raw = base64.b64decode(bundle["SignedEntryTimestamp"], validate=True)
        payload = bundle["Payload"]
        body, integrated = payload["body"], payload["integratedTime"]
        entry_log, index = payload["logID"], payload["logIndex"]
        if not (isinstance(body, str) and isinstance(integrated, int) and
                isinstance(entry_log, str) and isinstance(index, int)):
            raise TypeError
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise _Refused("Rekor bundle is not readable") from None
    key = next((k for k in keys if log_id(k) == entry_log), None)
    if key is None:
        raise _Refused(f"Rekor bundle from an unknown log {entry_log[:12]}")
    signed = canonical_json({"body": body, "integratedTime": integrated, "logID": entry_log,
                             "logIndex": index})
    if not _signed(key.key, set_raw, signed):
        raise _Refused("Rekor bundle: signed entry timestamp does not verify")
    _entry_matches(body, raw, sig.payload, leaf)
    return datetime.fromtimestamp(integrated, UTC)


def _entry_matches(body: str, raw: bytes, payload: bytes, leaf: x509.Certificate) -> None:
    """The Rekor entry records this signature, over this payload, by this certificate."""
    try:
        entry = json.loads(base64.b64decode(body, validate=True))
        kind = entry.get("kind")
        if kind != "hashedrekord":
            raise _Refused(f"Rekor bundle: entry kind {kind} is not supported")
        spec = entry["spec"]
        logged_sig = base64.b64decode(spec["signature"]["content"], validate=True)
        logged_cert = base64.b64decode(spec["signature"]["publicKey"]["content"], validate=True)
        logged_hash = spec["data"]["hash"]
        cert = x509.load_pem_x509_certificate(logged_cert)
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        raise _Refused("Rekor bundle: entry is not readable") from None
    if logged_sig != raw or cert != leaf or logged_hash != {
            "algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()}:
        raise _Refused("Rekor bundle records another signature")

