"""The real :class:`~promoter.gitrepo.Workspace`: git and GitPython on a repository.

Nothing here touches the working tree or the index of the checkout: blobs, trees and commits
are written straight into the object store (only those it lacks), so ``--repo DIR`` in CI leaves
the user's checkout exactly as it was. Reads go through GitPython's persistent ``cat-file``;
branch refs are read with one ``for-each-ref`` per fetch; a bot branch a few plain commits
above its base is walked in-process, every other history question goes to git.

Remote mode (a checkout with a remote, or a clone): :meth:`Workspace.branch_head` is the remote
branch as of the last :meth:`~Workspace.fetch` or :meth:`~Workspace.push`; pushes use
``--force-with-lease=<ref>:<expected sha>`` so a branch that moved since we looked is never
overwritten. Local mode (no remote, the ``local`` forge): branches are the repository's own
refs, updated by compare-and-swap (``git update-ref NEW OLD``), the same contract.

Credentials: an HTTPS token goes to git as an ``http.<url>.extraHeader`` through
``GIT_CONFIG_*`` environment variables of each network command only. It is never part of a URL,
never written to ``.git/config``, and registered with :mod:`promoter.secrets` so no message
shows it. Every command runs from an argv list, never through a shell.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import git
from git.objects.fun import tree_entries_from_data

from promoter import secrets
from promoter.config import Identity
from promoter.errors import GitError, InputError
from promoter.gitrepo.base import (
    _EMPTY_TREE,
    _REGULAR,
    _TREE,
    _ZERO,
    CommitInfo,
    HttpAuth,
    LeaseLost,
    RefUpdate,
    _lease_lost,
    _raise_first,
    _sign_off,
    _tree_order,
    check_branch_name,
    check_repo_path,
)

log = logging.getLogger(__name__)

def _url_host(url: str) -> str | None:
    """``scheme://host[:port]/`` of an http(s) URL, for scoping the auth header."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/"
    return None


_SCP_PASSWORD = re.compile(r"[^/@:]*:[^/@]*@[^/]*:")  # scp-like user:password@host:path


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if url.startswith("-") or "::" in url.split("/", 1)[0]:
        raise InputError("--clone: not a git URL (options and remote helpers are refused)")
    if parts.scheme in ("https", "http") and (parts.password or parts.username) or \
            parts.scheme in ("ssh", "git") and parts.password is not None or \
            "://" not in url and _SCP_PASSWORD.match(url):
        # ssh://git@host/... names a user, which is how ssh URLs are written; a password
        # (ssh://user:pw@host, user:pw@host:path) is a secret that git would keep in .git
        raise InputError("--clone: the URL must not hold credentials; give the token through "
                         "the environment" + ("" if parts.scheme.startswith("http") else
                                              " or an ssh key"))
    if parts.scheme and parts.scheme not in ("https", "http", "ssh", "git", "file"):
        raise InputError(f"--clone: URL scheme {parts.scheme!r} is not supported")


def _auth_env(urls: list[str], auth: HttpAuth) -> dict[str, str]:
    """``GIT_CONFIG_*`` variables that send ``auth`` as a header to the hosts of ``urls``
    (http(s) only; other transports bring their own credentials)."""
    hosts = sorted({h for h in map(_url_host, urls) if h is not None})
    if not hosts:
        return {}
    secrets.register(auth.token)
    basic = base64.b64encode(f"{auth.username}:{auth.token}".encode()).decode()
    secrets.register(basic)
    n = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    env: dict[str, str] = {}
    for host in hosts:
        key = f"http.{host}.extraHeader"
        # an empty value first resets headers other config added (actions/checkout's)
        for value in ("", f"Authorization: Basic {basic}"):
            env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = key, value
            n += 1
    env["GIT_CONFIG_COUNT"] = str(n)
    return env


_BRANCH_REFS = ("refs/heads/", "refs/remotes/")
_REV_OPERATORS = re.compile(r"[~^:]|@\{")  # never in a ref name; a revision expression
_LINE_STEPS = 32  # how far commits()/is_ancestor() follow a plain line in-process


