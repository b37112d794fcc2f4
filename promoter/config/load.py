"""``.promoter.yaml`` from text to :class:`~promoter.config.model.Config`: the semantic checks
the schema cannot express and the building with every default filled in."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from promoter.charts import ChartSource
from promoter.config.document import (
    KeyPath,
    _check_no_secrets,
    _check_schema,
    _compose,
    _Doc,
    decode,
    file_error,
    format_path,
    problems_error,
)
from promoter.config.model import (
    _DAYS,
    BRANCH_FIELDS,
    CONFIG_NAMES,
    DASHBOARD_TITLE,
    DEFAULT_AUTHOR,
    DEFAULT_HOLD_LABEL,
    IMAGE_FIELDS,
    ArgoCD,
    Auto,
    Bundle,
    Commenters,
    Commit,
    Config,
    Dashboard,
    DiscoverTarget,
    Environment,
    FileTarget,
    Forge,
    ForgeType,
    FreezeWindow,
    Gates,
    GitHubApp,
    Group,
    Identity,
    Image,
    KeylessSigner,
    KeyTarget,
    PullRequests,
    Registry,
    SignaturePolicy,
    Target,
    _did_you_mean,
    allowed_fields,
    render_template,
    template_fields,
    valid_branch_name,
)
from promoter.durations import EXAMPLES, DurationError, parse_duration
from promoter.edit.model import Kind
from promoter.errors import ConfigError, InputError, Problem
from promoter.policy import Order, TagPolicy
from promoter.refs import ImageRef
from promoter.signing import load_key, load_roots
from promoter.versions import Range, UpdateType

__all__ = ["config_problems", "find_config", "load_config", "parse_config"]

# ---------------------------------------------------------------------------------------------
# semantic checks and building


def load_config(path: str | Path, *, root: str | Path | None = None) -> Config:
    """Read and validate ``path``; paths in it are relative to ``root`` (default: its folder)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise file_error(str(path), "no such file") from None
    except IsADirectoryError:
        raise file_error(str(path), "is a directory, not a file") from None
    except PermissionError:
        raise file_error(str(path), "cannot read: permission denied") from None
    except OSError as e:
        raise file_error(str(path), f"cannot read: {e.strerror or 'input/output error'}") from None
    text = decode(data, str(path))
    return parse_config(text, file=str(path), root=Path(root) if root is not None else p.parent)


def config_problems(path: str | Path, *, root: str | Path | None = None
                    ) -> tuple[Problem, ...]:
    """Every problem of the config at ``path`` in document order; () when it is valid."""
    try:
        load_config(path, root=root)
    except ConfigError as e:
        return e.problems
    return ()


def find_config(root: str | Path) -> Path:
    """``.promoter.yaml`` (or ``.yml``) at the root of the repository ``root``."""
    for name in CONFIG_NAMES:
        candidate = Path(root) / name
        if candidate.is_file():
            return candidate
    raise file_error(str(Path(root) / CONFIG_NAMES[0]), "no such file")


def parse_config(text: str, *, file: str = CONFIG_NAMES[0], root: Path | None = None) -> Config:
    """Validate ``text`` (the content of ``file``) and build the :class:`Config`.

    With ``root``, paths are also checked against the file system (symlinks leaving the
    repository are refused); without it only their spelling is checked.
    """
    doc = _compose(text, file)
    _check_schema(doc)
    config = _Builder(doc, root).build() if isinstance(doc.data, dict) else None
    _check_no_secrets(doc)  # last: of several reasons for one key, this one is shown
    if doc.problems or config is None:
        raise problems_error(doc.problems)
    return config


# TagPolicy's complaint -> the key it is about
_POLICY_WORDS = (("semver range", "semver"), ("prerelease", "prerelease"),
                 ("max-update", "max-update"), ("order", "order"), ("min-age", "min-age"))
_GO_GROUP = re.compile(r"\(\?<(?![=!])")  # (?<version>...) as Go and JS write it
_UNSAFE_PATH = re.compile(r"\\|\x00")


