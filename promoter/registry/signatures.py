"""Cosign signatures of an image, fetched from its registry (the verifying is
:mod:`promoter.signing`'s).

Two places hold them, and both are read:

* cosign's **tag scheme**: the manifest at tag ``sha256-<hex>.sig`` in the image's repository,
  one layer per signature (media type ``application/vnd.dev.cosign.simplesigning.v1+json``,
  the payload as its blob) with the signature, and for keyless the certificate, chain and
  Rekor bundle, as layer annotations;
* the **OCI 1.1 referrers** of the digest (``GET /v2/<name>/referrers/<digest>``), or, when the
  registry lacks that API (404, 400, 405, or an answer that is not an index), the referrers
  tag schema's index at tag ``sha256-<hex>``: each referrer whose artifact type is cosign's
  signature (``application/vnd.dev.cosign.artifact.sig.v1+json``) is an image manifest with
  ``subject`` pointing at the image and the same layers.

Every digest that reaches a URL is checked first, every manifest and blob is checked against
its digest (a layer whose blob does not match is skipped with a warning), and at most
:data:`MAX_SIGNATURES` signatures and :data:`MAX_REFERRERS` referrers are read, so a hostile
registry can neither steer requests nor make a run read without end.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from promoter.errors import RegistryError
from promoter.refs import ImageRef, is_valid_digest
from promoter.registry import Enough, SignatureSource
from promoter.registry.oci import MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST, Fetched
from promoter.signature_gate import SignatureGate, signature
from promoter.signing import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    Requirement,
    Signature,
    verify,
)

log = logging.getLogger(__name__)

COSIGN_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
MAX_SIGNATURES = 64
MAX_REFERRERS = 64
_NO_REFERRERS_API = frozenset({400, 404, 405, 406, 501})


class Fetcher(Protocol):
    async def fetch(self, image: ImageRef, path: str, what: str, *,
                    accept: str | None = None) -> Fetched: ...


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of ``digest``: ``sha256-<hex>.sig``."""
    return referrers_tag(digest) + ".sig"


def referrers_tag(digest: str) -> str:
    """The OCI referrers tag schema's tag for ``digest``: ``sha256-<hex>``."""
    algorithm, _, hexes = digest.partition(":")
    return f"{algorithm}-{hexes}"


async def fetch_signatures(registry: Fetcher, image: ImageRef, digest: str, *,
                           enough: Enough | None = None) -> tuple[Signature, ...]:
    """Every cosign signature of ``image``'s manifest ``digest``, tag scheme first, then the
    referrers (unless ``enough`` says the tag scheme's are); the same signature found in both
    places once. RegistryError when the registry fails (after its retries); no signatures is
    an empty tuple."""
    if not is_valid_digest(digest):
        raise RegistryError(f"{image.name}: not a valid digest: {digest[:80]!r}")
    what = f"{image.name}@{digest}"
    found: dict[tuple[bytes, str], Signature] = {}
    tag = signature_tag(digest)
    answer = await registry.fetch(image, f"manifests/{tag}", f"{what} (signatures {tag})",
                                  accept=MANIFEST_ACCEPT)
    if answer.status == 200:
        manifest = _document(answer, f"{what} (signatures {tag})")
        async for sig in _layers(registry, image, manifest, f"{tag}", what):
            found.setdefault((sig.payload, sig.signature), sig)
    if enough is not None and found and enough(tuple(found.values())):
        return tuple(found.values())[:MAX_SIGNATURES]
    for ref in await _referrers(registry, image, digest, what):
        if len(found) >= MAX_SIGNATURES:
            break
        body = await registry.fetch(image, f"manifests/{ref}", f"{what} (referrer {ref})",
                                    accept=OCI_MANIFEST)
        if body.status != 200 or not _matches(body.content, ref):
            log.warning("%s: skipped referrer %s: %s", what, ref,
                        "not found" if body.status != 200 else "content differs from digest")
            continue
        manifest = _document(body, f"{what} (referrer {ref})")
        subject = manifest.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != digest:
            log.warning("%s: skipped referrer %s: its subject is another manifest", what, ref)
            continue
        async for sig in _layers(registry, image, manifest, f"referrer {ref}", what):
            found.setdefault((sig.payload, sig.signature), sig)
    return tuple(found.values())[:MAX_SIGNATURES]


