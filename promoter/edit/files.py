"""The filesystem edge of the engine: which files to scan, reading them, writing atomically.

Text is read as UTF-8 with ``newline=""`` so CRLF line endings survive, and a BOM stays in the
text as ``\\ufeff`` (see :mod:`promoter.edit.yamlpos`), so writing the text back gives the same
bytes. Writes go to a temporary file in the same directory, get the old file's mode and replace
the file with :func:`os.replace`, so a reader never sees half a file; an edit of several files
stages all of them before replacing any (:func:`write_all`).

Guarantees against hostile trees:

- a file met while walking a directory whose real path lies outside that directory (a symlink
  to ``../outside/x.yaml``) is refused (:func:`outside_root`): it is never read or written;
- a file larger than :data:`MAX_FILE_BYTES` is refused before it is read whole;
- a replaced file keeps its owner and group (a file owned by someone else is chowned back, or
  refused when that is not allowed) and its permission bits; a file the user may not write
  (read-only) is refused, not replaced through the directory's write permission.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence

from promoter.errors import InputError

YAML_SUFFIXES = (".yaml", ".yml")
EXTRA_NAMES = frozenset({"Kustomization"})
SKIP_DIRS = frozenset({".git", "node_modules", ".hg", ".svn"})
# Real image files are small (the largest of the test corpus is 103 KB; install bundles of a few
# hundred CRDs reach 2-3 MB); a bigger one costs seconds and hundreds of MB to compose.
MAX_FILE_BYTES = 4 * 1024 * 1024


def is_yaml_name(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES) or name in EXTRA_NAMES


def iter_files(paths: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """``(file, root)`` for each path: a file as given (root ``None``: explicit), a directory's
    YAML files recursively in sorted order (root: that directory). A path that does not exist
    is an InputError."""
    seen: set[str] = set()
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for name in sorted(files):
                    found = os.path.normpath(os.path.join(root, name))
                    if is_yaml_name(name) and _first(found, seen):
                        yield found, path
        elif os.path.exists(path):
            if _first(path, seen):
                yield path, None
        else:
            raise InputError(f"{path}: no such file or directory")


def outside_root(path: str, root: str) -> str | None:
    """Why ``path`` (found by walking ``root``) must not be touched: its real path leaves the
    directory through a symlink. ``None`` when it stays inside."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) == real_root:
        return None
    return (f"{path}: a symbolic link that leads out of {root}; refusing to follow it "
            "(name the file itself to edit it)")


def _first(path: str, seen: set[str]) -> bool:
    """True the first time a file is met (a file given twice is edited once)."""
    real = os.path.realpath(path)
    if real in seen:
        return False
    seen.add(real)
    return True


def read_text(path: str) -> str:
    """The file's text, exactly (CRLF and BOM kept); InputError when unreadable or larger than
    :data:`MAX_FILE_BYTES`."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; "
                             "refusing to read it as an image file")
        return data.decode("utf-8")
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
    for path, _, _ in edits:
        _check_writable(path)
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


def _check_writable(path: str) -> None:
    """Refuse a file the user may not write: replacing it through the directory's write
    permission would drop its read-only mode."""
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OSError(errno.EACCES, "the file is read-only for this user; make it writable "
                      "first", path)


def _stage(target: str, text: str) -> str:
    """A temporary file beside ``target`` holding ``text``, with ``target``'s permission bits
    (0644 for a new file), owner and group."""
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    fd, tmp = tempfile.mkstemp(prefix=".promoter-", suffix=".tmp",
                               dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if st is not None and (st.st_uid, st.st_gid) != _owner(tmp):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except PermissionError:
                raise OSError(errno.EPERM, f"owned by uid {st.st_uid} gid {st.st_gid}, which "
                              "this user cannot give a new file; not replaced") from None
        os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else 0o644)
    except BaseException:
        _discard([tmp])
        raise
    return tmp


def _owner(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_uid, st.st_gid


def _discard(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
