"""Registry credentials: where they come from, first match wins.

1. ``PROMOTER_REGISTRY_<HOST>_USERNAME`` and ``PROMOTER_REGISTRY_<HOST>_PASSWORD``, where
   ``<HOST>`` is the registry host upper-cased with every character other than a letter or a
   digit replaced by ``_`` (``ghcr.io`` -> ``GHCR_IO``, ``127.0.0.1:5000`` -> ``127_0_0_1_5000``,
   Docker Hub is ``DOCKER_IO``).
2. ``PROMOTER_REGISTRY_AUTH``: one JSON object for many hosts,
   ``{"HOST": {"username": "...", "password": "..."}}`` (or ``{"auth": "<base64 user:pass>"}``
   or ``{"identitytoken": "..."}``, as in docker's ``config.json``).
3. ``GITHUB_TOKEN`` for ``ghcr.io`` (user ``$GITHUB_ACTOR``, else ``x-access-token``).
4. For the GitLab registry named by ``CI_REGISTRY``: ``CI_REGISTRY_USER`` +
   ``CI_REGISTRY_PASSWORD``, else ``gitlab-ci-token`` + ``CI_JOB_TOKEN``.
5. docker's ``config.json`` (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``):
   ``credHelpers[host]``, then ``credsStore``, then ``auths[host]``. Helpers are run as
   ``docker-credential-<name> get`` (server address on stdin, JSON on stdout), found on
   ``PATH``, never through a shell.

No credentials means anonymous access (and anonymous Bearer tokens). Every secret found is
registered with :func:`promoter.secrets.register` at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promoter import secrets
from promoter.errors import InputError, PromoterError, RegistryError
from promoter.refs import DOCKER_HUB

log = logging.getLogger(__name__)

HUB_SERVER = "https://index.docker.io/v1/"  # the key docker writes for Docker Hub
_HUB_KEYS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io",
                       "registry.hub.docker.com"})
HELPER_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What to authenticate with. ``repr`` never shows a secret."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)  # OAuth2 refresh token
    registry_token: str | None = field(default=None, repr=False)  # a Bearer token, sent as is
    source: str = ""  # where they were found, for messages


def env_key(host: str) -> str:
    """``PROMOTER_REGISTRY_<HOST>``'s ``<HOST>`` for a registry host."""
    return re.sub(r"[^A-Za-z0-9]", "_", host).upper()


def normalize_host(key: str) -> str:
    """A ``config.json`` key (``https://index.docker.io/v1/``, ``ghcr.io``) -> registry host."""
    host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", key.strip()).split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_KEYS else host


def _from_entry(entry: Mapping[str, Any], source: str) -> Credentials | None:
    """A docker ``auths`` entry / ``PROMOTER_REGISTRY_AUTH`` value -> Credentials."""
    user = entry.get("username")
    password = entry.get("password")
    if entry.get("auth"):
        try:
            user, sep, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as e:
            raise InputError(f"{source}: 'auth' is not base64 of user:password") from e
        if not sep:
            raise InputError(f"{source}: 'auth' is not base64 of user:password")
    identity = entry.get("identitytoken") or None
    registry_token = entry.get("registrytoken") or None
    if not (user or identity or registry_token):
        return None
    creds = Credentials(username=str(user) if user else None,
                        password=str(password) if password is not None else None,
                        identity_token=str(identity) if identity else None,
                        registry_token=str(registry_token) if registry_token else None,
                        source=source)
    _register(creds)
    return creds


def _register(creds: Credentials) -> None:
    secrets.register(creds.password)
    secrets.register(creds.identity_token)
    secrets.register(creds.registry_token)


