"""Real registries for the registry tests: Debian's ``docker-registry`` on 127.0.0.1.

One storage is seeded once per session by real pushes (``tests/servers/seed.py`` over HTTP:
blob upload + mounts + manifest PUTs) and then served, read-only, by one registry per auth
mode (anonymous, htpasswd Basic, Bearer token), each behind the pagination proxy
(``PAGE`` tags per page), plus one plain anonymous registry without the proxy for the fault
proxy to stand in front of.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from promoter.refs import ImageRef
from promoter.registry.creds import Credentials
from promoter.registry.oci import OciRegistry, RetryPolicy
from tests.servers.registry import LocalRegistry

SERVERS = Path(__file__).resolve().parent.parent / "servers"
PAGE = 10
APP_TAGS = 30  # more than one page
T = TypeVar("T")

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Seeded:
    storage: Path
    truth: dict[str, Any]  # repo -> {"tags", "digests", "newest_stable", "multiarch", ...}


def _seed(url: str, expected: Path, *args: str) -> dict[str, Any]:
    subprocess.run([sys.executable, str(SERVERS / "seed.py"), "--url", url, "--expected",
                    str(expected), *args], check=True, capture_output=True, timeout=120)
    return dict(json.loads(expected.read_text())["repos"])


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    if shutil.which("docker-registry") is None and shutil.which("registry") is None:
        pytest.skip("no docker-registry binary")
    root = tmp_path_factory.mktemp("seeded")
    storage = root / "storage"
    truth: dict[str, Any] = {}
    with LocalRegistry("anonymous", storage=storage) as reg:
        truth |= _seed(reg.url, root / "a.json", "--prefix", "test/app", "--repos", "6",
                       "--tags", str(APP_TAGS))
        truth |= _seed(reg.url, root / "m.json", "--prefix", "test/multi", "--repos", "1",
                       "--tags", "4", "--multiarch")
        truth |= _seed(reg.url, root / "d.json", "--prefix", "test/docker", "--repos", "1",
                       "--tags", "3", "--docker-media-types")
    yield Seeded(storage, truth)
    shutil.rmtree(root, ignore_errors=True)


def _serve(seeded: Seeded, mode: str, paginate: int | None) -> Iterator[LocalRegistry]:
    with LocalRegistry(mode, storage=seeded.storage, paginate=paginate) as reg:
        yield reg


@pytest.fixture(scope="session", params=["anonymous", "htpasswd", "token"])
def registry(request: pytest.FixtureRequest, seeded: Seeded) -> Iterator[LocalRegistry]:
    """The seeded store in each auth mode, paginated at PAGE tags."""
    yield from _serve(seeded, request.param, PAGE)


@pytest.fixture(scope="session")
def token_registry(seeded: Seeded) -> Iterator[LocalRegistry]:
    yield from _serve(seeded, "token", PAGE)


@pytest.fixture(scope="session")
def public_token_registry(seeded: Seeded) -> Iterator[LocalRegistry]:
    """Token mode where anonymous tokens may pull, as Docker Hub and GHCR for public images."""
    with LocalRegistry("token", storage=seeded.storage, anonymous_pull=True) as reg:
        yield reg


@pytest.fixture(scope="session")
def htpasswd_registry(seeded: Seeded) -> Iterator[LocalRegistry]:
    yield from _serve(seeded, "htpasswd", None)


@pytest.fixture(scope="session")
def plain_registry(seeded: Seeded) -> Iterator[LocalRegistry]:
    """Anonymous, no pagination proxy: the upstream of the fault proxy."""
    yield from _serve(seeded, "anonymous", None)


def creds_of(reg: LocalRegistry) -> Callable[[str], Credentials | None]:
    if reg.username is None:
        return lambda host: None
    creds = Credentials(username=reg.username, password=reg.password, source="test")
    return lambda host: creds


class Sleeps(list[float]):
    """An injected ``sleep`` that records the delays and does not wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


def ref(reg: LocalRegistry, text: str) -> ImageRef:
    """``text`` (``repo:tag``) on the registry ``reg``."""
    return ImageRef.parse(f"{reg.host}/{text}")


def make_registry(reg: LocalRegistry | None = None, **kw: Any) -> OciRegistry:
    """An OciRegistry for ``reg`` (its credentials), retries without real sleeping."""
    kw.setdefault("credentials", creds_of(reg) if reg is not None else (lambda host: None))
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("jitter", lambda: 0.0)
    kw.setdefault("retry", RetryPolicy(attempts=3))
    kw.setdefault("page_size", PAGE)
    return OciRegistry(**kw)


def run(coro_fn: Callable[[OciRegistry], Awaitable[T]], registry: OciRegistry) -> T:
    """Run ``coro_fn(registry)`` inside ``async with registry``."""
    async def main() -> T:
        async with registry:
            return await coro_fn(registry)

    return asyncio.run(main())
