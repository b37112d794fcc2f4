"""Registry authentication, as registries do it: the ``WWW-Authenticate`` challenge, Basic, and
Bearer tokens from the realm with ``service`` and ``scope``.

One :class:`HostAuth` per registry host holds what that host taught us:

* the scheme (learned from the ``/v2/`` ping or the first ``401``): none, Basic or Bearer;
* for Bearer, the realm and service, and a token cache keyed by scope
  (``repository:<name>:pull``) kept until shortly before the token expires;
* the credentials (:class:`promoter.registry.creds.Credentials`), or none (anonymous tokens).

Speed matters: once the realm is known a token is fetched *before* the request instead of after
a ``401``; :meth:`HostAuth.prefetch` asks the token endpoint for many repository scopes in one
request (``scope=a&scope=b...``, as the distribution token spec allows), so a scan of a thousand
repositories costs a handful of token requests; and concurrent requests for one scope share a
single token fetch.

The HTTP exchange itself is the caller's (:mod:`promoter.registry.oci` passes its retrying
``send``), so this module never opens a connection of its own. Every password and token is
registered with :func:`promoter.secrets.register` before it is used.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import httpx

from promoter import secrets
from promoter.errors import RegistryError, RegistryRefused
from promoter.registry.creds import Credentials

log = logging.getLogger(__name__)

Send = Callable[[httpx.Request, str], Awaitable[httpx.Response]]
"""``send(request, what)``: the registry's retrying sender; ``what`` names the image for errors."""

