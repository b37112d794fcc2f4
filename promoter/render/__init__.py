"""Rendering: every result promoter prints or posts, one module per format (pure).

* this package's face: the Markdown promoter writes into forges, which the flows compose
  (pull request bodies with their hidden metadata, update tables, unified diffs);
* :mod:`promoter.render.text`: ``--output text`` of every command (:func:`~.text.text`);
* :mod:`promoter.render.json`: ``--output json`` of every command (:func:`~.json.dumps`, the one
  place a JSON document is made, so an envelope around all of them goes there);
* :mod:`promoter.render.markdown`: ``--output markdown``, job summaries and comment replies;
* :mod:`promoter.render.html`: the ``promoter status --output html`` page.

The format modules read the flows' result types and sit above them; this face sits below.
"""

from __future__ import annotations

import difflib
import json as _json  # the submodule promoter.render.json takes the plain name
import re
from collections.abc import Mapping, Sequence
from typing import Any

from promoter.plan import ImageUpdate, PullRequestPlan

_META = re.compile(r"<!-- promoter:meta (?P<json>\{.*?\}) -->")


def _short(digest: str | None) -> str:
    return f"`{digest[:19]}`" if digest else ""


def table_cell(text: str | None) -> str:
    """``text`` as one Markdown table cell (pipes escaped, on one line)."""
    return (text or "").replace("|", "\\|").replace("\n", " ")


def registry_link(repository: str) -> str | None:
    """A web page for the repository on the well-known registries, else None."""
    host, _, path = repository.partition("/")
    if host == "docker.io":
        path = path.removeprefix("library/")
        return f"https://hub.docker.com/{'_' if '/' not in path else 'r'}/{path}"
    if host == "ghcr.io":
        owner, _, name = path.partition("/")
        return f"https://github.com/{owner}/{name}/pkgs/container/{name}" if name else None
    if host == "quay.io":
        return f"https://quay.io/repository/{path}"
    return None


def compare_link(u: ImageUpdate) -> str | None:
    """The source repository's compare (or release) view for ``u``, when configured."""
    if not u.source:
        return None
    base = u.source.rstrip("/")
    if u.old_tag and u.old_tag != u.new_tag:
        sep = "/-/compare/" if "gitlab" in base else "/compare/"
        return f"{base}{sep}{u.old_tag}...{u.new_tag}"
    return f"{base}/releases/tag/{u.new_tag}" if "gitlab" not in base else \
        f"{base}/-/tags/{u.new_tag}"


def updates_table(updates: Sequence[ImageUpdate]) -> str:
    """The Markdown table every pull request body carries."""
    rows = ["| image | environment | from | to | update | digest | links |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for u in updates:
        links = []
        reg = registry_link(u.repository)
        if reg:
            links.append(f"[registry]({reg})")
        cmp = compare_link(u)
        if cmp:
            links.append(f"[changes]({cmp})")
        rows.append(
            f"| `{table_cell(u.repository)}` | {table_cell(u.env)} | "
            f"{table_cell(u.old_tag) or '-'} | "
            f"**{table_cell(u.new_tag)}** | {u.update.value} | {_short(u.new_digest)} | "
            f"{' '.join(links)} |")
    return "\n".join(rows)


def meta(pr: PullRequestPlan) -> dict[str, Any]:
    """What promoter needs to know later about a PR it opened (kept in a hidden comment)."""
    return {"env": pr.env, "source": pr.source_env,
            "images": {u.image: u.new_tag for u in pr.updates}}


def read_meta(body: str | None) -> dict[str, Any] | None:
    """The metadata :func:`pr_body` hid in a pull request body, or None."""
    m = _META.search(body or "")
    if m is None:
        return None
    try:
        value = _json.loads(m["json"])
    except _json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def pr_body(pr: PullRequestPlan, template: str | None = None,
            values: Mapping[str, object] | None = None, extra: str = "") -> str:
    """The pull request body: the user's template (with ``{table}``) or the built-in one, then
    ``extra`` (Markdown: a promotion's gates)."""
    table = updates_table(pr.updates)
    if template is not None:
        from promoter.config import render_template

        text = render_template(template, {**(values or {}), "table": table})
    else:
        source = f"from **{pr.source_env}** " if pr.source_env else "from the registry "
        text = (f"promoter moves {len(pr.updates)} image(s) {source}into **{pr.env}**.\n\n"
                f"{table}\n\nFiles: {', '.join(f'`{f}`' for f in sorted(pr.files))}\n")
    if extra.strip():
        text = f"{text.rstrip()}\n\n{extra.strip()}\n"
    return (f"{text.rstrip()}\n\n<!-- promoter:meta "
            f"{_json.dumps(meta(pr), sort_keys=True, separators=(',', ':'))} -->\n")


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}"))
