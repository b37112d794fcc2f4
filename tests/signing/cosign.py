"""A small cosign for the tests: keys, a test Fulcio (root, intermediate, short-lived leaf
certificates with the OIDC issuer extension), a test Rekor (log key, hashedrekord entries and
signed entry timestamps), simple-signing payloads, and pushing the signatures to a real
registry the way cosign stores them (tag scheme) and as OCI 1.1 referrers.

Everything is made in the test from freshly generated keys; nothing here is copied from
sigstore's public instances.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from promoter.signing import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Signature,
    canonical_json,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
COSIGN_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
ISSUER = "https://token.actions.example.test"
IDENTITY = "https://github.example/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
#: the one "now" of a test session: certificates are issued relative to it and verified at it,
#: however long the run takes between import and test
NOW = datetime.now(UTC)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """As cosign signs: ECDSA P-256/SHA-256 (ASN.1), RSA PKCS#1 v1.5/SHA-256, Ed25519."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def payload(digest: str, reference: str = "127.0.0.1/test/app") -> bytes:
    """cosign's simple-signing payload for ``digest``."""
    return canonical({"critical": {"identity": {"docker-reference": reference},
                                   "image": {"docker-manifest-digest": digest},
                                   "type": "cosign container image signature"},
                      "optional": None})


def key_signature(key: PrivateKey, body: bytes, source: str = "test") -> Signature:
    return Signature(payload=body, signature=base64.b64encode(sign_bytes(key, body)).decode(),
                     source=source)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _utf8(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 128
    return bytes([0x0C, len(raw)]) + raw


@dataclass
class Fulcio:
    """A test certificate authority shaped like Fulcio: a root, a code-signing intermediate."""

    root_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(
        ec.SECP384R1()))
    intermediate_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    start: datetime = NOW - timedelta(days=1)

    def __post_init__(self) -> None:
        root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test.dev"),
                               x509.NameAttribute(NameOID.COMMON_NAME, "test-fulcio")])
        self.root = self._ca(root_name, root_name, self.root_key, self.root_key, None)
        inter_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "test.dev"),
                                x509.NameAttribute(NameOID.COMMON_NAME, "test-intermediate")])
        self.intermediate = self._ca(inter_name, root_name, self.intermediate_key,
                                     self.root_key, 0)

    def _ca(self, subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
            signer: ec.EllipticCurvePrivateKey, path_length: int | None) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(self.start).not_valid_after(self.start + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=path_length),
                                  critical=True)
                   .add_extension(_usage(cert_sign=True), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False))
        if path_length is not None:  # Fulcio's intermediate is for code signing only
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                critical=False)
        return builder.sign(signer, hashes.SHA384())

    @property
    def roots_pem(self) -> bytes:
        return _pem(self.root).encode()

    @property
    def chain_pem(self) -> str:
        return _pem(self.intermediate) + _pem(self.root)

    def leaf(self, key: ec.EllipticCurvePrivateKey, *, identity: str = IDENTITY,
             issuer: str | None = ISSUER, issued: datetime | None = None,
             minutes: int = 10, code_signing: bool = True,
             san: x509.GeneralName | None = None) -> x509.Certificate:
        """A short-lived certificate for ``identity`` (a URI, or an email when it has an @)."""
        issued = issued or NOW - timedelta(minutes=2)
        if san is None:
            san = (x509.RFC822Name(identity) if "@" in identity and "://" not in identity
                   else x509.UniformResourceIdentifier(identity))
        builder = (x509.CertificateBuilder().subject_name(x509.Name([]))
                   .issuer_name(self.intermediate.subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(issued)
                   .not_valid_after(issued + timedelta(minutes=minutes))
                   .add_extension(x509.SubjectAlternativeName([san]), critical=True)
                   .add_extension(_usage(cert_sign=False), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       self.intermediate_key.public_key()), critical=False))
        if code_signing:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        if issuer is not None:
            builder = (builder
                       .add_extension(x509.UnrecognizedExtension(
                           x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"), issuer.encode()),
                           critical=False)
                       .add_extension(x509.UnrecognizedExtension(
                           x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), _utf8(issuer)),
                           critical=False))
        return builder.sign(self.intermediate_key, hashes.SHA384())


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


