"""OciRegistry against a real registry in all three auth modes (see conftest)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from promoter.errors import RegistryError
from promoter.refs import ImageRef
from promoter.registry import ManifestInfo
from promoter.registry.creds import Credentials
from promoter.registry.oci import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, OciRegistry
from promoter.registry.scan import scan
from tests.registry.conftest import APP_TAGS, PAGE, SERVERS, Seeded, make_registry, ref, run
from tests.servers.registry import LocalRegistry, stop_process

pytestmark = pytest.mark.integration


def test_list_tags_follows_every_page(registry: LocalRegistry, seeded: Seeded) -> None:
    r = make_registry(registry)
    tags = run(lambda c: c.list_tags(ref(registry, "test/app-0000")), r)
    assert sorted(tags) == sorted(seeded.truth["test/app-0000"]["tags"])
    assert len(tags) == APP_TAGS
    assert r.stats["tags"] == -(-APP_TAGS // PAGE)  # one request per page, no more


def test_list_tags_absolute_link_header(plain_registry: LocalRegistry, seeded: Seeded,
                                        tmp_path: Path) -> None:
    ready = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(SERVERS / "paginate_proxy.py"), "--upstream",
                             plain_registry.url, "--max-page", "7", "--absolute-links",
                             "--ready-file", str(ready)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        image = ImageRef.parse(f"127.0.0.1:{ready.read_text()}/test/app-0001")
        r = make_registry(page_size=0)  # never asks n: the server's cap makes the pages
        tags = run(lambda c: c.list_tags(image), r)
    finally:
        stop_process(proc)
    assert sorted(tags) == sorted(seeded.truth["test/app-0001"]["tags"])
    assert r.stats["tags"] == -(-APP_TAGS // 7)


def test_unpaginated_registry_lists_in_one_request(plain_registry: LocalRegistry,
                                                   seeded: Seeded) -> None:
    r = make_registry(plain_registry)
    tags = run(lambda c: c.list_tags(ref(plain_registry, "test/app-0002")), r)
    assert sorted(tags) == sorted(seeded.truth["test/app-0002"]["tags"])
    assert dict(r.stats) == {"ping": 1, "tags": 1}


def test_manifest_head_gives_the_pushed_digest(registry: LocalRegistry, seeded: Seeded) -> None:
    truth = seeded.truth["test/app-0000"]
    tag = truth["newest_stable"]
    r = make_registry(registry)
    info = run(lambda c: c.manifest(ref(registry, f"test/app-0000:{tag}")), r)
    assert info == ManifestInfo(digest=truth["digests"][tag], media_type=OCI_MANIFEST)
    assert r.stats["manifest_head"] == 1 and r.stats["manifest_get"] == 0


def test_manifest_by_digest(registry: LocalRegistry, seeded: Seeded) -> None:
    digest = seeded.truth["test/app-0000"]["digests"]["1.0.0"]
    info = run(lambda c: c.manifest(ref(registry, f"test/app-0000@{digest}")),
               make_registry(registry))
    assert info.digest == digest


def test_multiarch_index_platforms_and_created(registry: LocalRegistry, seeded: Seeded) -> None:
    truth = seeded.truth["test/multi-0000"]
    image = ref(registry, "test/multi-0000:1.0.2")
    r = make_registry(registry)

    async def go(c: OciRegistry) -> tuple[ManifestInfo, ...]:
        return (await c.manifest(image), await c.manifest(image, created=True),
                await c.manifest(image, created=True, platform="linux/arm64"),
                await c.manifest(image, platform="linux/amd64"))

    head, created, arm, amd = run(go, r)
    digest = truth["digests"]["1.0.2"]
    assert head == ManifestInfo(digest=digest, media_type=OCI_INDEX)
    expected = ManifestInfo(digest=digest, media_type=OCI_INDEX,
                            created=datetime(2024, 1, 1, tzinfo=UTC),
                            platforms=("linux/amd64", "linux/arm64"))
    assert created == expected
    assert arm == expected
    assert amd == ManifestInfo(digest=digest, media_type=OCI_INDEX,
                               platforms=("linux/amd64", "linux/arm64"))


def test_missing_platform_is_a_clear_error(registry: LocalRegistry) -> None:
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.manifest(ref(registry, "test/multi-0000:1.0.0"), platform="linux/s390x"),
            make_registry(registry))
    assert str(e.value) == (f"{registry.host}/test/multi-0000:1.0.0: no linux/s390x manifest in "
                            "the index (has linux/amd64, linux/arm64)")


def test_docker_media_types(registry: LocalRegistry, seeded: Seeded) -> None:
    info = run(lambda c: c.manifest(ref(registry, "test/docker-0000:1.0.1"), created=True),
               make_registry(registry))
    assert info.media_type == DOCKER_MANIFEST
    assert info.digest == seeded.truth["test/docker-0000"]["digests"]["1.0.1"]
    assert info.created == datetime(2024, 1, 1, tzinfo=UTC)


def test_unknown_repository(registry: LocalRegistry) -> None:
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(ref(registry, "nope/missing")), make_registry(registry))
    assert str(e.value) == f"repository not found: {registry.host}/nope/missing (NAME_UNKNOWN)"


def test_unknown_tag(registry: LocalRegistry) -> None:
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.manifest(ref(registry, "test/app-0000:9.9.9")), make_registry(registry))
    assert str(e.value) == f"not found: {registry.host}/test/app-0000:9.9.9 (MANIFEST_UNKNOWN)"


@pytest.mark.parametrize("mode", ["htpasswd", "token"])
def test_wrong_credentials(mode: str, request: pytest.FixtureRequest,
                           caplog: pytest.LogCaptureFixture) -> None:
    reg: LocalRegistry = request.getfixturevalue(
        "htpasswd_registry" if mode == "htpasswd" else "token_registry")
    password = "Wr0ng-pa55word-xyz"
    creds = Credentials(username=reg.username, password=password)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(ref(reg, "test/app-0000")),
            make_registry(credentials=lambda host: creds))
    detail = "(401)" if mode == "htpasswd" else "(token endpoint answered 401)"
    assert str(e.value) == f"authentication failed for {reg.host}/test/app-0000 {detail}"
    assert password not in caplog.text and password not in repr(e.value)


def test_no_credentials_for_basic_registry(htpasswd_registry: LocalRegistry) -> None:
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(ref(htpasswd_registry, "test/app-0000")), make_registry())
    assert str(e.value) == (f"authentication failed for {htpasswd_registry.host}/test/app-0000 "
                            f"(401): no credentials for {htpasswd_registry.host}")


def test_token_mode_anonymous_is_refused(token_registry: LocalRegistry) -> None:
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(ref(token_registry, "test/app-0000")), make_registry())
    assert str(e.value) == f"authentication failed for {token_registry.host}/test/app-0000 (401)"


def test_token_mode_one_token_request_for_many_repositories(
        token_registry: LocalRegistry, seeded: Seeded, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    images = [ref(token_registry, f"test/app-{i:04d}:1.0.0") for i in range(6)]
    r = make_registry(token_registry)
    results = run(lambda c: scan(images, c, pick=lambda i, t: ["1.0.1"]), r)
    for res in results:
        assert res.error is None
        repo = res.image.repository
        assert sorted(res.tags) == sorted(seeded.truth[repo]["tags"])
        assert res.manifests["1.0.1"].digest == seeded.truth[repo]["digests"]["1.0.1"]
    # one ping (401 learns the realm), ONE token for six repositories, no other 401
    pages = 6 * -(-APP_TAGS // PAGE)
    assert dict(r.stats) == {"ping_401": 1, "token": 1, "tags": pages, "manifest_head": 6}
    assert token_registry.password and token_registry.password not in caplog.text
    tokens = {t.value for t in r._host(images[0].registry).auth._tokens.values()}
    assert len(tokens) == 1 and not any(t in caplog.text for t in tokens)


def test_refused_token_credentials_are_not_tried_again(token_registry: LocalRegistry) -> None:
    creds = Credentials(username="bench", password="not-the-password")
    images = [ref(token_registry, f"test/app-{i:04d}") for i in range(6)]
    r = make_registry(credentials=lambda host: creds)
    results = run(lambda c: scan(images, c), r)
    assert [res.error for res in results] == [
        f"authentication failed for {i.name} (token endpoint answered 401)" for i in images]
    assert r.stats["token_401"] == 1 and r.stats["token"] == 0  # the prefetch, never again


def test_scan_skips_the_head_for_a_known_digest(registry: LocalRegistry, seeded: Seeded) -> None:
    truth = seeded.truth["test/app-0001"]
    tag = truth["newest_stable"]
    running = ref(registry, f"test/app-0001:{tag}@{truth['digests'][tag]}")
    r = make_registry(registry)
    (result,) = run(lambda c: scan([running], c, pick=lambda i, t: [tag]), r)
    assert result.error is None and result.manifests[tag].digest == truth["digests"][tag]
    assert r.stats["manifest_head"] == 0 and r.stats["manifest_get"] == 0


def test_concurrent_requests_share_one_token_fetch(token_registry: LocalRegistry) -> None:
    image = ref(token_registry, "test/app-0003")
    r = make_registry(token_registry)

    async def go(c: OciRegistry) -> list[tuple[str, ...]]:
        return list(await asyncio.gather(*(c.list_tags(image) for _ in range(20))))

    assert len({tuple(sorted(t)) for t in run(go, r)}) == 1
    assert r.stats["token"] == 1


def test_token_is_reused_until_expiry(token_registry: LocalRegistry) -> None:
    now = [1000.0]
    image = ref(token_registry, "test/app-0004")
    r = make_registry(token_registry, clock=lambda: now[0])

    async def go(c: OciRegistry) -> list[int]:
        seen = []
        for step in (0.0, 100.0, 300.0):  # token_ttl is 300 s
            now[0] += step
            await c.list_tags(image)
            seen.append(c.stats["token"])
        return seen

    assert run(go, r) == [1, 1, 2]


def test_expired_token_refused_by_registry_is_fetched_again(token_registry: LocalRegistry
                                                            ) -> None:
    """A cached token the registry rejects (revoked early) costs one 401 and one new token."""
    image = ref(token_registry, "test/app-0005")
    r = make_registry(token_registry)

    async def go(c: OciRegistry) -> tuple[str, ...]:
        await c.list_tags(image)
        auth = c._host(image.registry).auth
        for tok in auth._tokens.values():
            tok.value = tok.value[:-4] + "AAAA"  # a token the registry will not accept
        return await c.list_tags(image)

    assert len(run(go, r)) == APP_TAGS
    assert r.stats["tags_401"] == 1 and r.stats["token"] == 2


def test_anonymous_bearer_token_for_a_public_image(public_token_registry: LocalRegistry,
                                                  seeded: Seeded) -> None:
    r = make_registry()  # no credentials at all
    tags = run(lambda c: c.list_tags(ref(public_token_registry, "test/app-0001")), r)
    assert sorted(tags) == sorted(seeded.truth["test/app-0001"]["tags"])
    assert r.stats["token"] == 1


def test_identity_token_is_exchanged_by_an_oauth2_post(public_token_registry: LocalRegistry,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    import httpx

    seen: list[tuple[str, str]] = []

    class Recording(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append((request.method, request.url.path))
            return await super().handle_async_request(request)

    creds = Credentials(identity_token="refresh-token-value-1")
    r = make_registry(credentials=lambda host: creds, transport=Recording())
    tags = run(lambda c: c.list_tags(ref(public_token_registry, "test/app-0002")), r)
    assert len(tags) == APP_TAGS and r.stats["token"] == 1
    assert ("POST", "/token") in seen and ("GET", "/token") not in seen
    assert "refresh-token-value-1" not in caplog.text


def test_registry_token_is_sent_as_is(token_registry: LocalRegistry) -> None:
    import httpx

    assert token_registry.token_url and token_registry.username and token_registry.password
    answer = httpx.get(token_registry.token_url,
                       params={"service": "bench-registry",
                               "scope": "repository:test/app-0003:pull"},
                       auth=(token_registry.username, token_registry.password))
    creds = Credentials(registry_token=answer.json()["token"])
    r = make_registry(credentials=lambda host: creds)
    tags = run(lambda c: c.list_tags(ref(token_registry, "test/app-0003")), r)
    assert len(tags) == APP_TAGS
    assert r.stats["token"] == 0 and r.stats["tags_401"] == 0


@pytest.fixture
def _docker_config_env(htpasswd_registry: LocalRegistry, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import base64
    import json

    auth = base64.b64encode(f"{htpasswd_registry.username}:{htpasswd_registry.password}"
                            .encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {f"http://{htpasswd_registry.host}": {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    yield


@pytest.mark.usefixtures("_docker_config_env")
def test_default_credentials_come_from_docker_config(htpasswd_registry: LocalRegistry,
                                                      seeded: Seeded) -> None:
    async def go() -> tuple[str, ...]:
        async with OciRegistry() as c:
            return await c.list_tags(ref(htpasswd_registry, "test/app-0000"))

    assert sorted(asyncio.run(go())) == sorted(seeded.truth["test/app-0000"]["tags"])


def test_base_urls() -> None:
    r = OciRegistry(credentials=lambda h: None, insecure=["registry.lan:5000"])
    assert r.base_url("docker.io") == "https://registry-1.docker.io"
    assert r.base_url("ghcr.io") == "https://ghcr.io"
    assert r.base_url("registry.lan:5000") == "http://registry.lan:5000"
    assert r.base_url("registry.lan") == "https://registry.lan"
    assert r.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert r.base_url("localhost:5000") == "http://localhost:5000"
    assert r.base_url("[::1]:5000") == "http://[::1]:5000"


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A tiny HTTPS "registry" on localhost with a certificate from a private CA."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = b'{"name":"x","tags":["1.0.0","1.1.0"]}' if "tags" in self.path else b"{}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield f"localhost:{server.server_address[1]}", bundle
    server.shutdown()
    server.server_close()


def test_https_with_custom_ca_bundle(tls_registry: tuple[str, Path]) -> None:
    host, bundle = tls_registry
    image = ImageRef.parse(f"{host}/x")
    r = make_registry(ca_bundle=bundle, plain_loopback=False)
    assert r.base_url(host) == f"https://{host}"
    assert run(lambda c: c.list_tags(image), r) == ("1.0.0", "1.1.0")
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(image), make_registry(plain_loopback=False))
    assert str(e.value) == f"{host}/x: {host} TLS certificate not trusted (after 1 attempt)"


def test_per_host_ca_bundles(tls_registry: tuple[str, Path]) -> None:
    host, bundle = tls_registry
    image = ImageRef.parse(f"{host}/x")
    r = make_registry(ca_bundle={host: bundle, "docker.io": bundle}, plain_loopback=False)
    assert run(lambda c: c.list_tags(image), r) == ("1.0.0", "1.1.0")
    with pytest.raises(RegistryError) as e:
        run(lambda c: c.list_tags(image),
            make_registry(ca_bundle={"localhost:1": bundle}, plain_loopback=False))
    assert str(e.value) == f"{host}/x: {host} TLS certificate not trusted (after 1 attempt)"


def test_a_custom_bundle_keeps_the_public_cas(tls_registry: tuple[str, Path]) -> None:
    from promoter.registry.oci import ssl_context

    public = ssl_context(None).cert_store_stats()["x509_ca"]
    assert public > 50
    assert ssl_context(tls_registry[1]).cert_store_stats()["x509_ca"] == public + 1


def test_unreadable_ca_bundle(tmp_path: Path) -> None:
    from promoter.errors import InputError

    bad = tmp_path / "nope.pem"
    bad.write_text("not a certificate")
    with pytest.raises(InputError) as e:
        run(lambda c: c.list_tags(ImageRef.parse("ghcr.io/x")), make_registry(ca_bundle=bad))
    assert str(e.value).startswith(f"{bad}: not a readable CA bundle (")
