"""Logging, set up once per process: timestamps, levels, logger names, secrets redacted.

Two formats (``--log-format`` or ``PROMOTER_LOG_FORMAT``)::

    text  2026-12-03T09:49:00.123Z INFO promoter.serve: delivery=d-1 queued
    json  {"time": "2026-12-03T09:49:00.123Z", "level": "info", "logger": "promoter.serve",
           "message": "delivery=d-1 queued"}

Every line goes through :func:`promoter.secrets.redact` (the message, the exception and its
traceback), whatever the format. The ``promoter`` loggers and the ASGI server's (``uvicorn``)
share one handler on standard error; nothing else in the process is touched.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

from promoter.errors import InputError
from promoter.secrets import redact

FORMATS = ("text", "json")
ENV = "PROMOTER_LOG_FORMAT"
LOGGERS = ("promoter", "uvicorn")


def _timestamp(record: logging.LogRecord) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{whole}.{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; secrets are redacted in each field before encoding, so a
    secret holding a quote or a backslash is still found."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {"time": _timestamp(record), "level": record.levelname.lower(),
                               "logger": record.name, "message": redact(record.getMessage())}
        if record.exc_info:
            doc["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


def formatter(fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise InputError(f"{ENV}: {fmt!r} is not a log format (text or json)")
    return JsonFormatter() if fmt == "json" else TextFormatter()


def setup(*, level: int = logging.WARNING, fmt: str = "text", stream: IO[str] | None = None
          ) -> None:
    """(Re)configure the promoter loggers: one handler on ``stream`` (standard error)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]  # propagation stays: a host's root handler sees them
        logger.setLevel(level if name == "promoter" else max(level, logging.WARNING))


def service(debug: bool = False) -> None:
    """Long-running commands (serve, watch) say what they do: INFO, unless already DEBUG."""
    logger = logging.getLogger("promoter")
    if not debug and logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
