"""What a poll (and later a promotion) would change, as plain data: pure, no I/O.

Three steps, each a function over values:

1. :func:`locate`: where each configured image is pinned in one environment's files (the
   editing engine's finders over the environment's targets) and which tag/digest it runs;
2. the caller asks the registry and the policy for the best candidate (:class:`Target` values
   carry what it needs: the image, its policy and the current tag);
3. :func:`plan_updates`: the file edits for every image that should move, grouped into
   :class:`PullRequestPlan` values with deterministic branch names, titles, bodies and commit
   messages from the config's templates.

Reading files is given as a callable, so this module works on a git revision, a directory or a
dict alike; the same :class:`Plan` value feeds ``promoter plan``, the commit and the PR body.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from promoter.config import (
    Config,
    DiscoverTarget,
    Environment,
    FileTarget,
    Group,
    Image,
    KeyTarget,
    render_template,
)
from promoter.config import Target as ConfigTarget
from promoter.edit import Change, Site, apply_changes, find_sites
from promoter.edit.files import is_yaml_name
from promoter.edit.model import Kind
from promoter.edit.ops import is_unpinned, matches
from promoter.edit.yamlpos import (
    Node,
    ScalarNode,
    SequenceNode,
    mapping_get,
    parse_yaml,
    site_from_parts,
)
from promoter.errors import PromoterError
from promoter.refs import ImageRef
from promoter.versions import UpdateType

Reader = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    """One site of an image in one file."""

    file: str
    site: Site
    named: bool = False  # a ``{file, key}`` target names this very key: asked for explicitly


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    """Where ``image`` is pinned in ``env`` and what it runs there."""

    image: Image
    env: str
    pins: tuple[Pin, ...]
    tag: str | None  # the tag most pins hold (None: none holds one)
    digest: str | None
    problems: tuple[str, ...] = ()  # files that could not be read, disagreeing pins...

    @property
    def ref(self) -> ImageRef:
        """The repository with the current tag and digest."""
        return self.image.repository.with_tag(self.tag).with_digest(self.digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """Where an image should go in an environment: a tag and (when known) its digest."""

    tag: str
    digest: str | None = None
    pin: bool = False  # set the digest even where a site pins none (a promotion copies both)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageUpdate:
    """One image moving in one environment."""

    image: str  # the config name
    repository: str  # registry/repository
    env: str
    source_env: str | None  # None: from the registry
    old_tag: str | None
    new_tag: str
    old_digest: str | None
    new_digest: str | None
    update: UpdateType
    files: tuple[str, ...]
    source: str | None = None  # source repository web URL (changelog links)

    @property
    def version(self) -> str:
        return self.new_tag


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequestPlan:
    """One branch and pull request: the files it sets and why."""

    env: str
    source_env: str | None
    base: str  # the branch the PR targets
    branch: str
    title: str
    message: str  # the commit message
    updates: tuple[ImageUpdate, ...]
    files: Mapping[str, str]  # path -> new text
    diffs: Mapping[str, str] = field(default_factory=dict)  # path -> old text

    @property
    def key(self) -> str:
        return self.branch


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    pull_requests: tuple[PullRequestPlan, ...]
    skipped: tuple[tuple[str, str], ...] = ()  # (image or file, reason)


# --- locating ---------------------------------------------------------------------------------

_GLOB = re.compile(r"[*?\[]")


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans folders, ``*`` and ``?`` stay inside one."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            c = pattern[i]
            out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else
                       fnmatch.translate(c)[4:-3] if c == "[" else re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def target_files(target: ConfigTarget, files: Sequence[str]) -> tuple[str, ...]:
    """The repository files a target names: a file itself, or the YAML files below folders and
    matching globs."""
    if isinstance(target, FileTarget | KeyTarget):
        return (target.file,)
    out: dict[str, None] = {}
    for path in target.paths:
        path = path.rstrip("/")
        if _GLOB.search(path):
            rx = _glob_regex(path)
            out.update((f, None) for f in files if rx.match(f))
        elif path in files:
            out[path] = None
        else:
            out.update((f, None) for f in files
                       if f.startswith(path + "/") and is_yaml_name(f.rpartition("/")[2]))
    return tuple(out)


def _key_matches(site: Site, key: tuple[str, ...]) -> bool:
    path = tuple(str(p) for p in site.yaml_path)
    return path[: len(key)] == key


def _key_site(text: str, path: str, key: tuple[str, ...], image: Image) -> tuple[Site, ...]:
    """A tag scalar at an explicit key path whose mapping does not name the image (the chart
    does): the config names it, so the scalar is the image's tag."""
    yf = parse_yaml(text, path)
    for doc, root in enumerate(yf.documents):
        node: Node | None = root
        for k in key:
            if isinstance(node, SequenceNode) and k.isdigit() and int(k) < len(node.value):
                node = node.value[int(k)]
            else:
                node = mapping_get(node, k)
        if isinstance(node, ScalarNode):
            site = site_from_parts(yf, Kind.HELM, name=image.repository.name, tag_node=node,
                                   path=key, document=doc)
            if site is not None:
                return (site,)
    return ()