@dataclass
class Rekor:
    """A test transparency log: a key, and bundles as cosign attaches them."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=ec_key)
    index: int = 0

    @property
    def public_pem(self) -> bytes:
        return public_pem(self.key)

    @property
    def log_id(self) -> str:
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()

    def bundle(self, signature: bytes, body: bytes, cert: x509.Certificate, *,
               integrated: datetime, signer: ec.EllipticCurvePrivateKey | None = None) -> str:
        entry = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
            "data": {"hash": {"algorithm": "sha256",
                              "value": hashlib.sha256(body).hexdigest()}},
            "signature": {"content": base64.b64encode(signature).decode(),
                          "publicKey": {"content": base64.b64encode(
                              _pem(cert).encode()).decode()}}}}
        self.index += 1
        signed = {"body": base64.b64encode(canonical(entry)).decode(),
                  "integratedTime": int(integrated.timestamp()), "logID": self.log_id,
                  "logIndex": self.index}
        set_ = sign_bytes(signer or self.key, canonical_json(signed))
        return json.dumps({"SignedEntryTimestamp": base64.b64encode(set_).decode(),
                           "Payload": signed})


def keyless_signature(fulcio: Fulcio, rekor: Rekor | None, body: bytes, *,
                      identity: str = IDENTITY, issuer: str | None = ISSUER,
                      issued: datetime | None = None, integrated: datetime | None = None,
                      rekor_signer: ec.EllipticCurvePrivateKey | None = None,
                      source: str = "test") -> Signature:
    """What ``cosign sign`` (keyless) stores: signature, certificate, chain, Rekor bundle."""
    key = ec_key()
    cert = fulcio.leaf(key, identity=identity, issuer=issuer, issued=issued)
    raw = sign_bytes(key, body)
    bundle = None
    if rekor is not None:
        when = integrated or cert.not_valid_before_utc + timedelta(seconds=30)
        bundle = rekor.bundle(raw, body, cert, integrated=when, signer=rekor_signer)
    return Signature(payload=body, signature=base64.b64encode(raw).decode(),
                     certificate=_pem(cert), chain=fulcio.chain_pem, bundle=bundle,
                     source=source)


# --- pushing -----------------------------------------------------------------------------------

class Pusher:
    """Blob uploads and manifest PUTs to an anonymous registry (distribution's API)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.client = httpx.Client(timeout=30, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def blob(self, repo: str, data: bytes) -> dict[str, Any]:
        dg = digest_of(data)
        r = self.client.post(f"{self.base}/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        loc = self.base + loc if loc.startswith("/") else loc
        r = self.client.put(f"{loc}{'&' if '?' in loc else '?'}digest={dg}", content=data,
                            headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        return {"digest": dg, "size": len(data)}

    def manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> dict[str, Any]:
        r = self.client.put(f"{self.base}/v2/{repo}/manifests/{ref}", content=body,
                            headers={"Content-Type": media_type})
        assert r.status_code == 201, f"PUT {repo}:{ref}: {r.status_code} {r.text}"
        return {"mediaType": media_type, "digest": digest_of(body), "size": len(body)}

    def image(self, repo: str, tag: str) -> str:
        """A small real image at ``tag``; returns its manifest digest."""
        layer = self.blob(repo, f"layer of {repo}:{tag}".encode())
        config = self.blob(repo, canonical({"architecture": "amd64", "os": "linux",
                                            "rootfs": {"type": "layers", "diff_ids": []}}))
        body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": {"mediaType": OCI_CONFIG, **config},
                          "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                      **layer}]})
        return str(self.manifest(repo, tag, body, OCI_MANIFEST)["digest"])

    def _layers(self, repo: str, signatures: list[Signature]) -> list[dict[str, Any]]:
        layers = []
        for sig in signatures:
            notes = {SIGNATURE_ANNOTATION: sig.signature}
            for key, value in ((CERTIFICATE_ANNOTATION, sig.certificate),
                               (CHAIN_ANNOTATION, sig.chain), (BUNDLE_ANNOTATION, sig.bundle)):
                if value:
                    notes[key] = value
            layers.append({"mediaType": SIMPLE_SIGNING, **self.blob(repo, sig.payload),
                           "annotations": notes})
        return layers

    def cosign_tag(self, repo: str, digest: str, signatures: list[Signature]) -> str:
        """The tag scheme: ``sha256-<hex>.sig``, one simple-signing layer per signature."""
        config = self.blob(repo, canonical({"architecture": "", "os": "", "config": {},
                                            "rootfs": {"type": "layers", "diff_ids": []}}))
        body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": {"mediaType": OCI_CONFIG, **config},
                          "layers": self._layers(repo, signatures)})
        tag = digest.replace(":", "-") + ".sig"
        self.manifest(repo, tag, body, OCI_MANIFEST)
        return tag

    def referrer(self, repo: str, subject: str, signatures: list[Signature],
                 *, index: bool = True) -> str:
        """An OCI 1.1 signature artifact with ``subject``; with ``index``, also the referrers
        tag schema's index at ``sha256-<hex>`` (what a client pushes to a registry without
        the referrers API). Returns the artifact's digest."""
        empty = self.blob(repo, b"{}")
        r = self.client.get(f"{self.base}/v2/{repo}/manifests/{subject}",
                            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
        assert r.status_code == 200, r.text
        body = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "artifactType": COSIGN_ARTIFACT,
                          "config": {"mediaType": OCI_EMPTY, **empty},
                          "layers": self._layers(repo, signatures),
                          "subject": {"mediaType": OCI_MANIFEST, "digest": subject,
                                      "size": len(r.content)}})
        descriptor = self.manifest(repo, digest_of(body), body, OCI_MANIFEST)
        if index:
            tag = subject.replace(":", "-")
            old = self.client.get(f"{self.base}/v2/{repo}/manifests/{tag}",
                                  headers={"Accept": OCI_INDEX})
            entries = old.json()["manifests"] if old.status_code == 200 else []
            entries.append({**descriptor, "artifactType": COSIGN_ARTIFACT})
            self.manifest(repo, tag, canonical({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                "manifests": entries}), OCI_INDEX)
        return str(descriptor["digest"])
