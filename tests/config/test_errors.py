# ruff: noqa: E501  (a table of exact one-line messages)
"""Every way .promoter.yaml can be wrong gives one exact line: file:line:col, key path, reason."""

from __future__ import annotations

import pytest

from promoter.config import parse_config
from promoter.errors import ConfigError

# a valid file: each case below breaks one thing in it (or is a whole file of its own)
BASE = (
    "environments: [dev, prod]\n"
    "images:\n"
    "  - repository: ghcr.io/acme/api\n"
    "    targets:\n"
    "      dev: [{file: a.yaml}]\n"
)
ONE_IMAGE = "images: [{repository: a, targets: {dev: [{file: a}]}}]\n"


def _policy(policy: str) -> str:
    return BASE.replace("    targets", f"    policy: {policy}\n    targets")


def _env(env: str) -> str:
    return f"environments:\n  - name: dev\n    {env}\n" + ONE_IMAGE


CASES = [
    pytest.param(
        'environments: [dev\n',
        ".promoter.yaml:2:1: invalid YAML: while parsing a flow sequence, expected ',' or ']', but got '<stream end>'",
        id='yaml'),
    pytest.param(
        '',
        '.promoter.yaml:1:1: the file is empty',
        id='empty'),
    pytest.param(
        '- a\n',
        '.promoter.yaml:1:1: expected a mapping, got a list',
        id='root-list'),
    pytest.param(
        BASE + 'pull_requests: {}\n',
        ".promoter.yaml:6:1: pull_requests: unknown key (did you mean 'pull-requests'?); expected one of version, environments, images, charts, defaults, registries, forge, pull-requests, dashboard, commit, bundles",
        id='unknown-top'),
    pytest.param(
        'environments: [dev]\n',
        ".promoter.yaml:1:1: missing required key 'images' (or 'charts', or both)",
        id='missing-images'),
    pytest.param(
        BASE + 'environments: [x]\n',
        '.promoter.yaml:6:1: environments: duplicate key (first on line 1)',
        id='dup-key'),
    pytest.param(
        _policy('{semver: 1.10}'),
        ".promoter.yaml:4:22: images[0].policy.semver: expected a string, got a number (quote it: '...')",
        id='float-semver'),
    pytest.param(
        _policy("{semver: '>=1.x.y'}"),
        ".promoter.yaml:4:22: images[0].policy.semver: invalid semver range '>=1.x.y': '1.x.y' is not a version",
        id='bad-range'),
    pytest.param(
        _policy("{allow: '(unclosed'}"),
        '.promoter.yaml:4:21: images[0].policy.allow: invalid regular expression: missing ), unterminated subpattern at position 0',
        id='bad-regex'),
    pytest.param(
        _policy("{allow: '(?P<v>\\d+)'}"),
        ".promoter.yaml:4:21: images[0].policy.allow: unknown named group 'v'; only (?P<version>...) is allowed",
        id='bad-group'),
    pytest.param(
        _policy("{strategy: numerical, semver: '^1'}"),
        '.promoter.yaml:4:43: images[0].policy.semver: a semver range applies to the semver strategy only, not to numerical',
        id='range-on-numerical'),
    pytest.param(
        _policy('{strategy: newest}'),
        ".promoter.yaml:4:24: images[0].policy.strategy: unknown tag strategy 'newest'; choose one of semver, newest-build, alphabetical, numerical, digest",
        id='strategy-enum'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    targets:\n      prd: [{file: a.yaml}]\n',
        ".promoter.yaml:5:7: images[0].targets.prd: unknown environment 'prd' (did you mean 'prod'?)",
        id='unknown-env'),
    pytest.param(
        'environments: [dev, dev]\n' + ONE_IMAGE,
        ".promoter.yaml:1:21: environments[1]: duplicate environment 'dev' (also environments[0])",
        id='dup-env'),
    pytest.param(
        BASE + '  - repository: docker.io/acme/api\n    targets: {dev: [{file: b}]}\n',
        ".promoter.yaml:6:5: images[1]: duplicate image 'api' (also images[0]); give one a distinct name",
        id='dup-image'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api:1.0\n    targets:\n      dev: [{file: a.yaml}]\n',
        '.promoter.yaml:3:17: images[0].repository: give the repository without tag or digest; the policy chooses the tag',
        id='tagged-repo'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/Acme/API!\n    targets:\n      dev: [{file: a.yaml}]\n',
        ".promoter.yaml:3:17: images[0].repository: 'ghcr.io/Acme/API!' is not an image repository",
        id='bad-repo'),
    pytest.param(
        BASE + 'forge: {type: github, repository: a/b, token: abc}\n',
        '.promoter.yaml:6:40: forge.token: secrets must not be written in the config; put it in an environment variable and name that in token-env',
        id='inline-token'),
    pytest.param(
        BASE + 'forge: {type: github, repository: a/b, token-env: ghp_abcdefghijklmnopqrstuvwxyz0123}\n',
        '.promoter.yaml:6:51: forge.token-env: this value looks like a secret; secrets must not be written in the config, name an environment variable instead',
        id='token-value'),
    pytest.param(
        BASE + "forge: {type: github, repository: a/b, token-env: 's3cr3t-value!'}\n",
        ".promoter.yaml:6:51: forge.token-env: must be the name of an environment variable (letters, digits and '_'), not a secret itself",
        id='token-env-value'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    targets:\n      dev: [{file: ../a.yaml}]\n',
        ".promoter.yaml:5:20: images[0].targets.dev[0].file: '../a.yaml' leaves the repository ('..')",
        id='dotdot'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    targets:\n      dev: [{file: /etc/a.yaml}]\n',
        ".promoter.yaml:5:20: images[0].targets.dev[0].file: '/etc/a.yaml' is absolute; paths are relative to the repository root",
        id='abs'),
    pytest.param(
        BASE + "pull-requests: {branch: 'promoter/{env}/{image}-{version}'}\n",
        '.promoter.yaml:6:25: pull-requests.branch: unknown placeholder {version}; a branch must not change when a newer version supersedes the PR; use {env}, {image}, {base}',
        id='branch-version'),
    pytest.param(
        BASE + "pull-requests: {branch: 'promoter/{env}'}\n",
        '.promoter.yaml:6:25: pull-requests.branch: must contain {image} so that each pull request has its own branch',
        id='branch-noimage'),
    pytest.param(
        BASE + "pull-requests: {title: 'Bump {imge}'}\n",
        '.promoter.yaml:6:24: pull-requests.title: unknown placeholder {imge}; use {env}, {source_env}, {base}, {count}, {images}, {image}, {version}, {from}, {to}, {update}',
        id='title-unknown'),
    pytest.param(
        BASE + "pull-requests: {group: environment, title: 'Bump {image}'}\n",
        '.promoter.yaml:6:44: pull-requests.title: unknown placeholder {image} when pull requests are grouped by environment; use {env}, {source_env}, {base}, {count}, {images}',
        id='title-group'),
    pytest.param(
        BASE + "pull-requests: {title: 'Bump {image'}\n",
        ".promoter.yaml:6:24: pull-requests.title: expected '}' before end of string; write {{ and }} for literal braces",
        id='brace'),
    pytest.param(
        BASE + "pull-requests: {title: '{image.__class__}'}\n",
        '.promoter.yaml:6:24: pull-requests.title: placeholder {image.__class__} is not a plain {name}',
        id='fmt-attr'),
    pytest.param(
        BASE + 'forge: {type: github}\n',
        '.promoter.yaml:6:8: forge: forge type github needs repository',
        id='github-norepo'),
    pytest.param(
        BASE + "forge: {url: 'https://x.example'}\n",
        '.promoter.yaml:6:9: forge.url: does not apply to forge type local',
        id='local-url'),
    pytest.param(
        _env('gates: {soak: 2 hours}'),
        '.promoter.yaml:3:19: environments[0].gates.soak: a number without a unit at position 1 (units: w, d, h, m, s); write a duration such as 90s, 5m, 1h30m, 1.5h, 2d or 1w',
        id='soak'),
    pytest.param(
        _env('gates: {freeze: [{days: [mon], timezone: Mars/Base}]}'),
        ".promoter.yaml:3:46: environments[0].gates.freeze[0].timezone: unknown time zone 'Mars/Base'",
        id='tz'),
    pytest.param(
        _env("gates: {freeze: [{start: '2026-01-02T00:00:00Z', end: '2026-01-01T00:00:00Z'}]}"),
        '.promoter.yaml:3:59: environments[0].gates.freeze[0].end: must be after start',
        id='freeze-order'),
    pytest.param(
        _env('gates: {freeze: [{days: [monday]}]}'),
        ".promoter.yaml:3:30: environments[0].gates.freeze[0].days[0]: must be one of mon, tue, wed, thu, fri, sat, sun (got 'monday')",
        id='freeze-day'),
    pytest.param(
        _env('gates: {auto: yes}'),
        ".promoter.yaml:3:19: environments[0].gates.auto: must be one of none, patch, minor, all (got 'yes')",
        id='auto-enum'),
    pytest.param(
        "environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    targets:\n      dev: [{file: a.yaml, key: 'a..b'}]\n",
        '.promoter.yaml:5:33: images[0].targets.dev[0].key: must be a dotted key path such as api.image.tag',
        id='target-shape'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    targets:\n      dev: [{file: a.yaml, kinds: [helm]}]\n',
        ".promoter.yaml:5:28: images[0].targets.dev[0].kinds: unknown key (did you mean 'kind'?); expected one of file, kind",
        id='target-extra'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    targets:\n      dev: [{discover: [a], file: x}]\n',
        '.promoter.yaml:5:29: images[0].targets.dev[0].file: unknown key; expected one of discover, kinds',
        id='discover-extra'),
    pytest.param(
        'environments: [dev, {name: prod, paths: [p]}]\nimages: [{repository: a}]\n',
        ".promoter.yaml:2:10: images[0]: no targets, and environment 'dev' has no paths to discover the image in; add targets or environments[0].paths",
        id='no-targets'),
    pytest.param(
        BASE + 'registries: [{host: ghcr.io, password-env: X}]\n',
        '.promoter.yaml:6:44: registries[0].password-env: needs username-env as well',
        id='password-no-user'),
    pytest.param(
        BASE + "registries: [{host: 'https://ghcr.io'}]\n",
        '.promoter.yaml:6:21: registries[0].host: must be a host[:port] without scheme or path',
        id='host-scheme'),
    pytest.param(
        BASE + 'forge: {type: github, repository: a/b, token-env: T, app: {id: 1, private-key-env: K}}\n',
        '.promoter.yaml:6:54: forge.app: give either token-env or app, not both',
        id='app-both'),
    pytest.param(
        BASE + 'forge: {type: gitlab, project: g/p, app: {id: 1, private-key-env: K}}\n',
        '.promoter.yaml:6:37: forge.app: GitHub Apps need forge type github',
        id='app-gitlab'),
    pytest.param(
        BASE + 'commit: {author: promoter}\n',
        ".promoter.yaml:6:18: commit.author: must be 'Name <email>'",
        id='author'),
    pytest.param(
        "environments: ['dev prod']\n" + ONE_IMAGE,
        ".promoter.yaml:1:16: environments[0]: must be a name of letters, digits, '.', '_' and '-' (at most 63 characters) (and 1 more)",
        id='env-name'),
    pytest.param(
        'environments: [dev, prod]\nimages:\n  - repository: ghcr.io/acme/api\n    polcy: {}\n    targets:\n      dev: [{file: a.yaml}]\n',
        ".promoter.yaml:4:5: images[0].polcy: unknown key (did you mean 'policy'?); expected one of name, repository, policy, source, include-untagged, targets",
        id='typo-key'),
    pytest.param(
        _policy("{ignore: ['/[a-/']}"),
        '.promoter.yaml:4:23: images[0].policy.ignore[0]: invalid regular expression: unterminated character set at position 0',
        id='ignore-regex'),
    pytest.param(
        BASE + "defaults: {policy: {semver: '^^1'}}\n",
        ".promoter.yaml:6:29: defaults.policy.semver: invalid semver range '^^1': '^1' is not a version",
        id='defaults-range'),
    pytest.param(
        _policy('{strategy: digest, prerelease: true}'),
        '.promoter.yaml:4:44: images[0].policy.prerelease: prerelease applies to the semver strategy only, not to digest',
        id='prerelease-digest'),
    pytest.param(
        _policy('{strategy: digest, min-age: 3d}'),
        '.promoter.yaml:4:41: images[0].policy.min-age: min-age does not apply to the digest strategy, which follows the tag in use',
        id='min-age-digest'),
    pytest.param(
        _policy('{min-age: soon}'),
        ".promoter.yaml:4:23: images[0].policy.min-age: expected a number at position 1, not 's'; write a duration such as 90s, 5m, 1h30m, 1.5h, 2d or 1w",
        id='min-age-spelling'),
    pytest.param(
        "environments: [{name: dev, branch: 'a..b'}]\n" + ONE_IMAGE,
        ".promoter.yaml:1:36: environments[0].branch: 'a..b' is not a valid git branch name",
        id='env-branch'),
    pytest.param(
        'x-base: &b {file: a}\nenvironments: [dev]\nimages: [{repository: a, targets: {dev: [{<<: *b, kind: x}]}}]\n',
        ".promoter.yaml:3:57: images[0].targets.dev[0].kind: must be one of kustomize, helm, manifest, marker, argocd, chart (got 'x')",
        id='merge'),
    pytest.param(
        'a: 1\n---\nb: 2\n',
        '.promoter.yaml:2:1: invalid YAML: expected a single document in the stream, but found another document',
        id='two-documents'),
    pytest.param(
        'a: &x [*x]\n',
        '.promoter.yaml:1:4: a[0]: an alias refers to a node that contains it',
        id='alias-cycle'),
    pytest.param(
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcd", "bcde", strict=True)),
        '.promoter.yaml:1:26: e[7][8][8][8][9]: more than 100000 values; do aliases repeat too much?',
        id='alias-bomb'),
    pytest.param(
        "environments: [{name: dev, paths: [.git/hooks]}]\nimages: [{repository: a}]\n",
        ".promoter.yaml:1:36: environments[0].paths[0]: '.git/hooks' points into .git",
        id='dot-git'),
]


