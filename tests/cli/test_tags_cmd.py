"""``promoter tags`` end to end against a real local registry (Debian's docker-registry),
plus :func:`choose` over the in-memory registry to count what each strategy asks for."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from promoter.cli import main
from promoter.policy import TagPolicy
from promoter.refs import ImageRef
from promoter.registry.choose import choose
from promoter.registry.memory import MemoryRegistry
from tests.envelope import body
from tests.servers.registry import LocalRegistry, free_port
from tests.servers.seed import OCI, Seeder, Stats, canonical, digest_of, make_layer

# repository -> tag -> (build day in January 2026, architectures); one manifest per tag
Tags = dict[str, tuple[int, tuple[str, ...]]]
APP: Tags = {"1.2.3": (1, ("amd64",)), "1.2.4": (2, ("amd64",)), "1.3.0": (3, ("amd64",)),
             "v1.3.1": (3, ("amd64",)), "1.3": (3, ("amd64",)), "2.0.0-rc.1": (4, ("amd64",)),
             "1.2.4-alpine": (2, ("amd64",)), "1.2.5-alpine": (5, ("amd64",)),
             "latest": (3, ("amd64",)), "stable": (2, ("amd64",))}
MULTI: Tags = {"1.0.0": (1, ("amd64", "arm64")), "1.1.0": (2, ("amd64",)),
               "1.2.0-beta.1": (3, ("amd64", "arm64"))}
BUILDS: Tags = {"main-100-aaa": (5, ("amd64",)), "main-101-bbb": (3, ("amd64",)),
                "main-99-ccc": (4, ("amd64",)), "pr-5-ddd": (9, ("amd64",))}
REPOS: dict[str, Tags] = {"cli/app": APP, "cli/multi": MULTI, "cli/builds": BUILDS}
PAGE = 4  # tags per page: cli/app (10 tags) takes three pages

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Seeded:
    registry: LocalRegistry
    digests: dict[str, dict[str, str]]  # repo -> tag -> digest of what the tag points at

    def ref(self, repo: str, tag: str | None = None) -> str:
        return f"{self.registry.host}/{repo}" + (f":{tag}" if tag else "")


def _config(arch: str, day: int, diff_id: str) -> bytes:
    return canonical({"architecture": arch, "os": "linux",
                      "created": f"2026-01-{day:02d}T12:00:00.123456789Z",
                      "rootfs": {"type": "layers", "diff_ids": [diff_id]}})


async def _push(url: str) -> dict[str, dict[str, str]]:
    layer, diff_id = make_layer()
    digests: dict[str, dict[str, str]] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        seeder = Seeder(client, url, content=None, stats=Stats())  # type: ignore[arg-type]
        for repo, tags in REPOS.items():
            await seeder.upload_blob(repo, layer)
            for tag, (day, archs) in tags.items():
                children = {}
                for arch in archs:
                    cfg = _config(arch, day, diff_id)
                    await seeder.upload_blob(repo, cfg)
                    children[arch] = canonical({
                        "schemaVersion": 2, "mediaType": OCI["manifest"],
                        "config": {"mediaType": OCI["config"], "digest": digest_of(cfg),
                                   "size": len(cfg)},
                        "layers": [{"mediaType": OCI["layer"], "digest": digest_of(layer),
                                    "size": len(layer)}],
                        "annotations": {"org.opencontainers.image.version": tag}})
                if repo != "cli/multi":
                    body, media = children[archs[0]], OCI["manifest"]
                else:
                    for child in children.values():
                        await seeder.put_manifest(repo, digest_of(child), child, OCI["manifest"])
                    body, media = canonical({
                        "schemaVersion": 2, "mediaType": OCI["index"],
                        "manifests": [{"mediaType": OCI["manifest"], "digest": digest_of(c),
                                       "size": len(c),
                                       "platform": {"architecture": a, "os": "linux"}}
                                      for a, c in children.items()]}), OCI["index"]
                await seeder.put_manifest(repo, tag, body, media)
                digests.setdefault(repo, {})[tag] = digest_of(body)
    return digests


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    if shutil.which("docker-registry") is None and shutil.which("registry") is None:
        pytest.skip("no docker-registry binary")
    storage = tmp_path_factory.mktemp("tags-registry") / "storage"
    with LocalRegistry("anonymous", storage=storage, paginate=PAGE) as reg:
        digests = asyncio.run(_push(reg.upstream_url))
        yield Seeded(reg, digests)


@pytest.fixture(scope="session")
def token_registry(seeded: Seeded) -> Iterator[LocalRegistry]:
    with LocalRegistry("token", storage=seeded.registry.storage, paginate=PAGE) as reg:
        yield reg


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["tags", *args])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *args, "--output", "json")
    doc = json.loads(out)
    assert doc["exit_code"] == code
    return code, body(doc, command="tags")


# args, repo, chosen, candidates
CHOICES = [
    ((), "cli/app", "v1.3.1", ["v1.3.1", "1.3", "1.3.0", "1.2.4", "1.2.3"]),
    (("--semver", "~1.2"), "cli/app", "1.2.4", ["1.2.4", "1.2.3"]),
    (("--semver", "^1.2.3 || >=2.0.0-rc.0"), "cli/app", "2.0.0-rc.1",
     ["2.0.0-rc.1", "v1.3.1", "1.3", "1.3.0", "1.2.4", "1.2.3"]),
    (("--prerelease",), "cli/app", "2.0.0-rc.1",
     ["2.0.0-rc.1", "v1.3.1", "1.3", "1.3.0", "1.2.4", "1.2.3"]),
    (("--current", "1.2.3"), "cli/app", "1.3.0", ["1.3.0", "1.2.4", "1.2.3"]),
    (("--current", "1.2.3", "--max-update", "patch"), "cli/app", "1.2.4", ["1.2.4", "1.2.3"]),
    (("--current", "v1.0.0"), "cli/app", "v1.3.1", ["v1.3.1"]),
    (("--current", "1.2.4-alpine"), "cli/app", "1.2.5-alpine", ["1.2.5-alpine",
                                                               "1.2.4-alpine"]),
    (("--current", "1.2"), "cli/app", "1.3", ["1.3"]),
    (("--ignore", "v*", "--ignore", "/^1\\.3$/"), "cli/app", "1.3.0", ["1.3.0", "1.2.4",
                                                                       "1.2.3"]),
    (("--allow", "^(?P<version>[0-9.]+)-alpine$"), "cli/app", "1.2.5-alpine",
     ["1.2.5-alpine", "1.2.4-alpine"]),
    (("--strategy", "digest", "--current", "stable"), "cli/app", "stable", ["stable"]),
    (("--strategy", "alphabetical", "--allow", "^[a-z]+$"), "cli/app", "stable",
     ["stable", "latest"]),
    (("--strategy", "numerical", "--allow", r"^main-(?P<version>\d+)-"), "cli/builds",
     "main-101-bbb", ["main-101-bbb", "main-100-aaa", "main-99-ccc"]),
    (("--strategy", "numerical", "--allow", r"^main-(?P<version>\d+)-", "--order", "desc"),
     "cli/builds", "main-99-ccc", ["main-99-ccc", "main-100-aaa", "main-101-bbb"]),
    (("--strategy", "newest-build", "--allow", "^main-"), "cli/builds", "main-100-aaa",
     ["main-100-aaa", "main-99-ccc", "main-101-bbb"]),
    (("--strategy", "newest-build"), "cli/builds", "pr-5-ddd",
     ["pr-5-ddd", "main-100-aaa", "main-99-ccc", "main-101-bbb"]),
    (("--strategy", "newest-build", "--platform", "linux/arm64"), "cli/multi", "1.2.0-beta.1",
     ["1.2.0-beta.1", "1.0.0"]),
    (("--platform", "linux/amd64"), "cli/multi", "1.1.0", ["1.1.0", "1.0.0"]),
]


@pytest.mark.parametrize(("args", "repo", "chosen", "expected"), CHOICES)
def test_json(seeded: Seeded, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
              repo: str, chosen: str, expected: list[str]) -> None:
    code, doc = run_json(capsys, seeded.ref(repo), *args)
    assert doc == {"image": seeded.ref(repo), "errors": [], "candidates": expected,
                   "chosen": {"tag": chosen, "digest": seeded.digests[repo][chosen]},
                   "too_young": []}
    assert code == 0


def test_text(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, seeded.ref("cli/app", "1.2.3"))
    assert (code, err) == (0, "")
    assert out == f"1.3.0\t{seeded.digests['cli/app']['1.3.0']}\tchosen\n1.2.4\n1.2.3\n"


def test_image_tag_is_the_current_tag_and_its_digest_is_reused(
        seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    pinned = "sha256:" + "0" * 64  # not the registry's: proves no request was made for it
    code, doc = run_json(capsys, seeded.ref("cli/app", "1.2.4") + "@" + pinned,
                         "--max-update", "patch")
    assert (code, doc["chosen"], doc["candidates"]) == (0, {"tag": "1.2.4", "digest": pinned},
                                                        ["1.2.4"])


def test_nothing_matches(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, seeded.ref("cli/app"), "--semver", "^3")
    assert (code, out) == (1, "")
    assert err == f"promoter: no tag of {seeded.ref('cli/app')} matches the policy\n"
    code, doc = run_json(capsys, seeded.ref("cli/app"), "--semver", "^3")
    assert [e["message"] for e in doc.pop("errors")] == [
        f"no tag of {seeded.ref('cli/app')} matches the policy"]
    assert (code, doc) == (1, {"image": seeded.ref("cli/app"), "chosen": None,
                               "candidates": [], "too_young": []})


def test_platform_skips_tags_without_it(seeded: Seeded,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, seeded.ref("cli/multi"), "--platform", "linux/arm64")
    assert (code, doc["candidates"]) == (0, ["1.0.0"])  # 1.1.0 is amd64 only
    assert doc["chosen"] == {"tag": "1.0.0", "digest": seeded.digests["cli/multi"]["1.0.0"]}
    for strategy in ("semver", "newest-build"):
        code, out, err = run(capsys, seeded.ref("cli/multi"), "--platform", "linux/s390x",
                             "--strategy", strategy)
        assert (code, out) == (1, ""), strategy
        assert err == f"promoter: no tag of {seeded.ref('cli/multi')} matches the policy\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--semver", "^1.x-rc"), "invalid semver range '^1.x-rc': a prerelease needs a full "
                              "version in '1.x-rc'"),
    (("--allow", "(x"), "invalid allow regex '(x': missing ), unterminated subpattern at "
                        "position 0"),
    (("--current", "latest"), "current tag 'latest' is not a version"),
    (("--strategy", "digest"), "the digest strategy needs the tag to follow (the current tag)"),
    (("--strategy", "numerical", "--prerelease"),
     "prerelease applies to the semver strategy only, not to numerical"),
])
def test_input_errors(seeded: Seeded, capsys: pytest.CaptureFixture[str],
                      args: tuple[str, ...], message: str) -> None:
    code, out, err = run(capsys, seeded.ref("cli/app"), *args)
    assert (code, out, err) == (2, "", f"promoter: error: {message}\n")
    code, doc = run_json(capsys, seeded.ref("cli/app"), *args)
    assert (code, [e["message"] for e in doc["errors"]], doc["chosen"]) == (2, [message], None)


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (("Not An Image",), ("nginx", "--strategy", "newest"),
                 ("nginx", "--platform", "arm64"), ("nginx", "--max-update", "huge")):
        code, out, err = run(capsys, *args)
        assert (code, out) == (2, ""), args
        assert "Error: Invalid value" in err


def test_unknown_repository(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, seeded.ref("cli/nope"))
    assert (code, out) == (2, "")
    assert err == f"promoter: error: repository not found: {seeded.ref('cli/nope')} " \
        "(NAME_UNKNOWN)\n"


def test_registry_gone(capsys: pytest.CaptureFixture[str]) -> None:
    ref = f"127.0.0.1:{free_port()}/cli/app"
    code, doc = run_json(capsys, ref, "--insecure-registry", "127.0.0.1")
    assert (code, doc["chosen"], doc["candidates"]) == (3, None, [])  # retry later
    assert len(doc["errors"]) == 1 and "cannot connect" in str(doc["errors"])


def _docker_config(tmp_path: Path, host: str, user: str, password: str) -> Path:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return tmp_path


def test_token_registry_with_docker_config(seeded: Seeded, token_registry: LocalRegistry,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert token_registry.username and token_registry.password
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(
        tmp_path, token_registry.host, token_registry.username, token_registry.password)))
    code, doc = run_json(capsys, f"{token_registry.host}/cli/app", "--current", "1.2.3")
    assert (code, doc["errors"], doc["candidates"]) == (0, [], ["1.3.0", "1.2.4", "1.2.3"])
    assert doc["chosen"] == {"tag": "1.3.0", "digest": seeded.digests["cli/app"]["1.3.0"]}


def test_wrong_credentials_name_no_secret(token_registry: LocalRegistry, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    secret = "wrong-pass-s3cr3t"
    assert token_registry.username
    monkeypatch.setenv("DOCKER_CONFIG", str(_docker_config(
        tmp_path, token_registry.host, token_registry.username, secret)))
    for output in ("text", "json"):
        code, out, err = run(capsys, f"{token_registry.host}/cli/app", "--output", output)
        assert code == 2
        assert secret not in out + err
        assert err.startswith("promoter: error: ") and err.count("\n") == 1
        assert token_registry.host in err


# -- what each strategy asks of the registry (the in-memory registry counts calls) ------------

def _memory() -> tuple[MemoryRegistry, ImageRef]:
    reg = MemoryRegistry()
    for repo, tags in REPOS.items():
        for tag, (day, archs) in tags.items():
            reg.push(f"r.example/{repo}:{tag}", created=datetime(2026, 1, day, tzinfo=UTC),
                     platforms=[f"linux/{a}" for a in archs] if len(archs) > 1 else [])
    return reg, ImageRef.parse("r.example/cli/app")


def test_semver_asks_for_one_digest() -> None:
    reg, image = _memory()
    choice = asyncio.run(choose(reg, image, TagPolicy(range="^1"), current="1.2.3"))
    assert choice.chosen == "1.3.0"
    assert reg.calls == [("list_tags", image.name), ("manifest", f"{image.name}:1.3.0")]


def test_known_digest_is_not_asked_again() -> None:
    reg, image = _memory()
    pinned = image.with_tag("1.2.4").with_digest("sha256:" + "1" * 64)
    choice = asyncio.run(choose(reg, pinned, TagPolicy(max_update=None, range="~1.2"),
                                current="1.2.4"))
    assert (choice.chosen, choice.digest) == ("1.2.4", pinned.digest)
    assert reg.calls == [("list_tags", image.name)]


def test_newest_build_reads_only_the_survivors() -> None:
    reg, _ = _memory()
    image = ImageRef.parse("r.example/cli/builds")
    choice = asyncio.run(choose(reg, image, TagPolicy(strategy="newest-build",
                                                      ignore=("pr-*",))))
    assert choice.chosen == "main-100-aaa"
    manifests = sorted(ref for kind, ref in reg.calls if kind == "manifest")
    assert manifests == [f"{image.name}:main-100-aaa", f"{image.name}:main-101-bbb",
                         f"{image.name}:main-99-ccc"]  # no second request for the digest


def test_nothing_matched_asks_for_no_manifest() -> None:
    reg, image = _memory()
    choice = asyncio.run(choose(reg, image, TagPolicy(range="^9")))
    assert (choice.chosen, choice.digest, choice.candidates) == (None, None, ())
    assert reg.calls == [("list_tags", image.name)]


# -- min-age: a tag's image must be old enough ----------------------------------------------

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def test_min_age_passes_over_tags_built_too_recently() -> None:
    """On Jan 4 12:00 with min-age 2d: 1.3.0 (built Jan 3; the current tag's style leaves out
    v1.3.1 and 1.3) is too young, 1.2.4 (Jan 2) is old enough. The young one is reported; the
    chosen digest needs no extra ask."""
    reg, image = _memory()
    policy = TagPolicy(range="^1", min_age=timedelta(days=2))
    now = JAN + timedelta(days=3, hours=12)
    choice = asyncio.run(choose(reg, image, policy, current="1.2.3", now=now))
    assert choice.chosen == "1.2.4"
    assert [t for t, _ in choice.too_young] == ["1.3.0"]
    assert [ref for kind, ref in reg.calls if kind == "manifest"] == [
        f"{image.name}:{t}" for t in ("1.3.0", "1.2.4")]
    assert choice.digest == asyncio.run(reg.manifest(image.with_tag("1.2.4"))).digest


def test_min_age_keeps_the_current_tag_when_every_newer_one_is_young() -> None:
    reg, image = _memory()
    policy = TagPolicy(range="^1", min_age=timedelta(days=30))
    choice = asyncio.run(choose(reg, image, policy, current="1.2.3", now=JAN + timedelta(9)))
    assert choice.chosen == "1.2.3"
    assert [t for t, _ in choice.too_young] == ["1.3.0", "1.2.4"]


def test_min_age_with_nothing_old_enough_and_no_current_chooses_nothing() -> None:
    reg, image = _memory()
    policy = TagPolicy(range="^1", min_age=timedelta(days=30))
    choice = asyncio.run(choose(reg, image, policy, now=JAN + timedelta(9)))
    assert choice.chosen is None and len(choice.too_young) == 5


def test_min_age_on_the_command_line(seeded: Seeded, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    """The seeded images were built in January 2026, long before today: min-age 1d passes
    them all; a duration that is not one is a usage error."""
    code, doc = run_json(capsys, seeded.ref("cli/app", "1.2.3"), "--semver", "^1",
                         "--min-age", "1d")
    assert (code, doc["chosen"]["tag"], doc["too_young"]) == (0, "1.3.0", [])
    code, _, err = run(capsys, seeded.ref("cli/app"), "--min-age", "soon")
    assert code == 2 and err.startswith("promoter: error: --min-age: invalid duration 'soon'")
    code, doc = run_json(capsys, seeded.ref("cli/app", "1.2.3"), "--semver", "^1",
                         "--min-age", "1.5h")  # the grammar of the config's min-age
    assert (code, doc["chosen"]["tag"]) == (0, "1.3.0")
