"""The git implementation's own promises: the checkout stays untouched, tokens stay out of
.git and messages, modes and symlinks, refusals by the remote, unsafe clone URLs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promoter.cli import main
from promoter.config import Identity, valid_branch_name
from promoter.errors import GitError, InputError
from promoter.gitrepo import (
    BranchChange,
    GitWorkspace,
    HttpAuth,
    LeaseLost,
    Outcome,
    Published,
    cloned,
    publish_branch,
    publish_branches,
)
from tests.servers.git_http import GitHttpServer, git, init_bare
from tests.servers.registry import free_port

BOT = Identity(name="promoter", email="promoter@noreply.invalid")
TOKEN = "tok-Zq8Lx3Vb7"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path_factory.mktemp("git-root"), tokens={TOKEN}) as srv:
        yield srv


def _checkout(tmp_path: Path) -> Path:
    work = tmp_path / "checkout"
    git("init", "-q", str(work))
    (work / "app.yaml").write_text("image: api:1.0\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    os.symlink("/etc/passwd", work / "escape.yaml")
    git("add", ".", cwd=work)
    git("commit", "-qm", "init", cwd=work)
    return work


def test_checkout_without_remote_is_left_untouched(tmp_path: Path) -> None:
    work = _checkout(tmp_path)
    (work / "app.yaml").write_text("image: api:local-edit\n")  # a dirty working tree
    (work / "staged.yaml").write_text("a: 1\n")
    git("add", "staged.yaml", cwd=work)
    before = (git("status", "--porcelain", cwd=work), git("rev-parse", "HEAD", cwd=work))

    ws = GitWorkspace.open(work)
    assert ws.remote is None
    main = ws.branch_head("main")
    assert main == before[1]
    sha = ws.commit(parent=main, files={"app.yaml": "image: api:1.1\n",
                                        "run.sh": "#!/bin/sh\necho\n"},
                    message="Promote api", author=BOT)
    ws.push("promoter/dev/api", sha, expect=None)

    assert (git("status", "--porcelain", cwd=work), git("rev-parse", "HEAD", cwd=work)) == before
    assert (work / "app.yaml").read_text() == "image: api:local-edit\n"
    assert git("rev-parse", "refs/heads/promoter/dev/api", cwd=work) == sha
    assert git("ls-tree", sha, "run.sh", cwd=work).startswith("100755 ")  # mode kept
    with pytest.raises(GitError, match="^branch main is checked out; promoter does not move it$"):
        ws.push("main", sha, expect=main)
    with pytest.raises(GitError, match=r"^update of branch promoter/dev/api refused: it is not "
                                       r"at [0-9a-f]{12} any more$"):
        ws.push("promoter/dev/api", main, expect=main)


def test_symlinks_are_neither_listed_nor_read(tmp_path: Path) -> None:
    ws = GitWorkspace.open(_checkout(tmp_path))
    main = ws.branch_head("main")
    assert main
    assert ws.list_files(main) == ("app.yaml", "run.sh")
    with pytest.raises(InputError, match=r"^escape.yaml: is a symlink at [0-9a-f]{12}; "):
        ws.read(main, "escape.yaml")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"^{tmp_path}: not a git repository$"):
        GitWorkspace.open(tmp_path)


@pytest.mark.integration
def test_token_never_reaches_git_config_or_messages(server: GitHttpServer,
                                                    tmp_path: Path) -> None:
    server.create_repo("acme/auth", files={"a.yaml": "image: app:1\n"})
    url = server.clone_url("acme/auth")
    ws = GitWorkspace.clone(url, tmp_path / "c", auth=HttpAuth(username="x-access-token",
                                                              token=TOKEN))
    main = ws.branch_head("main")
    assert main and ws.read(main, "a.yaml") == "image: app:1\n"
    sha = ws.commit(parent=main, files={"a.yaml": "image: app:2\n"}, message="bump", author=BOT)
    ws.push("promoter/dev/app", sha, expect=None)
    ws.fetch()
    assert ws.branch_head("promoter/dev/app") == sha
    assert git("--git-dir", str(server.root / "acme/auth.git"), "rev-parse",
               "refs/heads/promoter/dev/app") == sha
    leaked = subprocess.run(["grep", "-rl", TOKEN, str(tmp_path / "c")], capture_output=True)
    assert leaked.stdout == b""
    assert git("remote", "get-url", "origin", cwd=tmp_path / "c") == url


@pytest.mark.integration
@pytest.mark.parametrize("auth", [None, HttpAuth(username="x-access-token", token="wrong-tok1")])
def test_refused_clone_says_so_without_the_secret(server: GitHttpServer, tmp_path: Path,
                                                  auth: HttpAuth | None) -> None:
    server.create_repo(f"acme/refused-{auth is None}")
    with pytest.raises(GitError) as info:
        GitWorkspace.clone(server.clone_url(f"acme/refused-{auth is None}"), tmp_path / "c",
                           auth=auth)
    assert str(info.value).startswith("git clone failed: fatal: Authentication failed for ")
    assert "wrong-tok1" not in str(info.value)


@pytest.mark.integration
def test_cloned_removes_its_directory(server: GitHttpServer) -> None:
    server.create_repo("acme/tmp")
    with cloned(server.clone_url("acme/tmp"),
                auth=HttpAuth(username="oauth2", token=TOKEN)) as ws:
        root = ws.root
        assert ws.list_files("origin/main") == ("README.md",)
    assert not root.exists()


SSH_CREDENTIALS = ("--clone: the URL must not hold credentials; give the token through the "
                   "environment or an ssh key")


@pytest.mark.parametrize(("url", "message"), [
    ("https://user:tok-secret1@example.invalid/a.git",
     "--clone: the URL must not hold credentials; give the token through the environment"),
    ("ext::sh -c touch% /tmp/pwned", "--clone: not a git URL (options and remote helpers are "
                                     "refused)"),
    ("--upload-pack=touch /tmp/pwned", "--clone: not a git URL (options and remote helpers "
                                       "are refused)"),
    ("ftp://example.invalid/a.git", "--clone: URL scheme 'ftp' is not supported"),
    # issue 15, item 14: a password in an ssh URL is refused as in an http one
    ("ssh://deploy:hunter2@example.invalid/a.git", SSH_CREDENTIALS),
    ("ssh://deploy:@example.invalid:2222/a.git", SSH_CREDENTIALS),
    ("deploy:hunter2@example.invalid:acme/a.git", SSH_CREDENTIALS),
    ("git://u:hunter2@example.invalid/a.git", SSH_CREDENTIALS),
])
def test_unsafe_clone_urls_are_refused(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        GitWorkspace.clone(url, tmp_path / "c")
    assert str(info.value) == message
    assert not (tmp_path / "c").exists()


def test_push_refused_by_the_remote(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    init_bare(bare)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    ws = GitWorkspace.clone(str(bare), tmp_path / "c")
    main = ws.branch_head("main")
    assert main
    sha = ws.commit(parent=main, files={"x": "1\n"}, message="m", author=BOT)
    with pytest.raises(GitError, match="^push of branch promoter/x refused by the remote: "
                                       "pre-receive hook declined$"):
        ws.push("promoter/x", sha, expect=None)
    assert ws.branch_head("promoter/x") is None


def test_two_runs_at_once_make_one_branch(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    init_bare(bare, files={"v.yaml": "tag: '1'\n"})
    one, two, three = (GitWorkspace.clone(str(bare), tmp_path / n) for n in ("1", "2", "3"))

    def publish(ws: GitWorkspace, message: str, retries: int = 2) -> Published:
        return publish_branch(ws, branch="promoter/dev/app", base="main",
                              files={"v.yaml": "tag: '2'\n"}, message=message, author=BOT,
                              retries=retries)

    first = publish(one, "Promote app to 2 in dev")
    # `two` looked before `one` pushed: its push (branch must not exist) loses the lease,
    # it fetches, sees the same files there and pushes nothing
    second = publish(two, "Promote app to 2 in dev (run 2)")
    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.UNCHANGED)
    assert second.sha == first.sha
    assert git("--git-dir", str(bare), "rev-parse", "refs/heads/promoter/dev/app") == first.sha
    with pytest.raises(LeaseLost, match="^push of branch promoter/dev/app rejected: it moved "):
        publish(three, "Promote app to 2 in dev (run 3)", retries=0)
    assert git("--git-dir", str(bare), "rev-parse", "refs/heads/promoter/dev/app") == first.sha


@pytest.mark.integration
def test_our_token_replaces_a_stale_header_in_git_config(server: GitHttpServer,
                                                         tmp_path: Path) -> None:
    # actions/checkout leaves `http.<host>/.extraheader` with its own token in .git/config
    server.create_repo("acme/checkout")
    url = server.clone_url("acme/checkout")
    work = tmp_path / "w"
    git("clone", "-q", server.clone_url("acme/checkout", token=TOKEN), str(work))
    git("remote", "set-url", "origin", url, cwd=work)
    git("config", f"http.{server.url}/.extraheader", "AUTHORIZATION: basic c3RhbGU6c3RhbGU=",
        cwd=work)
    with pytest.raises(GitError, match="^git fetch failed: fatal: Authentication failed"):
        GitWorkspace.open(work).fetch()
    with GitWorkspace.open(work, auth=HttpAuth(username="x-access-token", token=TOKEN)) as ws:
        ws.fetch()
        main = ws.branch_head("main")
        assert main
        ws.push("promoter/dev/x", main, expect=None)
    assert git("--git-dir", str(server.root / "acme/checkout.git"), "rev-parse",
               "refs/heads/promoter/dev/x") == main


def test_commits_built_in_process_match_git_and_pass_fsck(tmp_path: Path) -> None:
    files = {"a.b": "1\n", "a-b": "2\n", "a/x.yaml": "3\n", "a/deep/y.yaml": "4\n",
             "b/only.yaml": "5\n", "z": "6\n"}
    bare = tmp_path / "remote.git"
    init_bare(bare, files=files)
    ws = GitWorkspace.clone(str(bare), tmp_path / "c")
    main = ws.branch_head("main")
    assert main
    change: dict[str, str | None] = {"a/deep/y.yaml": "4b\n", "a/new/n.yaml": "7\n",
                                     "b/only.yaml": None, "a.c": "8\n", "gone/x": None}
    sha = ws.commit(parent=main, files=change, message="m", author=BOT)
    # git's own index machinery as the oracle for the tree
    index = tmp_path / "index"
    env = {"GIT_INDEX_FILE": str(index)}
    work = tmp_path / "c"
    full = {**os.environ, **env}
    subprocess.run(["git", "-C", str(work), "read-tree", main], env=full, check=True)
    for path, text in change.items():
        if text is None:
            subprocess.run(["git", "-C", str(work), "update-index", "--force-remove", path],
                           env=full, check=True)
        else:
            blob = git("hash-object", "-w", "--stdin", cwd=work, input=text)
            subprocess.run(["git", "-C", str(work), "update-index", "--add", "--cacheinfo",
                            f"100644,{blob},{path}"], env=full, check=True)
    expected = subprocess.run(["git", "-C", str(work), "write-tree"], env=full, check=True,
                              capture_output=True, text=True).stdout.strip()
    assert git("rev-parse", f"{sha}^{{tree}}", cwd=work) == expected
    assert "b" not in git("ls-tree", "--name-only", sha, cwd=work).split()  # emptied dir gone
    assert git("fsck", "--strict", "--no-progress", "--no-dangling", cwd=work) == ""
    with pytest.raises(InputError, match="^a: is a directory$"):
        ws.commit(parent=main, files={"a": "x"}, message="m", author=BOT)
    with pytest.raises(InputError, match="^z: is a file, not a directory$"):
        ws.commit(parent=main, files={"z/y": "x"}, message="m", author=BOT)


def test_batch_push_with_one_lost_lease(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    init_bare(bare, files={"a.yaml": "tag: '1'\n", "b.yaml": "tag: '1'\n"})
    fresh, stale = (GitWorkspace.clone(str(bare), tmp_path / n) for n in ("fresh", "stale"))

    def change(name: str, run: str) -> BranchChange:
        return BranchChange(branch=f"promoter/dev/{name}", base="main",
                            files={f"{name}.yaml": "tag: '2'\n"},
                            message=f"Promote {name} to 2 ({run})", author=BOT)

    (first,) = publish_branches(fresh, [change("a", "fresh")])
    results = publish_branches(stale, [change("a", "stale"), change("b", "stale")])
    assert [(r.outcome, r.sha == first.sha) for r in results] == [
        (Outcome.UNCHANGED, True), (Outcome.CREATED, False)]
    assert git("--git-dir", str(bare), "for-each-ref", "--format=%(refname)",
               "refs/heads/promoter") == "refs/heads/promoter/dev/a\nrefs/heads/promoter/dev/b"


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab./-_@{}~^:?*[\\ \t.lock", max_size=12))
def test_branch_names_are_judged_as_git_does(name: str) -> None:
    git_says = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"],
                              capture_output=True).returncode == 0
    # stricter in one rule: no leading '-', which a command line would read as an option
    assert valid_branch_name(name) is (git_says and not name.startswith("-"))


@pytest.mark.integration
def test_a_refused_batch_push_fails_each_branch_without_the_secret(server: GitHttpServer,
                                                                   tmp_path: Path) -> None:
    server.create_repo("acme/batch")
    GitWorkspace.clone(server.clone_url("acme/batch"), tmp_path / "c",
                       auth=HttpAuth(username="x-access-token", token=TOKEN)).close()
    wrong = GitWorkspace(tmp_path / "c", remote="origin",
                         auth=HttpAuth(username="x-access-token", token="revoked-tok9"))
    changes = [BranchChange(branch=f"promoter/dev/{n}", base="main", files={n: "1\n"},
                            message=n, author=BOT) for n in ("a", "b")]
    results = publish_branches(wrong, changes)
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    for r in results:
        assert r.error is not None
        assert r.error.startswith(f"push of branch {r.branch} failed: fatal: Authentication "
                                  "failed for ")
        assert "revoked-tok9" not in r.error
    assert wrong.branch_head("promoter/dev/a") is None


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
@pytest.mark.parametrize("form", ["ssh://git@127.0.0.1:{port}/acme/a.git",
                                  "ssh://127.0.0.1:{port}/acme/a.git"])
def test_ssh_clone_failure_says_what_failed(form: str, tmp_path: Path) -> None:
    """A user name is how ssh URLs are written: allowed. When the clone fails, the message is
    ssh's reason, not git's closing 'and the repository exists.'"""
    url = form.format(port=free_port())
    with pytest.raises(GitError) as info:
        GitWorkspace.clone(url, tmp_path / "c")
    assert str(info.value).startswith("git clone failed: fatal: Could not read from remote "
                                      "repository: ssh: connect to host 127.0.0.1 port ")
    assert str(info.value).endswith(": Connection refused")
    assert not (tmp_path / "c").exists()


def test_cli_refuses_an_ssh_password_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["plan", "--clone", "ssh://deploy:hunter2@example.invalid/a.git"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", f"promoter: error: {SSH_CREDENTIALS}\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client")
def test_cli_says_why_an_ssh_clone_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    code = main(["plan", "--clone", f"ssh://git@127.0.0.1:{port}/a.git"])
    out, err = capsys.readouterr()
    assert (code, out, err) == (1, "", "promoter: error: git clone failed: fatal: Could not read "
                                "from remote repository: ssh: connect to host 127.0.0.1 port "
                                f"{port}: Connection refused\n")
    assert list(tmp_path.iterdir()) == []
