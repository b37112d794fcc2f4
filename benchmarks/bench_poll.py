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
floors so drift on a shared machine hits all alike; a warm-up crawl goes first. Next to wall
time, CPU seconds per phase (this process with the fake GitHub's threads, plus its git children;
the registry server's apart): on a machine others share they are the steadier figure. The
floors' CPU is measured the same way (``crawl.py``'s includes its interpreter start). Correctness is
checked as it runs (N plans, N branches created, N PRs opened, second polls unchanged with no
write to the forge); the exit status is 1 when a check failed.

    python benchmarks/bench_poll.py [--images 200] [--tags 20] [--rounds 3] [--json FILE]
    python benchmarks/bench_poll.py --variants plan floors --rounds 5    # the cheap part only

Rounds after the first start only while they would end within ``--budget`` seconds (240).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
from benchlib import (  # noqa: E402
    default_work,
    ensure_store,
    median,
    process_cpu,
    run_measured,
    server_pids,
    shared_bench,
    write_json,
)

import promoter.flows.poll as poll_module  # noqa: E402
from promoter.config import Config, parse_config  # noqa: E402
from promoter.flows.poll import Phases, Report, make_plan, poll  # noqa: E402
from promoter.forge import Forge, open_forge  # noqa: E402
from promoter.gitrepo import GitWorkspace, HttpAuth  # noqa: E402
from promoter.plan import Plan  # noqa: E402
from promoter.registry.oci import OciRegistry  # noqa: E402
from tests.servers.fake_github import FakeGitHub, load_spec  # noqa: E402
from tests.servers.registry import LocalRegistry  # noqa: E402

PHASES = ("locate", "registry", "edit", "git", "forge")
VARIANTS = ("plan", "local", "github-image", "github-environment", "floors")
BOT = "promoter-bot"
STEADY = {("unchanged", "kept"), ("unchanged", "")}


@dataclass
class Run:
    """One measured call: its phases, its wall time, what it did."""

    phases: dict[str, float]
    total: float
    outcomes: dict[str, int] = field(default_factory=dict)
    cpu: float = 0.0  # this process (and the fake GitHub's threads) + its git children
    cpu_phases: dict[str, float] = field(default_factory=dict)
    registry_cpu: float = 0.0  # the registry server's, meanwhile
    writes: int = 0  # non-GET requests to the forge
    requests: int = 0  # every API request to the forge
    kinds: dict[str, int] = field(default_factory=dict)  # "METHOD /path/{n}" -> count