class CredentialStore:
    """Finds the credentials for a registry host (see the module docstring); caches answers.

    ``environ`` defaults to ``os.environ``; the docker config is read once, lazily.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *,
                 helper_timeout: float = HELPER_TIMEOUT) -> None:
        self._env = dict(os.environ if environ is None else environ)
        self._timeout = helper_timeout
        self._cache: dict[str, Credentials | None] = {}
        self._failed: dict[str, PromoterError] = {}
        self._config: dict[str, Any] | None = None
        for name in ("GITHUB_TOKEN", "CI_REGISTRY_PASSWORD", "CI_JOB_TOKEN"):
            secrets.register(self._env.get(name))

    def __call__(self, host: str) -> Credentials | None:
        return self.get(host)

    def get(self, host: str) -> Credentials | None:
        """The credentials for ``host``, or None (anonymous). A failure (a broken helper, an
        invalid config) is remembered too: the helper is not run again for every image."""
        host = normalize_host(host)
        if host in self._failed:
            raise self._failed[host]
        if host not in self._cache:
            try:
                self._cache[host] = self._find(host)
            except PromoterError as e:
                self._failed[host] = e
                raise
        return self._cache[host]

    @property
    def config_path(self) -> Path:
        if self._env.get("DOCKER_CONFIG"):
            return Path(self._env["DOCKER_CONFIG"]) / "config.json"
        home = self._env.get("HOME")
        return (Path(home) if home else Path.home()) / ".docker" / "config.json"

    # -- the sources, in order ----------------------------------------------------------
    def _find(self, host: str) -> Credentials | None:
        return (self._from_env(host) or self._from_auth_json(host) or self._from_ci(host)
                or self._from_docker_config(host))

    def _from_env(self, host: str) -> Credentials | None:
        prefix = f"PROMOTER_REGISTRY_{env_key(host)}_"
        user = self._env.get(prefix + "USERNAME")
        if not user:
            return None
        creds = Credentials(username=user, password=self._env.get(prefix + "PASSWORD", ""),
                            source=f"${prefix}USERNAME")
        _register(creds)
        return creds

    def _from_auth_json(self, host: str) -> Credentials | None:
        raw = self._env.get("PROMOTER_REGISTRY_AUTH")
        if not raw:
            return None
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InputError(f"$PROMOTER_REGISTRY_AUTH: invalid JSON at line {e.lineno} "
                             f"column {e.colno}: {e.msg}") from None
        if not isinstance(doc, dict):
            raise InputError("$PROMOTER_REGISTRY_AUTH: expected a JSON object of hosts")
        for key, entry in doc.items():
            if normalize_host(key) == host and isinstance(entry, dict):
                return _from_entry(entry, f"$PROMOTER_REGISTRY_AUTH[{key}]")
        return None

    def _from_ci(self, host: str) -> Credentials | None:
        env = self._env
        if host == "ghcr.io" and env.get("GITHUB_TOKEN"):
            return Credentials(username=env.get("GITHUB_ACTOR") or "x-access-token",
                               password=env["GITHUB_TOKEN"], source="$GITHUB_TOKEN")
        if env.get("CI_REGISTRY") and normalize_host(env["CI_REGISTRY"]) == host:
            if env.get("CI_REGISTRY_USER") and env.get("CI_REGISTRY_PASSWORD"):
                return Credentials(username=env["CI_REGISTRY_USER"],
                                   password=env["CI_REGISTRY_PASSWORD"],
                                   source="$CI_REGISTRY_USER")
            if env.get("CI_JOB_TOKEN"):
                return Credentials(username="gitlab-ci-token", password=env["CI_JOB_TOKEN"],
                                   source="$CI_JOB_TOKEN")
        return None

    def _docker_config(self) -> dict[str, Any]:
        if self._config is None:
            path = self.config_path
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = "{}"
            except OSError as e:
                raise InputError(f"{path}: cannot read: {e.strerror}") from None
            try:
                doc = json.loads(text) if text.strip() else {}
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
            if not isinstance(doc, dict):
                raise InputError(f"{path}:1:1: expected a JSON object")
            self._config = doc
        return self._config

    def _from_docker_config(self, host: str) -> Credentials | None:
        doc = self._docker_config()
        path = self.config_path
        server = HUB_SERVER if host == DOCKER_HUB else host  # what docker hands its helpers
        helpers = doc.get("credHelpers") or {}
        for key, helper in helpers.items() if isinstance(helpers, dict) else ():
            if normalize_host(key) == host and helper:
                return self._run_helper(str(helper), server, host)
        auths = doc.get("auths") or {}
        entry: Mapping[str, Any] | None = None
        entry_key = host
        for key, value in auths.items() if isinstance(auths, dict) else ():
            if normalize_host(key) == host and isinstance(value, dict):
                entry, entry_key = value, key
                break
        if doc.get("credsStore"):
            found = self._run_helper(str(doc["credsStore"]), server, host)
            if found is not None:
                return found
        return _from_entry(entry, f"{path} auths[{entry_key}]") if entry else None

    def _run_helper(self, name: str, server: str, host: str) -> Credentials | None:
        exe_name = f"docker-credential-{name}"
        exe = shutil.which(exe_name, path=self._env.get("PATH", os.defpath))
        if exe is None:
            raise RegistryError(f"credential helper {exe_name} (for {host}) is not on PATH")
        try:
            proc = subprocess.run([exe, "get"], input=server, capture_output=True, text=True,
                                  timeout=self._timeout, env=self._env, check=False)
        except subprocess.TimeoutExpired:
            raise RegistryError(f"credential helper {exe_name} timed out for {host}") from None
        except OSError as e:
            raise RegistryError(f"credential helper {exe_name} failed for {host}: "
                                f"{e.strerror}") from None
        if proc.returncode != 0:
            out = (proc.stdout + proc.stderr).strip()
            if "credentials not found" in out.lower():
                return None
            first = secrets.redact(out.splitlines()[0] if out else f"exit {proc.returncode}")
            raise RegistryError(f"credential helper {exe_name} failed for {host}: {first}")
        try:
            doc = json.loads(proc.stdout)
            user, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
        except (json.JSONDecodeError, AttributeError):
            raise RegistryError(f"credential helper {exe_name} sent unreadable output for "
                                f"{host}") from None
        secrets.register(secret)
        if not secret:
            return None
        source = f"{exe_name}"
        if user == "<token>":  # docker's marker for an identity (refresh) token
            return Credentials(identity_token=secret, source=source)
        return Credentials(username=user, password=secret, source=source)
