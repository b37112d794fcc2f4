"""What ``/promoter ignore ...`` told later polls to skip: ``.promoter/ignore.yaml`` (pure).

The file lives in the repository, on the base branch, so the memory is reviewed and versioned
like the rest of the configuration::

    # Versions and images promoter skips, written by /promoter ignore comment commands.
    images:
      api:
        versions: ["1.4.3"]     # exact tags
        majors: [2]             # every 2.x.y
        minors: ["3.1"]         # every 3.1.x
      worker: {all: true}       # the image altogether

:func:`apply` turns the rules into the images' policy ``ignore`` patterns (and drops ignored
images), so the policy code needs no second notion of "ignored".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from promoter.config import Config
from promoter.errors import InputError
from promoter.versions import parse_version

PATH = ".promoter/ignore.yaml"
HEADER = "# Versions and images promoter skips, written by /promoter ignore comment commands.\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    versions: tuple[str, ...] = ()
    majors: tuple[int, ...] = ()
    minors: tuple[str, ...] = ()  # "MAJOR.MINOR"
    all: bool = False

    def patterns(self) -> tuple[str, ...]:
        """Policy ``ignore`` patterns (globs, or ``/regex/``) for these rules."""
        out = [re.sub(r"([*?\[])", r"[\1]", v) for v in self.versions]
        out += [rf"/^[vV]?{m}(?:[.+_-]|$)/" for m in self.majors]
        out += [rf"/^[vV]?{re.escape(m)}(?:[.+_-]|$)/" for m in self.minors]
        return tuple(out)


Rules = Mapping[str, Rule]


def parse(text: str | None, *, file: str = PATH) -> dict[str, Rule]:
    """The rules in ``text`` (None or empty: none). InputError naming the file when malformed."""
    if not text or not text.strip():
        return {}
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as e:
        raise InputError(f"{file}: not valid YAML: {str(e).splitlines()[0]}") from None
    images = data.get("images") if isinstance(data, dict) else None
    if images is None:
        return {}
    if not isinstance(images, dict):
        raise InputError(f"{file}: images: expected a mapping of image names")
    return {str(name): _rule(file, str(name), body) for name, body in images.items()}


def _rule(file: str, name: str, body: Any) -> Rule:
    if not isinstance(body, dict):
        raise InputError(f"{file}: images.{name}: expected a mapping")

    def strings(key: str) -> tuple[str, ...]:
        value = body.get(key, [])
        if not isinstance(value, list):
            raise InputError(f"{file}: images.{name}.{key}: expected a list")
        return tuple(str(v) for v in value)

    try:
        majors = tuple(int(m) for m in strings("majors"))
    except ValueError:
        raise InputError(f"{file}: images.{name}.majors: expected numbers") from None
    return Rule(versions=strings("versions"), majors=majors, minors=strings("minors"),
                all=body.get("all") is True)


def dump(rules: Rules) -> str:
    """The file for ``rules``: sorted, one image per block, stable (an unchanged set of rules
    gives the same bytes, so writing it again makes no commit)."""
    lines = [HEADER.rstrip("\n"), "images:"]
    for name in sorted(rules):
        r = rules[name]
        lines.append(f"  {json.dumps(name)}:")
        if r.all:
            lines.append("    all: true")
        for key, values in (("versions", r.versions), ("majors", r.majors),
                            ("minors", r.minors)):
            if values:
                lines.append(f"    {key}: {json.dumps(sorted(set(values)))}")
    if not rules:
        lines[-1] = "images: {}"
    return "\n".join(lines) + "\n"


def add(rules: Rules, image: str, *, version: str | None = None, major: bool = False,
        minor: bool = False, whole: bool = False) -> dict[str, Rule]:
    """``rules`` plus one more: the exact ``version``, its major or minor, or the whole image.

    InputError when ``version`` is needed but not a version (``ignore major`` of ``latest``).
    """
    old = rules.get(image, Rule())
    if whole:
        new = replace(old, all=True)
    elif version is None:
        raise InputError(f"{image}: no version to ignore")
    elif major or minor:
        parsed = parse_version(version)
        if parsed is None:
            raise InputError(f"{image}: {version!r} is not a version, so it has no "
                             f"{'major' if major else 'minor'}")
        if major:
            new = replace(old, majors=tuple(sorted({*old.majors, parsed.major})))
        else:
            new = replace(old, minors=tuple(sorted({*old.minors,
                                                    f"{parsed.major}.{parsed.minor}"})))
    else:
        new = replace(old, versions=tuple(sorted({*old.versions, version})))
    return {**rules, image: new}


def apply(cfg: Config, rules: Rules) -> Config:
    """``cfg`` with ignored images left out and ignored versions added to the policies."""
    if not rules:
        return cfg
    images = []
    for img in cfg.images:
        rule = rules.get(img.name)
        if rule is None:
            images.append(img)
        elif not rule.all:
            policy = replace(img.policy, ignore=(*img.policy.ignore, *rule.patterns()))
            images.append(replace(img, policy=policy))
    return replace(cfg, images=tuple(images))
