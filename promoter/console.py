"""What a person at a terminal sees while promoter works, and what stays out of pipes and CI logs.

:class:`Console` writes messages to one stream (stderr: stdout is for results) at a
:class:`Verbosity` (``-q`` errors and warnings only, ``-v`` details, ``-vv`` debug), and shows a
progress display (:meth:`Console.progress`) for long runs, images scanned or PRs synced. The
display is drawn only when the stream is a terminal and no CI is detected (``CI`` set), so a
pipe, a file or a CI log gets plain lines and nothing else. Colour only on a terminal, never
with ``NO_COLOR`` (https://no-color.org) or ``TERM=dumb``. :meth:`Console.log` prefixes an
ISO 8601 UTC timestamp, for the long-running ``watch`` and ``serve``.

The terminal side is `rich <https://github.com/Textualize/rich>`_; everything this module
decides (:func:`detect`) is a pure function of the stream's kind and the environment given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from rich.console import Console as RichConsole
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from promoter.progress import SILENT, Tracker
from promoter.secrets import redact


class Verbosity(enum.IntEnum):
    QUIET = -1  # errors and warnings only
    NORMAL = 0
    VERBOSE = 1  # details: each image, each file
    DEBUG = 2

    @classmethod
    def from_flags(cls, *, quiet: int = 0, verbose: int = 0) -> Verbosity:
        """``-q`` / ``-v`` counts (``-vv`` is debug); quiet wins over verbose."""
        if quiet:
            return cls.QUIET
        return cls(min(verbose, cls.DEBUG))


@dataclass(frozen=True, slots=True, kw_only=True)
class Mode:
    """What the console may do on its stream."""

    interactive: bool  # draw progress (a terminal, not CI)
    color: bool


def _set(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name)
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def detect(*, isatty: bool, environ: Mapping[str, str]) -> Mode:
    """The mode for a stream that is (or is not) a terminal, under ``environ``."""
    terminal = isatty and environ.get("TERM", "") != "dumb"
    in_ci = _set(environ, "CI") or "GITHUB_ACTIONS" in environ or "GITLAB_CI" in environ
    no_color = environ.get("NO_COLOR", "") != ""  # no-color.org: present and not empty
    return Mode(interactive=terminal and not in_ci, color=terminal and not no_color)


class _Bar:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, *, total: int | None = None, description: str | None = None) -> None:
        self._progress.update(self._task, total=total, description=description)


_STYLES = {"error": "bold red", "warning": "yellow", "detail": "dim", "debug": "dim"}


class Console:
    """Messages and progress on ``stream`` (see the module docstring)."""

    def __init__(self, stream: IO[str], *, mode: Mode, verbosity: Verbosity = Verbosity.NORMAL,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.stream = stream
        self.mode = mode
        self.verbosity = verbosity
        self._clock = clock
        self._rich = RichConsole(
            file=stream, force_terminal=mode.interactive or mode.color,
            force_interactive=mode.interactive, color_system="auto" if mode.color else None,
            no_color=not mode.color, highlight=False, markup=False, emoji=False,
            soft_wrap=True, log_path=False)
        self._progress: Progress | None = None

    @classmethod
    def for_stream(cls, stream: IO[str], environ: Mapping[str, str], *,
                   verbosity: Verbosity = Verbosity.NORMAL) -> Console:
        isatty = getattr(stream, "isatty", lambda: False)()
        return cls(stream, mode=detect(isatty=isatty, environ=environ), verbosity=verbosity)

    # -- messages ----------------------------------------------------------------------------

    def error(self, message: str) -> None:
        self._emit(message, "error", prefix="error: ")

    def warning(self, message: str) -> None:
        self._emit(message, "warning", prefix="warning: ")

    def info(self, message: str) -> None:
        if self.verbosity >= Verbosity.NORMAL:
            self._emit(message, None)

    def detail(self, message: str) -> None:
        if self.verbosity >= Verbosity.VERBOSE:
            self._emit(message, "detail")

    def debug(self, message: str) -> None:
        if self.verbosity >= Verbosity.DEBUG:
            self._emit(message, "debug")

    def log(self, message: str, *, level: str = "info") -> None:
        """A timestamped line (``2026-12-03T09:51:07Z message``) for watch and serve; ``level``
        error and warning show at every verbosity, info not under ``-q``."""
        if level == "info" and self.verbosity < Verbosity.NORMAL:
            return
        stamp = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        prefix = "" if level == "info" else f"{level}: "
        self._emit(f"{stamp} {prefix}{message}", level if level != "info" else None)

    def _emit(self, message: str, style: str | None, *, prefix: str = "") -> None:
        line = redact(prefix + message).replace("\r", " ").replace("\n", " ")
        if not (self.mode.color or self._progress is not None):
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        # through rich: above a running progress display, coloured when allowed
        self._rich.print(Text(line, style=_STYLES.get(style or "", "")), soft_wrap=True)

    # -- progress ----------------------------------------------------------------------------

    @contextmanager
    def progress(self, description: str, total: int | None = None) -> Iterator[Tracker]:
        """A progress line ``description  [bar]  3/200  0:00:04`` while the block runs, erased
        when it ends; nothing at all off a terminal, in CI or under ``-q``. Nested calls add a
        line to the display already shown."""
        if not self.mode.interactive or self.verbosity < Verbosity.NORMAL:
            yield SILENT
            return
        if self._progress is not None:  # nested: one more line in the same display
            task = self._progress.add_task(redact(description), total=total)
            try:
                yield _Bar(self._progress, task)
            finally:
                self._progress.remove_task(task)
            return
        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), console=self._rich,
                            transient=True, refresh_per_second=10)
        self._progress = progress
        try:
            with progress:
                yield _Bar(progress, progress.add_task(redact(description), total=total))
        finally:
            self._progress = None
