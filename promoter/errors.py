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
"""

from __future__ import annotations

from typing import ClassVar


class PromoterError(Exception):
    """Base of every error promoter raises on purpose."""

    exit_code: ClassVar[int] = 3


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
