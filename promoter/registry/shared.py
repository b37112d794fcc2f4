"""One registry read per image for a whole run, however many repositories ask.

A fleet run polls many GitOps repositories that pin the same images. :class:`RunCache` holds
what the registry answered (tag lists, manifests, and the errors it gave) for the length of
one run; :class:`Shared` is a :class:`~promoter.registry.Registry` in front of a real one that
asks it first. Repositories are polled one after another or on several threads, each in its
own event loop, so the cache holds plain results behind thread-safe futures: a second
repository that asks while the first is still waiting waits for the same answer instead of
asking again.

The key includes a *scope*: repositories whose configs give different credentials (or CA,
or plain-HTTP hosts) for a registry never share answers, since a registry may show each a
different set of tags.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from promoter.errors import PromoterError
from promoter.refs import ImageRef
from promoter.registry import Enough, ManifestInfo, Registry
from promoter.signing import Signature

__all__ = ["CacheStats", "RunCache", "Shared"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """How often the run asked (``asked``) and how often the registry had to answer
    (``asked - shared``)."""

    asked: int
    shared: int


class RunCache:
    """Answers of the registry for one run, shared by every repository and thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, concurrent.futures.Future[Any]] = {}
        self._asked = 0
        self._shared = 0

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(asked=self._asked, shared=self._shared)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def count(self, kind: str) -> int:
        """How many distinct questions of ``kind`` (``tags``, ``manifest``) the run asked."""
        with self._lock:
            return sum(1 for k in self._entries if isinstance(k, tuple) and k[0] == kind)

    def known(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """The answer for ``key``: remembered, being computed by another caller (then this
        one waits for it), or computed now. A :class:`PromoterError` (the registry refused,
        did not answer) is remembered too: every repository sees the same one failure, and
        the registry is not asked again in this run. Anything else (a cancelled task) is
        not remembered."""
        with self._lock:
            self._asked += 1
            fut = self._entries.get(key)
            mine = fut is None
            if fut is None:
                fut = self._entries[key] = concurrent.futures.Future()
            else:
                self._shared += 1
        if not mine:
            result: T = await asyncio.wrap_future(fut)
            return result
        try:
            value = await compute()
        except PromoterError as e:
            fut.set_exception(e)
            raise
        except BaseException as e:
            with self._lock:
                self._entries.pop(key, None)
            fut.set_exception(e)
            raise
        fut.set_result(value)
        return value


class Shared:
    """A registry that asks ``cache`` before ``inner`` (entered, when it is an async context
    manager, with this one)."""

    def __init__(self, inner: Registry, cache: RunCache, *, scope: Hashable = "") -> None:
        self.inner = inner
        self.cache = cache
        self.scope = scope
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> Self:
        if isinstance(self.inner, contextlib.AbstractAsyncContextManager):
            stack = contextlib.AsyncExitStack()
            self.inner = await stack.enter_async_context(self.inner)
            self._stack = stack
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _tags_key(self, image: ImageRef) -> Hashable:
        return ("tags", self.scope, image.registry, image.repository)

    async def list_tags(self, image: ImageRef) -> tuple[str, ...]:
        return await self.cache.get(self._tags_key(image), lambda: self.inner.list_tags(image))

    async def manifest(self, image: ImageRef, *, created: bool = False,
                       platform: str | None = None) -> ManifestInfo:
        key = ("manifest", self.scope, str(image), created, platform)
        return await self.cache.get(key, lambda: self.inner.manifest(
            image, created=created, platform=platform))

    async def prepare(self, images: Sequence[ImageRef]) -> None:
        """The hint, for the images no repository of this run asked about yet."""
        fresh = [i for i in images if not self.cache.known(self._tags_key(i))]
        if fresh:
            await self.inner.prepare(fresh)

    async def signatures(self, image: ImageRef, digest: str, *,
                         enough: Enough | None = None) -> tuple[Signature, ...]:
        ask = getattr(self.inner, "signatures", None)
        if ask is None:
            raise TypeError(f"{type(self.inner).__name__} reads no signatures")
        if enough is not None:  # an answer cut short for one caller is no answer for all
            found: tuple[Signature, ...] = await ask(image, digest, enough=enough)
            return found
        return await self.cache.get(("signatures", self.scope, image.registry,
                                     image.repository, digest),
                                    lambda: ask(image, digest))

    def __getattr__(self, name: str) -> Any:  # observer, base_url, ...: the inner registry's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
