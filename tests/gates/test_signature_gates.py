"""The signature and health gates among the others: it decides opening and the status, and a gated
environment never passes it unchecked; the run's checks ask each digest once and one image's
registry failure never stops the others (in-memory registry; the real one in
tests/flows/test_signature_gate_e2e.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from promoter import gates
from promoter.config import Gates, SignaturePolicy
from promoter.gates import Facts, Gate, GateState
from promoter.refs import ImageRef
from promoter.registry.memory import MemoryRegistry
from promoter.signature_checks import SignatureChecks
from promoter.signature_gate import signature
from promoter.signing import Requirement, Verification, load_key, verify
from promoter.versions import UpdateType
from tests.signing.cosign import ec_key, key_signature, payload, public_pem

NOW = datetime(2026, 12, 1, tzinfo=UTC)
KEY = ec_key()
GATED = Gates(signature=SignaturePolicy(keys=("cosign.pub",)))
DIGEST = "sha256:" + "ab" * 32


def _signature_result(g: Gates, facts: Facts) -> gates.GateResult:
    [result] = [r for r in gates.evaluate(g, facts, now=NOW) if r.gate is Gate.SIGNATURE]
    return result


def test_not_required_passes_and_unchecked_waits() -> None:
    facts = Facts(source="dev", update=UpdateType.MINOR)
    assert _signature_result(Gates(), facts).detail == "signature: not required"
    unchecked = _signature_result(GATED, facts)
    assert (unchecked.state, unchecked.detail) == (
        GateState.PENDING, "signature: not checked (no registry was asked)")
    assert not gates.may_open(gates.evaluate(GATED, facts, now=NOW))


def test_a_refused_signature_stops_opening_and_fails_the_status() -> None:
    refused = Facts(source="dev", update=UpdateType.MINOR,
                    signature=signature(True, DIGEST, _verify_nothing()))
    results = gates.evaluate(GATED, refused, now=NOW)
    assert not gates.may_open(results)
    assert gates.verdict(results) == (GateState.FAIL,
                                      "signature: no signature for sha256:abababababab")
    assert not gates.may_auto_merge(results)
    assert Gate.SIGNATURE in gates.OPENING and Gate.SIGNATURE in gates.STATUS


def _verify_nothing() -> Verification:
    return verify((), DIGEST, Requirement(keys=(load_key("k", public_pem(KEY)),)), now=NOW)


def test_checks_ask_each_digest_once_and_isolate_failures() -> None:
    reg = MemoryRegistry()
    signed = reg.push("registry.example/acme/api:1.0.0").digest
    reg.sign(f"registry.example/acme/api@{signed}", key_signature(KEY, payload(signed)))
    unsigned = reg.push("registry.example/acme/worker:2.0.0").digest
    reg.push("registry.example/acme/broken:3.0.0")
    reg.fail("registry.example/acme/broken", "registry.example: 503 Service Unavailable")
    req = Requirement(keys=(load_key("cosign.pub", public_pem(KEY)),))
    checks = SignatureChecks(source=reg, requirements={"prod": req}, now=NOW)
    api = ImageRef.parse("registry.example/acme/api:1.0.0")
    worker = ImageRef.parse("registry.example/acme/worker:2.0.0")
    broken = ImageRef.parse("registry.example/acme/broken:3.0.0")
    checks.prefetch([("prod", api, signed), ("prod", worker, None), ("prod", broken, None),
                     ("dev", api, signed)])  # dev has no gate: not asked
    assert checks.gate("prod", api, signed).detail == "signature: signed by key cosign.pub"
    assert checks.gate("prod", worker, None).detail == \
        f"signature: no signature for {unsigned[:19]}"
    failed = checks.gate("prod", broken, None)
    assert failed.state is GateState.PENDING
    assert failed.detail == ("signature: cannot read signatures: registry.example: 503 Service "
                             "Unavailable")
    assert checks.gate("dev", api, signed).detail == "signature: not required"
    assert [c for c in reg.calls if c[0] == "signatures"] == [
        ("signatures", f"registry.example/acme/api@{signed}"),
        ("signatures", f"registry.example/acme/worker@{unsigned}")]
    assert ("manifest", "registry.example/acme/worker:2.0.0") in reg.calls  # tag resolved


def test_without_a_source_every_gated_ask_waits() -> None:
    checks = SignatureChecks(source=None, requirements={"prod": Requirement()}, now=NOW)
    gate = checks.gate("prod", ImageRef.parse("registry.example/acme/api:1"), DIGEST)
    assert (gate.state, gate.detail) == (
        GateState.PENDING, "signature: cannot read signatures: no registry to read them from")


def test_keys_come_from_the_base_branch_and_a_missing_one_stops_only_its_environment() -> None:
    from promoter.config import parse_config
    from promoter.gitrepo import MemoryWorkspace

    cfg = parse_config("""\
environments:
  - {name: dev, paths: [d], gates: {signature: {keys: [keys/cosign.pub]}}}
  - {name: prod, paths: [p], gates: {signature: {keys: [keys/gone.pub]}}}
images: [{repository: registry.example/acme/api}]
""")
    ws = MemoryWorkspace({"keys/cosign.pub": public_pem(KEY).decode()})
    reg = MemoryRegistry()
    digest = reg.push("registry.example/acme/api:1.0.0").digest
    reg.sign(f"registry.example/acme/api@{digest}", key_signature(KEY, payload(digest)))
    checks = SignatureChecks.of(cfg, ws, reg, now=NOW)
    api = ImageRef.parse("registry.example/acme/api:1.0.0")
    assert checks.gate("dev", api, digest).passed
    gone = checks.gate("prod", api, digest)
    assert (gone.state, gone.detail) == (
        GateState.PENDING, "signature: cannot read signatures: prod: gates.signature: "
        "keys/gone.pub: no such file in the repository")


def test_health_without_a_forge_waits_and_without_statuses_passes() -> None:
    assert gates.health("dev", ("argocd/web-dev",), None).detail == \
        "health: no forge to read dev's health from"
    assert gates.health("dev", (), None).passed
    facts = Facts(source="dev", update=UpdateType.MINOR, health=("argocd/web-dev",),
                  health_checks={"argocd/web-dev": "error"})
    results = gates.evaluate(Gates(), facts, now=NOW)
    assert gates.may_open(results)  # a status gate: the PR opens and shows it
    assert gates.verdict(results) == (GateState.FAIL, "health: dev unhealthy: argocd/web-dev error")
