"""The signature gates of one run: each (environment, image, digest) checked once, many images
at a time, one image's failure never stopping the others.

The flows (poll, promote, check) ask :meth:`SignatureChecks.gate` for the candidates of a gated
environment after :meth:`SignatureChecks.prefetch` has checked them concurrently. A candidate
pinned by tag only is resolved to its digest first. With no registry to read from, a gated
environment's gate stays pending (nothing opens), never passing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

from promoter.config import Config
from promoter.errors import InputError, PromoterError
from promoter.gitrepo import Workspace
from promoter.refs import ImageRef
from promoter.registry import Registry, SignatureSource
from promoter.registry.signatures import check
from promoter.secrets import redact
from promoter.signature_gate import Reader, SignatureGate, requirement, signature
from promoter.signing import Requirement

log = logging.getLogger(__name__)

#: how many images are checked at once
CONCURRENCY = 8


class Source(Registry, SignatureSource, Protocol):
    """A registry that also holds signatures (both real and in-memory registries are)."""


Ask = tuple[str, ImageRef, str | None]  # (environment, image, digest or None: resolve the tag)


@dataclass(slots=True, kw_only=True)
class SignatureChecks:
    """``requirements``: environment name -> what its ``gates.signature`` asks (gated ones
    only); ``unusable``: gated environments whose key files could not be read, with why (their
    gate stays pending, the others go on); ``source``: where signatures are read, or None."""

    source: Source | None
    requirements: Mapping[str, Requirement]
    now: datetime
    unusable: Mapping[str, str] = field(default_factory=dict)
    done: dict[tuple[str, str, str], SignatureGate] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: Config, ws: Workspace, registry: Registry | None, *, now: datetime
           ) -> SignatureChecks:
        """The checks ``cfg``'s gated environments ask for, read from ``registry`` (when it
        holds signatures), their key files from the repository's base branch."""
        source = cast(Source, registry) if hasattr(registry, "signatures") else None
        read = repo_reader(cfg, ws)
        found: dict[str, Requirement] = {}
        unusable: dict[str, str] = {}
        for env in cfg.environments:
            if env.gates.signature is None:
                continue
            try:
                found[env.name] = requirement(env.gates.signature, read)
            except InputError as e:
                unusable[env.name] = f"{env.name}: gates.signature: {e}"
                log.warning("%s", unusable[env.name])
        return cls(source=source, requirements=found, unusable=unusable, now=now)

    def required(self, env: str) -> bool:
        return env in self.requirements or env in self.unusable

    def gate(self, env: str, image: ImageRef, digest: str | None) -> SignatureGate:
        """The gate for ``image`` (at ``digest``, else its tag) entering ``env``."""
        if not self.required(env):
            return signature(False, digest or "", None)
        self.prefetch([(env, image, digest)])
        return self.done[_key(env, image, digest)]

    def prefetch(self, asks: Iterable[Ask]) -> None:
        """Check every ask of a gated environment not checked yet, concurrently."""
        todo = list(dict.fromkeys((e, i, d) for e, i, d in asks if self.required(e)
                                  and _key(e, i, d) not in self.done))
        for env, image, digest in [a for a in todo if a[0] in self.unusable]:
            self.done[_key(env, image, digest)] = signature(True, digest or "", None,
                                                            error=self.unusable[env])
        todo = [a for a in todo if a[0] not in self.unusable]
        if not todo:
            return
        if self.source is None:
            for env, image, digest in todo:
                self.done[_key(env, image, digest)] = signature(
                    True, digest or "", None, error="no registry to read them from")
            return
        for ask, gate in zip(todo, asyncio.run(self._all(self.source, todo)), strict=True):
            self.done[_key(*ask)] = gate

    async def _all(self, source: Source, todo: list[Ask]) -> list[SignatureGate]:
        if isinstance(source, contextlib.AbstractAsyncContextManager):
            async with source as entered:
                return await self._gather(entered, todo)
        return await self._gather(source, todo)

    async def _gather(self, source: Source, todo: list[Ask]) -> list[SignatureGate]:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(env: str, image: ImageRef, digest: str | None) -> SignatureGate:
            async with limit:
                try:
                    if digest is None:
                        digest = (await source.manifest(image)).digest
                    return await check(source, image.with_digest(None), digest,
                                       self.requirements[env], now=self.now)
                except PromoterError as e:
                    why = redact(str(e))
                except Exception as e:  # one image never stops the others
                    log.debug("signature check failed", exc_info=True)
                    why = redact(f"unexpected error: {type(e).__name__}: {e}")
                gate = signature(True, digest or "", None, error=why)
                log.warning("%s: %s", image, gate.detail)
                return gate

        return list(await asyncio.gather(*(one(*ask) for ask in todo)))


def for_config(cfg: Config, ws: Workspace, registry: Callable[[], Registry | None], *,
               now: datetime) -> SignatureChecks | None:
    """The checks of ``cfg``'s signature gates, reading signatures from the registry
    ``registry()`` makes (called only when needed); None when no environment has one."""
    if not any(e.gates.signature for e in cfg.environments):
        return None
    return SignatureChecks.of(cfg, ws, registry(), now=now)


def _key(env: str, image: ImageRef, digest: str | None) -> tuple[str, str, str]:
    return (env, image.name, digest or f":{image.tag or 'latest'}")


def repo_reader(cfg: Config, ws: Workspace) -> Reader:
    """Repository files as the base branch (``forge.base-branch``) holds them: the keys a
    change is checked with are the ones already merged, not the ones it brings."""
    head = ws.branch_head(cfg.forge.base_branch)

    def read(path: str) -> bytes | None:
        text = ws.read(head, path) if head is not None else None
        return text.encode() if text is not None else None
    return read