DEFAULT_TOKEN_TTL = 60.0  # seconds; the token spec's default when ``expires_in`` is absent
_EXPIRY_MARGIN = 10.0
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_SCHEME_RE = re.compile(rf"[\s,]*({_TOKEN})")
_PARAM_RE = re.compile(rf'\s*,?\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


class Scheme(enum.Enum):
    UNKNOWN = "unknown"
    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header."""

    scheme: str  # lower case: "bearer", "basic", ...
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(s for s in self.params.get("scope", "").split(" ") if s)


def parse_challenges(header: str) -> tuple[Challenge, ...]:
    """Parse a ``WWW-Authenticate`` value: ``Bearer realm="x",service="y",scope="a b"``.

    Several challenges in one header (``Basic realm="r", Bearer realm="t"``) give several
    results; parameter names are lower-cased, quoted values unescaped.
    """
    out = []
    pos = 0
    while (m := _SCHEME_RE.match(header, pos)) is not None:
        scheme, pos = m.group(1), m.end()
        params = {}
        while (p := _PARAM_RE.match(header, pos)) is not None:
            value = re.sub(r"\\(.)", r"\1", p.group(2)) if p.group(2) is not None else p.group(3)
            params[p.group(1).lower()] = value
            pos = p.end()
        out.append(Challenge(scheme=scheme.lower(), params=params))
    return tuple(out)


def repository_scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


def basic_header(creds: Credentials | None) -> str | None:
    """``Basic base64(user:password)``, registered as a secret; None without a password."""
    if creds is None or creds.username is None or creds.password is None:
        return None
    encoded = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    secrets.register(encoded)
    return f"Basic {encoded}"


class AuthFailed(RegistryRefused):
    """The registry or its token endpoint refused our credentials (or the lack of them)."""


@dataclass(slots=True)
class _Token:
    value: str
    expires_at: float


class HostAuth:
    """What one registry host needs for auth; see the module docstring. Not thread-safe; one
    event loop."""

    def __init__(self, host: str, creds: Credentials | None, send: Send, *,
                 clock: Callable[[], float], scope_batch: int = 64) -> None:
        self.host = host
        self.creds = creds
        self.scheme = Scheme.UNKNOWN
        self.realm: str | None = None
        self.service: str | None = None
        self._send = send
        self._clock = clock
        self._scope_batch = max(1, scope_batch)
        self._tokens: dict[str, _Token] = {}
        self._inflight: dict[str, asyncio.Future[str]] = {}
        self.token_fetches = 0
        self._refused: int | None = None  # the token endpoint refused our credentials
        self._basic = basic_header(creds)
        if creds is not None:
            secrets.register(creds.password)
            secrets.register(creds.identity_token)
            secrets.register(creds.registry_token)

    # -- what to send --------------------------------------------------------------------
    def cached(self, scope: str | None) -> str | None:
        """The ``Authorization`` value to send now without any request, or None."""
        if self.creds is not None and self.creds.registry_token:
            return f"Bearer {self.creds.registry_token}"
        if self.scheme is Scheme.BASIC:
            return self._basic
        if self.scheme is Scheme.BEARER and scope is not None:
            tok = self._tokens.get(scope)
            if tok is not None and tok.expires_at > self._clock():
                return f"Bearer {tok.value}"
        return None

    async def authorize(self, scope: str | None, what: str) -> str | None:
        """The header to send for ``scope``, fetching a Bearer token first when the realm is
        known (no ``401`` round trip)."""
        header = self.cached(scope)
        if header is None and self.scheme is Scheme.BEARER and scope is not None and self.realm:
            header = f"Bearer {await self._token_for((scope,), what)}"
        return header

    # -- learning from the registry -------------------------------------------------------
    def learn(self, response: httpx.Response) -> Challenge | None:
        """Update the scheme from a response (a ``200`` without credentials means none)."""
        if response.status_code != 401:
            if self.scheme is Scheme.UNKNOWN and "Authorization" not in response.request.headers:
                self.scheme = Scheme.NONE
            return None
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        for ch in challenges:
            if ch.scheme == "bearer" and ch.realm:
                self.scheme, self.realm, self.service = Scheme.BEARER, ch.realm, ch.service
                return ch
        for ch in challenges:
            if ch.scheme == "basic":
                self.scheme = Scheme.BASIC
                return ch
        return None

    async def on_401(self, response: httpx.Response, scope: str | None, what: str) -> str:
        """After a ``401``: the header to retry with, or :class:`AuthFailed`."""
        had = response.request.headers.get("Authorization")
        challenge = self.learn(response)
        if challenge is None:
            raise AuthFailed(f"authentication failed for {what} (401, no usable challenge)")
        if challenge.scheme == "basic":
            header = self._basic
            if header is None:
                raise AuthFailed(f"authentication failed for {what} (401): no credentials for "
                                 f"{self.host}")
            if had == header:
                raise AuthFailed(f"authentication failed for {what} (401)")
            return header
        scopes = set(challenge.scopes)
        if scope is not None:
            scopes.add(scope)
            stale = self._tokens.get(scope)
            if stale is not None and had == f"Bearer {stale.value}":
                del self._tokens[scope]  # revoked or lacking a scope: fetch afresh once
            elif had is not None:
                raise AuthFailed(f"authentication failed for {what} (401)")
        token = await self._token_for(tuple(sorted(scopes)), what)
        if had == f"Bearer {token}":
            raise AuthFailed(f"authentication failed for {what} (401)")
        return f"Bearer {token}"

    # -- tokens ---------------------------------------------------------------------------
    async def prefetch(self, scopes: Iterable[str]) -> None:
        """Fetch tokens for every scope not cached yet, ``scope_batch`` scopes per request,
        the batches concurrently. Failures are left for the per-image requests to report."""
        if self.scheme is not Scheme.BEARER or not self.realm:
            return
        now = self._clock()
        todo = sorted({s for s in scopes
                       if s not in self._inflight
                       and not (s in self._tokens and self._tokens[s].expires_at > now)})
        batches = [tuple(todo[i:i + self._scope_batch])
                   for i in range(0, len(todo), self._scope_batch)]
        results = await asyncio.gather(*(self._token_for(b, self.host) for b in batches),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r
            if isinstance(r, Exception):
                log.debug("token prefetch failed host=%s: %s", self.host, secrets.redact(str(r)))

    async def _token_for(self, scopes: tuple[str, ...], what: str) -> str:
        """One token covering ``scopes``; concurrent callers for the same scope share one
        fetch."""
        if len(scopes) == 1 and scopes[0] in self._inflight:
            try:
                return await asyncio.shield(self._inflight[scopes[0]])
            except Exception:  # noqa: S110 - fetch on our own, so the error names our image
                pass
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()
        for s in scopes:
            self._inflight.setdefault(s, fut)
        try:
            token, ttl = await self._fetch(scopes, what)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as e:
            fut.set_exception(e)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        else:
            fut.set_result(token)
            expires = self._clock() + max(ttl - _EXPIRY_MARGIN, 1.0)
            for s in scopes:
                self._tokens[s] = _Token(token, expires)
            return token
        finally:
            for s in scopes:
                if self._inflight.get(s) is fut:
                    del self._inflight[s]

    async def _fetch(self, scopes: tuple[str, ...], what: str) -> tuple[str, float]:
        assert self.realm is not None
        if self._refused is not None:  # the same credentials will be refused again: no request
            raise AuthFailed(f"authentication failed for {what} (token endpoint answered "
                             f"{self._refused})")
        creds = self.creds
        if creds is not None and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "promoter", "scope": " ".join(scopes)}
            if self.service:
                form["service"] = self.service
            request = httpx.Request("POST", self.realm, data=form)
        else:
            params: list[tuple[str, str | int | float | bool | None]] = (
                [("service", self.service)] if self.service else [])
            params += [("scope", s) for s in scopes]
            basic = self._basic
            request = httpx.Request("GET", self.realm, params=params,
                                    headers={"Authorization": basic} if basic else {})
        self.token_fetches += 1
        response = await self._send(request, what)
        if response.status_code in (401, 403):
            self._refused = response.status_code
            raise AuthFailed(f"authentication failed for {what} (token endpoint answered "
                             f"{response.status_code})")
        if response.status_code != 200:
            raise RegistryError(f"token endpoint for {self.host} answered "
                                f"{response.status_code} for {what}")
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            ttl = float(body.get("expires_in") or DEFAULT_TOKEN_TTL)
        except (ValueError, AttributeError, TypeError) as e:
            raise RegistryError(f"token endpoint for {self.host} sent an unreadable answer "
                                f"for {what}") from e
        if not isinstance(token, str) or not token:
            raise RegistryError(f"token endpoint for {self.host} sent no token for {what}")
        secrets.register(token)
        return token, ttl
