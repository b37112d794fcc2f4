"""The ``signature`` gate: a version enters a gated environment only when its image is signed
as configured. Pure, in the style of :mod:`promoter.gates`: the caller fetched the signatures
(:meth:`promoter.registry.SignatureSource.signatures`) and verified them
(:func:`promoter.signing.verify`); this turns the outcome into the gate's state and the
one-line detail read in the pull request body, the ``promoter/gates`` status and the log.

======================  ========  ==================================================
outcome                 state     detail
======================  ========  ==================================================
no requirement          pass      ``signature: not required``
verified                pass      ``signature: signed by key cosign.pub``
refused                 fail      ``signature: not trusted: payload digest differs...``
no signature at all     fail      ``signature: no signature for sha256:0123456789ab``
registry unreadable     pending   ``signature: cannot read signatures: <error>``
======================  ========  ==================================================

The gate belongs to both the opening decision (an unsigned image gets no pull request) and the
status (a pull request opened by hand for an unsigned image shows it failing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from promoter.config import KeylessSigner, SignaturePolicy
from promoter.errors import InputError
from promoter.gates import GateState
from promoter.signing import (
    NO_SIGNATURE,
    Keyless,
    PublicKey,
    Requirement,
    Verification,
    load_key,
    load_roots,
    pattern,
    short_digest,
)

NAME = "signature"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureGate:
    """The gate's outcome for one image; the same fields a :class:`promoter.gates.GateResult`
    is made of (``GateResult(gate=Gate.SIGNATURE, state=g.state, detail=g.detail)``)."""

    state: GateState
    detail: str  # one line, starting with "signature: "

    @property
    def name(self) -> str:
        return NAME

    @property
    def passed(self) -> bool:
        return self.state is GateState.PASS


def _result(state: GateState, detail: str) -> SignatureGate:
    return SignatureGate(state=state, detail=f"{NAME}: {detail}")


def signature(required: bool, digest: str, verification: Verification | None, *,
              error: str | None = None) -> SignatureGate:
    """The gate for the image ``digest``: ``required`` when its target environment asks for
    signatures; ``verification`` what :func:`promoter.signing.verify` said, or None with the
    ``error`` that kept the signatures from being read (the next run tries again)."""
    if not required:
        return _result(GateState.PASS, "not required")
    if verification is None:
        return _result(GateState.PENDING, f"cannot read signatures: {error or 'not asked'}")
    if verification.verified:
        return _result(GateState.PASS, f"signed by {verification.by}")
    if verification.reason == NO_SIGNATURE:
        return _result(GateState.FAIL, f"no signature for {short_digest(digest)}")
    return _result(GateState.FAIL, f"not trusted: {verification.reason}")



# --- what an environment's ``gates.signature`` asks -------------------------------------------

Reader = Callable[[str], bytes | None]  # a repository path -> its bytes, None when missing


def requirement(policy: SignaturePolicy, read: Reader) -> Requirement:
    """The :class:`~promoter.signing.Requirement` of ``policy``, its key and root files read
    with ``read``; :class:`InputError` naming the file (or the regular expression) that is
    missing or unusable."""
    return Requirement(keys=tuple(key_file(p, read) for p in policy.keys),
                       keyless=tuple(keyless_signer(k, read) for k in policy.keyless),
                       docker_reference=policy.docker_reference)


def key_file(path: str, read: Reader) -> PublicKey:
    """The public key in the repository file ``path``."""
    return load_key(path, _file(path, read))


def keyless_signer(signer: KeylessSigner, read: Reader) -> Keyless:
    """The trusted keyless signer ``signer`` describes, its roots and Rekor keys read."""
    return Keyless(roots=load_roots(signer.roots, _file(signer.roots, read)),
                   identity=signer.identity,
                   identity_regexp=pattern("identity-regexp", signer.identity_regexp)
                   if signer.identity_regexp is not None else None,
                   issuer=signer.issuer,
                   issuer_regexp=pattern("issuer-regexp", signer.issuer_regexp)
                   if signer.issuer_regexp is not None else None,
                   rekor_keys=tuple(key_file(p, read) for p in signer.rekor_keys))


def _file(path: str, read: Reader) -> bytes:
    data = read(path)
    if data is None:
        raise InputError(f"{path}: no such file in the repository")
    return data