SiteFinder = Callable[[str, str, tuple[str, ...]], tuple[Site, ...]]


def cached_finder() -> SiteFinder:
    """A :data:`SiteFinder` that parses each (text, path, helm paths) once: locating many
    images in the same files then costs one parse per file, not one per image and file.
    Failures are remembered too."""
    memo: dict[tuple[str, str, tuple[str, ...]], tuple[Site, ...] | PromoterError] = {}

    def find(text: str, path: str, helm_paths: tuple[str, ...]) -> tuple[Site, ...]:
        key = (path, text, tuple(helm_paths))
        if key not in memo:
            try:
                memo[key] = find_sites(text, path, helm_paths=helm_paths)
            except PromoterError as e:
                memo[key] = e
        found = memo[key]
        if isinstance(found, PromoterError):
            raise found
        return found

    return find


def locate(image: Image, env: str, files: Sequence[str], read: Reader, *,
           find: SiteFinder | None = None) -> Located:
    """Every pin of ``image`` in ``env``'s targets (pure over ``files`` and ``read``).

    ``find(text, path, helm_paths)`` replaces :func:`find_sites`, e.g. with a cache when many
    images are located in the same texts (status and rollback walk a file's history)."""
    pins: list[Pin] = []
    problems: list[str] = []
    seen: dict[tuple[str, int], int] = {}  # place -> index in pins
    wanted = str(image.repository)
    for target in image.targets_for(env):
        helm_paths = (".".join(target.key),) if isinstance(target, KeyTarget) else ()
        kinds = (() if isinstance(target, KeyTarget) else
                 (target.kind,) if isinstance(target, FileTarget) and target.kind else
                 target.kinds if isinstance(target, DiscoverTarget) else ())
        for path in target_files(target, files):
            try:
                text = read(path)
            except PromoterError as e:
                problems.append(f"{path}: {e}")
                continue
            if text is None:
                if not isinstance(target, DiscoverTarget):
                    problems.append(f"{path}: no such file")
                continue
            try:
                sites = (find(text, path, helm_paths) if find is not None else
                         find_sites(text, path, helm_paths=helm_paths))
            except PromoterError as e:
                problems.append(str(e))
                continue
            if isinstance(target, KeyTarget) and not any(_key_matches(x, target.key)
                                                         for x in sites):
                sites = _key_site(text, path, target.key, image)
            for site in sites:
                if isinstance(target, KeyTarget):
                    ok = _key_matches(site, target.key)
                else:
                    ok = (not kinds or site.kind in kinds) and matches(site, wanted)
                span = site.tag or site.whole or site.digest or site.name_span
                where = (path, span.start if span else -1)
                named = isinstance(target, KeyTarget)
                if ok and where not in seen:
                    seen[where] = len(pins)
                    pins.append(Pin(file=path, site=site, named=named))
                elif ok and named:  # found by shape first, and named by a key as well
                    pins[seen[where]] = Pin(file=path, site=pins[seen[where]].site, named=True)
    tag, digest = _current(pins, problems)
    return Located(image=image, env=env, pins=tuple(pins), tag=tag, digest=digest,
                   problems=tuple(problems))


def _current(pins: Sequence[Pin], problems: list[str]) -> tuple[str | None, str | None]:
    """The tag/digest the pins hold; the most common one when they disagree (and say so)."""
    def most(values: list[str]) -> str | None:
        if not values:
            return None
        counts = {v: values.count(v) for v in values}
        best = max(counts, key=lambda v: (counts[v], -values.index(v)))
        if len(counts) > 1:
            problems.append(f"pins disagree: {', '.join(sorted(counts))}; taking {best}")
        return best

    return (most([p.site.ref.tag for p in pins if p.site.ref.tag]),
            most([p.site.ref.digest for p in pins if p.site.ref.digest]))


