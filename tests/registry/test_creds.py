"""Where credentials come from: environment, CI variables, docker's config.json and real
docker-credential-* helper processes."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from promoter import secrets
from promoter.errors import InputError, RegistryError
from promoter.registry.creds import Credentials, CredentialStore, env_key, normalize_host


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("key", "host"), [
    ("https://index.docker.io/v1/", "docker.io"),
    ("registry-1.docker.io", "docker.io"),
    ("docker.io", "docker.io"),
    ("https://ghcr.io", "ghcr.io"),
    ("ghcr.io/v2/", "ghcr.io"),
    ("http://127.0.0.1:5000", "127.0.0.1:5000"),
    ("Registry.Example.COM:443", "registry.example.com:443"),
])
def test_normalize_host(key: str, host: str) -> None:
    assert normalize_host(key) == host


@pytest.mark.parametrize(("host", "key"), [
    ("ghcr.io", "GHCR_IO"), ("127.0.0.1:5000", "127_0_0_1_5000"), ("docker.io", "DOCKER_IO"),
    ("registry.gitlab.com", "REGISTRY_GITLAB_COM"),
])
def test_env_key(host: str, key: str) -> None:
    assert env_key(host) == key


ENV_CASES = [
    pytest.param({"PROMOTER_REGISTRY_GHCR_IO_USERNAME": "u", "PROMOTER_REGISTRY_GHCR_IO_PASSWORD":
                  "p-env-1"}, "ghcr.io", ("u", "p-env-1", "$PROMOTER_REGISTRY_GHCR_IO_USERNAME"),
                 id="per-host"),
    pytest.param({"PROMOTER_REGISTRY_AUTH": json.dumps({"https://ghcr.io": {
        "username": "j", "password": "p-json-1"}})}, "ghcr.io",
                 ("j", "p-json-1", "$PROMOTER_REGISTRY_AUTH[https://ghcr.io]"), id="json"),
    pytest.param({"PROMOTER_REGISTRY_AUTH": json.dumps({"docker.io": {"auth": b64("a:p-b64-1")}})},
                 "docker.io", ("a", "p-b64-1", "$PROMOTER_REGISTRY_AUTH[docker.io]"),
                 id="json-auth"),
    pytest.param({"GITHUB_TOKEN": "ghp-token-1", "GITHUB_ACTOR": "octo"}, "ghcr.io",
                 ("octo", "ghp-token-1", "$GITHUB_TOKEN"), id="github"),
    pytest.param({"GITHUB_TOKEN": "ghp-token-1"}, "ghcr.io",
                 ("x-access-token", "ghp-token-1", "$GITHUB_TOKEN"), id="github-no-actor"),
    pytest.param({"GITHUB_TOKEN": "ghp-token-1"}, "quay.io", None, id="github-other-host"),
    pytest.param({"CI_REGISTRY": "registry.gitlab.com", "CI_REGISTRY_USER": "gitlab-ci-token",
                  "CI_REGISTRY_PASSWORD": "glcbt-1", "CI_JOB_TOKEN": "job-1"},
                 "registry.gitlab.com", ("gitlab-ci-token", "glcbt-1", "$CI_REGISTRY_USER"),
                 id="gitlab"),
    pytest.param({"CI_REGISTRY": "registry.gitlab.com", "CI_JOB_TOKEN": "job-1"},
                 "registry.gitlab.com", ("gitlab-ci-token", "job-1", "$CI_JOB_TOKEN"),
                 id="gitlab-job-token"),
    pytest.param({"CI_REGISTRY": "registry.gitlab.com", "CI_JOB_TOKEN": "job-1"}, "ghcr.io", None,
                 id="gitlab-other-host"),
    pytest.param({"PROMOTER_REGISTRY_GHCR_IO_USERNAME": "first", "GITHUB_TOKEN": "ghp-2"},
                 "ghcr.io", ("first", "", "$PROMOTER_REGISTRY_GHCR_IO_USERNAME"),
                 id="env-beats-github"),
]


@pytest.mark.parametrize(("env", "host", "expected"), ENV_CASES)
def test_environment_sources(env: dict[str, str], host: str,
                             expected: tuple[str, str, str] | None, tmp_path: Path) -> None:
    store = CredentialStore({**env, "HOME": str(tmp_path)})
    creds = store.get(host)
    if expected is None:
        assert creds is None
        return
    assert creds is not None
    assert (creds.username, creds.password, creds.source) == expected
    if creds.password:
        assert secrets.redact(f"x {creds.password} y") == "x *** y"


def test_repr_hides_secrets() -> None:
    creds = Credentials(username="u", password="hidden-pass", identity_token="hidden-tok")
    assert "hidden" not in repr(creds)


def write_config(directory: Path, doc: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(doc))
    return directory


def helper(bin_dir: Path, name: str, body: str) -> None:
    """A real docker-credential-NAME executable (Python), found on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(f"#!/usr/bin/env python3\nimport json, sys\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


STORE_HELPER = """
assert sys.argv[1:] == ["get"], sys.argv
server = sys.stdin.read().strip()
known = {"https://index.docker.io/v1/": ("hubuser", "hub-secret-1"),
         "quay.io": ("<token>", "refresh-tok-1")}
if server not in known:
    print("credentials not found in native keychain"); sys.exit(1)
u, s = known[server]
print(json.dumps({"ServerURL": server, "Username": u, "Secret": s}))
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    helper(tmp_path / "bin", "teststore", STORE_HELPER)
    helper(tmp_path / "bin", "broken", 'print("boom: helper exploded", file=sys.stderr)\n'
                                       "sys.exit(3)")
    return {"HOME": str(tmp_path / "home"), "DOCKER_CONFIG": str(tmp_path / "docker"),
            "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_docker_config_auths(env: dict[str, str]) -> None:
    write_config(Path(env["DOCKER_CONFIG"]), {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hub:hub-pass-1")},
        "registry.lan:5000": {"identitytoken": "idtok-1"},
    }})
    store = CredentialStore(env)
    hub = store.get("docker.io")
    assert hub is not None and (hub.username, hub.password) == ("hub", "hub-pass-1")
    assert hub.source.endswith("config.json auths[https://index.docker.io/v1/]")
    lan = store.get("registry.lan:5000")
    assert lan is not None and lan.identity_token == "idtok-1" and lan.username is None
    assert store.get("ghcr.io") is None


def test_docker_config_in_home_when_no_docker_config(tmp_path: Path) -> None:
    write_config(tmp_path / ".docker", {"auths": {"ghcr.io": {"auth": b64("me:home-pass-1")}}})
    creds = CredentialStore({"HOME": str(tmp_path)}).get("ghcr.io")
    assert creds is not None and creds.password == "home-pass-1"


def test_creds_store_helper(env: dict[str, str]) -> None:
    write_config(Path(env["DOCKER_CONFIG"]), {"credsStore": "teststore", "auths": {
        "ghcr.io": {"auth": b64("fallback:fallback-pass-1")}}})
    store = CredentialStore(env)
    hub = store.get("docker.io")
    assert hub == Credentials(username="hubuser", password="hub-secret-1",
                              source="docker-credential-teststore")
    quay = store.get("quay.io")
    assert quay is not None and quay.identity_token == "refresh-tok-1" and quay.username is None
    # the store does not know ghcr.io: docker falls back to the auths entry
    ghcr = store.get("ghcr.io")
    assert ghcr is not None and ghcr.password == "fallback-pass-1"
    assert store.get("other.example") is None
    assert secrets.redact("hub-secret-1") == "***"


def test_cred_helpers_win_over_creds_store(env: dict[str, str]) -> None:
    write_config(Path(env["DOCKER_CONFIG"]), {"credsStore": "broken",
                                              "credHelpers": {"docker.io": "teststore"}})
    creds = CredentialStore(env).get("docker.io")
    assert creds is not None and creds.username == "hubuser"


@pytest.mark.parametrize(("config", "message"), [
    ({"credHelpers": {"ghcr.io": "broken"}},
     "credential helper docker-credential-broken failed for ghcr.io: boom: helper exploded"),
    ({"credHelpers": {"ghcr.io": "absent"}},
     "credential helper docker-credential-absent (for ghcr.io) is not on PATH"),
])
def test_helper_failures_are_clear(env: dict[str, str], config: dict[str, dict[str, str]],
                                   message: str) -> None:
    write_config(Path(env["DOCKER_CONFIG"]), config)
    store = CredentialStore(env)
    with pytest.raises(RegistryError) as e:
        store.get("ghcr.io")
    assert str(e.value) == message
    # the helper is fixed now, but the failure is remembered: it is not run for every image
    helper(Path(env["PATH"].split(os.pathsep)[0]), str(config["credHelpers"]["ghcr.io"]),
           'print(json.dumps({"Username": "u", "Secret": "fixed-secret-1"}))')
    assert CredentialStore(env).get("ghcr.io") is not None  # a new store does run it
    with pytest.raises(RegistryError) as e:
        store.get("ghcr.io")
    assert str(e.value) == message


def test_invalid_config_json_names_file_line_column(env: dict[str, str]) -> None:
    path = Path(env["DOCKER_CONFIG"]) / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "auths": {,\n}')
    with pytest.raises(InputError) as e:
        CredentialStore(env).get("ghcr.io")
    assert str(e.value).startswith(f"{path}:2:13: invalid JSON: ")


def test_invalid_auth_json_env() -> None:
    with pytest.raises(InputError) as e:
        CredentialStore({"PROMOTER_REGISTRY_AUTH": "{nope"}).get("ghcr.io")
    assert str(e.value).startswith("$PROMOTER_REGISTRY_AUTH: invalid JSON at line 1 column 2")


def test_bad_base64_auth(env: dict[str, str]) -> None:
    write_config(Path(env["DOCKER_CONFIG"]), {"auths": {"ghcr.io": {"auth": b64("no-colon")}}})
    with pytest.raises(InputError) as e:
        CredentialStore(env).get("ghcr.io")
    assert "'auth' is not base64 of user:password" in str(e.value)