def process_and_children_cpu() -> float:
    """CPU seconds of this process (all its threads) and of its waited-for children (git)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CpuPhases(Phases):
    """:class:`Phases` that also keeps CPU seconds per phase (:attr:`cpu`): on a shared
    machine they are the steadier figure. Installed as the flow's ``Phases`` by :func:`main`;
    it changes nothing the flow does."""

    def __init__(self, *args: Any, **kwargs: float) -> None:
        super().__init__(*args, **kwargs)
        self.cpu: dict[str, float] = {}

    @contextlib.contextmanager
    def timing(self, phase: str) -> Iterator[None]:
        start = process_and_children_cpu()
        try:
            with super().timing(phase):
                yield
        finally:
            self.cpu[phase] = self.cpu.get(phase, 0.0) + process_and_children_cpu() - start


class Clock:
    """Wall and CPU seconds of one call: this process's (with its threads), its waited-for
    children's (git) and the registry server's."""

    def __init__(self, registry_pids: Sequence[int]) -> None:
        self.pids = registry_pids
        self.start = time.perf_counter()
        self.cpu0 = process_and_children_cpu()
        self.reg0 = sum(process_cpu(p) for p in self.pids)

    def stop(self, run: Run) -> Run:
        run.total = time.perf_counter() - self.start
        run.cpu = process_and_children_cpu() - self.cpu0
        run.registry_cpu = sum(process_cpu(p) for p in self.pids) - self.reg0
        return run


def _kind(method: str, path: str) -> str:
    path = re.sub(r"^/repos/[^/]+/[^/]+", "", path.split("?", 1)[0])
    return f"{method} {re.sub(r'/[0-9]+', '/{n}', path) or '/'}"


@dataclass
class Bench:
    args: argparse.Namespace
    reg: LocalRegistry
    gh: FakeGitHub
    tmp: Path
    files: dict[str, str]
    token: str
    runs: dict[str, list[Run]] = field(default_factory=dict)
    floors: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # wall, cpu
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

    def clock(self) -> Clock:
        return Clock(server_pids(self.reg))

    @contextlib.contextmanager
    def timed(self, key: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.side.setdefault(key, []).append(time.perf_counter() - start)

    def config(self, forge: Mapping[str, str], group: str = "image") -> tuple[Config, str]:
        text = config_text(self.reg.host, self.n, forge=forge, group=group)
        return parse_config(text), text


def _outcomes(report: Report) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in report.results:
        key = f"{r.outcome}/{r.action}" if r.action else r.outcome
        counts[key] = counts.get(key, 0) + 1
    return counts


def _from_report(report: Report, clock: Clock) -> Run:
    cpu = report.phases.cpu if isinstance(report.phases, CpuPhases) else {}
    return clock.stop(Run(phases=dict(report.phases), cpu_phases=dict(cpu), total=0.0,
                          outcomes=_outcomes(report)))


# --- variants -----------------------------------------------------------------------------------

def plan_once(b: Bench, repo: Path, cfg: Config) -> Run:
    phases = CpuPhases()
    clock = b.clock()
    with GitWorkspace.open(repo) as ws:
        with phases.timing("git"):
            ws.fetch()
        plan, errors, _ = make_plan(cfg, ws, OciRegistry(), phases=phases)
    run = clock.stop(Run(phases=dict(phases), cpu_phases=dict(phases.cpu), total=0.0,
                         outcomes={"planned": len(plan.pull_requests)}))
    b.check(len(plan.pull_requests) == b.n and not errors and not plan.skipped,
            f"plan: {len(plan.pull_requests)} pull requests (want {b.n}), "
            f"{len(errors)} errors {errors[:2]}, skipped {plan.skipped[:2]}")
    tags = {u.new_tag for pr in plan.pull_requests for u in pr.updates}
    b.check(tags <= {"1.1.4", "v1.1.4"}, f"plan: chose {sorted(tags)[:5]} (want 1.1.4)")
    b.plan = b.plan or plan
    return run


def poll_local(b: Bench, pristine: Path, cfg: Config, r: int) -> None:
    repo = b.tmp / f"local-{r}"
    shutil.copytree(pristine, repo, symlinks=True)
    for variant in ("poll local", "poll local again"):
        clock = b.clock()
        with GitWorkspace.open(repo) as ws:
            report = poll(cfg, ws, OciRegistry(), None)
        run = _from_report(report, clock)
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
        with b.timed("clone over HTTP"):
            ws = GitWorkspace.clone(f"{b.gh.url}/{name}.git", dest,
                                    auth=HttpAuth(username="x-access-token", token=b.token))
        with b.timed("forge open"):
            forge = _forge(b, name)
        before = len(b.gh.requests)
        clock = b.clock()
        with ws:
            report = poll(cfg, ws, OciRegistry(), forge)
        run = _from_report(report, clock)
        new = b.gh.requests[before:]
        run.requests = len(new)
        run.writes = sum(1 for method, _, _ in new if method != "GET")
        for method, path, _ in new:
            run.kinds[_kind(method, path)] = run.kinds.get(_kind(method, path), 0) + 1
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


def floor(b: Bench, name: str, fn: Callable[[], object]) -> None:
    cpu, start = process_and_children_cpu(), time.perf_counter()
    fn()
    b.floors.setdefault(name, []).append((time.perf_counter() - start,
                                          process_and_children_cpu() - cpu))


def floors(b: Bench, pristine: Path, r: int) -> None:
    assert b.plan is not None
    branches = [(pr.branch, pr.message, dict(pr.files)) for pr in b.plan.pull_requests]
    texts = list(tracked_files(b.files).values())
    floor(b, "ruamel load+dump", lambda: yaml_floor(texts))

    # its own wall time around the crawl; CPU of the whole process (interpreter start included)
    m = run_measured([sys.executable, str(shared_bench() / "crawl.py"), "--url", b.reg.url,
                      "--prefix", "bench/app", "--count", str(b.n)])
    b.floors.setdefault("crawl.py", []).append((float(m.output["wall_median_s"]), m.cpu_s))

    local = b.tmp / f"floor-local-{r}"
    shutil.copytree(pristine, local, symlinks=True)
    floor(b, "git fast-import", lambda: git_floor(local, branches, push=False))
    shutil.rmtree(local)

    name = f"acme/floor-{r}"
    _new_repo(b, name, "# floor\n")
    dest = b.tmp / f"floor-http-{r}"
    git("clone", "--quiet", "--no-checkout", b.gh.clone_url(name, b.token), str(dest))
    floor(b, "git fetch+fast-import+push", lambda: git_floor(dest, branches, push=True))
    shutil.rmtree(dest)
    # the same titles and bodies promoter sent in this round's github poll (else the titles)
    sent = b.gh.repos.get(f"acme/gitops-image-{r}")
    pulls = [(p.head, p.title, p.body or "") for p in sorted(
        sent.pulls.values(), key=lambda p: p.number)] if sent else [
        (pr.branch, pr.title, pr.title) for pr in b.plan.pull_requests]
    floor(b, "REST create+labels", lambda: forge_floor(b.gh.url, name, b.token, pulls,
                                                       ("promoter",)))


# --- report -------------------------------------------------------------------------------------

def summary(b: Bench) -> dict[str, Any]:
    variants: dict[str, Any] = {}
    for variant, runs in b.runs.items():
        phases = {p: median([r.phases.get(p, 0.0) for r in runs]) for p in PHASES}
        total = median([r.total for r in runs])
        variants[variant] = {
            "total_s": round(total, 3), "phases_s": {k: round(v, 3) for k, v in phases.items()},
            "other_s": round(median([r.total - sum(r.phases.get(p, 0.0) for p in PHASES)
                                     for r in runs]), 3),
            "cpu_s": round(median([r.cpu for r in runs]), 3),
            "phases_cpu_s": {p: round(median([r.cpu_phases.get(p, 0.0) for r in runs]), 3)
                             for p in PHASES},
            "registry_cpu_s": round(median([r.registry_cpu for r in runs]), 3),
            "outcomes": runs[-1].outcomes, "forge_requests": runs[-1].requests,
            "forge_writes": runs[-1].writes, "forge_requests_by_kind": runs[-1].kinds,
            "runs": [{"total_s": round(r.total, 3),
                      "phases_s": {k: round(v, 3) for k, v in r.phases.items()}} for r in runs]}
    walls = {k: round(median([w for w, _ in v]), 3) for k, v in b.floors.items()}
    cpus = {k: round(median([c for _, c in v]), 3) for k, v in b.floors.items()}

    def phase(variant: str, name: str, key: str = "phases_s") -> float:
        return float(variants.get(variant, {}).get(key, {}).get(name, 0.0))

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if b else None

    pairs = [("registry", "plan", "registry", "crawl.py"),
             ("locate", "plan", "locate", "ruamel load+dump"),
             ("edit", "plan", "edit", "ruamel load+dump"),
             ("git local", "poll local", "git", "git fast-import"),
             ("git http", "poll github", "git", "git fetch+fast-import+push"),
             ("forge", "poll github", "forge", "REST create+labels")]
    ratios = [{"what": what, "promoter": f"{variant}: {name}",
               "promoter_s": phase(variant, name), "floor": fl, "floor_s": walls.get(fl, 0.0),
               "ratio": ratio(phase(variant, name), walls.get(fl, 0.0)),
               "promoter_cpu_s": phase(variant, name, "phases_cpu_s"),
               "floor_cpu_s": cpus.get(fl, 0.0),
               "cpu_ratio": ratio(phase(variant, name, "phases_cpu_s"), cpus.get(fl, 0.0))}
              for what, variant, name, fl in pairs if variant in variants and fl in walls]
    return {"images": b.n, "tags": b.args.tags, "rounds": len(b.runs.get("plan", ())),
            "files_tracked": len(tracked_files(b.files)), "variants": variants,
            "side_s": {k: round(median(v), 3) for k, v in b.side.items()},
            "floors_s": walls, "floors_cpu_s": cpus, "ratios": ratios, "problems": b.problems}


def print_summary(s: dict[str, Any]) -> None:
    print(f"\nbench_poll: {s['images']} images, {s['files_tracked']} tracked files (dev), "
          f"registry {s['images']} x {s['tags']} tags, median of {s['rounds']} rounds\n")
    head = f"{'variant':<24}{'total':>8}" + "".join(f"{p:>9}" for p in PHASES)
    print(head + f"{'other':>8}{'cpu':>8}{'reg.cpu':>8}  {'requests':>8}  outcome")
    for variant, v in s["variants"].items():
        cells = "".join(f"{v['phases_s'][p]:>9.3f}" for p in PHASES)
        outcome = ", ".join(f"{n} {k}" for k, n in v["outcomes"].items())
        print(f"{variant:<24}{v['total_s']:>8.3f}{cells}{v['other_s']:>8.3f}{v['cpu_s']:>8.2f}"
              f"{v['registry_cpu_s']:>8.2f}  {v['forge_requests'] or '':>8}  {outcome}")
    print("\nCPU seconds per phase (this process, its threads and its git children):")
    for variant, v in s["variants"].items():
        cells = "".join(f"{v['phases_cpu_s'][p]:>9.3f}" for p in PHASES)
        print(f"{variant:<24}{v['cpu_s']:>8.3f}{cells}")
    if any(v["forge_requests_by_kind"] for v in s["variants"].values()):
        print("\nforge requests:")
    for variant, v in s["variants"].items():
        if v["forge_requests_by_kind"]:
            kinds = ", ".join(f"{k} x{n}" for k, n in sorted(v["forge_requests_by_kind"].items()))
            print(f"  {variant}: {kinds}")
    if s["side_s"]:
        print("\noutside the poll: " + ", ".join(f"{k} {v:.3f} s"
                                                for k, v in s["side_s"].items()))
    print(f"\n{'phase':<11}{'promoter':<22}{'wall s':>8}{'cpu s':>8}   "
          f"{'floor (same run)':<28}{'wall s':>8}{'cpu s':>8}{'wall x':>8}{'cpu x':>8}")
    for r in s["ratios"]:
        wall, cpu = (f"{r[k]:.2f}" if r[k] is not None else "-" for k in ("ratio", "cpu_ratio"))
        print(f"{r['what']:<11}{r['promoter']:<22}{r['promoter_s']:>8.3f}"
              f"{r['promoter_cpu_s']:>8.3f}   {r['floor']:<28}{r['floor_s']:>8.3f}"
              f"{r['floor_cpu_s']:>8.3f}{wall:>8}{cpu:>8}")
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
    p.add_argument("--budget", type=float, default=240.0,
                   help="seconds: no further round starts when it would end past this")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS,
                   metavar="VARIANT", help=f"which to run (default: all of {', '.join(VARIANTS)})")
    p.add_argument("--no-spec", action="store_true",
                   help="fake GitHub without OpenAPI shaping of its answers")
    p.add_argument("--work", type=Path, default=default_work(), help="seeded stores kept here")
    p.add_argument("--json", type=Path, help="write every run here")
    args = p.parse_args(argv)
    _clean_environment()
    vars(poll_module)["Phases"] = CpuPhases  # CPU seconds per phase as well
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
            subprocess.run([sys.executable, str(shared_bench() / "crawl.py"), "--url", reg.url,
                            "--prefix", "bench/app", "--count", str(args.images)],
                           capture_output=True, check=True)  # warm-up: not counted
            start = time.perf_counter()
            for r in range(args.rounds):
                spent = time.perf_counter() - start
                if r and spent / r * (r + 1) > args.budget:
                    print(f"stopping after {r} rounds: another would end past --budget "
                          f"{args.budget:.0f} s", file=sys.stderr, flush=True)
                    break
                print(f"round {r + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
                if "plan" in args.variants or b.plan is None:  # the floors need its plan
                    run = plan_once(b, pristine, cfg)
                    if "plan" in args.variants:
                        b.record("plan", run)
                if "local" in args.variants:
                    poll_local(b, pristine, cfg, r)
                for group in ("image", "environment"):
                    if f"github-{group}" in args.variants:
                        poll_github(b, r, group)
                if "floors" in args.variants:
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
