"""A Redis per test (``redis_server``): the real ``redis-server`` binary on 127.0.0.1, a free
port and a temp dir; the tests skip only when the binary is absent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.flows.conftest import github  # noqa: F401 - fixtures are found by name
from tests.servers.redis_server import LocalRedis, find_redis_server


@pytest.fixture
def redis_server() -> Iterator[LocalRedis]:
    try:
        find_redis_server()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    with LocalRedis() as server:
        yield server
