"""One exception tree, one exit-code table, for every command.

====  =====================================================================================
exit  meaning
====  =====================================================================================
0     done: nothing wrong (changed something, or all was up to date)
1     problems found: the command ran and reports what is wrong (a check violation, an image
      that could not be updated, a rolled-back environment with an image that had nothing to
      go back to, ``set-image``'s image referenced nowhere)
2     bad input: arguments, a YAML or config file, a path, an unknown ``--image``/``--env``;
      nothing was changed
3     retry later: a registry, the forge or the network did not answer (RetryableError and
      its children, or every problem a command found was one of those); safe to run again
4     internal error (a bug, please report it): "unexpected error", traceback with --debug
====  =====================================================================================

::

    PromoterError                       exit
      x InputError                      2   bad CLI args, invalid YAML, bad config (file:line:col)
        + ConfigError
        + EditError                     2   verification failed; nothing written
      x NotFound                        1   image referenced nowhere (set-image contract)
      x RetryableError                  3   network/5xx/429 after retries; safe to run again
        + RegistryError
          + RegistryRefused             2   not found, credentials refused: fix the input
        + ForgeError
        + ArgoCDError                   an Argo CD API server unreachable, 5xx
          + ArgoCDRefused               2   token refused, no such Application: fix the input
      x GitError                        1   push rejected, lease lost
    (anything else)                     4   "unexpected error", traceback only with --debug

A command that works image by image (``plan``, ``poll``, ``promote``, ``status``, ``check``,
``rollback``) never lets one image stop the others: it collects a :class:`Problem` per failure
and :func:`exit_code` turns them into the table's code (1, or 3 when all are retryable).

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

DONE, PROBLEMS, BAD_INPUT, RETRY, INTERNAL = 0, 1, 2, 3, 4


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
    retryable: bool = False  # a remote did not answer: running again may succeed

    @classmethod
    def of(cls, error: BaseException, context: str = "", *, image: str | None = None
           ) -> Problem:
        """The problem ``error`` is (``context: message``), keeping whether it is retryable
        and, for a :class:`PromoterError` with one located problem, where it is."""
        from promoter.secrets import redact

        message = redact(str(error))
        found = error.problems if isinstance(error, PromoterError) else ()
        one = found[0] if len(found) == 1 and found[0].file else None
        return cls(message=f"{context}: {message}" if context else message,
                   file=one.file if one else None, line=one.line if one else None,
                   column=one.column if one else None, key=one.key if one else None,
                   image=image or (one.image if one else None),
                   retryable=getattr(error, "retryable", False) is True)

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

    exit_code: ClassVar[int] = INTERNAL
    retryable: ClassVar[bool] = False  # running again may succeed (a remote did not answer)

    def __init__(self, *args: object, problems: Iterable[Problem] = ()) -> None:
        super().__init__(*args)
        self._problems = tuple(problems)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self._problems or (Problem(message=str(self),
                                                  retryable=self.retryable),)


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

    exit_code: ClassVar[int] = 3
    retryable: ClassVar[bool] = True


class RegistryError(RetryableError):
    """A container registry could not answer (or refused) a request."""


class ForgeError(RetryableError):
    """GitHub or GitLab could not answer (or refused) a request."""


class ForgeRefused(ForgeError):
    """The forge answered, and said no: the token is refused (401), lacks the permission (403
    that is no rate limit) or the repository, owner or object does not exist (404). Running
    again will not help; the config or the credentials need fixing."""

    exit_code: ClassVar[int] = 2
    retryable: ClassVar[bool] = False


class RegistryRefused(RegistryError):
    """The registry answered, and said no: not found, credentials refused (401/403). Running
    again will not help; the reference or the credentials need fixing."""

    exit_code: ClassVar[int] = 2
    retryable: ClassVar[bool] = False


class ArgoCDError(RetryableError):
    """An Argo CD API server could not answer a question about an Application."""


class ArgoCDRefused(ArgoCDError):
    """Argo CD answered, and said no: the token is refused (401/403) or the Application does
    not exist (404). Running again will not help."""

    exit_code: ClassVar[int] = 2
    retryable: ClassVar[bool] = False


class GitError(PromoterError):
    """A git operation failed (push rejected, lease lost)."""

    exit_code: ClassVar[int] = 1



def exit_code(problems: Iterable[Problem]) -> int:
    """The exit code of a command that ran and found ``problems``: 0 for none, 3 when every
    one is retryable (a registry or forge that did not answer), else 1."""
    found = tuple(problems)
    if not found:
        return DONE
    return RETRY if all(p.retryable for p in found) else PROBLEMS
