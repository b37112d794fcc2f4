"""What every ``--output json`` prints: the envelope's own keys checked, the result returned."""

from __future__ import annotations

from typing import Any

ERROR_KEYS = ["file", "line", "column", "key", "image", "message", "retryable"]


def body(doc: Any, *, command: str | None = None, exit_code: int | None = None
         ) -> dict[str, Any]:
    """``doc`` without ``schema_version``, ``command`` and ``exit_code`` (checked: the
    version is 1, the command and code are the ones given, every error has every key)."""
    assert isinstance(doc, dict) and doc["schema_version"] == 1, doc
    if command is not None:
        assert doc["command"] == command
    if exit_code is not None:
        assert doc["exit_code"] == exit_code
    assert isinstance(doc["errors"], list)
    assert all(list(e) == ERROR_KEYS for e in doc["errors"]), doc["errors"]
    return {k: v for k, v in doc.items() if k not in ("schema_version", "command", "exit_code")}


def messages(doc: Any) -> list[str]:
    """The ``message`` of each of the envelope's errors."""
    return [e["message"] for e in body(doc)["errors"]]
