"""An in-memory :class:`~promoter.argocd.Applications` for flow tests: states that tests set,
the same errors the real client raises, and a log of the questions asked."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from promoter.argocd import AppState
from promoter.errors import ArgoCDError, ArgoCDRefused


class MemoryArgoCD:
    """Applications by name (with the project each belongs to); ``token`` is the one it
    accepts (``asked_with`` any other: every question is refused, as a 401)."""

    def __init__(self, *, token: str = "argocd-token", asked_with: str | None = None) -> None:
        self.apps: dict[str, tuple[str, AppState]] = {}
        self.calls: list[tuple[str, str | None]] = []
        self.down = False  # unreachable: every question raises a retryable ArgoCDError
        self._accepted = asked_with is None or asked_with == token

    def put(self, name: str, *, sync: str = "Synced", revision: str | tuple[str, ...] = "",
            health: str = "Healthy", finished_at: datetime | None = None,
            project: str = "default", **more: object) -> AppState:
        """Set what ``name`` reports (``revision``: one commit, or several for multi-source)."""
        revisions = (revision,) if isinstance(revision, str) else revision
        state = AppState(name=name, sync_status=sync, revisions=tuple(r for r in revisions if r),
                         health_status=health, finished_at=finished_at)
        state = dataclasses.replace(state, **more)  # type: ignore[arg-type]
        self.apps[name] = (project, state)
        return state

    def application(self, name: str, project: str | None = None) -> AppState:
        self.calls.append((name, project))
        where = f"argocd: application {name} on memory"
        if self.down:
            raise ArgoCDError(f"{where}: cannot reach the server (ConnectError)")
        if not self._accepted:
            raise ArgoCDRefused(f"{where}: the token is refused (401)")
        found = self.apps.get(name)
        if found is None or (project is not None and found[0] != project):
            raise ArgoCDRefused(f"{where}: no such application (404)")
        return found[1]