class GitWorkspace:
    """:class:`Workspace` over a real repository (``git`` commands plus GitPython's reader)."""

    def __init__(self, path: str | Path, *, remote: str | None, auth: HttpAuth | None = None
                 ) -> None:
        self.root = Path(path)
        self.remote = remote
        self._auth_env: dict[str, str] = {}
        try:
            self._repo = git.Repo(self.root)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise InputError(f"{path}: not a git repository") from None
        # loose objects are written in-process (GitPython's default store runs a git per
        # object); commits looked up by full SHA are kept (they never change)
        self._objects = Path(self._repo.common_dir) / "objects"
        self._commits: dict[str, git.Commit] = {}
        self._trees: dict[bytes, dict[str, tuple[bytes, int]]] = {}  # by SHA: never change
        self._seen_trees: set[bytes] = set()  # root trees of commits read: in the repository
        self._branches: dict[str, str] | None = None  # branch refs -> SHA, read at once
        if auth is not None and remote is not None:
            urls = {self._git("remote", "get-url", *flag, remote).strip()
                    for flag in ((), ("--push",))}
            self._auth_env = _auth_env(sorted(urls), auth)

    @classmethod
    def open(cls, path: str | Path, *, auth: HttpAuth | None = None) -> GitWorkspace:
        """A checkout (``--repo DIR``): remote mode with ``origin`` when it has one, else
        local mode. ``auth`` is used for http(s) remotes only."""
        remotes = _run(["git", "-C", str(path), "remote"], check=False)
        return cls(path, remote="origin" if "origin" in remotes.split() else None, auth=auth)

    @classmethod
    def clone(cls, url: str, dest: str | Path, *, auth: HttpAuth | None = None,
              branch: str | None = None) -> GitWorkspace:
        """Clone ``url`` into ``dest`` (``--clone URL``); the token stays out of ``.git``."""
        _check_url(url)
        env = _auth_env([url], auth) if auth else {}
        args = ["clone", "--quiet", "--no-checkout"]
        if branch:
            args += ["--branch", branch]
        _run(["git", *args, "--", url, str(dest)], env=env, network=True)
        return cls(dest, remote="origin", auth=auth)

    def close(self) -> None:
        """Stop GitPython's helper processes."""
        self._repo.close()

    def __enter__(self) -> GitWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _git(self, *args: str, input: bytes | None = None, network: bool = False,
             env: Mapping[str, str] | None = None, check: bool = True,
             returncode: bool = False, merge_stderr: bool = False) -> str:
        extra = {**(self._auth_env if network else {}), **(env or {})}
        return _run(["git", "-C", str(self.root), *args], input=input, env=extra,
                    network=network, check=check, returncode=returncode,
                    merge_stderr=merge_stderr)

    def _ok(self, *args: str) -> bool:
        return self._git(*args, returncode=True).startswith("0\n")

    # -- reading -----------------------------------------------------------------------------

    def fetch(self) -> None:
        self._branches = None
        if self.remote is None:
            return
        self._git("fetch", "--quiet", "--prune", "--no-tags", self.remote,
                  f"+refs/heads/*:refs/remotes/{self.remote}/*", network=True)

    def _ref(self, branch: str) -> str:
        if self.remote is None:
            return f"refs/heads/{branch}"
        return f"refs/remotes/{self.remote}/{branch}"

    def branch_head(self, branch: str) -> str | None:
        return self.resolve(self._ref(branch))

    def resolve(self, rev: str) -> str | None:
        if rev.startswith(_BRANCH_REFS) and not _REV_OPERATORS.search(rev):
            return self._branch_refs().get(rev)  # a plain ref name, not refs/heads/x~1
        commit = self._commit_object(rev)
        return str(commit.hexsha) if commit is not None else None

    def _branch_refs(self) -> dict[str, str]:
        """Every branch and remote-tracking ref with its SHA, read with one ``for-each-ref``
        and kept until promoter itself fetches or moves a ref (a concurrent writer is caught
        by the leases every update carries)."""
        if self._branches is None:
            out = self._git("for-each-ref", "--format=%(objectname) %(refname)",
                            *(r.rstrip("/") for r in _BRANCH_REFS))
            pairs = (line.split(" ", 1) for line in out.splitlines() if " " in line)
            self._branches = {ref: sha for sha, ref in pairs}
        return self._branches

    def _commit_object(self, rev: str) -> git.Commit | None:
        if rev.startswith("-") or not rev:
            return None
        known = self._commits.get(rev)
        if known is not None:
            return known
        try:
            commit = self._repo.commit(rev)
        except (git.BadName, ValueError, IndexError):
            return None
        if commit.hexsha == _ZERO:  # GitPython passes the null SHA
            return None
        self._commits[commit.hexsha] = commit
        self._seen_trees.add(commit.tree.binsha)
        return commit

    def read(self, rev: str, path: str) -> str | None:
        path = check_repo_path(path)
        commit = self._commit_object(rev)
        if commit is None:
            raise InputError(f"{rev}: not a commit")
        try:
            obj = commit.tree / path
        except KeyError:
            return None
        if obj.type != "blob":
            raise InputError(f"{path}: is a directory at {rev[:12]}")
        if obj.mode == 0o120000:
            raise InputError(f"{path}: is a symlink at {rev[:12]}; promoter does not follow "
                             "symlinks")
        data: bytes = obj.data_stream.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}: is not UTF-8 text") from None

    def list_files(self, rev: str, under: str = "") -> tuple[str, ...]:
        args = ["ls-tree", "-r", "-z", "--full-tree", rev]
        if under:
            args += ["--", check_repo_path(under)]
        files = []
        for entry in self._git(*args).split("\0"):
            if not entry:
                continue
            meta, path = entry.split("\t", 1)
            if meta.split(" ", 1)[0] in _REGULAR:
                files.append(path)
        return tuple(sorted(files))

    def commits(self, base: str, head: str) -> tuple[CommitInfo, ...]:
        line = self._line(base, head)
        if line is not None:
            return tuple(_info(c) for c in line)
        return self._log(f"{base}..{head}", "--")

    def _line(self, base: str, head: str) -> list[git.Commit] | None:
        """The commits from ``head`` down to ``base`` (excluded) when ``head`` reaches ``base``
        through commits of one parent each, within a few steps: a bot's branch on its base.
        Read in-process; None when that is not so (then git answers)."""
        target = self.resolve(base)
        commit = self._commit_object(head)
        if target is None or commit is None:
            return None
        line: list[git.Commit] = []
        for _ in range(_LINE_STEPS):
            if commit.hexsha == target:
                return line
            if len(commit.parents) != 1:
                return None
            line.append(commit)
            commit = commit.parents[0]
        return None

    def history(self, rev: str, paths: Sequence[str], *, limit: int | None = None
                ) -> tuple[CommitInfo, ...]:
        if not paths or self._commit_object(rev) is None:
            return ()
        count = () if limit is None else (f"--max-count={max(limit, 0)}",)
        return self._log(*count, rev, "--", *(f":(literal){check_repo_path(p)}" for p in paths))

    def _log(self, *args: str) -> tuple[CommitInfo, ...]:
        out = self._git("log", "-z", "--format=%H%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%ct%x1f%s",
                        *args)
        infos = []
        for record in out.split("\0"):
            if record.strip():
                sha, an, ae, cn, ce, ct, subject = record.strip("\n").split("\x1f", 6)
                infos.append(CommitInfo(sha=sha, author=Identity(name=an, email=ae),
                                        committer=Identity(name=cn, email=ce), subject=subject,
                                        time=int(ct)))
        return tuple(infos)

    def is_ancestor(self, ancestor: str, rev: str) -> bool:
        if self._line(ancestor, rev) is not None:
            return True
        return self._ok("merge-base", "--is-ancestor", ancestor, rev)

    def merge_base(self, a: str, b: str) -> str | None:
        if self._commit_object(a) is None or self._commit_object(b) is None:
            return None
        out = self._git("merge-base", a, b, check=False).strip()
        return out or None

    def changed_files(self, a: str, b: str) -> tuple[str, ...]:
        out = self._git("diff", "--name-only", "--no-renames", "-z", a, b, "--")
        return tuple(sorted(p for p in out.split("\0") if p))

    def same_files(self, a: str, b: str) -> bool:
        first, second = self._commit_object(a), self._commit_object(b)
        if first is None or second is None:
            raise GitError(f"no such commit {a if first is None else b!r}")
        return bool(first.tree.binsha == second.tree.binsha)

    # -- writing -----------------------------------------------------------------------------

    def commit(self, *, parent: str, files: Mapping[str, str | None], message: str,
               author: Identity, sign_off: bool = False) -> str:
        # in-process: blobs, trees and the commit go straight into the object store
        base = self._commit_object(parent)
        if base is None:
            raise GitError(f"cannot commit on {parent!r}: no such commit")
        changes: dict[tuple[str, ...], str | None] = {
            tuple(check_repo_path(path).split("/")): text for path, text in files.items()}
        pending: dict[bytes, bytes] = {}
        tree = self._write_tree(base.tree.binsha, changes, "", pending)
        if tree == base.tree.binsha:
            return str(base.hexsha)
        if tree not in self._seen_trees:  # a tree the repository holds has all below it
            for binsha, raw in pending.items():
                self._write_raw(binsha, raw)
        text = _sign_off(message, author) if sign_off else message
        if re.search(r"[<>\n]", author.name + author.email):
            raise InputError(f"commit author {author!r}: '<', '>' and newlines are not allowed")
        stamp = f"{author.name} <{author.email}> {int(time.time())} +0000"
        body = (f"tree {tree.hex()}\nparent {base.hexsha}\nauthor {stamp}\n"
                f"committer {stamp}\n\n{text.rstrip(chr(10))}\n")
        return self._store(b"commit", body.encode("utf-8")).hex()

    def _store(self, kind: bytes, data: bytes) -> bytes:
        binsha, raw = _object(kind, data)
        self._write_raw(binsha, raw)
        return binsha

    def _write_raw(self, binsha: bytes, raw: bytes) -> None:
        """Write one loose object, as git does (zlib, read-only file, renamed into place);
        nothing when it is there already (a poll that changes nothing writes nothing)."""
        hexsha = binsha.hex()
        target = self._objects / hexsha[:2] / hexsha[2:]
        if target.exists():
            return
        target.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="tmp_obj_", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(zlib.compress(raw, 1))
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _entries(self, tree: bytes) -> dict[str, tuple[bytes, int]]:
        """A tree's entries (name -> SHA, mode), a fresh copy; each tree is read once."""
        known = self._trees.get(tree)
        if known is None:
            data = self._repo.odb.stream(tree).read()
            known = self._trees[tree] = {name: (sha, mode) for sha, mode, name
                                         in tree_entries_from_data(data)}
        return dict(known)

    def _write_tree(self, tree: bytes | None, changes: Mapping[tuple[str, ...], str | None],
                    prefix: str, pending: dict[bytes, bytes]) -> bytes:
        """Tree ``tree`` with ``changes`` (path parts -> text, None deletes): its SHA; the new
        blobs and trees go into ``pending`` (SHA -> raw object), for the caller to write."""
        entries = self._entries(tree) if tree is not None else {}
        below: dict[str, dict[tuple[str, ...], str | None]] = {}
        for parts, text in changes.items():
            name = parts[0]
            if len(parts) > 1:
                below.setdefault(name, {})[parts[1:]] = text
                continue
            old = entries.get(name)
            if old is not None and old[1] == _TREE:
                raise InputError(f"{prefix}{name}: is a directory")
            if text is None:
                entries.pop(name, None)
            else:
                mode = old[1] if old is not None and old[1] in (0o100644, 0o100755) else 0o100644
                entries[name] = (_pend(pending, b"blob", text.encode("utf-8")), mode)
        for name, sub in below.items():
            old = entries.get(name)
            if old is not None and old[1] != _TREE:
                if all(t is None for t in sub.values()):
                    continue  # deleting below a file: nothing there
                raise InputError(f"{prefix}{name}: is a file, not a directory")
            binsha = self._write_tree(old[0] if old is not None else None, sub,
                                      f"{prefix}{name}/", pending)
            if binsha == _EMPTY_TREE:
                entries.pop(name, None)
            else:
                entries[name] = (binsha, _TREE)
        data = b"".join(f"{mode:o} {name}".encode() + b"\0" + binsha for name, (binsha, mode)
                        in sorted(entries.items(), key=lambda e: _tree_order(*e)))
        return _pend(pending, b"tree", data) if data else _EMPTY_TREE

    def push(self, branch: str, sha: str, *, expect: str | None) -> None:
        _raise_first(self.push_all((RefUpdate(branch=branch, sha=sha, expect=expect),)))

    def delete_branch(self, branch: str, *, expect: str) -> None:
        _raise_first(self.push_all((RefUpdate(branch=branch, sha=None, expect=expect),)))

    def push_all(self, updates: Sequence[RefUpdate]) -> tuple[GitError | None, ...]:
        try:
            return self._push_all(updates)
        finally:
            self._branches = None  # refs moved (or may have): read them again when asked

    def _push_all(self, updates: Sequence[RefUpdate]) -> tuple[GitError | None, ...]:
        for u in updates:
            check_branch_name(u.branch)
        if not updates:
            return ()
        if self.remote is None:
            return self._update_local_all(updates)
        args = ["push", "--porcelain", "--no-verify"]
        args += [f"--force-with-lease=refs/heads/{u.branch}:{u.expect or ''}" for u in updates]
        args += [self.remote, *(f"{u.sha or ''}:refs/heads/{u.branch}" for u in updates)]
        out = self._git(*args, network=True, check=False, returncode=True, merge_stderr=True)
        self._branches = None  # the push moved the tracking refs it could
        code, _, text = out.partition("\n")
        status: dict[str, tuple[str, str]] = {}
        for line in text.splitlines():
            flag, *rest = line.split("\t")
            if len(flag) == 1 and len(rest) >= 2 and ":refs/heads/" in rest[0]:
                status[rest[0].split(":refs/heads/", 1)[1]] = (flag, rest[1])
        results: list[GitError | None] = []
        for u in updates:
            flag, summary = status.get(u.branch, ("?", ""))
            if flag == "!":
                results.append(_push_error(u, summary))
            elif flag == "?":
                failed = "no answer" if code == "0" else _last_line(text)
                results.append(GitError(secrets.redact(
                    f"push of branch {u.branch} failed: {failed}")))
            else:
                results.append(None)
                ref = self._ref(u.branch)
                if self.resolve(ref) != u.sha:  # git push moves the tracking ref itself
                    self._git("update-ref", *((ref, u.sha) if u.sha else ("-d", ref)))
        return tuple(results)

    def _update_local_all(self, updates: Sequence[RefUpdate]) -> tuple[GitError | None, ...]:
        """All updates in one ``git update-ref --stdin`` transaction when none touches the
        checked-out branch and every lease holds (the usual case); else one by one, so that
        each gets its own answer."""
        checked_out = self._git("symbolic-ref", "--quiet", "HEAD", check=False).strip()
        if all(f"refs/heads/{u.branch}" != checked_out for u in updates):
            lines = [f"delete refs/heads/{u.branch} {u.expect or _ZERO}" if u.sha is None else
                     f"update refs/heads/{u.branch} {u.sha} {u.expect or _ZERO}"
                     for u in updates]
            result = self._git("update-ref", "--stdin", input="\n".join(lines).encode() + b"\n",
                               check=False, returncode=True, merge_stderr=True)
            if result.startswith("0\n"):
                return tuple(None for _ in updates)
        return tuple(self._update_local(u, checked_out) for u in updates)

    def _update_local(self, u: RefUpdate, checked_out: str) -> GitError | None:
        ref = f"refs/heads/{u.branch}"
        if checked_out == ref:
            return GitError(f"branch {u.branch} is checked out; promoter does not move it")
        args = ["update-ref", "-d", ref, u.expect or _ZERO] if u.sha is None else [
            "update-ref", ref, u.sha, u.expect or _ZERO]
        result = self._git(*args, check=False, returncode=True, merge_stderr=True)
        if not result.startswith("0\n"):
            return LeaseLost(f"update of branch {u.branch} refused: it is not at "
                             f"{(u.expect or 'nothing')[:12]} any more")
        return None