async def check(source: SignatureSource, image: ImageRef, digest: str,
                requirement: Requirement | None, *, now: datetime) -> SignatureGate:
    """The signature gate for ``image``'s manifest ``digest``: fetched, verified, logged. A
    registry failure makes the gate pending (the next run asks again), never passing."""
    if requirement is None:
        return signature(False, digest, None)
    def trusted(found: Sequence[Signature]) -> bool:
        return verify(found, digest, requirement, now=now).verified

    try:
        found = await source.signatures(image, digest, enough=trusted)
    except RegistryError as e:
        gate = signature(True, digest, None, error=str(e))
        log.warning("%s@%s: %s", image.name, digest, gate.detail)
        return gate
    verification = verify(found, digest, requirement, now=now)
    gate = signature(True, digest, verification)
    if gate.passed:
        log.info("%s@%s: %s (%s)", image.name, digest, gate.detail, verification.source)
    else:
        log.warning("%s@%s: %s", image.name, digest, gate.detail)
    return gate


async def _referrers(registry: Fetcher, image: ImageRef, digest: str,
                     what: str) -> list[str]:
    """Digests of the cosign signature referrers of ``digest``: the referrers API, else the
    tag schema's index."""
    answer = await registry.fetch(image, f"referrers/{digest}", f"{what} (referrers)",
                                  accept=OCI_INDEX)
    index: Mapping[str, Any] | None = None
    if answer.status == 200:
        try:
            doc = json.loads(answer.content)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("manifests"), list):
            index = doc
    if index is None:
        if answer.status not in _NO_REFERRERS_API and answer.status != 200:
            return []
        tag = referrers_tag(digest)
        fallback = await registry.fetch(image, f"manifests/{tag}", f"{what} (referrers {tag})",
                                        accept=OCI_INDEX)
        if fallback.status != 200:
            return []
        index = _document(fallback, f"{what} (referrers {tag})")
    refs: list[str] = []
    for entry in _dicts(index.get("manifests")):
        ref = entry.get("digest")
        if entry.get("artifactType") != COSIGN_ARTIFACT or not isinstance(ref, str):
            continue
        if not is_valid_digest(ref):
            log.warning("%s: skipped a referrer with an invalid digest", what)
            continue
        if ref not in refs:
            refs.append(ref)
        if len(refs) >= MAX_REFERRERS:
            break
    return refs


async def _layers(registry: Fetcher, image: ImageRef, manifest: Mapping[str, Any],
                  where: str, what: str) -> AsyncIterator[Signature]:
    """The signatures of one signature manifest, one per simple-signing layer."""
    count = 0
    for layer in _dicts(manifest.get("layers")):
        if count >= MAX_SIGNATURES:
            return
        notes = layer.get("annotations")
        blob = layer.get("digest")
        if layer.get("mediaType") != SIMPLE_SIGNING or not isinstance(notes, dict) or \
                not isinstance(notes.get(SIGNATURE_ANNOTATION), str) or \
                not isinstance(blob, str):
            continue
        if not is_valid_digest(blob):
            log.warning("%s: skipped a signature in %s: invalid layer digest", what, where)
            continue
        answer = await registry.fetch(image, f"blobs/{blob}", f"{what} (signature payload)")
        if answer.status != 200 or not _matches(answer.content, blob):
            log.warning("%s: skipped a signature in %s: payload %s", what, where,
                        "not found" if answer.status != 200 else "differs from its digest")
            continue
        count += 1
        yield Signature(payload=answer.content, signature=notes[SIGNATURE_ANNOTATION],
                        certificate=_text(notes, CERTIFICATE_ANNOTATION),
                        chain=_text(notes, CHAIN_ANNOTATION),
                        bundle=_text(notes, BUNDLE_ANNOTATION), source=where)


def _text(notes: Mapping[str, Any], key: str) -> str | None:
    value = notes.get(key)
    return value if isinstance(value, str) and value else None


def _dicts(value: object) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _matches(content: bytes, digest: str) -> bool:
    algorithm, _, hexes = digest.partition(":")
    if algorithm not in ("sha256", "sha512"):
        return False
    return hashlib.new(algorithm, content).hexdigest() == hexes


def _document(answer: Fetched, what: str) -> Mapping[str, Any]:
    try:
        doc = json.loads(answer.content)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{what}: unreadable JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{what}: not a JSON object")
    return doc
