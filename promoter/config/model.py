"""What ``.promoter.yaml`` becomes: frozen data, the template fields and names
(:mod:`promoter.config` says how a file gets there)."""

from __future__ import annotations

import difflib
import enum
import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

from promoter import secrets
from promoter.charts import ChartSource
from promoter.edit.model import Kind
from promoter.errors import InputError
from promoter.policy import TagPolicy
from promoter.refs import ImageRef

# the data model of a configuration; promoter.config re-exports exactly these names
__all__ = ["ArgoCD", "Auto", "BRANCH_FIELDS", "Bundle", "COMMON_FIELDS", "CONFIG_NAMES",
           "Commenters", "Commit", "Config", "DASHBOARD_TITLE", "DEFAULT_AUTHOR",
           "DEFAULT_HOLD_LABEL", "Dashboard", "DiscoverTarget", "Environment", "FileTarget",
           "Forge", "ForgeType", "FreezeWindow", "Gates", "GitHubApp", "Group", "IMAGE_FIELDS",
           "Identity", "Image", "KeylessSigner", "KeyTarget", "PullRequests", "Registry",
           "SignaturePolicy", "Target", "allowed_fields", "read_secret", "render_template",
           "template_fields", "valid_branch_name"]

CONFIG_NAMES = (".promoter.yaml", ".promoter.yml")
DEFAULT_AUTHOR = "promoter <promoter@noreply.invalid>"
DEFAULT_HOLD_LABEL = "promoter/hold"


# ---------------------------------------------------------------------------------------------
# data


class Auto(enum.Enum):
    """Which update types open a pull request without a ``/promote`` command."""

    NONE = "none"
    PATCH = "patch"
    MINOR = "minor"
    ALL = "all"


class ForgeType(enum.Enum):
    GITHUB = "github"
    GITLAB = "gitlab"
    LOCAL = "local"


class Group(enum.Enum):
    """One pull request per (environment, image), or one per environment."""

    IMAGE = "image"
    ENVIRONMENT = "environment"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileTarget:
    """A file whose references to the image the finders locate (``kind`` None: any finder)."""

    file: str
    kind: Kind | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyTarget:
    """An explicit Helm values key path to the scalar holding the tag."""

    file: str
    key: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoverTarget:
    """Every file under these directories or globs (``kinds`` empty: every finder)."""

    paths: tuple[str, ...]
    kinds: tuple[Kind, ...] = ()