def _object(kind: bytes, data: bytes) -> tuple[bytes, bytes]:
    """A git object's SHA and its raw form (header and data)."""
    raw = kind + b" " + str(len(data)).encode() + b"\0" + data
    return hashlib.sha1(raw, usedforsecurity=False).digest(), raw


def _pend(pending: dict[bytes, bytes], kind: bytes, data: bytes) -> bytes:
    binsha, raw = _object(kind, data)
    pending[binsha] = raw
    return binsha


def _info(c: git.Commit) -> CommitInfo:
    """A GitPython commit as ``git log --format=%s`` would describe it (the subject is the
    first paragraph of the message on one line)."""
    message = c.message if isinstance(c.message, str) else c.message.decode("utf-8", "replace")
    subject = " ".join(message.strip("\n").split("\n\n", 1)[0].split("\n"))
    return CommitInfo(sha=c.hexsha, author=Identity(name=c.author.name or "",
                                                    email=c.author.email or ""),
                      committer=Identity(name=c.committer.name or "",
                                         email=c.committer.email or ""),
                      subject=subject, time=int(c.committed_date))


def _push_error(u: RefUpdate, summary: str) -> GitError:
    m = re.match(r"\[(?P<what>[^\]]+)\](?: \((?P<why>.*)\))?", summary)
    what, why = (m["what"], m["why"] or "") if m else ("", summary)
    if what == "rejected":  # stale info, fetch first, non-fast-forward
        return _lease_lost(u, why)
    return GitError(secrets.redact(f"push of branch {u.branch} refused by the remote: "
                                   f"{why or what}"))


