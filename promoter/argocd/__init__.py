"""The Argo CD port: what promoter asks an Argo CD API server about one Application.

An environment with ``health.argocd`` in ``.promoter.yaml`` is promoted out of only once its
Application is ``Synced`` to exactly the environment's branch head and ``Healthy``
(:func:`promoter.gates.argocd` decides; this module only reads). The port is one small
:class:`Protocol` over one frozen value:

* :class:`Applications` - ``application(name, project=None) -> AppState``;
* :class:`AppState` - the fields of ``GET /api/v1/applications/{name}`` the gate reads
  (:func:`app_state` turns the API's JSON into it, pure);
* :class:`Reading` - what one question gave: the state, or the one-line reason there is none.

Implementations: :mod:`promoter.argocd.client` (httpx, bearer token) and
:mod:`promoter.argocd.memory` (settable states, for flow tests). ``tests/argocd`` runs the same
contract tests against both, the real one on the fake server in ``tests/servers``.

Errors (from :mod:`promoter.errors`)::

    ArgoCDError        retryable: unreachable, timeout, 5xx, an answer that is not JSON
      + ArgoCDRefused  terminal: 401/403 (the token), 404 (no such Application)

Tokens are registered with :func:`promoter.secrets.register` before the first request, so no
message shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from promoter.config import ArgoCD
from promoter.errors import ArgoCDError, PromoterError
from promoter.secrets import redact

__all__ = ["HEALTHY", "SYNCED", "UNHEALTHY", "AppState", "Applications", "Connect", "Reading",
           "app_state", "read"]

#: Argo CD's health statuses that fail the gate (the rest wait or pass)
UNHEALTHY = frozenset({"Degraded", "Missing"})
HEALTHY = "Healthy"
SYNCED = "Synced"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppState:
    """One Argo CD Application as the gate sees it.

    ``revisions``: ``status.sync.revision``, or each of ``status.sync.revisions`` for a
    multi-source Application. ``finished_at``: ``status.operationState.finishedAt``, when the
    last sync operation ended (``operation_phase`` says how: ``Succeeded``, ``Failed``, ...;
    ``operation_revisions`` what it synced to). ``health_since``:
    ``status.health.lastTransitionTime`` where Argo CD reports it. ``reconciled_at``:
    ``status.reconciledAt``, when Argo CD last compared live and desired state (it moves on
    every refresh, so it says nothing about since when the app runs what it runs).
    """

    name: str
    sync_status: str  # Synced, OutOfSync, Unknown
    revisions: tuple[str, ...]
    health_status: str  # Healthy, Progressing, Degraded, Suspended, Missing, Unknown
    reconciled_at: datetime | None = None
    finished_at: datetime | None = None
    operation_phase: str = ""
    operation_revisions: tuple[str, ...] = ()
    operation_message: str = ""
    health_since: datetime | None = None

    def synced_to(self, sha: str) -> bool:
        return self.sync_status == SYNCED and sha in self.revisions

    def runs(self, sha: str) -> bool:
        """Synced to ``sha`` and Healthy: the environment runs that commit."""
        return self.synced_to(sha) and self.health_status == HEALTHY

    @property
    def healthy_at(self) -> datetime | None:
        """Since when the Application runs what it runs, healthy: the later of the last sync
        operation's end and the health's last transition (None when Argo CD tells neither)."""
        known = [t for t in (self.finished_at, self.health_since) if t is not None]
        return max(known) if known else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What asking for the Application ``app`` gave: its ``state``, or ``error`` (one line,
    redacted) and whether asking again may help."""

    app: str
    state: AppState | None = None
    error: str = ""
    retryable: bool = False


class Applications(Protocol):
    def application(self, name: str, project: str | None = None) -> AppState:
        """The Application ``name`` (in ``project`` when given) as Argo CD reports it now.

        No side effects (no refresh is asked for). ArgoCDRefused when the token is refused or
        the Application does not exist (Argo CD answers 403 for both when the token's
        account may not see it); ArgoCDError when the server cannot be reached or answers
        something else.
        """
        ...


#: builds the :class:`Applications` port for one ``health.argocd`` setting (the wiring reads
#: its token); the promote flow calls it once per setting
Connect = Callable[[ArgoCD], Applications]


def read(apps: Applications, name: str, project: str | None = None) -> Reading:
    """Ask ``apps`` for ``name``; a promoter error becomes the reading's one-line ``error``."""
    try:
        return Reading(app=name, state=apps.application(name, project))
    except PromoterError as e:
        return Reading(app=name, error=redact(str(e)), retryable=e.retryable)


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _dict(doc: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    for k in keys:
        value = doc.get(k)
        doc = value if isinstance(value, Mapping) else {}
    return doc


def _revisions(doc: Mapping[str, Any]) -> tuple[str, ...]:
    many = doc.get("revisions")
    if isinstance(many, list) and many:
        return tuple(str(r) for r in many if r)
    one = doc.get("revision")
    return (str(one),) if one else ()


def app_state(name: str, doc: Mapping[str, Any]) -> AppState:
    """The :class:`AppState` in an Application's JSON (``v1alpha1.Application``); absent
    fields read as Argo CD's ``Unknown``. ArgoCDError when ``doc`` has no ``status`` object
    at all (not an Application)."""
    status = doc.get("status")
    if not isinstance(status, Mapping):
        raise ArgoCDError(f"argocd: application {name}: the answer has no status")
    sync, health = _dict(status, "sync"), _dict(status, "health")
    op = _dict(status, "operationState")
    return AppState(
        name=name,
        sync_status=str(sync.get("status") or "Unknown"),
        revisions=_revisions(sync),
        health_status=str(health.get("status") or "Unknown"),
        reconciled_at=_time(status.get("reconciledAt")),
        finished_at=_time(op.get("finishedAt")),
        operation_phase=str(op.get("phase") or ""),
        operation_revisions=_revisions(_dict(op, "syncResult")),
        operation_message=str(op.get("message") or ""),
        health_since=_time(health.get("lastTransitionTime")))
