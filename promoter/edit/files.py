"""The filesystem edge of the engine: which files to scan, reading them, writing atomically.

Text is read as UTF-8 with ``newline=""`` so CRLF line endings survive, and a BOM stays in the
text as ``\\ufeff`` (see :mod:`promoter.edit.yamlpos`), so writing the text back gives the same
bytes. Writes go to a temporary file in the same directory, get the old file's mode and replace
the file with :func:`os.replace`, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Sequence

from promoter.errors import InputError

YAML_SUFFIXES = (".yaml", ".yml")
EXTRA_NAMES = frozenset({"Kustomization"})
SKIP_DIRS = frozenset({".git", "node_modules", ".hg", ".svn"})


def is_yaml_name(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES) or name in EXTRA_NAMES


def iter_files(paths: Sequence[str]) -> Iterator[tuple[str, bool]]:
    """``(file, explicit)`` for each path: a file as given (explicit), a directory's YAML files
    recursively in sorted order (not explicit). A path that does not exist is an InputError."""
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in sorted(files):
                    found = os.path.normpath(os.path.join(root, name))
                    if is_yaml_name(name) and _first(found, seen):
                        yield found, False
        elif os.path.exists(path):
            if _first(path, seen):
                yield path, True
        else:
            raise InputError(f"{path}: no such file or directory")


def _first(path: str, seen: set[str]) -> bool:
    """True the first time a file is met (a file given twice is edited once)."""
    real = os.path.realpath(path)
    if real in seen:
        return False
    seen.add(real)
    return True


def read_text(path: str) -> str:
    """The file's text, exactly (CRLF and BOM kept); InputError when unreadable."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping its permission bits; a symlink stays
    a symlink (its target is replaced)."""
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".promoter-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
