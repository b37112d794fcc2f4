"""Blocking look-ups for the sync flows: is a version someone typed one the registry has?

``rollback --to VERSION`` and ``/rollback ... --to VERSION`` commit what the user typed into
files, so :func:`require_tag` checks it twice before anything is written: against the OCI tag
grammar (:func:`promoter.refs.check_tag`, as ``set-image --tag`` is), then against the
repository's tag list. Errors are one line naming what was typed (``what``) and the image.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib

from promoter.errors import InputError
from promoter.refs import ImageRef, check_tag, shorten
from promoter.registry import Registry


def require_tag(registry: Registry | None, image: ImageRef, tag: str, *, what: str) -> str:
    """``tag`` when it is an OCI tag that ``image``'s repository lists; else
    :class:`InputError`. Without a registry only the grammar is checked. A registry that
    cannot answer raises its :class:`~promoter.errors.RegistryError`."""
    check_tag(tag, what)
    if registry is None:
        return tag
    tags = asyncio.run(_list_tags(registry, ImageRef(image.registry, image.repository)))
    if tag not in tags:
        near = difflib.get_close_matches(tag, tags, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else \
            f" ({len(tags)} tag{'s' if len(tags) != 1 else ''} listed)"
        raise InputError(f"{what}: {image.familiar} has no tag {shorten(tag)} in its "
                         f"registry{hint}")
    return tag


async def _list_tags(registry: Registry, image: ImageRef) -> tuple[str, ...]:
    """The tags, inside the registry's async context (its connection pool) when it has one."""
    if isinstance(registry, contextlib.AbstractAsyncContextManager):
        async with registry as entered:
            return tuple(await entered.list_tags(image))
    return tuple(await registry.list_tags(image))