Target: TypeAlias = FileTarget | KeyTarget | DiscoverTarget


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    name: str
    repository: ImageRef  # no tag, no digest
    policy: TagPolicy = TagPolicy()
    platform: str | None = None  # os/arch[/variant] whose manifest counts (newest-build)
    source: str | None = None  # web URL of the source repository, for changelog links
    # (environment, targets) in environment order; environments not listed don't have the image
    targets: tuple[tuple[str, tuple[Target, ...]], ...] = ()
    discovered: bool = False  # no explicit targets: found through the environments' paths
    include_untagged: bool = False  # poll/promote may pin references with no tag or digest
    # a Helm chart (``charts:`` in the file): its versions are the tags, ``repository`` is
    # ChartSource.ref, and the chart finder's sites are its pins
    chart: ChartSource | None = None

    def targets_for(self, env: str) -> tuple[Target, ...]:
        for name, targets in self.targets:
            if name == env:
                return targets
        return ()

    @property
    def environments(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.targets)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeWindow:
    """A one-off window (``start``..``end``) or a weekly one (``days`` ``start_time``..``end_time``
    in ``timezone``; an end before the start runs past midnight)."""

    start: datetime | None = None
    end: datetime | None = None
    days: tuple[int, ...] = ()  # 0 = Monday
    start_time: time = time(0, 0)
    end_time: time | None = None  # None: end of day
    timezone: str = "UTC"
    reason: str = ""

    def covers(self, when: datetime) -> bool:
        """Whether the aware datetime ``when`` falls in this window (end exclusive)."""
        if self.start is not None and self.end is not None:
            return self.start <= when < self.end
        local = when.astimezone(ZoneInfo(self.timezone))
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        end = self.end_time
        if end is None or end > self.start_time:
            return day in self.days and self.start_time <= t and (end is None or t < end)
        # overnight: from start_time on a listed day until end_time on the next day
        return (day in self.days and t >= self.start_time) or ((day - 1) % 7 in self.days
                                                               and t < end)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeylessSigner:
    """``gates.signature.keyless[]``: a Fulcio-style root bundle and what the certificate must
    name (paths relative to the repository root; regular expressions as written)."""

    roots: str
    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    rekor_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SignaturePolicy:
    """``gates.signature``: any one of ``keys`` or ``keyless`` signers must have signed the
    image's digest (and named ``docker_reference``, when set)."""

    keys: tuple[str, ...] = ()  # PEM public key files
    keyless: tuple[KeylessSigner, ...] = ()
    docker_reference: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    soak: timedelta | None = None
    require_checks: tuple[str, ...] = ()
    auto: Auto = Auto.ALL
    min_approvals: int = 0
    freeze: tuple[FreezeWindow, ...] = ()
    hold_label: str = DEFAULT_HOLD_LABEL
    signature: SignaturePolicy | None = None

    def frozen_at(self, when: datetime) -> FreezeWindow | None:
        return next((w for w in self.freeze if w.covers(when)), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Commenters:
    """Who may run comment commands for an environment; all empty: anyone with write access."""

    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def restricted(self) -> bool:
        return bool(self.users or self.teams or self.groups)


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgoCD:
    """``health.argocd``: the Argo CD Application that deploys an environment, and how to ask
    its API server (``url``; the bearer token in the variable ``token_env``; ``ca_file``
    relative to the repository root)."""

    url: str
    application: str
    token_env: str
    project: str | None = None
    insecure: bool = False  # TLS without verifying the certificate
    ca_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Environment:
    name: str
    branch: str  # the branch its files live on (forge.base-branch unless set)
    paths: tuple[str, ...] = ()
    track: bool = False
    gates: Gates = Gates()
    commenters: Commenters = Commenters()
    #: commit statuses (Argo CD / Flux notification contexts) that must be green on this
    #: environment's branch head before what it runs is promoted out of it
    health_statuses: tuple[str, ...] = ()
    #: the environments it is promoted from (``from:``, else the one before it; the first
    #: environment has none and follows the registry)
    sources: tuple[str, ...] = ()
    #: the Argo CD Application that must be Synced to this environment's branch head and
    #: Healthy before what it runs is promoted out of it
    health_argocd: ArgoCD | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    host: str
    username_env: str | None = None
    password_env: str | None = None
    token_env: str | None = None
    insecure: bool = False
    ca_file: str | None = None  # relative to the repository root
    ca_file_env: str | None = None
    concurrency: int | None = None  # a fixed cap on requests in flight; None: adaptive
    requests_per_second: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubApp:
    id: int | None = None
    id_env: str | None = None
    private_key_env: str
    installation_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Forge:
    type: ForgeType = ForgeType.LOCAL
    url: str | None = None
    repository: str | None = None  # GitHub owner/name
    project: str | None = None  # GitLab path or numeric id
    base_branch: str = "main"
    token_env: str | None = None
    app: GitHubApp | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequests:
    branch: str = "promoter/{env}/{image}"
    title: str = "Promote {image} to {version} in {env}"
    body: str | None = None  # None: the built-in body
    labels: tuple[str, ...] = ("promoter",)
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    auto_merge: bool = False
    merge_method: str = "merge"
    group: Group = Group.IMAGE
    max_open: int = 0  # 0: no limit on promoter's open pull requests
    max_per_hour: int = 0  # 0: no limit on pull requests opened in the last 60 minutes


DASHBOARD_TITLE = "promoter dashboard"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    """The dashboard issue: off unless ``dashboard: true`` (or ``{title: ...}``)."""

    enabled: bool = False
    title: str = DASHBOARD_TITLE


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    author: Identity = Identity(name="promoter", email="promoter@noreply.invalid")
    message: str = "{title}"
    sign_off: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """``bundles[]``: images that move as one unit, in one pull request per step (never half)."""

    name: str
    images: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    path: str  # the config file as given
    root: str  # the repository root paths are relative to
    environments: tuple[Environment, ...]
    images: tuple[Image, ...]
    registries: tuple[Registry, ...] = ()
    forge: Forge = Forge()
    pull_requests: PullRequests = PullRequests()
    commit: Commit = Commit()
    dashboard: Dashboard = Dashboard()
    bundles: tuple[Bundle, ...] = ()

    def bundle_of(self, image: str) -> Bundle | None:
        """The bundle ``image`` belongs to (an image belongs to at most one)."""
        return next((b for b in self.bundles if image in b.images), None)

    def unit(self, image: str) -> str:
        """What moves with ``image`` is named by: its bundle's name, else its own."""
        bundle = self.bundle_of(image)
        return bundle.name if bundle else image

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise InputError(f"unknown environment {name!r}{_did_you_mean(name, self.env_names)}")

    def image(self, name: str) -> Image:
        for img in self.images:
            if img.name == name:
                return img
        raise InputError(f"unknown image {name!r}"
                         f"{_did_you_mean(name, [i.name for i in self.images])}")

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.environments)

    @property
    def tracking(self) -> tuple[Environment, ...]:
        """The environments that follow the registry."""
        return tuple(e for e in self.environments if e.track)

    def sources(self, env: str) -> tuple[Environment, ...]:
        """The environments ``env`` is promoted from (``()``: it follows the registry)."""
        return tuple(self.environment(s) for s in self.environment(env).sources)

    def targets(self, env: str) -> tuple[Environment, ...]:
        """The environments promoted from ``env``, in topological order."""
        name = self.environment(env).name
        return tuple(e for e in self.order() if name in e.sources)

    def order(self) -> tuple[Environment, ...]:
        """Every environment, each after all of its sources; ties keep the file's order.

        The loader refuses cycles, so every environment is placed."""
        placed: dict[str, Environment] = {}
        while len(placed) < len(self.environments):
            ready = [e for e in self.environments if e.name not in placed
                     and all(s in placed for s in e.sources)]
            if not ready:  # a cycle: only a Config built by hand, not by the loader
                raise InputError("the environments' from: form a cycle")
            placed[ready[0].name] = ready[0]
        return tuple(placed.values())

    def depth(self, env: str) -> int:
        """The length of the longest path from a first environment to ``env`` (0 for one)."""
        return max((self.depth(s.name) + 1 for s in self.sources(env)), default=0)

    def edges(self) -> tuple[tuple[Environment, Environment], ...]:
        """(source, target) pairs, by target in topological order, sources as written."""
        return tuple((s, t) for t in self.order() for s in self.sources(t.name))

    @property
    def linear(self) -> bool:
        """Whether the environments are the plain list: each from the one before it."""
        return all(e.sources == ((self.environments[i - 1].name,) if i else ())
                   for i, e in enumerate(self.environments))

    def previous(self, env: str) -> Environment | None:
        """The one environment ``env`` is promoted from (None for a first one); InputError
        for a fan-in, which has several (use :meth:`sources`)."""
        sources = self.sources(env)
        if len(sources) > 1:
            raise InputError(f"{env} is promoted from {', '.join(e.name for e in sources)}")
        return sources[0] if sources else None

    def steps(self) -> tuple[tuple[Environment, Environment], ...]:
        """(source, target) pairs in promotion order (:meth:`edges`)."""
        return self.edges()

    def registry(self, host: str) -> Registry | None:
        return next((r for r in self.registries if r.host == host), None)

    def shard(self, index: int, count: int) -> tuple[Image, ...]:
        """The images of shard ``index`` (0-based) of ``count``: stable under reordering."""
        if count < 1 or not 0 <= index < count:
            raise InputError(f"shard {index + 1}/{count}: need 1 <= I <= N")
        return tuple(i for i in self.images if _shard_of(i.name, count) == index)