def hold_untagged(located: Located) -> tuple[Located, tuple[str, ...]]:
    """``located`` without the pins that name no tag and no digest (``image: busybox``, a Helm
    ``tag: ""`` meaning the chart's appVersion), and a ``file:line:col`` note for each.

    Pinning one silently changes what runs, so a poll or a promotion sets one only when the
    config asks: the image's ``include-untagged: true`` or a ``{file, key}`` target naming
    it. Explicit kinds (Kustomize entries, Argo CD overrides, markers) are never held."""
    if located.image.include_untagged:
        return located, ()
    kept: list[Pin] = []
    notes: list[str] = []
    for pin in located.pins:
        if pin.named or not is_unpinned(pin.site):
            kept.append(pin)
            continue
        site = pin.site
        span = site.tag or site.whole or site.name_span or site.digest or site.at
        where = f"{pin.file}:{span.line}:{span.column}" if span else pin.file
        notes.append(f"{where}: {site.name} has no tag or digest in {located.env} (the default "
                     "decides what runs); left alone: include-untagged: true on the image or a "
                     "target naming this key pins it")
    if not notes:
        return located, ()
    return replace(located, pins=tuple(kept)), tuple(notes)


# --- planning ---------------------------------------------------------------------------------

def needs_update(located: Located, wanted: Wanted) -> bool:
    """Whether any pin differs from ``wanted`` (a pinned digest counts; an unpinned one not)."""
    for pin in located.pins:
        ref = pin.site.ref
        if ref.tag != wanted.tag and (pin.site.tag or pin.site.whole):
            return True
        if wanted.digest and ref.digest and ref.digest != wanted.digest:
            return True
        if wanted.digest and ref.digest is None and (located.image.policy.strategy == "digest"
                                                     or wanted.pin):
            return True
    return False


def _changes(located: Located, wanted: Wanted) -> dict[str, list[Change]]:
    by_file: dict[str, list[Change]] = {}
    pin_digest = located.image.policy.strategy == "digest" or wanted.pin
    for pin in located.pins:
        site = pin.site
        digest = wanted.digest if (site.digest is not None or site.ref.digest or pin_digest) \
            else None
        by_file.setdefault(pin.file, []).append(Change(site=site, tag=wanted.tag, digest=digest))
    return by_file


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "image"


def branch_name(cfg: Config, env: Environment, image: str) -> str:
    """The deterministic branch of ``image``'s pull request into ``env``: its bundle's, when it
    is in one (``image`` is unused when pull requests are grouped per environment)."""
    values = {"env": env.name, "base": env.branch}
    if cfg.pull_requests.group is Group.IMAGE:
        values["image"] = slug(cfg.unit(image))
    return render_template(cfg.pull_requests.branch, values)


def with_bundles(cfg: Config, images: Sequence[str]) -> tuple[str, ...]:
    """``images`` and the other members of their bundles (a bundle is asked for whole)."""
    out = dict.fromkeys(images)
    for name in images:
        bundle = cfg.bundle_of(name)
        out.update(dict.fromkeys(bundle.images if bundle else ()))
    return tuple(out)


