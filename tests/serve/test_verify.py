"""Webhook authenticity, pure: GitHub's HMAC, GitLab's token and signed webhooks."""

from __future__ import annotations

import base64

import pytest

from promoter.serve import github_signature, verify_github, verify_gitlab_signature
from tests.servers.fake_gitlab import hook_headers

KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_KEY = "whsec_" + base64.b64encode(b"o" * 32).decode()


def test_github_documented_test_vector() -> None:
    # GitHub docs, "Validating webhook deliveries"
    assert github_signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


@pytest.mark.parametrize(("secrets", "body", "header", "ok"), [
    (("s3cret",), b"{}", github_signature("s3cret", b"{}"), True),
    (("new", "s3cret"), b"{}", github_signature("s3cret", b"{}"), True),  # rotation
    (("s3cret", "new"), b"{}", github_signature("new", b"{}"), True),
    (("s3cret",), b"{} ", github_signature("s3cret", b"{}"), False),  # body changed
    (("s3cret",), b"{}", github_signature("guess", b"{}"), False),  # forged
    (("s3cret",), b"{}", github_signature("s3cret", b"{}").upper(), False),
    (("s3cret",), b"{}", github_signature("s3cret", b"{}").replace("sha256=", "sha1="), False),
    (("s3cret",), b"{}", None, False),
    (("s3cret",), b"{}", "", False),
    ((), b"{}", github_signature("", b"{}"), False),  # no secret configured: nothing passes
])
def test_github_signature(secrets: tuple[str, ...], body: bytes, header: str | None,
                          ok: bool) -> None:
    assert verify_github(secrets, body, header) is ok


def _signed(body: bytes, key: str, stamp: int) -> dict[str, str]:
    return {k.lower(): v for k, v in hook_headers("Note Hook", body=body, signing_token=key,
                                                  timestamp=stamp).items()}


@pytest.mark.parametrize(("keys", "sign_with", "stamp", "tamper", "ok"), [
    ((KEY,), KEY, 1000, b"", True),
    ((OLD_KEY, KEY), KEY, 1000, b"", True),  # rotation
    ((KEY,), OLD_KEY, 1000, b"", False),
    ((KEY,), KEY, 1000, b" ", False),
    ((KEY,), KEY, 1000 - 301, b"", False),  # too old: a replay
    ((KEY,), KEY, 1000 + 301, b"", False),
    ((KEY,), KEY, 1000 - 299, b"", True),
    (("not base64 !",), KEY, 1000, b"", False),
])
def test_gitlab_signing_tokens(keys: tuple[str, ...], sign_with: str, stamp: int, tamper: bytes,
                               ok: bool) -> None:
    body = b'{"object_kind":"note"}'
    headers = _signed(body, sign_with, stamp)
    assert verify_gitlab_signature(keys, headers, body + tamper, now=1000) is ok


def test_gitlab_signature_list_with_several_entries() -> None:
    body = b"{}"
    headers = _signed(body, KEY, 1000)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]
    assert verify_gitlab_signature((KEY,), headers, body, now=1000)
    headers["webhook-timestamp"] = "soon"
    assert not verify_gitlab_signature((KEY,), headers, body, now=1000)
