"""``promoter status --output html``: one self-contained page (inline CSS, no script, no external
asset) that shows the pipeline as columns, first environment to last, one row per image.

Each card holds the version an environment runs, its digest, how long it has run there, the
pending promoter pull requests and, in amber, a drift warning. Between two columns an arrow
says whether the next environment runs the same version (in sync) or waits for it. Pure: a
:class:`~promoter.flows.status.Status` in, a string out.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from promoter.render.text import format_age
from promoter.versions import parse_version

if TYPE_CHECKING:
    from promoter.flows.status import Cell, Status

_CSS = """
:root{--bg:#f4f6fa;--card:#fff;--ink:#1d2433;--muted:#6b7489;--line:#dde2ec;--ok:#1f9d55;
--wait:#2f6fde;--warn:#c77800;--warnbg:#fff6e5;--roll:#7a4fd6;--head:#243049}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--ink);background:var(--bg)}
header{background:var(--head);color:#fff;padding:18px 28px 16px}
header h1{margin:0;font-size:20px;font-weight:650;letter-spacing:.2px}
header p{margin:4px 0 0;color:#b9c3d9;font-size:13px}
.stats{display:flex;gap:10px;margin-top:12px;flex-wrap:wrap}
.stat{background:rgba(255,255,255,.1);border-radius:999px;padding:3px 12px;font-size:12.5px}
.stat b{font-weight:650}
.stat.alert{background:#c77800;color:#fff}
main{padding:22px 28px 30px}
.grid{display:grid;gap:0;align-items:stretch}
.colhead{display:flex;align-items:center;justify-content:center;gap:8px;padding:0 0 12px;
font-weight:650;text-transform:uppercase;letter-spacing:.8px;font-size:12.5px;color:var(--head)}
.colhead .n{display:inline-grid;place-items:center;width:22px;height:22px;border-radius:50%;
background:var(--head);color:#fff;font-size:11px}
.imagehead{padding:0 0 12px;font-size:12.5px;color:var(--muted);text-transform:uppercase;
letter-spacing:.8px;font-weight:650}
.name{padding:14px 14px 14px 0;border-top:1px solid var(--line);display:flex;flex-direction:column;
justify-content:center;min-width:0}
.name b{font-size:15px}
.name span{color:var(--muted);font-size:12px;font-family:ui-monospace,"DejaVu Sans Mono",monospace;
overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.slot{border-top:1px solid var(--line);padding:12px 0;display:flex;align-items:stretch}
.arrow{border-top:1px solid var(--line);display:flex;align-items:center;justify-content:center;
font-size:11px;color:var(--muted);flex-direction:column;gap:2px}
.arrow i{font-style:normal;font-size:20px;line-height:1}
.arrow.same i,.arrow.same{color:var(--ok)}
.arrow.wait i,.arrow.wait{color:var(--wait)}
.arrow.ahead i,.arrow.ahead{color:var(--warn)}
.age::before{content:"";display:inline-block;width:7px;height:7px;border-radius:50%;
background:var(--ok);margin-right:5px;vertical-align:1px}
.pending .age::before{background:var(--wait)}
.drift .age::before{background:var(--warn)}
.card{width:100%;background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:10px 12px;box-shadow:0 1px 2px rgba(20,30,60,.06);border-left:4px solid var(--ok)}
.card.drift{border-color:#f0c36d;border-left-color:var(--warn);background:var(--warnbg)}
.card.missing{border-left-color:var(--line);color:var(--muted);background:transparent;
box-shadow:none;border-style:dashed}
.card.pending{border-left-color:var(--wait)}
.card.rollback{border-left-color:var(--roll)}
.rollback .age::before{background:var(--roll)}
.ver{font:650 18px/1.2 ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
.meta{color:var(--muted);font-size:12px;margin-top:2px;display:flex;gap:10px;flex-wrap:wrap}
.meta code{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.badges{margin-top:7px;display:flex;flex-direction:column;gap:4px}
.badge{display:inline-block;border-radius:6px;padding:2px 8px;font-size:12px;font-weight:600;
text-decoration:none;width:fit-content}
.badge.pr{background:#e7effd;color:var(--wait)}
.badge.rb{background:#efe8fc;color:var(--roll)}
.warn{color:var(--warn);font-size:12px;font-weight:600;margin-top:6px}
.problems{margin-top:22px;background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:12px 16px}
.problems h2{font-size:14px;margin:0 0 6px}
.problems li{color:var(--muted)}
footer{color:var(--muted);font-size:12px;padding:0 28px 24px}
.graph{margin:0 0 22px;background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:12px 16px}
.graph h2{font-size:14px;margin:0 0 10px}
.depths{display:flex;gap:28px;align-items:center}
.depth{display:flex;flex-direction:column;gap:8px}
.node{border:1px solid var(--line);border-left:4px solid var(--head);border-radius:8px;
padding:6px 10px;font-weight:650}
.node small{display:block;color:var(--muted);font-weight:400;font-size:11.5px}
.edges{margin:10px 0 0;padding:0;list-style:none;color:var(--muted);font-size:12.5px;
display:flex;gap:6px 18px;flex-wrap:wrap}
.colhead small{font-weight:400;text-transform:none;letter-spacing:0;color:var(--muted)}
.legend{display:flex;gap:18px;flex-wrap:wrap}
.legend span::before{content:"";display:inline-block;width:10px;height:10px;border-radius:3px;
margin-right:6px;vertical-align:-1px;background:var(--c)}
"""


def _age(cell: Cell, st: Status) -> str:
    return format_age(cell.age(st.generated))


def _card(cell: Cell | None, st: Status) -> str:
    if cell is None:
        return '<div class="card missing">not in this environment</div>'
    if cell.tag is None and cell.digest is None:
        return '<div class="card missing">not found in the files</div>'
    classes = ["card"]
    if cell.drift:
        classes.append("drift")
    elif any(p.rollback for p in cell.pending):
        classes.append("rollback")
    elif cell.pending:
        classes.append("pending")
    version = cell.tag or (cell.digest or "")[:19]
    meta = []
    age = _age(cell, st)
    if age:
        meta.append(f'<span class="age" title="since '
                    f'{escape(cell.since.isoformat() if cell.since else "")}">for '
                    f"{escape(age)}</span>")
    if cell.digest:
        meta.append(f"<code title=\"{escape(cell.digest)}\">{escape(cell.digest[7:19])}</code>")
    badges = []
    for p in cell.pending:
        kind, label = ("rb", "rollback") if p.rollback else ("pr", "pending")
        which = f"#{p.number}" if p.number else escape(p.branch or "")
        text = f"{label} {which} &rarr; {escape(p.tag)}"
        if p.url.startswith(("https://", "http://")):  # links from the forge, nothing else
            badges.append(f'<a class="badge {kind}" href="{escape(p.url)}">{text}</a>')
        else:
            badges.append(f'<span class="badge {kind}">{text}</span>')
    parts = [f'<div class="{" ".join(classes)}">',
             f'<div class="ver">{escape(version)}</div>',
             f'<div class="meta">{"".join(meta)}</div>' if meta else "",
             f'<div class="badges">{"".join(badges)}</div>' if badges else "",
             f'<div class="warn">&#9888; {escape(cell.drift)}</div>' if cell.drift else "",
             f'<div class="warn">&#8987; {escape(cell.lagging)}</div>' if cell.lagging else "",
             "</div>"]
    return "".join(parts)


def _arrow(before: Cell | None, after: Cell | None) -> str:
    """``in sync`` when the next environment runs the same version, ``behind`` when it runs an
    older one (waits for promotion), ``ahead`` when newer, else just an arrow."""
    if before is None or after is None or before.tag is None or after.tag is None:
        return '<div class="arrow"><i>&rarr;</i></div>'
    if before.tag == after.tag and (before.digest is None or after.digest is None
                                    or before.digest == after.digest):
        return '<div class="arrow same"><i>&rarr;</i>in sync</div>'
    old, new = parse_version(after.tag), parse_version(before.tag)
    if old is None or new is None or old.key == new.key:
        return '<div class="arrow wait"><i>&rarr;</i>differs</div>'
    if old.key < new.key:
        return '<div class="arrow wait"><i>&rarr;</i>behind</div>'
    return '<div class="arrow ahead"><i>&rarr;</i>ahead</div>'


def _graph(st: Status) -> str:
    """A promotion graph (not a plain line): its environments in columns by depth, each with
    its sources, and every edge listed."""
    if st.linear:
        return ""
    columns: dict[int, list[str]] = {}
    for env, sources in st.graph:
        small = f"<small>from {escape(', '.join(sources))}</small>" if sources else (
            "<small>follows the registry</small>")
        columns.setdefault(st.depth(env), []).append(
            f'<div class="node">{escape(env)}{small}</div>')
    depths = " ".join(f'<div class="depth">{"".join(nodes)}</div>'
                      for _, nodes in sorted(columns.items()))
    edges = "".join(f"<li>{escape(s)} &rarr; {escape(env)}</li>"
                    for env, sources in st.graph for s in sources)
    return (f'<section class="graph"><h2>Promotion graph</h2><div class="depths">{depths}'
            f'</div><ul class="edges">{edges}</ul></section>')


def status_html(st: Status, *, title: str = "promoter status") -> str:
    """The whole page: the matrix in topological order (an arrow between two columns only where
    the second is promoted from the first) and, for a graph, the graph above it."""
    envs = tuple(e for e, _ in st.graph) or st.environments
    columns = ["minmax(150px,1.1fr)"]
    for i in range(len(envs)):
        columns.append("minmax(170px,1.5fr)")
        if i + 1 < len(envs):
            columns.append("56px")
    heads = ['<div class="imagehead">image</div>']
    for i, env in enumerate(envs):
        whence = ("" if st.linear or not st.sources(env) else
                  f"<small>from {escape(', '.join(st.sources(env)))}</small>")
        heads.append(f'<div class="colhead"><span class="n">{i + 1}</span>{escape(env)}'
                     f"{whence}</div>")
        if i + 1 < len(envs):
            heads.append("<div></div>")
    rows = []
    for name in st.images:
        repo = st.repositories.get(name, "")
        rows.append(f'<div class="name"><b>{escape(name)}</b>'
                    f'<span title="{escape(repo)}">{escape(repo)}</span></div>')
        for i, env in enumerate(envs):
            cell = st.cell(name, env)
            rows.append(f'<div class="slot">{_card(cell, st)}</div>')
            if i + 1 < len(envs):
                rows.append(_arrow(cell, st.cell(name, envs[i + 1]))
                            if st.linear or env in st.sources(envs[i + 1]) else
                            '<div class="arrow"></div>')
    pending = sum(len(c.pending) for c in st.cells)
    drifts = len(st.drifts)
    stats = [f'<span class="stat"><b>{len(st.images)}</b> images</span>',
             f'<span class="stat"><b>{len(envs)}</b> environments</span>']
    if st.forge:
        stats.append(f'<span class="stat"><b>{pending}</b> pending pull requests</span>')
    stats.append(f'<span class="stat{" alert" if drifts else ""}"><b>{drifts}</b> drift</span>')
    problems = [f"<li><b>{escape(c.image)}</b> in {escape(c.env)}: {escape(p)}</li>"
                for c in st.cells for p in c.problems]
    problems += [f"<li>{escape(str(e))}</li>" for e in st.errors]
    problem_box = (f'<section class="problems"><h2>Problems</h2><ul>{"".join(problems)}</ul>'
                   "</section>") if problems else ""
    when = st.generated.strftime("%Y-%m-%d %H:%M UTC")
    pipeline = (" &rarr; ".join(escape(e) for e in envs) if st.linear else
                f"{len(st.graph)} environments in a promotion graph")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
<p>{pipeline} &middot; generated {escape(when)}</p>
<div class="stats">{"".join(stats)}</div>
</header>
<main>
{_graph(st)}
<div class="grid" style="grid-template-columns:{' '.join(columns)}">
{"".join(heads)}
{"".join(rows)}
</div>
{problem_box}
</main>
<footer><div class="legend">
<span style="--c:#1f9d55">runs a promoted version</span>
<span style="--c:#2f6fde">a promoter pull request is pending</span>
<span style="--c:#7a4fd6">rollback pending</span>
<span style="--c:#c77800">drift: the version never ran in the environment before</span>
</div></footer>
</body>
</html>
"""