def _last_line(text: str) -> str:
    """What git said went wrong: its last ``fatal:``/``error:`` line (ssh's own complaint
    before it, when there is one), else its last line. ``Please make sure you have the correct
    access rights / and the repository exists.`` follows every failed fetch and says nothing."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "no output"
    at = next((i for i in range(len(lines) - 1, -1, -1)
               if lines[i].startswith(("fatal:", "error:"))), None)
    if at is None:
        return lines[-1]
    fatal = lines[at]
    cause = lines[at - 1] if at else ""  # "ssh: Could not resolve hostname x: ..."
    if fatal == "fatal: Could not read from remote repository." and cause and \
            not cause.startswith(("warning:", "hint:")):
        return f"{fatal.rstrip('.')}: {cause}"
    return fatal


def _run(argv: list[str], *, input: bytes | None = None, env: Mapping[str, str] | None = None,
         network: bool = False, check: bool = True, returncode: bool = False,
         merge_stderr: bool = False) -> str:
    """Run git; return stdout (with ``returncode``: the code, a newline, then the output)."""
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", **(env or {})}
    if network:
        full_env.setdefault("GIT_ASKPASS", "true")  # never a prompt; fail on missing auth
    log.debug("git %s", " ".join(argv[3:] if argv[1:2] == ["-C"] else argv[1:]))
    proc = subprocess.run(argv, input=input, env=full_env, capture_output=True, check=False)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if returncode:
        return f"{proc.returncode}\n{out}{err if merge_stderr else ''}"
    if check and proc.returncode != 0:
        verb = argv[3] if argv[1] == "-C" else argv[1]
        raise GitError(secrets.redact(f"git {verb} failed: {_last_line(err)}"))
    return out


@contextlib.contextmanager
def cloned(url: str, *, auth: HttpAuth | None = None, branch: str | None = None
           ) -> Iterator[GitWorkspace]:
    """Clone ``url`` into a temporary directory that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="promoter-clone-") as tmp, \
            GitWorkspace.clone(url, Path(tmp) / "repo", auth=auth, branch=branch) as ws:
        yield ws
