#!/usr/bin/env python3
"""``promoter plan`` + ``promoter poll`` over N images (default 200), the time split by phase
(locate, registry, edit, git, forge), each phase next to a floor measured in the same run.

World (see ``bench_poll_world.py``): Debian's ``docker-registry`` serving ``seed.py``'s store of
N repositories x ``--tags`` tags (``mixed`` scheme: semver, ``v`` copies, a prerelease, a
``sha-`` tag, ``latest``; written once by ``--direct-storage`` and kept in ``--work``); a GitOps
repository of N images spread over Kustomize overlays and Helm values files (four per file,
comments, every quoting style) for dev, staging and prod, dev tracking the registry, every image
one minor version behind (``1.0.x`` -> ``1.1.4``); the fake GitHub of ``tests/servers`` (in this
process, its threads; git over HTTP through ``git http-backend``).

Variants, each through the flow's own functions (``make_plan`` / ``poll``), in this process:

* ``plan``: ``make_plan`` on the checkout (what ``promoter plan`` does; writes nothing);
* ``poll local``: ``poll`` with the ``local`` forge on a fresh copy of the checkout (branches
  only), then ``again``: a second poll, which must change nothing;
* ``poll github``: clone over HTTP (timed apart), ``poll`` against the fake GitHub, one pull
  request per image (N PRs), then ``again`` on a fresh clone: nothing pushed, nothing written;
* ``poll github/env``: the same grouped per environment (one PR of N images).

Floors, same registry, same files, same server, same run:

* registry: ``shared/bench/crawl.py`` (every tag page, newest stable semver, one manifest HEAD
  per repository), its own in-process wall time;
* locate and edit: a plain ruamel.yaml round trip (``YAML()`` load_all + dump_all) of the
  tracked environment's files, once each;
* git: one ``git fast-import`` of the same commits (local), plus ``git fetch`` and one
  ``git push`` of every branch (over HTTP);
* forge: raw REST, one ``POST pulls`` + one ``POST issues/N/labels`` per PR with the same
  titles and bodies, over one keep-alive connection.

Every figure is the median of ``--rounds`` (default 3), the rounds interleaving variants and
floors so drift on a shared machine hits all alike; a warm-up plan goes first. Correctness is
checked as it runs (N plans, N branches created, N PRs opened, second polls unchanged with no
write to the forge); the exit status is 1 when a check failed.

    python benchmarks/bench_poll.py [--images 200] [--tags 20] [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_poll_world import (  # noqa: E402
    GIT_ENV,
    config_text,
    forge_floor,
    git,
    git_floor,
    gitops_files,
    tracked_files,
    write_repo,
    yaml_floor,
)
from benchlib import default_work, ensure_store, median, shared_bench, write_json  # noqa: E402

from promoter.config import Config, parse_config  # noqa: E402
from promoter.flows.poll import Phases, Report, make_plan, poll  # noqa: E402
from promoter.forge import Forge, open_forge  # noqa: E402
from promoter.gitrepo import GitWorkspace, HttpAuth  # noqa: E402
from promoter.plan import Plan  # noqa: E402
from promoter.registry.oci import OciRegistry  # noqa: E402
from tests.servers.fake_github import FakeGitHub, load_spec  # noqa: E402
from tests.servers.registry import LocalRegistry  # noqa: E402

PHASES = ("locate", "registry", "edit", "git", "forge")
BOT = "promoter-bot"
STEADY = {("unchanged", "kept"), ("unchanged", "")}


@dataclass
class Run:
    """One measured call: its phases, its wall time, what it did."""

    phases: dict[str, float]
    total: float
    outcomes: dict[str, int] = field(default_factory=dict)
    writes: int = 0  # non-GET requests to the forge
    requests: int = 0  # every API request to the forge


@dataclass
class Bench:
    args: argparse.Namespace
    reg: LocalRegistry
    gh: FakeGitHub
    tmp: Path
    files: dict[str, str]
    token: str
    runs: dict[str, list[Run]] = field(default_factory=dict)
    floors: dict[str, list[float]] = field(default_factory=dict)
    side: dict[str, list[float]] = field(default_factory=dict)  # clone, forge-open
    problems: list[str] = field(default_factory=list)
    plan: Plan | None = None

    @property
    def n(self) -> int:
        return int(self.args.images)

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)
            print(f"CHECK FAILED: {what}", file=sys.stderr, flush=True)

    def record(self, variant: str, run: Run) -> None:
        self.runs.setdefault(variant, []).append(run)

    def timed(self, key: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        out = fn()
        self.side.setdefault(key, []).append(time.perf_counter() - start)
        return out

    def config(self, forge: Mapping[str, str], group: str = "image") -> tuple[Config, str]:
        text = config_text(self.reg.host, self.n, forge=forge, group=group)
        return parse_config(text), text


def _outcomes(report: Report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in report.results:
        key = f"{r.outcome}/{r.action}" if r.action else r.outcome
        counts[key] = counts.get(key, 0) + 1
    return counts


def _from_report(report: Report, total: float) -> Run:
    return Run(phases=dict(report.phases), total=total, outcomes=_outcomes(report))


# --- variants -----------------------------------------------------------------------------------

def plan_once(b: Bench, repo: Path, cfg: Config) -> Run:
    phases = Phases()
    start = time.perf_counter()
    with GitWorkspace.open(repo) as ws:
        with phases.timing("git"):
            ws.fetch()
        plan, errors, _ = make_plan(cfg, ws, OciRegistry(), phases=phases)
    total = time.perf_counter() - start
    b.check(len(plan.pull_requests) == b.n and not errors and not plan.skipped,
            f"plan: {len(plan.pull_requests)} pull requests (want {b.n}), "
            f"{len(errors)} errors {errors[:2]}, skipped {plan.skipped[:2]}")
    tags = {u.new_tag for pr in plan.pull_requests for u in pr.updates}
    b.check(tags <= {"1.1.4", "v1.1.4"}, f"plan: chose {sorted(tags)[:5]} (want 1.1.4)")
    b.plan = b.plan or plan
    return Run(phases=dict(phases), total=total, outcomes={"planned": len(plan.pull_requests)})


def poll_local(b: Bench, pristine: Path, cfg: Config, r: int) -> None:
    repo = b.tmp / f"local-{r}"
    shutil.copytree(pristine, repo, symlinks=True)
    for variant in ("poll local", "poll local again"):
        start = time.perf_counter()
        with GitWorkspace.open(repo) as ws:
            report = poll(cfg, ws, OciRegistry(), None)
        run = _from_report(report, time.perf_counter() - start)
        b.record(variant, run)
        want = "created" if variant == "poll local" else "unchanged"
        b.check(report.ok and run.outcomes == {want: b.n},
                f"{variant}: {run.outcomes} (want {b.n} {want}), errors {report.errors[:2]}")
    branches = git("for-each-ref", "--count=100000", "refs/heads/promoter/", cwd=repo)
    b.check(len(branches.splitlines()) == b.n, f"poll local: {len(branches.splitlines())} "
            f"branches (want {b.n})")
    shutil.rmtree(repo)


def _new_repo(b: Bench, name: str, cfg_text: str) -> None:
    b.gh.add_repo(name, files={**b.files, ".promoter.yaml": cfg_text})
    b.gh.set_permission(name, BOT, "write")


def _forge(b: Bench, name: str) -> Forge:
    return open_forge("github", repo=name, url=b.gh.url, token=b.token, retries=0,
                      throttle=False)


def poll_github(b: Bench, r: int, group: str) -> None:
    name = f"acme/gitops-{group}-{r}"
    cfg, text = b.config({"type": "github", "url": b.gh.url, "repository": name,
                          "token-env": "FORGE_TOKEN"}, group)
    _new_repo(b, name, text)
    label = "poll github" if group == "image" else "poll github/env"
    want_prs = b.n if group == "image" else 1
    for i, variant in enumerate((label, f"{label} again")):
        dest = b.tmp / f"clone-{group}-{r}-{i}"
        auth = HttpAuth(username="x-access-token", token=b.token)
        ws = b.timed("clone over HTTP", lambda d=dest: GitWorkspace.clone(  # type: ignore[misc]
            f"{b.gh.url}/{name}.git", d, auth=auth))
        forge = b.timed("forge open", lambda: _forge(b, name))
        before = len(b.gh.requests)
        start = time.perf_counter()
        with ws:
            report = poll(cfg, ws, OciRegistry(), forge)
        run = _from_report(report, time.perf_counter() - start)
        new = b.gh.requests[before:]
        run.requests = len(new)
        run.writes = sum(1 for method, _, _ in new if method != "GET")
        b.record(variant, run)
        if i == 0:
            b.check(report.ok and run.outcomes == {"created/opened": want_prs},
                    f"{variant}: {run.outcomes} (want {want_prs} created/opened), "
                    f"errors {report.errors[:2]} {[x.error for x in report.results][:2]}")
        else:
            steady = all((x.outcome, x.action) in STEADY for x in report.results)
            b.check(report.ok and steady and len(report.results) == want_prs
                    and run.writes == 0,
                    f"{variant}: {run.outcomes} (want {want_prs} unchanged/kept), "
                    f"{run.writes} writes to the forge (want 0)")
        shutil.rmtree(dest)
    open_prs = sum(1 for p in b.gh.repos[name].pulls.values() if p.state == "open")
    b.check(open_prs == want_prs, f"{label}: {open_prs} open PRs (want {want_prs})")


def floors(b: Bench, pristine: Path, r: int) -> None:
    assert b.plan is not None
    branches = [(pr.branch, pr.message, dict(pr.files)) for pr in b.plan.pull_requests]
    texts = list(tracked_files(b.files).values())
    b.floors.setdefault("ruamel load+dump", []).append(yaml_floor(texts))

    out = subprocess.run([sys.executable, str(shared_bench() / "crawl.py"), "--url", b.reg.url,
                          "--prefix", "bench/app", "--count", str(b.n)],
                         capture_output=True, text=True, check=True)
    crawl = json.loads(out.stdout)
    b.floors.setdefault("crawl.py", []).append(float(crawl["wall_median_s"]))

    local = b.tmp / f"floor-local-{r}"
    shutil.copytree(pristine, local, symlinks=True)
    b.floors.setdefault("git fast-import", []).append(git_floor(local, branches, push=False))
    shutil.rmtree(local)

    name = f"acme/floor-{r}"
    _new_repo(b, name, "# floor\n")
    dest = b.tmp / f"floor-http-{r}"
    git("clone", "--quiet", "--no-checkout", b.gh.clone_url(name, b.token), str(dest))
    b.floors.setdefault("git fetch+fast-import+push", []).append(
        git_floor(dest, branches, push=True))
    shutil.rmtree(dest)
    # the same titles and bodies promoter sent in this round's github poll
    pulls = sorted(b.gh.repos[f"acme/gitops-image-{r}"].pulls.values(), key=lambda p: p.number)
    b.floors.setdefault("REST create+labels", []).append(forge_floor(
        b.gh.url, name, b.token, [(p.head, p.title, p.body or "") for p in pulls],
        ("promoter",)))


# --- report -------------------------------------------------------------------------------------

def summary(b: Bench) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for variant, runs in b.runs.items():
        phases = {p: median([r.phases.get(p, 0.0) for r in runs]) for p in PHASES}
        total = median([r.total for r in runs])
        variants[variant] = {
            "total_s": round(total, 3), "phases_s": {k: round(v, 3) for k, v in phases.items()},
            "other_s": round(total - sum(phases.values()), 3),
            "outcomes": runs[-1].outcomes, "forge_requests": runs[-1].requests,
            "forge_writes": runs[-1].writes,
            "runs": [{"total_s": round(r.total, 3),
                      "phases_s": {k: round(v, 3) for k, v in r.phases.items()}} for r in runs]}
    floor = {k: round(median(v), 3) for k, v in b.floors.items()}

    def phase(variant: str, name: str) -> float:
        return float(variants.get(variant, {}).get("phases_s", {}).get(name, 0.0))

    pairs = [("registry", "plan", "registry", "crawl.py"),
             ("locate", "plan", "locate", "ruamel load+dump"),
             ("edit", "plan", "edit", "ruamel load+dump"),
             ("git local", "poll local", "git", "git fast-import"),
             ("git http", "poll github", "git", "git fetch+fast-import+push"),
             ("forge", "poll github", "forge", "REST create+labels")]
    ratios = [{"what": what, "promoter": f"{variant}: {name}", "promoter_s": phase(variant, name),
               "floor": fl, "floor_s": floor.get(fl, 0.0),
               "ratio": round(phase(variant, name) / floor[fl], 2) if floor.get(fl) else None}
              for what, variant, name, fl in pairs]
    return {"images": b.n, "tags": b.args.tags, "rounds": b.args.rounds,
            "files_tracked": len(tracked_files(b.files)), "variants": variants,
            "side_s": {k: round(median(v), 3) for k, v in b.side.items()},
            "floors_s": floor, "ratios": ratios, "problems": b.problems}


def print_summary(s: dict[str, Any]) -> None:
    print(f"\nbench_poll: {s['images']} images, {s['files_tracked']} tracked files (dev), "
          f"registry {s['images']} x {s['tags']} tags, median of {s['rounds']} rounds\n")
    head = f"{'variant':<24}{'total':>8}" + "".join(f"{p:>9}" for p in PHASES)
    print(head + f"{'other':>8}  {'requests':>8}  outcome")
    for variant, v in s["variants"].items():
        cells = "".join(f"{v['phases_s'][p]:>9.3f}" for p in PHASES)
        outcome = ", ".join(f"{n} {k}" for k, n in v["outcomes"].items())
        print(f"{variant:<24}{v['total_s']:>8.3f}{cells}{v['other_s']:>8.3f}  "
              f"{v['forge_requests'] or '':>8}  {outcome}")
    print("\noutside the poll: " + ", ".join(f"{k} {v:.3f} s" for k, v in s["side_s"].items()))
    print(f"\n{'phase':<11}{'promoter':<22}{'s':>8}   {'floor (same run)':<28}{'s':>8}"
          f"{'ratio':>8}")
    for r in s["ratios"]:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        print(f"{r['what']:<11}{r['promoter']:<22}{r['promoter_s']:>8.3f}   {r['floor']:<28}"
              f"{r['floor_s']:>8.3f}{ratio:>8}")
    if s["problems"]:
        print("\nCHECKS FAILED:\n  " + "\n  ".join(s["problems"]))


# --- main ---------------------------------------------------------------------------------------

def _clean_environment() -> None:
    for key in list(os.environ):
        if key.startswith(("PROMOTER_", "DOCKER_", "REGISTRY_", "GITHUB_", "GIT_")) or \
                key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[key]
    os.environ.update(GIT_ENV)
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--tags", type=int, default=20, help="tags per registry repository")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-spec", action="store_true",
                   help="fake GitHub without OpenAPI shaping of its answers")
    p.add_argument("--work", type=Path, default=default_work(), help="seeded stores kept here")
    p.add_argument("--json", type=Path, help="write every run here")
    args = p.parse_args(argv)
    _clean_environment()
    store = ensure_store(args.work, args.images, args.tags)
    home = Path(tempfile.mkdtemp(prefix="bench-poll-"))
    os.environ["HOME"] = str(home)  # no docker config, no git config of the person running it
    try:
        spec = None if args.no_spec else load_spec()
        with LocalRegistry("anonymous", storage=store.path) as reg, \
                FakeGitHub(home / "gh", spec=spec) as gh:
            files = gitops_files(reg.host, args.images)
            b = Bench(args=args, reg=reg, gh=gh, tmp=home, files=files,
                      token=gh.add_user(BOT, token="ghp-bench-poll-token"))
            cfg, text = b.config({"type": "local"})
            pristine = home / "pristine"
            write_repo(pristine, {**files, ".promoter.yaml": text})
            print(f"registry {reg.url}, fake GitHub {gh.url} (OpenAPI shaping "
                  f"{'on' if spec else 'off'}); warm-up ...", file=sys.stderr, flush=True)
            plan_once(b, pristine, cfg)  # warm-up: not counted
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
                b.record("plan", plan_once(b, pristine, cfg))
                poll_local(b, pristine, cfg, r)
                poll_github(b, r, "image")
                poll_github(b, r, "environment")
                floors(b, pristine, r)
            assert not gh.unknown, gh.unknown
    finally:
        shutil.rmtree(home, ignore_errors=True)
    s = summary(b)
    print_summary(s)
    if args.json:
        write_json(args.json, s)
    return 1 if s["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
