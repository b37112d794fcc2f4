"""Keep secrets out of every message promoter prints.

Secrets are registered as they are read (tokens, passwords); :func:`redact` replaces each one
in any text with ``***``. The CLI's error handler and the log formatter run everything through it.
"""

from __future__ import annotations

import logging
import re

_MIN_LEN = 4
_secrets: set[str] = set()
# credentials inside URLs: scheme://user:password@host. Linear in the text: a match may only
# start where a run of scheme characters starts (the lookbehind), and no part backtracks
# (possessive), so a long word costs one pass, not one pass per character.
_URL_CREDS = re.compile(r"(?<![a-zA-Z0-9+.-])(?P<pre>[0-9+.-]*+)"
                        r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*+://)"
                        r"(?P<user>[^/\s:@]*+):(?P<pw>[^/\s@]++)@")
_AUTH_HEADER = re.compile(r"(?i)(authorization:\s*(?:bearer|basic|token)\s+)\S+")


def register(value: str | None) -> None:
    """Remember a secret so that :func:`redact` hides it from now on."""
    if value and len(value) >= _MIN_LEN:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and URL credential replaced by ``***``."""
    for s in sorted(_secrets, key=len, reverse=True):
        if s in text:
            text = text.replace(s, "***")
    text = _URL_CREDS.sub(lambda m: f"{m['pre']}{m['scheme']}{m['user']}:***@", text)
    return _AUTH_HEADER.sub(r"\1***", text)


class RedactingFormatter(logging.Formatter):
    """A log formatter that redacts secrets from the formatted record."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
