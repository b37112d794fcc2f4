"""The real :class:`~promoter.argocd.Applications`: Argo CD's REST API over one ``httpx.Client``.

One request per question: ``GET {url}/api/v1/applications/{name}[?project=...]`` with
``Authorization: Bearer <token>``. Connection failures, timeouts and 5xx answers are retried
once and then raise :class:`~promoter.errors.ArgoCDError` (retryable); 401, 403 and 404 raise
:class:`~promoter.errors.ArgoCDRefused`. No message holds the token (it is registered with
:mod:`promoter.secrets` here, and never formatted).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import quote

import httpx

from promoter import secrets
from promoter.argocd import AppState, app_state
from promoter.errors import ArgoCDError, ArgoCDRefused

log = logging.getLogger(__name__)

_REFUSED = {401: "the token is refused (401)",
            403: "permission denied (403: the token may not read it, or it does not exist)",
            404: "no such application (404)"}


class ArgoCDClient:
    """Ask the Argo CD API server at ``url`` (its web address) with a bearer ``token``.

    ``verify``: True (certifi's CAs, as httpx has them), False (``insecure``), or an
    ``ssl.SSLContext`` (one that trusts ``ca-file``). Each question opens and closes its own
    connection: promote asks once per environment and run. ``transport`` replaces the network
    in tests (``httpx.MockTransport``)."""

    def __init__(self, url: str, token: str, *, verify: bool | ssl.SSLContext = True,
                 timeout: float = 10.0, retries: int = 1,
                 transport: httpx.BaseTransport | None = None) -> None:
        secrets.register(token)
        self.url = url.rstrip("/")
        self._token = token
        self._verify = verify
        self._timeout = timeout
        self._retries = retries
        self._transport = transport

    def application(self, name: str, project: str | None = None) -> AppState:
        where = f"argocd: application {name} on {self.url}"
        params = {"project": project} if project else None
        response = self._get(f"/api/v1/applications/{quote(name, safe='')}", params, where)
        if response.status_code in _REFUSED:
            raise ArgoCDRefused(f"{where}: {_REFUSED[response.status_code]}")
        if response.status_code != 200:
            raise ArgoCDError(f"{where}: HTTP {response.status_code}{_message(response)}")
        try:
            doc: Any = response.json()
        except ValueError:
            raise ArgoCDError(f"{where}: the answer is not JSON") from None
        if not isinstance(doc, dict):
            raise ArgoCDError(f"{where}: the answer is not an Application")
        return app_state(name, doc)

    def _get(self, path: str, params: dict[str, str] | None, where: str) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=self._timeout, verify=self._verify,
                          headers={"Authorization": f"Bearer {self._token}",
                                   "Accept": "application/json"},
                          transport=self._transport, follow_redirects=False) as client:
            for attempt in range(self._retries + 1):
                last = attempt == self._retries
                try:
                    response = client.get(path, params=params)
                except httpx.HTTPError as e:
                    if last:
                        raise ArgoCDError(f"{where}: cannot reach the server "
                                          f"({type(e).__name__})") from None
                    log.debug("argocd: %s: %s, asking again", where, type(e).__name__)
                    continue
                if response.status_code < 500 or last:
                    return response
                log.debug("argocd: %s: HTTP %d, asking again", where, response.status_code)
        raise AssertionError("unreachable")  # the loop returns or raises on its last turn


def _message(response: httpx.Response) -> str:
    """``: <message>`` from an Argo CD error body (``{"error": ..., "message": ...}``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    text = body.get("message") or body.get("error") if isinstance(body, dict) else None
    return f": {str(text).splitlines()[0][:200]}" if text else ""