class _Builder:
    def __init__(self, doc: _Doc, root: Path | None) -> None:
        self.doc = doc
        self.root = root
        self.data: dict[str, Any] = doc.data
        # when the schema found problems, data may not have the shape the checks below expect:
        # a check that trips over it is skipped (the schema said why)
        self.lenient = bool(doc.problems)

    def err(self, path: KeyPath, message: str, *, key: bool = False) -> ConfigError:
        return self.doc.error(path, message, key=key)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Record the problems of one part (an image, the forge, ...) and go on with the next."""
        try:
            yield
        except ConfigError as e:  # what a check says of a value of the wrong type is an echo
            self.doc.problems.extend(p for p in e.problems if p.key not in self.doc.mistyped)
        except Exception:  # a check tripping over data the schema refused (.inf as a count)
            if not self.lenient:  # a shape the schema let through: a bug, not an input error
                raise

    def build(self) -> Config:
        forge, group = Forge(), Group.IMAGE
        envs: tuple[Environment, ...] = ()
        images: tuple[Image, ...] = ()
        registries: tuple[Registry, ...] = ()
        pull_requests, commit, dashboard = PullRequests(), Commit(), Dashboard()
        with self.collect():
            forge = self.forge()
        with self.collect():
            group = Group(self.data.get("pull-requests", {}).get("group", "image"))
        with self.collect():
            envs = self.environments(forge.base_branch)
        with self.collect():
            images = self.images(envs)
        with self.collect():
            registries = self.registries()
        with self.collect():
            pull_requests = self.pull_requests(group)
        with self.collect():
            commit = self.commit(group)
        with self.collect():
            dashboard = self.dashboard()
        bundles: tuple[Bundle, ...] = ()
        with self.collect():
            bundles = self.bundles(images)
        return Config(path=self.doc.file, root=str(self.root) if self.root else ".",
                      environments=envs, images=images, registries=registries, forge=forge,
                      pull_requests=pull_requests, commit=commit, dashboard=dashboard,
                      bundles=bundles)

    # -- bundles -------------------------------------------------------------------------------

    def bundles(self, images: tuple[Image, ...]) -> tuple[Bundle, ...]:
        """``bundles[]``: known images, each in one bundle at most, names apart from images'
        (a bundle's name takes an image's place in branch names and titles)."""
        names = [i.name for i in images]
        out: list[Bundle] = []
        owner: dict[str, int] = {}  # image -> the bundle index it is in
        for i, b in enumerate(self.data.get("bundles", ())):
            at: KeyPath = ("bundles", i)
            with self.collect():
                name = b["name"]
                if any(o.name == name for o in out):
                    raise self.err((*at, "name"), f"duplicate bundle {name!r}")
                if name in names:
                    raise self.err((*at, "name"), f"{name!r} is an image's name; give the "
                                   "bundle its own (it names branches and pull requests)")
                for j, image in enumerate(b["images"]):
                    if image not in names:
                        raise self.err((*at, "images", j), f"unknown image {image!r}"
                                       f"{_did_you_mean(image, names)}")
                    if image in owner:
                        first = owner[image]
                        raise self.err((*at, "images", j), f"{image!r} is in bundle "
                                       f"{out[first].name!r} already (bundles[{first}]); an "
                                       "image belongs to one bundle at most")
                for image in b["images"]:
                    owner[image] = len(out)
                out.append(Bundle(name=name, images=tuple(b["images"])))
        return tuple(out)

    # -- paths ---------------------------------------------------------------------------------

    def path(self, at: KeyPath, text: str, *, glob: bool = False) -> str:
        pure = PurePosixPath(text)
        if _UNSAFE_PATH.search(text):
            raise self.err(at, "write paths with '/' only")
        if pure.is_absolute() or re.match(r"^[A-Za-z]:", text):
            raise self.err(at, f"{text!r} is absolute; paths are relative to the repository root")
        if ".." in pure.parts:
            raise self.err(at, f"{text!r} leaves the repository ('..')")
        if ".git" in pure.parts:
            raise self.err(at, f"{text!r} points into .git")
        norm = str(pure)
        if self.root is not None:
            literal = "/".join(pure.parts[:_first_glob_part(pure.parts)]) or "." if glob else norm
            root = self.root.resolve()
            resolved = (root / literal).resolve()
            if resolved != root and root not in resolved.parents:
                raise self.err(at, f"{text!r} leaves the repository through a symlink")
        return norm

    # -- environments --------------------------------------------------------------------------

    def environments(self, base: str) -> tuple[Environment, ...]:
        raw = self.data["environments"]
        items: list[dict[str, Any]] = [{"name": e} if isinstance(e, str) else e for e in raw]
        seen: dict[str, int] = {}
        any_track = any("track" in e for e in items)
        out = []
        for i, e in enumerate(items):
            at: KeyPath = ("environments", i)
            with self.collect():
                name = e["name"]
                if name in seen:
                    raise self.err(at, f"duplicate environment {name!r} "
                                   f"(also environments[{seen[name]}])")
                seen[name] = i
                branch = e.get("branch", base)
                self.check_ref((*at, "branch"), branch)
                paths = tuple(self.path((*at, "paths", j), p, glob=True)
                              for j, p in enumerate(e.get("paths", ())))
                track = bool(e.get("track", False)) if any_track else i == 0
                out.append(Environment(name=name, branch=branch, paths=paths, track=track,
                                       sources=_sources(e, items, i),
                                       gates=self.gates((*at, "gates"), e.get("gates", {})),
                                       commenters=Commenters(**{
                                           k: tuple(v) for k, v in
                                           e.get("allowed-commenters", {}).items()}),
                                       health_statuses=tuple(
                                           e.get("health", {}).get("statuses", ())),
                                       health_argocd=self.argocd(
                                           (*at, "health", "argocd"),
                                           e.get("health", {}).get("argocd"))))
        with self.collect():
            self.check_graph(items, out)
        return tuple(out)

    def check_graph(self, items: list[dict[str, Any]], envs: list[Environment]) -> None:
        """Every ``from:`` names another known environment and the graph has no cycle."""
        names = [str(e.get("name")) for e in items]
        for i, e in enumerate(items):
            given = e.get("from")
            if given is None:
                continue
            at: KeyPath = ("environments", i, "from")
            for j, source in enumerate([given] if isinstance(given, str) else given):
                where: KeyPath = at if isinstance(given, str) else (*at, j)
                if source == e.get("name"):
                    raise self.err(where, f"{source!r} cannot be promoted from itself")
                if source not in names:
                    raise self.err(where, f"unknown environment {source!r}"
                                   f"{_did_you_mean(source, names)}")
        cycle = _cycle({e.name: e.sources for e in envs})
        if cycle:
            # at a from: in the cycle (without any, the file order itself would be acyclic)
            first = next(i for i in map(names.index, cycle) if "from" in items[i])
            raise self.err(("environments", first, "from"),
                           f"the promotion graph has a cycle: {' -> '.join(cycle)}")

    def argocd(self, at: KeyPath, a: Mapping[str, Any] | None) -> ArgoCD | None:
        if a is None:
            return None
        ca = self.path((*at, "ca-file"), a["ca-file"]) if "ca-file" in a else None
        if ca is not None and a.get("insecure"):
            raise self.err((*at, "insecure"), "give either ca-file or insecure, not both",
                           key=True)
        return ArgoCD(url=a["url"].rstrip("/"), application=a["application"],
                      token_env=a["token-env"], project=a.get("project"),
                      insecure=bool(a.get("insecure", False)), ca_file=ca)

    def duration(self, at: KeyPath, text: str) -> timedelta:
        try:
            return parse_duration(text)
        except DurationError as e:
            raise self.err(at, f"{e.reason}; write a duration such as {EXAMPLES}") from None

    def check_ref(self, at: KeyPath, name: str) -> None:
        if not valid_branch_name(name):
            raise self.err(at, f"{name!r} is not a valid git branch name")

    def gates(self, at: KeyPath, g: dict[str, Any]) -> Gates:
        return Gates(
            soak=self.duration((*at, "soak"), g["soak"]) if "soak" in g else None,
            require_checks=tuple(g.get("require-checks", ())),
            auto=Auto(g.get("auto", "all")),
            min_approvals=g.get("min-approvals", 0),
            freeze=tuple(self.freeze((*at, "freeze", i), w)
                         for i, w in enumerate(g.get("freeze", ()))),
            hold_label=g.get("hold-label", DEFAULT_HOLD_LABEL),
            signature=self.signature((*at, "signature"), g["signature"])
            if "signature" in g else None)

    def signature(self, at: KeyPath, s: dict[str, Any]) -> SignaturePolicy:
        """``gates.signature``: key files and keyless signers, each file inside the repository
        and (with a root) readable as what it is meant to be."""
        keyless = []
        for i, k in enumerate(s.get("keyless", ())):
            where: KeyPath = (*at, "keyless", i)
            self.exclusive(where, k, ("identity", "identity-regexp"))
            self.exclusive(where, k, ("issuer", "issuer-regexp"))
            for key in ("identity-regexp", "issuer-regexp"):
                if key in k:
                    self.regex((*where, key), k[key], groups=())
            keyless.append(KeylessSigner(
                roots=self.pem((*where, "roots"), k["roots"], certificates=True),
                identity=k.get("identity"), identity_regexp=k.get("identity-regexp"),
                issuer=k.get("issuer"), issuer_regexp=k.get("issuer-regexp"),
                rekor_keys=tuple(self.pem((*where, "rekor-keys", j), p)
                                 for j, p in enumerate(k.get("rekor-keys", ())))))
        return SignaturePolicy(keys=tuple(self.pem((*at, "keys", i), p)
                                          for i, p in enumerate(s.get("keys", ()))),
                               keyless=tuple(keyless),
                               docker_reference=s.get("docker-reference"))

    def pem(self, at: KeyPath, text: str, *, certificates: bool = False) -> str:
        """A repository path to a PEM public key (or certificate bundle); with a root, the file
        is read and parsed now, so a wrong one is an error at its key, not a refused image."""
        path = self.path(at, text)
        if self.root is None:
            return path
        try:
            data = (self.root / path).read_bytes()
        except OSError as e:
            raise self.err(at, f"{text!r}: cannot read it ({e.strerror or 'unreadable'})"
                           ) from None
        try:
            (load_roots if certificates else load_key)(path, data)
        except InputError as e:
            raise self.err(at, str(e)) from None
        return path

    def freeze(self, at: KeyPath, w: dict[str, Any]) -> FreezeWindow:
        if "start" in w:
            start, end = (datetime.fromisoformat(w[k].replace(" ", "T")) for k in ("start", "end"))
            if end <= start:
                raise self.err((*at, "end"), "must be after start")
            return FreezeWindow(start=start, end=end, reason=w.get("reason", ""))
        tz = w.get("timezone", "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.err((*at, "timezone"), f"unknown time zone {tz!r}") from None
        to = w.get("to")
        return FreezeWindow(days=tuple(_DAYS.index(d) for d in w["days"]),
                            start_time=_clock(w.get("from", "00:00")) or time(0, 0),
                            end_time=_clock(to) if to is not None else None,
                            timezone=tz, reason=w.get("reason", ""))

    # -- images --------------------------------------------------------------------------------

    def images(self, envs: tuple[Environment, ...]) -> tuple[Image, ...]:
        defaults = self.data.get("defaults", {}).get("policy", {})
        names: dict[str, str] = {}
        out = []
        # every name the file gives, so that an environment with a mistake of its own does not
        # make each image's targets for it "unknown" as well
        env_names = [e if isinstance(e, str) else e.get("name") for e in self.data["environments"]
                     if isinstance(e, str | dict)]
        if not self.data.get("images") and not self.data.get("charts"):
            raise self.err((), "missing required key 'images' (or 'charts', or both)")
        entries: list[tuple[KeyPath, dict[str, Any]]] = [
            (("images", i), raw) for i, raw in enumerate(self.data.get("images", ()))]
        entries += [(("charts", i), raw) for i, raw in enumerate(self.data.get("charts", ()))]
        for at, raw in entries:
            what = "chart" if at[0] == "charts" else "image"
            with self.collect():
                chart = self.chart(at, raw) if what == "chart" else None
                repo = (chart.ref if chart is not None else
                        self.repository((*at, "repository"), raw["repository"]))
                name = raw.get("name") or (chart.chart if chart is not None
                                           else repo.repository.rsplit("/", 1)[-1])
                if name in names:
                    raise self.err(at, f"duplicate {what} {name!r} (also {names[name]}); "
                                   "give one a distinct name")
                names[name] = format_path(at)
                policy, platform = self.policy(at, raw.get("policy", {}), defaults)
                if chart is not None and platform is not None:
                    raise self.err((*at, "policy", "platform"), "a chart has no platforms; "
                                   "platform is for images", key=True)
                if chart is not None and policy.strategy == "digest":
                    raise self.err((*at, "policy", "strategy"), "a chart version has no digest "
                                   "to follow; digest is for images")
                if "targets" in raw:
                    targets = []
                    for env, items in raw["targets"].items():
                        if env not in env_names:
                            raise self.err((*at, "targets", env), f"unknown environment {env!r}"
                                           f"{_did_you_mean(env, env_names)}", key=True)
                        targets.append((env, tuple(self.target((*at, "targets", env, j), t)
                                                   for j, t in enumerate(items))))
                    targets.sort(key=lambda t: env_names.index(t[0]))
                else:
                    bare = next((j for j, e in enumerate(envs) if not e.paths), None)
                    if bare is not None:
                        raise self.err(at, f"no targets, and environment {envs[bare].name!r} "
                                       f"has no paths to discover the {what} in; add "
                                       f"targets or environments[{bare}].paths")
                    targets = [(e.name, (DiscoverTarget(paths=e.paths),)) for e in envs]
                out.append(Image(name=name, repository=repo, policy=policy, platform=platform,
                                 source=raw.get("source"),
                                 targets=tuple(targets), discovered="targets" not in raw,
                                 include_untagged=raw.get("include-untagged", False),
                                 chart=chart))
        return tuple(out)

    def chart(self, at: KeyPath, raw: dict[str, Any]) -> ChartSource:
        """``charts[i]``'s chart and repository (``oci://host/path`` or ``http(s)://...``)."""
        url = str(raw["repository"]).strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        host = rest.partition("/")[0]
        if not sep or scheme.lower() not in ("oci", "http", "https") or not host or "@" in host:
            raise self.err((*at, "repository"), "not a chart repository: give "  # no echo:
                           "oci://host/path or an http(s):// Helm repository URL (no "  # it may
                           "credentials in it)")  # hold a password
        source = ChartSource(chart=str(raw["chart"]), repository=url)
        if ImageRef.try_parse(source.ref.name) is None:
            raise self.err((*at, "repository"), f"{url!r} with chart {source.chart!r} does not "
                           "make a valid repository path (lower-case letters, digits, . _ -)")
        return source

    def repository(self, at: KeyPath, text: str) -> ImageRef:
        try:
            ref = ImageRef.parse(text)
        except InputError:
            raise self.err(at, f"{text!r} is not an image repository") from None
        if ref.tag or ref.digest:
            raise self.err(at, "give the repository without tag or digest; the policy chooses "
                           "the tag")
        return ref

    def target(self, at: KeyPath, t: dict[str, Any]) -> Target:
        if "discover" in t:
            return DiscoverTarget(
                paths=tuple(self.path((*at, "discover", i), p, glob=True)
                            for i, p in enumerate(t["discover"])),
                kinds=tuple(Kind(k) for k in t.get("kinds", ())))
        file = self.path((*at, "file"), t["file"])
        if "key" in t:
            return KeyTarget(file=file, key=tuple(t["key"].split(".")))
        return FileTarget(file=file, kind=Kind(t["kind"]) if "kind" in t else None)

    def policy(self, at: KeyPath, own: dict[str, Any], defaults: dict[str, Any]
               ) -> tuple[TagPolicy, str | None]:
        """The image's policy over ``defaults.policy``, checked by :class:`TagPolicy` itself."""
        merged = {**defaults, **own}

        def where(key: str) -> KeyPath:
            return (*at, "policy", key) if key in own else ("defaults", "policy", key)

        for key, check in (("semver", self.semver_range), ("allow", self.allow_regex)):
            if key in merged:
                check(where(key), merged[key])
        for i, pattern in enumerate(merged.get("ignore", ())):
            if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
                self.regex((*where("ignore"), i), pattern[1:-1], groups=())
        min_age = (self.duration(where("min-age"), merged["min-age"])
                   if "min-age" in merged else None)
        try:
            policy = TagPolicy(
                strategy=merged.get("strategy", "semver"), range=merged.get("semver"),
                allow=merged.get("allow"), ignore=tuple(merged.get("ignore", ())),
                prerelease=merged.get("prerelease", False),
                max_update=UpdateType(merged["max-update"]) if "max-update" in merged else None,
                order=Order(merged.get("order", "asc")),
                min_age=min_age)
        except InputError as e:  # combinations: semver options on another strategy, ...
            culprit = next((key for word, key in _POLICY_WORDS if word in str(e)), "strategy")
            raise self.err(where(culprit), str(e)) from None
        return policy, merged.get("platform")

    def semver_range(self, at: KeyPath, text: str) -> None:
        try:
            Range.parse(text)
        except InputError as e:
            raise self.err(at, str(e)) from None

    def allow_regex(self, at: KeyPath, pattern: str) -> None:
        self.regex(at, _GO_GROUP.sub("(?P<", pattern), groups=("version",))

    def regex(self, at: KeyPath, pattern: str, *, groups: tuple[str, ...]) -> None:
        try:
            compiled = re.compile(pattern)
        except re.error as e:
            raise self.err(at, f"invalid regular expression: {e}") from None
        extra = sorted(set(compiled.groupindex) - set(groups))
        if extra:
            allowed = f"only (?P<{groups[0]}>...)" if groups else "no named groups"
            raise self.err(at, f"unknown named group {extra[0]!r}; {allowed} is allowed")

    # -- registries, forge -------------------------------------------------------------------

    def registries(self) -> tuple[Registry, ...]:
        out: list[Registry] = []
        hosts: list[str] = []
        for i, r in enumerate(self.data.get("registries", ())):
            at: KeyPath = ("registries", i)
            with self.collect():
                if r["host"] in hosts:
                    raise self.err((*at, "host"), f"duplicate registry {r['host']!r}")
                hosts.append(r["host"])
                if "password-env" in r and "username-env" not in r:
                    raise self.err((*at, "password-env"), "needs username-env as well")
                self.exclusive(at, r, ("password-env", "token-env"))
                self.exclusive(at, r, ("ca-file", "ca-file-env"))
                ca = self.path((*at, "ca-file"), r["ca-file"]) if "ca-file" in r else None
                rate = r.get("requests-per-second")
                if rate is not None and not math.isfinite(rate):  # .inf and .nan pass the schema
                    raise self.err((*at, "requests-per-second"), "must be a finite number")
                concurrency = r.get("concurrency")  # the schema lets 2.0 pass as an integer
                out.append(Registry(host=r["host"], username_env=r.get("username-env"),
                                    password_env=r.get("password-env"),
                                    token_env=r.get("token-env"),
                                    insecure=r.get("insecure", False), ca_file=ca,
                                    ca_file_env=r.get("ca-file-env"),
                                    concurrency=None if concurrency is None else int(concurrency),
                                    requests_per_second=None if rate is None else float(rate)))
        return tuple(out)

    def exclusive(self, at: KeyPath, m: Mapping[str, Any], keys: tuple[str, str]) -> None:
        if all(k in m for k in keys):
            raise self.err((*at, keys[1]), f"give either {keys[0]} or {keys[1]}, not both",
                           key=True)

    def forge(self) -> Forge:
        f: dict[str, Any] = self.data.get("forge", {})
        at: KeyPath = ("forge",)
        kind = ForgeType(f.get("type", "local"))
        need = {ForgeType.GITHUB: "repository", ForgeType.GITLAB: "project"}.get(kind)
        if need and need not in f:
            raise self.err(at, f"forge type {kind.value} needs {need}")
        for key in ("repository", "project", "url", "token-env", "app"):
            if key in f and key != need and (key in ("repository", "project") or
                                            kind is ForgeType.LOCAL):
                raise self.err((*at, key), f"does not apply to forge type {kind.value}", key=True)
        app = None
        if "app" in f:
            a = f["app"]
            if kind is not ForgeType.GITHUB:
                raise self.err((*at, "app"), "GitHub Apps need forge type github", key=True)
            self.exclusive(at, f, ("token-env", "app"))
            if ("id" in a) == ("id-env" in a):
                raise self.err((*at, "app"), "give exactly one of id and id-env")
            app = GitHubApp(id=a.get("id"), id_env=a.get("id-env"),
                            private_key_env=a["private-key-env"],
                            installation_id=a.get("installation-id"))
        base = f.get("base-branch", "main")
        self.check_ref((*at, "base-branch"), base)
        project = f.get("project")
        return Forge(type=kind, url=f.get("url"), repository=f.get("repository"),
                     project=str(project) if project is not None else None, base_branch=base,
                     token_env=f.get("token-env"), app=app)

    # -- pull requests, commits ----------------------------------------------------------------

    def template(self, at: KeyPath, text: str, which: str, group: Group) -> str:
        try:
            names = template_fields(text)
        except ValueError as e:
            msg = str(e) if "placeholder" in str(e) else (
                f"{e}; write {{{{ and }}}} for literal braces")
            raise self.err(at, msg) from None
        allowed = allowed_fields(which, group)
        for name in names:
            if name not in allowed:
                hint = ""
                if which == "branch" and name in IMAGE_FIELDS:
                    hint = "; a branch must not change when a newer version supersedes the PR"
                elif name in IMAGE_FIELDS + BRANCH_FIELDS:
                    hint = " when pull requests are grouped by environment"
                raise self.err(at, f"unknown placeholder {{{name}}}{hint}; "
                               f"use {', '.join('{' + a + '}' for a in allowed)}")
        if which == "branch":
            required = ("env", "image") if group is Group.IMAGE else ("env",)
            for name in required:
                if name not in names:
                    raise self.err(at, f"must contain {{{name}}} so that each pull request "
                                   "has its own branch")
            self.check_ref(at, render_template(text, dict.fromkeys(names, "x")))
        return text

    def pull_requests(self, group: Group) -> PullRequests:
        p: dict[str, Any] = self.data.get("pull-requests", {})
        at: KeyPath = ("pull-requests",)
        default = PullRequests()
        if group is Group.ENVIRONMENT:
            default = PullRequests(branch="promoter/{env}", title="Promote {count} images to {env}")

        def tmpl(key: str, fallback: str) -> str:
            return self.template((*at, key), p.get(key, fallback), key, group)

        lists: dict[str, tuple[str, ...]] = {
            k.replace("-", "_"): tuple(p[k]) for k in
            ("labels", "reviewers", "team-reviewers", "assignees") if k in p}
        return PullRequests(
            branch=tmpl("branch", default.branch), title=tmpl("title", default.title),
            body=self.template((*at, "body"), p["body"], "body", group) if "body" in p else None,
            draft=p.get("draft", False), auto_merge=p.get("auto-merge", False),
            merge_method=p.get("merge-method", "merge"), group=group,
            max_open=p.get("max-open", 0), max_per_hour=p.get("max-per-hour", 0),
            **{"labels": default.labels, **lists})

    def dashboard(self) -> Dashboard:
        d = self.data.get("dashboard", False)
        if isinstance(d, bool):
            return Dashboard(enabled=d)
        return Dashboard(enabled=d.get("enabled", True), title=d.get("title", DASHBOARD_TITLE))

    def commit(self, group: Group) -> Commit:
        c: dict[str, Any] = self.data.get("commit", {})
        m = re.fullmatch(r"(?P<name>.+?) <(?P<email>[^<>]+)>", c.get("author", DEFAULT_AUTHOR))
        if m is None:  # the schema's pattern said so already
            raise self.err(("commit", "author"), "must be 'Name <email>'")
        return Commit(author=Identity(name=m["name"], email=m["email"]),
                      message=self.template(("commit", "message"), c.get("message", "{title}"),
                                            "message", group),
                      sign_off=c.get("sign-off", False))


def _sources(e: Mapping[str, Any], items: list[dict[str, Any]], i: int) -> tuple[str, ...]:
    """``from:`` as written, else the environment before (none for the first)."""
    given = e.get("from")
    if given is not None:
        return (given,) if isinstance(given, str) else tuple(given)
    return (str(items[i - 1]["name"]),) if i else ()


def _cycle(sources: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """A cycle of the graph ``target -> its sources``, written in promotion order and closed
    (``a -> b -> a``); () when there is none. Depth-first, in the file's order."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> tuple[str, ...]:
        state[name] = 1
        path.append(name)
        for s in sources.get(name, ()):
            if state.get(s) == 1:
                loop = path[path.index(s):]
                return (*reversed(loop), loop[-1])  # promotion runs source -> target
            if s in sources and s not in state:
                found = visit(s)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return ()

    for name in sources:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return ()


def _first_glob_part(parts: tuple[str, ...]) -> int:
    return next((i for i, p in enumerate(parts) if re.search(r"[*?\[]", p)), len(parts))


def _clock(text: str) -> time | None:
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