@pytest.mark.parametrize(("text", "message"), CASES)
def test_error_message(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file=".promoter.yaml")
    assert str(info.value) == message


# registries[].concurrency and requests-per-second: (the entry's caps, column, key: reason);
# YAML true must not count as the integer 1, nor .inf/.nan as a rate
LIMITS = [
    ("concurrency: 0", 43, "concurrency: must be at least 1"),
    ("concurrency: -2", 43, "concurrency: must be at least 1"),
    ("concurrency: '4'", 43, "concurrency: expected an integer, got a string"),
    ("concurrency: true", 43, "concurrency: expected an integer, got true or false"),
    ("concurrency: 2.5", 43, "concurrency: expected an integer, got a number"),
    ("requests-per-second: 0", 51, "requests-per-second: must be more than 0"),
    ("requests-per-second: -0.5", 51, "requests-per-second: must be more than 0"),
    ("requests-per-second: fast", 51, "requests-per-second: expected a number, got a string"),
    ("requests-per-second: true", 51, "requests-per-second: expected a number, got true or false"),
    ("requests-per-second: .inf", 51, "requests-per-second: must be a finite number"),
    ("requests-per-second: .nan", 51, "requests-per-second: must be a finite number"),
]


@pytest.mark.parametrize(("caps", "column", "reason"), LIMITS,
                         ids=[caps for caps, _, _ in LIMITS])
def test_registry_limit_errors(caps: str, column: int, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + f"registries: [{{host: ghcr.io, {caps}}}]\n", file=".promoter.yaml")
    assert str(info.value) == f".promoter.yaml:6:{column}: registries[0].{reason}"


def test_registry_limit_error_names_the_line_of_the_value() -> None:
    text = BASE + ("registries:\n"
                   "  - host: ghcr.io\n"
                   "    concurrency: 4\n"
                   "  - host: quay.io\n"
                   "    requests-per-second: 0.5\n"
                   "    concurrency: 0\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, file=".promoter.yaml")
    assert str(info.value) == ".promoter.yaml:11:18: registries[1].concurrency: must be at least 1"
