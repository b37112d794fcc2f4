"""The Argo CD port: one contract over the in-memory twin and the real httpx client on the fake
Argo CD server; then what only the real client does (retries, TLS, the token kept secret)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promoter import secrets
from promoter.argocd import Applications, AppState, app_state, read
from promoter.argocd.client import ArgoCDClient
from promoter.argocd.memory import MemoryArgoCD
from promoter.errors import ArgoCDError, ArgoCDRefused
from tests.servers.fake_argocd import FakeArgoCD

HEAD = "d" * 40
OLD = "a" * 40
DONE = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@dataclass
class Twin:
    """An Applications port and a way to set what it reports."""

    apps: Applications
    put: Callable[..., object]  # (name, *, revision, **fields)
    bad_token: Applications


@pytest.fixture(params=["memory", "http"])
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    if request.param == "memory":
        mem = MemoryArgoCD()
        yield Twin(apps=mem, put=mem.put, bad_token=MemoryArgoCD(asked_with="wrong"))
        return
    with FakeArgoCD() as fake:
        def put(name: str, *, revision: str | tuple[str, ...], finished_at: datetime | None = None,
                **kw: str) -> None:
            fake.put(name, revision=list(revision) if isinstance(revision, tuple) else revision,
                     finished_at=finished_at, **kw)

        yield Twin(apps=ArgoCDClient(fake.url, fake.token), put=put,
                   bad_token=ArgoCDClient(fake.url, "not-the-token"))


def test_an_application_reads_back_as_set(twin: Twin) -> None:
    twin.put("web-dev", revision=HEAD, health="Progressing", sync="Synced",
             finished_at=DONE)
    state = twin.apps.application("web-dev")
    assert (state.name, state.sync_status, state.revisions, state.health_status,
            state.finished_at) == ("web-dev", "Synced", (HEAD,), "Progressing", DONE)
    assert state.synced_to(HEAD) and not state.synced_to(OLD)
    assert not state.runs(HEAD)  # synced, still rolling out
    twin.put("web-dev", revision=HEAD)
    assert twin.apps.application("web-dev").runs(HEAD)


def test_a_multi_source_application_has_each_revision(twin: Twin) -> None:
    twin.put("web-dev", revision=(OLD, HEAD))
    state = twin.apps.application("web-dev")
    assert state.revisions == (OLD, HEAD) and state.synced_to(HEAD)


def test_an_unknown_application_or_project_is_refused(twin: Twin) -> None:
    twin.put("web-dev", revision=HEAD)
    with pytest.raises(ArgoCDRefused):
        twin.apps.application("web-prod")
    with pytest.raises(ArgoCDRefused):
        twin.apps.application("web-dev", project="payments")
    assert twin.apps.application("web-dev", project="default").revisions == (HEAD,)


def test_a_refused_token_is_refused_and_never_retried(twin: Twin) -> None:
    twin.put("web-dev", revision=HEAD)
    with pytest.raises(ArgoCDRefused) as e:
        twin.bad_token.application("web-dev")
    assert "token is refused (401)" in str(e.value)
    assert not e.value.retryable
    reading = read(twin.bad_token, "web-dev")
    assert (reading.state, reading.retryable) == (None, False)
    assert reading.error.endswith("the token is refused (401)")


# --- the real client only -------------------------------------------------------------------

def test_the_request_carries_the_bearer_token_and_the_project() -> None:
    with FakeArgoCD(token="tok-1234567890") as fake:
        fake.put("web dev", revision=HEAD)
        ArgoCDClient(fake.url, "tok-1234567890").application("web dev", project="default")
        assert fake.requests == [("/api/v1/applications/web%20dev?project=default", True)]


def test_a_5xx_is_asked_again_once_then_retryable() -> None:
    with FakeArgoCD() as fake:
        fake.put("web-dev", revision=HEAD)
        client = ArgoCDClient(fake.url, fake.token)
        fake.fail_next(503)
        assert client.application("web-dev").revisions == (HEAD,)
        fake.fail_next(502, times=2)
        with pytest.raises(ArgoCDError) as e:
            client.application("web-dev")
        assert e.value.retryable
        assert str(e.value) == (f"argocd: application web-dev on {fake.url}: HTTP 502: "
                                "upstream connect error")
        assert len(fake.requests) == 4


def test_an_unreachable_server_is_retryable_and_names_no_token() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = ArgoCDClient(url, "secret-token-abcdef", timeout=2)
    with pytest.raises(ArgoCDError) as e:
        client.application("web-dev")
    assert e.value.retryable
    assert str(e.value) == f"argocd: application web-dev on {url}: cannot reach the server " \
                           "(ConnectError)"
    assert secrets.redact("Bearer secret-token-abcdef") == "Bearer ***"


def test_an_answer_that_is_not_an_application() -> None:
    with pytest.raises(ArgoCDError, match="the answer has no status"):
        app_state("web-dev", {"metadata": {"name": "web-dev"}})
    # absent parts read as Argo CD's Unknown, never a crash
    assert app_state("web-dev", {"status": {}}) == AppState(
        name="web-dev", sync_status="Unknown", revisions=(), health_status="Unknown")


def test_operation_and_health_times_make_healthy_at() -> None:
    later = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    doc = {"status": {"sync": {"status": "Synced", "revision": HEAD},
                      "health": {"status": "Healthy", "lastTransitionTime": "2026-11-23T10:00:00Z"},
                      "reconciledAt": "2026-11-23T11:57:00Z",
                      "operationState": {"phase": "Succeeded", "finishedAt": "2026-11-23T09:30:00Z",
                                         "syncResult": {"revision": HEAD}}}}
    state = app_state("web-dev", doc)
    assert (state.finished_at, state.health_since, state.operation_revisions) == (DONE, later,
                                                                                 (HEAD,))
    assert state.healthy_at == later  # not reconciledAt: that moves on every refresh
    assert app_state("x", {"status": {"sync": {"status": "Synced"}}}).healthy_at is None


@pytest.fixture
def tls_argocd(tmp_path: Path) -> Iterator[tuple[FakeArgoCD, Path]]:
    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with FakeArgoCD(tls=ctx) as fake:
        fake.put("web-dev", revision=HEAD)
        yield fake, bundle


def test_https_with_a_ca_bundle_or_insecure(tls_argocd: tuple[FakeArgoCD, Path]) -> None:
    fake, bundle = tls_argocd
    assert fake.url.startswith("https://localhost:")
    with pytest.raises(ArgoCDError, match="cannot reach the server"):
        ArgoCDClient(fake.url, fake.token, retries=0).application("web-dev")  # unknown CA
    trusted = ssl.create_default_context(cafile=str(bundle))
    assert ArgoCDClient(fake.url, fake.token, verify=trusted).application("web-dev").revisions \
        == (HEAD,)
    assert ArgoCDClient(fake.url, fake.token, verify=False).application("web-dev").revisions \
        == (HEAD,)

