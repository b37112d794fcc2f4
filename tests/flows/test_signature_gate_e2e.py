"""The signature gate end to end: images pushed to the real registry (Debian's
docker-registry), cosign signatures made with keys generated here and stored the way cosign
stores them (tag scheme, OCI referrers), the fake GitHub and GitLab through the real clients.

An environment with ``gates.signature`` gets a pull request only for a digest signed as
configured; poll, promote (the CLI included) and check all ask, and the log says why not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from promoter import wiring
from promoter.cli import main
from promoter.demo.push import Pusher
from promoter.flows.check import Rule, check
from promoter.flows.poll import poll
from promoter.flows.promote import Decision, Report, promote
from promoter.forge import PRState, StatusState
from promoter.registry.oci import OciRegistry
from promoter.signature_checks import SignatureChecks
from tests.flows.test_promote_e2e import World, _world
from tests.servers.fake_github import FakeGitHub
from tests.servers.fake_gitlab import FakeGitLab
from tests.servers.registry import LocalRegistry
from tests.signing import cosign

pytestmark = pytest.mark.integration
KEY = cosign.ec_key()
OTHER = cosign.ec_key()
FULCIO = cosign.Fulcio()
REKOR = cosign.Rekor()
KEYS = {"keys/cosign.pub": cosign.public_pem(KEY).decode(),
        "keys/fulcio.pem": FULCIO.roots_pem.decode(),
        "keys/rekor.pub": REKOR.public_pem.decode()}
BY_KEY = "signature: {keys: [keys/cosign.pub]}"
KEYLESS = ("signature: {keyless: [{roots: keys/fulcio.pem, identity: '" + cosign.IDENTITY + "', "
           "issuer: '" + cosign.ISSUER + "', rekor-keys: [keys/rekor.pub]}]}")


@pytest.fixture(scope="module")
def signer(registry: LocalRegistry) -> Iterator[cosign.Pusher]:
    p = cosign.Pusher(registry.url)
    yield p
    p.close()


@pytest.fixture(params=["github", "gitlab"])
def signed_world(request: pytest.FixtureRequest, registry: LocalRegistry, pusher: Pusher,
                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A factory: a world whose staging has the gates given, the key files on main, dev
    already at 1.1.0 through a merged poll PR."""
    server: FakeGitHub | FakeGitLab = request.getfixturevalue(request.param)

    def make(staging: str) -> World:
        w = _world(request.param, server, registry, pusher, tmp_path, monkeypatch,
                   staging=staging)
        w.h.branch("main", KEYS)
        number = w.poll()
        try:
            w.h.merge(number)
        except AssertionError:  # auto-merge merged it already
            pass
        assert w.h.forge.get(number).state is PRState.MERGED
        return w

    return make


def repo_of(world: World) -> str:
    return world.ref.split("/", 1)[1]


def sign(signer: cosign.Pusher, world: World, tag: str, *, key: Any = KEY,
         referrer: bool = False) -> None:
    digest = world.digests[tag]
    sig = cosign.key_signature(key, cosign.payload(digest, world.ref))
    if referrer:
        signer.referrer(repo_of(world), digest, [sig])
    else:
        signer.cosign_tag(repo_of(world), digest, [sig])


def promote_signed(world: World, **kw: Any) -> Report:
    with world.workspace() as ws:
        cfg = world.config()
        return promote(cfg, ws, world.h.forge, now=cosign.NOW,
                       signatures=wiring.signature_checks(cfg, ws, {}, now=cosign.NOW), **kw)


def test_a_signed_digest_gets_its_pr_and_the_gate_shows(signed_world: Any,
                                                        signer: cosign.Pusher) -> None:
    world: World = signed_world(BY_KEY)
    sign(signer, world, "1.1.0")
    report = promote_signed(world, target="staging")
    assert report.ok, report
    [step] = report.images
    assert step.decision is Decision.PROMOTE
    [result] = report.results
    pr = world.h.forge.get(result.number or 0)
    assert "| `web` | signature | pass | signed by key keys/cosign.pub |" in pr.body
    status = world.gate_status(pr.number)
    assert (status.state, status.description) == (StatusState.SUCCESS, "all gates pass")


