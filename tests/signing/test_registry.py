"""Signatures pushed to a real registry (Debian's docker-registry) the way cosign stores them,
fetched back by the real OciRegistry, verified; the in-memory registry answers the same.

distribution 2.8 has no referrers API (``GET /v2/<name>/referrers/<digest>`` is a 404 there),
so the OCI 1.1 referrers are found through the referrers tag schema's ``sha256-<hex>`` index,
the fallback the distribution spec prescribes for such registries.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from promoter.gates import GateState
from promoter.refs import ImageRef
from promoter.registry.memory import MemoryRegistry
from promoter.registry.oci import OciRegistry, RetryPolicy
from promoter.registry.signatures import check, fetch_signatures, signature_tag
from promoter.signature_gate import SignatureGate
from promoter.signing import Keyless, Requirement, Signature, load_key, load_roots, verify
from tests.servers.registry import LocalRegistry
from tests.signing.cosign import (
    IDENTITY,
    ISSUER,
    NOW,
    Fulcio,
    Pusher,
    Rekor,
    ec_key,
    key_signature,
    keyless_signature,
    payload,
    public_pem,
)

pytestmark = pytest.mark.integration
KEY = ec_key()
FULCIO = Fulcio()
REKOR = Rekor()


@pytest.fixture(scope="module")
def registry() -> Iterator[LocalRegistry]:
    if shutil.which("docker-registry") is None and shutil.which("registry") is None:
        pytest.skip("no docker-registry binary")
    with LocalRegistry("anonymous") as reg:
        yield reg


@pytest.fixture(scope="module")
def pusher(registry: LocalRegistry) -> Iterator[Pusher]:
    p = Pusher(registry.url)
    yield p
    p.close()


def by_key() -> Requirement:
    return Requirement(keys=(load_key("cosign.pub", public_pem(KEY)),))


def keyless() -> Requirement:
    return Requirement(keyless=(Keyless(roots=load_roots("fulcio.pem", FULCIO.roots_pem),
                                        identity=IDENTITY, issuer=ISSUER,
                                        rekor_keys=(load_key("rekor.pub", REKOR.public_pem),)),))


def image(registry: LocalRegistry, repo: str, tag: str = "1.0.0") -> ImageRef:
    return ImageRef.parse(f"{registry.host}/{repo}:{tag}")


def oci(**kw: object) -> OciRegistry:
    return OciRegistry(credentials=lambda host: None, retry=RetryPolicy(attempts=2, backoff=0),
                       **kw)  # type: ignore[arg-type]


def fetch(ref: ImageRef, digest: str) -> tuple[tuple[Signature, ...], OciRegistry]:
    reg = oci()

    async def main() -> tuple[Signature, ...]:
        async with reg:
            return await reg.signatures(ref, digest)

    return asyncio.run(main()), reg


def gate(ref: ImageRef, digest: str, requirement: Requirement | None,
         reg: OciRegistry | MemoryRegistry | None = None) -> SignatureGate:
    source = reg or oci()

    async def main() -> SignatureGate:
        if isinstance(source, OciRegistry):
            async with source:
                return await check(source, ref, digest, requirement, now=NOW)
        return await check(source, ref, digest, requirement, now=NOW)

    return asyncio.run(main())


def test_distribution_lacks_the_referrers_api(registry: LocalRegistry, pusher: Pusher) -> None:
    """The premise of the fallback tests below; should Debian ship a registry with the API,
    this fails and the referrers path is then tested through the API itself."""
    digest = pusher.image("probe/app", "1.0.0")
    r = httpx.get(f"{registry.url}/v2/probe/app/referrers/{digest}", trust_env=False)
    assert r.status_code == 404


def test_key_signature_in_the_tag_scheme(registry: LocalRegistry, pusher: Pusher) -> None:
    digest = pusher.image("key/app", "1.0.0")
    ref = image(registry, "key/app")
    tag = pusher.cosign_tag("key/app", digest, [key_signature(KEY, payload(digest))])
    assert tag == signature_tag(digest) == digest.replace("sha256:", "sha256-") + ".sig"
    found, reg = fetch(ref, digest)
    assert [(s.payload, s.source) for s in found] == [(payload(digest), tag)]
    assert reg.stats["referrers"] == 1  # asked, 404, then the tag schema's index (none)
    result = verify(found, digest, by_key(), now=NOW)
    assert (result.verified, result.by, result.source) == (True, "key cosign.pub", tag)
    reg = oci()
    g = gate(ref, digest, by_key(), reg)
    assert (g.state, g.detail) == (GateState.PASS, "signature: signed by key cosign.pub")
    assert reg.stats["referrers"] == 0  # trusted by the tag scheme: the referrers not asked
    assert (reg.stats["manifest_get"], reg.stats["blob"]) == (1, 1)


def test_untrusted_tag_scheme_then_a_trusted_referrer(registry: LocalRegistry,
                                                      pusher: Pusher) -> None:
    digest = pusher.image("later/app", "1.0.0")
    pusher.cosign_tag("later/app", digest, [key_signature(ec_key(), payload(digest))])
    artifact = pusher.referrer("later/app", digest, [key_signature(KEY, payload(digest))])
    reg = oci()
    g = gate(image(registry, "later/app"), digest, by_key(), reg)
    assert (g.state, reg.stats["referrers"]) == (GateState.PASS, 1)
    found, _ = fetch(image(registry, "later/app"), digest)
    assert verify(found, digest, by_key(), now=NOW).source == f"referrer {artifact}"


def test_keyless_signature_as_a_referrer(registry: LocalRegistry, pusher: Pusher) -> None:
    digest = pusher.image("keyless/app", "2.0.0")
    ref = image(registry, "keyless/app", "2.0.0")
    artifact = pusher.referrer("keyless/app", digest,
                               [keyless_signature(FULCIO, REKOR, payload(digest))])
    found, _ = fetch(ref, digest)
    assert [s.source for s in found] == [f"referrer {artifact}"]
    assert found[0].certificate and found[0].chain and found[0].bundle
    g = gate(ref, digest, keyless())
    assert (g.state, g.detail) == (GateState.PASS,
                                   f"signature: signed by {IDENTITY} (issuer {ISSUER})")


def test_unsigned_image_fails_the_gate_and_the_log_says_why(
        registry: LocalRegistry, pusher: Pusher, caplog: pytest.LogCaptureFixture) -> None:
    digest = pusher.image("unsigned/app", "1.0.0")
    ref = image(registry, "unsigned/app")
    with caplog.at_level(logging.WARNING, "promoter.registry.signatures"):
        g = gate(ref, digest, by_key())
    assert (g.state, g.detail) == (GateState.FAIL,
                                   f"signature: no signature for {digest[:19]}")
    assert f"{ref.name}@{digest}: signature: no signature for" in caplog.text


def test_no_requirement_asks_the_registry_nothing(registry: LocalRegistry) -> None:
    reg = oci()
    g = gate(image(registry, "unsigned/app"), "sha256:" + "0" * 64, None, reg)
    assert (g.state, g.detail, sum(reg.stats.values())) == (GateState.PASS,
                                                            "signature: not required", 0)


@pytest.mark.parametrize("case", ["other key", "other identity", "other issuer",
                                  "other digest", "expired certificate", "bad SET"])
def test_wrong_signatures_are_refused(registry: LocalRegistry, pusher: Pusher,
                                      case: str) -> None:
    repo = f"wrong/{case.replace(' ', '-').lower()}"
    digest = pusher.image(repo, "1.0.0")
    other = pusher.image(repo, "0.9.0")
    body = payload(digest)
    issued = NOW - timedelta(hours=1)
    sig, requirement, reason = {
        "other key": (key_signature(ec_key(), body), by_key(), "signed by another key"),
        "other identity": (keyless_signature(FULCIO, REKOR, body, identity="mallory@evil.test"),
                           keyless(), "signed by another identity: mallory@evil.test"),
        "other issuer": (keyless_signature(FULCIO, REKOR, body, issuer="https://evil.test"),
                         keyless(), "issued by another OIDC issuer: https://evil.test"),
        "other digest": (key_signature(KEY, payload(other)), by_key(),
                         "payload digest differs"),
        "expired certificate": (keyless_signature(FULCIO, REKOR, body, issued=issued,
                                                  integrated=issued + timedelta(minutes=11)),
                                keyless(), "certificate not valid at signing time"),
        "bad SET": (keyless_signature(FULCIO, REKOR, body, rekor_signer=ec_key()), keyless(),
                    "Rekor bundle: signed entry timestamp does not verify"),
    }[case]
    pusher.cosign_tag(repo, digest, [sig])
    g = gate(image(registry, repo), digest, requirement)
    assert g.state is GateState.FAIL
    assert g.detail.startswith(f"signature: not trusted: {reason}")


def test_a_referrer_of_another_image_is_not_taken(registry: LocalRegistry, pusher: Pusher,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    signed = pusher.image("hostile/app", "1.0.0")
    target = pusher.image("hostile/app", "2.0.0")
    artifact = pusher.referrer("hostile/app", signed, [key_signature(KEY, payload(target))])
    # the target's referrers index lists the other image's signature artifact
    index = httpx.get(f"{registry.url}/v2/hostile/app/manifests/{signed.replace(':', '-')}",
                      headers={"Accept": "application/vnd.oci.image.index.v1+json"},
                      trust_env=False)
    pusher.manifest("hostile/app", target.replace(":", "-"), index.content,
                    "application/vnd.oci.image.index.v1+json")
    with caplog.at_level(logging.WARNING, "promoter.registry.signatures"):
        found, _ = fetch(image(registry, "hostile/app", "2.0.0"), target)
    assert found == ()
    assert f"skipped referrer {artifact}: its subject is another manifest" in caplog.text


def test_the_same_signature_in_both_places_counts_once(registry: LocalRegistry,
                                                       pusher: Pusher) -> None:
    digest = pusher.image("both/app", "1.0.0")
    sig = key_signature(KEY, payload(digest))
    stranger = key_signature(ec_key(), payload(digest))
    pusher.cosign_tag("both/app", digest, [stranger, sig])
    pusher.referrer("both/app", digest, [sig])
    found, _ = fetch(image(registry, "both/app"), digest)
    assert [s.signature for s in found] == [stranger.signature, sig.signature]
    assert verify(found, digest, by_key(), now=NOW).verified  # the second one is trusted


def test_memory_registry_answers_the_same(registry: LocalRegistry, pusher: Pusher) -> None:
    digest = pusher.image("memory/app", "1.0.0")
    ref = image(registry, "memory/app")
    sig = keyless_signature(FULCIO, REKOR, payload(digest))
    pusher.cosign_tag("memory/app", digest, [sig])
    real, _ = fetch(ref, digest)
    mem = MemoryRegistry()
    mem.push(ref, digest=digest)
    assert mem.sign(ref, replace(sig, source=real[0].source)) == digest
    assert asyncio.run(mem.signatures(ref, digest)) == real
    assert gate(ref, digest, keyless(), mem) == gate(ref, digest, keyless())
    assert asyncio.run(mem.signatures(ref, "sha256:" + "1" * 64)) == ()
    elsewhere = image(registry, "memory/never-pushed")
    assert asyncio.run(mem.signatures(elsewhere, digest)) == fetch(elsewhere, digest)[0] == ()
    assert ("signatures", f"{ref.name}@{digest}") in mem.calls


def test_unreadable_registry_keeps_the_gate_pending(registry: LocalRegistry) -> None:
    mem = MemoryRegistry()
    ref = ImageRef.parse("ghcr.io/acme/app:1.0.0")
    mem.push(ref)
    mem.fail(ref, "ghcr.io/acme/app: ghcr.io answered 503 (after 4 attempts)")
    g = gate(ref, "sha256:" + "2" * 64, by_key(), mem)
    assert (g.state, g.detail) == (GateState.PENDING, "signature: cannot read signatures: "
                                   "ghcr.io/acme/app: ghcr.io answered 503 (after 4 attempts)")
    from tests.servers.registry import free_port

    down = ImageRef.parse(f"127.0.0.1:{free_port()}/acme/app:1.0.0")
    g = gate(down, "sha256:" + "2" * 64, by_key())
    assert g.state is GateState.PENDING
    assert "cannot connect" in g.detail


def test_an_invalid_digest_never_reaches_a_url(registry: LocalRegistry) -> None:
    from promoter.errors import RegistryError

    reg = oci()

    async def main() -> None:
        async with reg:
            await fetch_signatures(reg, image(registry, "key/app"), "sha256:../../x")

    with pytest.raises(RegistryError, match="not a valid digest"):
        asyncio.run(main())
    assert sum(reg.stats.values()) == 0


class ReferrersAPI(httpx.AsyncBaseTransport):
    """The real registry, plus the OCI 1.1 referrers API it lacks, answered from ``indexes``
    (subject digest -> index) as a registry with the API would; records every path asked."""

    def __init__(self, indexes: dict[str, bytes]) -> None:
        self.indexes = indexes
        self.paths: list[str] = []
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        _, _, subject = request.url.path.partition("/referrers/")
        if subject:
            return httpx.Response(200, content=self.indexes.get(subject, b'{"manifests":[]}'),
                                  headers={"Content-Type": "application/vnd.oci.image.index"
                                                           ".v1+json"})
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_referrers_api_when_the_registry_has_it(registry: LocalRegistry,
                                                pusher: Pusher) -> None:
    from tests.signing.cosign import COSIGN_ARTIFACT, OCI_INDEX, OCI_MANIFEST, canonical

    digest = pusher.image("api/app", "1.0.0")
    artifact = pusher.referrer("api/app", digest, [key_signature(KEY, payload(digest))],
                               index=False)  # no tag schema index: only the API tells
    size = len(httpx.get(f"{registry.url}/v2/api/app/manifests/{artifact}", trust_env=False,
                         headers={"Accept": OCI_MANIFEST}).content)
    api = ReferrersAPI({digest: canonical({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                           "manifests": [
                                               {"mediaType": OCI_MANIFEST, "digest": artifact,
                                                "size": size, "artifactType": COSIGN_ARTIFACT},
                                               {"mediaType": OCI_MANIFEST, "size": 2,
                                                "digest": "sha256:" + "9" * 64,
                                                "artifactType": "application/spdx+json"}]})})
    reg = oci(transport=api)
    g = gate(image(registry, "api/app"), digest, by_key(), reg)
    assert (g.state, g.detail) == (GateState.PASS, "signature: signed by key cosign.pub")
    tag_index = f"/v2/api/app/manifests/{digest.replace(':', '-')}"
    assert tag_index not in api.paths  # the API answered: no fallback
    assert f"/v2/api/app/manifests/{'sha256:' + '9' * 64}" not in api.paths  # not a signature
    assert f"/v2/api/app/referrers/{digest}" in api.paths
