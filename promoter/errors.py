"""One exception tree, one exit-code table.

::

    PromoterError                       exit
      x InputError                      2   bad CLI args, invalid YAML, bad config (file:line:col)
        + ConfigError
        + EditError                     2   verification failed; nothing written
      x NotFound                        1   image referenced nowhere (set-image contract)
      x RetryableError                  2   network/5xx/429 after retries; safe to run again
        + RegistryError
        + ForgeError
      x GitError                        1   push rejected, lease lost
    (anything else)                     3   "unexpected error", traceback only with --debug

Every message is one line that names the file/line/key or the image, and never holds a secret:
the CLI's handler runs it through :func:`promoter.secrets.redact` before printing.

An error may carry several :class:`Problem` values (``config validate`` finds every mistake in
a file at once): ``str(error)`` stays the one line for the first, and ``error.problems`` holds
them all, each with the file, line, column, key path and image it is about, for JSON output,
CI annotations and reports (:mod:`promoter.report`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong, and where: ``file:line:col: key: message``.

    ``line`` and ``column`` are 1-based; ``key`` is a key path (``images[2].policy.semver``);
    ``image`` names the image it concerns. Absent parts are None.
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    key: str | None = None
    image: str | None = None

    @property
    def where(self) -> str:
        """``file:line:col`` as far as known ("" when the file is not)."""
        if self.file is None:
            return ""
        parts = [self.file] + [str(n) for n in (self.line, self.column) if n is not None]
        return ":".join(parts if self.line is not None else parts[:1])

    def __str__(self) -> str:
        return ": ".join(p for p in (self.where, self.key or "", self.message) if p)

    def as_dict(self) -> dict[str, str | int | None]:
        """The JSON form: every field, absent ones as null."""
        return {"file": self.file, "line": self.line, "column": self.column, "key": self.key,
                "image": self.image, "message": self.message}


class PromoterError(Exception):
    """Base of every error promoter raises on purpose.

    ``problems`` (keyword) attaches the structured findings; without it the error is one
    :class:`Problem` holding its message.
    """

    exit_code: ClassVar[int] = 3

    def __init__(self, *args: object, problems: Iterable[Problem] = ()) -> None:
        super().__init__(*args)
        self._problems = tuple(problems)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self._problems or (Problem(message=str(self)),)


class InputError(PromoterError):
    """The input (arguments, a YAML file, the config) is not what was expected."""

    exit_code: ClassVar[int] = 2


class ConfigError(InputError):
    """`.promoter.yaml` is invalid; the message names file, line and key."""


class EditError(InputError):
    """An edit could not be made or verified; nothing was written."""


class NotFound(PromoterError):
    """What was asked for is referenced nowhere."""

    exit_code: ClassVar[int] = 1


class RetryableError(PromoterError):
    """A remote failed (network, 5xx, 429) after retries; running again may succeed."""

    exit_code: ClassVar[int] = 2


class RegistryError(RetryableError):
    """A container registry could not answer (or refused) a request."""


class ForgeError(RetryableError):
    """GitHub or GitLab could not answer (or refused) a request."""


class GitError(PromoterError):
    """A git operation failed (push rejected, lease lost)."""

    exit_code: ClassVar[int] = 1
