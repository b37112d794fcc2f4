"""tags/list pagination, property-based, over an in-process registry (httpx.MockTransport: a
handler that pages like distribution 3.x; no socket, so hypothesis can try hundreds of cases)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promoter.errors import RegistryError
from promoter.refs import ImageRef
from promoter.registry.oci import OciRegistry

TAG = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,8}\Z", fullmatch=True)


def paging_registry(tags: list[str], *, cap: int, link_style: str,
                    seen: list[httpx.URL]) -> httpx.MockTransport:
    ordered = sorted(set(tags))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if request.url.path == "/v2/":
            return httpx.Response(200, json={})
        q = parse_qs(request.url.query.decode())
        rest = [t for t in ordered if "last" not in q or t > q["last"][0]]
        n = min(int(q.get("n", ["0"])[0]) or cap, cap)
        if q.get("n") == ["1000"] and link_style == "strict":
            return httpx.Response(400, json={"errors": [{"code": "PAGINATION_NUMBER_INVALID",
                                                         "message": "n too large"}]})
        page, more = rest[:n], len(rest) > n
        headers = {}
        if more:
            target = f"/v2/team/app/tags/list?n={n}&last={page[-1]}"
            if link_style == "absolute":
                target = f"http://{request.url.netloc.decode()}{target}"
            elif link_style == "foreign":
                target = f"https://elsewhere.example{target}"
            headers["Link"] = f'<{target}>; rel="next"'
        return httpx.Response(200, headers=headers,
                              content=json.dumps({"name": "team/app", "tags": page}).encode())

    return httpx.MockTransport(handler)


def list_all(transport: httpx.MockTransport, page_size: int = 1000) -> tuple[str, ...]:
    async def main() -> tuple[str, ...]:
        async with OciRegistry(credentials=lambda h: None, transport=transport,
                               page_size=page_size) as reg:
            return await reg.list_tags(ImageRef.parse("127.0.0.1:5000/team/app"))

    return asyncio.run(main())


@settings(max_examples=80, deadline=None)
@given(tags=st.lists(TAG, max_size=60), cap=st.integers(1, 25),
       link_style=st.sampled_from(["relative", "absolute", "foreign", "strict"]))
def test_every_tag_exactly_once(tags: list[str], cap: int, link_style: str) -> None:
    seen: list[httpx.URL] = []
    got = list_all(paging_registry(tags, cap=cap, link_style=link_style, seen=seen))
    assert sorted(got) == sorted(set(tags))
    pages = max(1, -(-len(set(tags)) // cap))
    extra = 2 if link_style == "strict" else 1  # the ping, and the refused n=1000
    assert len(seen) == pages + extra
    # a Link to another host is followed on our own registry only: credentials stay home
    assert {u.host for u in seen} == {"127.0.0.1"}


def test_pagination_loop_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, json={"tags": ["a"]},
                              headers={"Link": '</v2/team/app/tags/list?last=a>; rel="next"'})

    with pytest.raises(RegistryError) as e:
        list_all(httpx.MockTransport(handler), page_size=0)
    assert str(e.value) == ("127.0.0.1:5000/team/app: tags/list pagination loops at "
                            "/v2/team/app/tags/list?last=a")


@pytest.mark.parametrize("body", [b'{"tags": "1.0"}', b"[]", b'{"tags": [1.5, "a"]}'])
def test_odd_tag_lists(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, content=body)

    if body == b'{"tags": [1.5, "a"]}':  # a JSON number is not a tag (issue 15, item 7)
        assert list_all(httpx.MockTransport(handler)) == ("a",)
        return
    with pytest.raises(RegistryError) as e:
        list_all(httpx.MockTransport(handler))
    assert str(e.value) == "127.0.0.1:5000/team/app: tags/list answer is not a tag list"


def test_null_tags_is_an_empty_repository() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/":
            return httpx.Response(200)
        return httpx.Response(200, json={"name": "team/app", "tags": None})

    assert list_all(httpx.MockTransport(handler)) == ()