def read_secret(environ: Mapping[str, str], name: str | None, *, key: str) -> str | None:
    """The value of the environment variable ``name`` that the setting ``key`` (e.g.
    ``forge.token-env``) names, registered with :mod:`promoter.secrets` so no message shows it.

    None when the setting is absent; :class:`InputError` when it names an unset variable.
    """
    if name is None:
        return None
    value = environ.get(name, "")
    if not value:
        raise InputError(f"{key} names the environment variable {name}, which is not set")
    secrets.register(value)
    return value


def _shard_of(name: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % count


# ---------------------------------------------------------------------------------------------
# templates

#: placeholders by template; per-image ones exist only when pull requests are grouped by image
COMMON_FIELDS = ("env", "source_env", "base", "count", "images")
IMAGE_FIELDS = ("image", "version", "from", "to", "update")
BRANCH_FIELDS = ("env", "image", "base")


def template_fields(template: str) -> tuple[str, ...]:
    """The placeholder names of ``template``; ValueError when it is malformed."""
    names: list[str] = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not re.fullmatch(r"[a-z_]+", name) or spec or conversion:
            raise ValueError(f"placeholder {{{name}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} is not a plain {{name}}")
        names.append(name)
    return tuple(names)


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Fill ``template``'s placeholders from ``values`` (no attribute access, no formatting)."""
    out: list[str] = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(str(values[name]))
    return "".join(out)


def allowed_fields(which: str, group: Group) -> tuple[str, ...]:
    """Placeholders allowed in ``which`` (branch, title, body, message) under ``group``."""
    if which == "branch":
        return BRANCH_FIELDS if group is Group.IMAGE else ("env", "base")
    fields = COMMON_FIELDS + (IMAGE_FIELDS if group is Group.IMAGE else ())
    return fields + {"title": (), "body": ("table",), "message": ("title", "table")}[which]


_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.$|\.lock(/|$)|(^|/)\.")


def valid_branch_name(name: str) -> bool:
    """Whether git accepts ``refs/heads/<name>`` (``git check-ref-format``'s rules) and the
    name does not start with '-' (an option to any command line it reaches)."""
    return bool(name) and not name.startswith("-") and not _BAD_REF.search(name)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
