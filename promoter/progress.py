"""How a flow reports its progress, without knowing who watches (pure: no terminal here).

A flow takes a :data:`Progress` (``progress(description, total)`` opens a block and gives it a
:class:`Tracker`); :func:`quiet` is the one nobody watches, and
:meth:`promoter.console.Console.progress` the one a terminal shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Tracker(Protocol):
    """One line of the progress display."""

    def advance(self, n: int = 1) -> None: ...

    def update(self, *, total: int | None = None, description: str | None = None) -> None: ...


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        pass


#: the tracker of a run nobody watches
SILENT: Tracker = _Silent()

Progress = Callable[[str, int | None], AbstractContextManager[Tracker]]


@contextmanager
def quiet(description: str, total: int | None = None) -> Iterator[Tracker]:
    """A :data:`Progress` that shows nothing."""
    yield SILENT
