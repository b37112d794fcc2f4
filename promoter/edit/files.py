"""The filesystem edge of the engine: which files to scan, reading them, writing atomically.

Text is read as UTF-8 with ``newline=""`` so CRLF line endings survive, and a BOM stays in the
text as ``\\ufeff`` (see :mod:`promoter.edit.yamlpos`), so writing the text back gives the same
bytes. Writes go to a temporary file in the same directory, get the old file's mode and replace
the file with :func:`os.replace`, so a reader never sees half a file; an edit of several files
stages all of them before replacing any (:func:`write_all`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence

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
    write_all([(path, text, None)])


def write_all(edits: Sequence[tuple[str, str, str | None]]) -> None:
    """Write several files as one change: ``(path, new text, old text)`` each. Every new text
    goes to a temporary file beside its target first; only when all of them are written are
    the files replaced, one :func:`os.replace` each. A failure before that leaves every file
    as it was; a failure among the replaces (rare: the temporary files already sit in the
    right directories) puts back the old text of the files already replaced, where known."""
    staged: list[tuple[str, str, str | None]] = []  # (target, temporary file, old text)
    try:
        for path, text, old in edits:
            target = os.path.realpath(path)
            try:
                staged.append((target, _stage(target, text), old))
            except OSError as e:  # name the file, not the temporary one
                raise OSError(e.errno, e.strerror, path) from None
    except BaseException:
        _discard(tmp for _, tmp, _ in staged)
        raise
    done: list[tuple[str, str | None]] = []
    try:
        for target, tmp, old in staged:
            os.replace(tmp, target)
            done.append((target, old))
    except BaseException:
        _discard(tmp for _, tmp, _ in staged[len(done):])
        for target, old in reversed(done):
            if old is not None:
                with contextlib.suppress(OSError):
                    os.replace(_stage(target, old), target)
        raise


def _stage(target: str, text: str) -> str:
    """A temporary file beside ``target`` holding ``text``, with ``target``'s permission bits
    (0644 for a new file)."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=".promoter-", suffix=".tmp",
                               dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, mode)
    except BaseException:
        _discard([tmp])
        raise
    return tmp


def _discard(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