def test_unsigned_and_wrongly_signed_digests_get_no_pr(signed_world: Any,
                                                        signer: cosign.Pusher,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    world: World = signed_world(BY_KEY)
    digest = world.digests["1.1.0"]
    with caplog.at_level(logging.WARNING):
        report = promote_signed(world, target="staging")
    assert [(i.decision, i.reason) for i in report.images] == [
        (Decision.REFUSED, f"signature: no signature for {digest[:19]}")]
    assert report.results == () and world.h.forge.list_open() == ()
    assert report.ok  # a refusal is a decision, not a failure
    assert f"signature: no signature for {digest[:19]}" in caplog.text

    sign(signer, world, "1.1.0", key=OTHER)  # signed, but not by a trusted key
    report = promote_signed(world, target="staging")
    [step] = report.images
    assert step.decision is Decision.REFUSED
    assert step.reason.startswith("signature: not trusted: ")
    assert world.h.forge.list_open() == ()

    sign(signer, world, "1.1.0", referrer=True)  # a trusted one as an OCI referrer
    report = promote_signed(world, target="staging")
    assert [i.decision for i in report.images] == [Decision.PROMOTE]
    assert len(world.h.forge.list_open()) == 1


def test_without_a_registry_the_gate_stays_pending(signed_world: Any,
                                                   signer: cosign.Pusher) -> None:
    world: World = signed_world(BY_KEY)
    sign(signer, world, "1.1.0")
    report = world.promote(target="staging")  # no signature checks passed in
    [step] = report.images
    assert (step.decision, step.reason) == (
        Decision.REFUSED, "signature: not checked (no registry was asked)")
    assert world.h.forge.list_open() == ()


def test_keyless_with_identity_issuer_and_rekor(signed_world: Any,
                                                signer: cosign.Pusher) -> None:
    world: World = signed_world(KEYLESS)
    digest = world.digests["1.1.0"]
    stranger = cosign.keyless_signature(
        FULCIO, REKOR, cosign.payload(digest, world.ref),
        identity="https://github.example/evil/fork/x.yml@refs/heads/a", issued=cosign.NOW)
    signer.cosign_tag(repo_of(world), digest, [stranger])
    [step] = promote_signed(world, target="staging").images
    assert step.decision is Decision.REFUSED and "identity" in step.reason

    trusted = cosign.keyless_signature(FULCIO, REKOR, cosign.payload(digest, world.ref),
                                       issued=cosign.NOW)
    signer.referrer(repo_of(world), digest, [trusted])
    report = promote_signed(world, target="staging")
    [step] = report.images
    assert step.decision is Decision.PROMOTE
    pr = world.h.forge.get(report.results[0].number or 0)
    assert f"| `web` | signature | pass | signed by {cosign.IDENTITY}" in pr.body


def test_the_cli_refuses_then_promotes(signed_world: Any, signer: cosign.Pusher,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    world: World = signed_world(BY_KEY)
    monkeypatch.setenv("PROMOTER_GIT_TOKEN", world.h.token)
    assert main(["promote", "--clone", world.clone_url, "--to", "staging",
                 "--output", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(i["decision"], i["reason"]) for i in out["images"]] == [
        ("refused", f"signature: no signature for {world.digests['1.1.0'][:19]}")]
    assert world.h.forge.list_open() == ()
    sign(signer, world, "1.1.0")
    assert main(["promote", "--clone", world.clone_url, "--to", "staging"]) == 0
    assert "web 1.0.0 -> 1.1.0 (minor) promote" in capsys.readouterr().out
    assert len(world.h.forge.list_open()) == 1


def test_poll_into_a_gated_environment_and_check(registry: LocalRegistry, pusher: Pusher,
                                                 signer: cosign.Pusher, github: FakeGitHub,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """dev follows the registry and asks for signatures: an unsigned new tag gets no PR, a
    signed one does; check refuses a hand-made change to an unsigned digest."""
    world = _world("github", github, registry, pusher, tmp_path, monkeypatch)
    text = world._git("show", "main:.promoter.yaml").replace(
        "  - {name: dev, paths: [overlays/dev]}",
        "  - {name: dev, paths: [overlays/dev], gates: {" + BY_KEY + "}}")
    world.h.branch("main", {**KEYS, ".promoter.yaml": text})

    def run() -> Any:
        with world.workspace() as ws:
            return poll(world.config(), ws, OciRegistry(), world.h.forge)

    with caplog.at_level(logging.WARNING):
        report = run()
    assert report.results == () and report.plan.pull_requests == ()
    assert report.plan.skipped == (
        ("web", f"1.1.0 into dev: signature: no signature for {world.digests['1.1.0'][:19]}"),)
    assert "no pull request: signature: no signature for" in caplog.text

    sign(signer, world, "1.1.0")
    report = run()
    assert report.ok and [r.action for r in report.results] == ["opened"]
    pr = world.h.forge.get(report.results[0].number or 0)

    # a change by hand to an unsigned 1.2.0 is refused by check; the signed PR passes
    unsigned = pusher.push(repo_of(world), "1.2.0")
    overlay = world._git("show", "main:overlays/dev/kustomization.yaml")
    head = world.h.branch("hand/dev", {"overlays/dev/kustomization.yaml": overlay.replace(
        world.digests["1.0.0"], unsigned).replace('"1.0.0"', '"1.2.0"')})
    with world.workspace() as ws:
        cfg = world.config()
        base = world.main_head()
        checks = SignatureChecks.of(cfg, ws, OciRegistry(), now=datetime.now(UTC))
        bad = check(cfg, ws, OciRegistry(), base=base, head=head, signatures=checks)
        good = check(cfg, ws, OciRegistry(), base=base, head=pr.head_sha)
    assert [(v.rule, v.env) for v in bad.violations if v.rule is Rule.SIGNATURE] == [
        (Rule.SIGNATURE, "dev")]
    assert not [v for v in good.violations if v.rule is Rule.SIGNATURE], good


def test_status_shows_the_gate_of_what_gated_environments_run(signed_world: Any,
                                                              signer: cosign.Pusher) -> None:
    from promoter.flows.status import status
    from promoter.render.json import dumps

    world: World = signed_world(BY_KEY)
    sign(signer, world, "1.1.0")

    def matrix() -> Any:
        with world.workspace() as ws:
            cfg = world.config()
            return status(cfg, ws, world.h.forge, now=cosign.NOW,
                          signatures=wiring.signature_checks(cfg, ws, {}, now=cosign.NOW))

    st = matrix()
    unsigned = f"signature: no signature for {world.digests['1.0.0'][:19]}"
    staging, dev = st.cell("web", "staging"), st.cell("web", "dev")
    assert (staging.signature, staging.problems) == (unsigned, (unsigned,))
    assert dev.signature is None  # dev has no signature gate
    out = json.loads(dumps(st, command="status", exit_code=st.exit_code))
    [web] = out["images"]
    assert web["environments"]["staging"]["signature"] == unsigned

    [result] = promote_signed(world, target="staging").results
    world.h.merge(result.number or 0)
    staging = matrix().cell("web", "staging")
    assert (staging.signature, staging.problems) == (
        "signature: signed by key keys/cosign.pub", ())