def plan_updates(cfg: Config, moves: Sequence[tuple[Located, Wanted, UpdateType]], *,
                 read: Reader, source_env: str | None = None,
                 table: Callable[[Sequence[ImageUpdate]], str] | None = None) -> Plan:
    """Pull request plans for ``moves`` (located image, where it should go, update type).

    Images that need nothing are left out; an edit that fails verification skips that image
    (reported in ``skipped``) and never stops the others.
    """
    groups: dict[tuple[str, str], list[tuple[Located, Wanted, UpdateType]]] = {}
    skipped: list[tuple[str, str]] = []
    for located, wanted, update in moves:
        if not located.pins:
            skipped.append((located.image.name, f"not found in {located.env}"))
            continue
        if not needs_update(located, wanted):
            continue
        key = cfg.unit(located.image.name) if cfg.pull_requests.group is Group.IMAGE else ""
        groups.setdefault((located.env, key), []).append((located, wanted, update))

    plans: list[PullRequestPlan] = []
    for (env_name, _), members in groups.items():
        env = cfg.environment(env_name)
        olds: dict[str, str] = {}
        per_file: dict[str, list[Change]] = {}
        updates: list[ImageUpdate] = []
        proven: list[tuple[Located, Wanted, UpdateType, dict[str, list[Change]]]] = []
        broken: dict[str, list[str]] = {}  # bundle -> its members that cannot be edited
        for located, wanted, update in members:
            try:  # each image is proven on its own first, so one bad edit skips only it
                changes = _changes(located, wanted)
                for path, file_changes in changes.items():
                    apply_changes(_old(path, read, olds), path, file_changes)
            except PromoterError as e:
                skipped.append((located.image.name, str(e)))
                broken.setdefault(cfg.unit(located.image.name), []).append(located.image.name)
                continue
            proven.append((located, wanted, update, changes))
        for located, wanted, update, changes in proven:
            unit = cfg.unit(located.image.name)
            if unit in broken:  # a bundle moves whole or not at all
                skipped.append((located.image.name, f"bundle {unit}: "
                                f"{', '.join(broken[unit])} cannot be edited, so no member moves"))
                continue
            for path, file_changes in changes.items():
                per_file.setdefault(path, []).extend(file_changes)
            updates.append(ImageUpdate(
                image=located.image.name, repository=located.image.repository.name,
                env=env_name, source_env=source_env, old_tag=located.tag, new_tag=wanted.tag,
                old_digest=located.digest, new_digest=wanted.digest, update=update,
                files=tuple(sorted(changes)), source=located.image.source))
        try:
            texts = {p: apply_changes(olds[p], p, c) for p, c in per_file.items()}
        except PromoterError as e:  # the images' edits collide (one scalar, two values)
            skipped.extend((u.image, str(e)) for u in updates)
            continue
        changed = {p: t for p, t in texts.items() if t != olds[p]}
        if not updates or not changed:
            continue
        plans.append(_pull_request(cfg, env, source_env, tuple(updates), changed,
                                   {p: olds[p] for p in changed}, table))
    return Plan(pull_requests=tuple(plans), skipped=tuple(skipped))


_UPDATE_ORDER = (UpdateType.OTHER, UpdateType.PATCH, UpdateType.MINOR, UpdateType.MAJOR)


def _each(updates: Sequence[ImageUpdate], value: Callable[[ImageUpdate], str]) -> str:
    """One image's value; a bundle's when its members share it, else each member's."""
    values = [value(u) for u in updates]
    if len(set(values)) == 1:
        return values[0]
    return ", ".join(f"{u.image} {v}" for u, v in zip(updates, values, strict=True))


def _old(path: str, read: Reader, olds: dict[str, str]) -> str:
    if path not in olds:
        text = read(path)
        if text is None:
            raise PromoterError(f"{path}: no such file")
        olds[path] = text
    return olds[path]


def _pull_request(cfg: Config, env: Environment, source_env: str | None,
                  updates: tuple[ImageUpdate, ...], files: Mapping[str, str],
                  olds: Mapping[str, str],
                  table: Callable[[Sequence[ImageUpdate]], str] | None) -> PullRequestPlan:
    prs = cfg.pull_requests
    first = updates[0]
    values: dict[str, object] = {
        "env": env.name, "source_env": source_env or "registry", "base": env.branch,
        "count": len(updates), "images": ", ".join(u.image for u in updates),
    }
    if prs.group is Group.IMAGE:
        values.update({"version": _each(updates, lambda u: u.new_tag),
                       "from": _each(updates, lambda u: u.old_tag or ""),
                       "to": _each(updates, lambda u: u.new_tag),
                       "update": max((u.update for u in updates), key=_UPDATE_ORDER.index).value})
    branch = branch_name(cfg, env, first.image)
    if prs.group is Group.IMAGE:
        values["image"] = cfg.unit(first.image)
    title = render_template(prs.title, values)
    values["title"] = title
    values["table"] = table(updates) if table else ""
    message = render_template(cfg.commit.message, values)
    return PullRequestPlan(env=env.name, source_env=source_env, base=env.branch, branch=branch,
                           title=title, message=message, updates=updates, files=dict(files),
                           diffs=dict(olds))
