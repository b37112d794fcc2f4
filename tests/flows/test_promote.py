"""The promote flow in memory (MemoryWorkspace, MemoryForge, an injected clock): order, gates,
the ``promoter/gates`` status and auto-merge. End-to-end on the fake forges: test_promote_e2e."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promoter.config import Config, Identity, parse_config
from promoter.errors import InputError
from promoter.flows.promote import Arrival, Decision, Report, Step, promote, select_steps
from promoter.forge import CommitStatus, StatusState
from promoter.forge.memory import MemoryForge
from promoter.gitrepo import MemoryWorkspace
from promoter.plan import Located

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
IMAGE = "registry.example/acme/web"
DIGEST = "sha256:" + "ab" * 32

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: registry.example/acme/web
    newTag: "{tag}"   # promoted
"""


def _config(gates: str = "", prs: str = "") -> Config:
    return parse_config(f"""\
environments:
  - name: dev
    paths: [overlays/dev]
  - name: staging
    paths: [overlays/staging]
{gates}
  - name: prod
    paths: [overlays/prod]
images:
  - name: web
    repository: {IMAGE}
    policy: {{semver: "^1.0"}}
forge: {{type: github, repository: acme/gitops, token-env: T}}
pull-requests:
  labels: [promoter]
{prs}
""")


_CFG = _config()


class World:
    """A repository with three overlays, a clock the test moves, and a forge tied to it."""

    def __init__(self, dev: str = "1.0.0", staging: str = "1.0.0", prod: str = "1.0.0") -> None:
        self.now = START
        self.ws = MemoryWorkspace({f"overlays/{env}/kustomization.yaml":
                                   KUSTOMIZATION.format(tag=tag)
                                   for env, tag in (("dev", dev), ("staging", staging),
                                                    ("prod", prod))},
                                  clock=lambda: self.now.timestamp())
        self.forge = MemoryForge("acme/gitops", resolve=self.ws.branch_head)

    def set(self, env: str, tag: str, digest: str | None = None) -> str:
        """A commit on main setting ``env`` to ``tag`` (a dev PR merged), at the clock's time."""
        head = self.ws.branches["main"]
        text = KUSTOMIZATION.format(tag=tag)
        if digest:
            text += f"    digest: {digest}\n"
        sha = self.ws.commit(parent=head, files={f"overlays/{env}/kustomization.yaml": text},
                             message=f"{env}: {tag}", author=_HUMAN)
        self.ws.branches["main"] = sha
        return sha

    def tag(self, env: str) -> str:
        text = self.ws.read("main", f"overlays/{env}/kustomization.yaml") or ""
        return text.split('newTag: "', 1)[1].split('"', 1)[0]

    def run(self, cfg: Config, **kw: object) -> Report:
        return promote(cfg, self.ws, self.forge, now=self.now, **kw)  # type: ignore[arg-type]

    def merge(self, number: int) -> None:
        pr = self.forge.get(number)
        self.ws.branches["main"] = self.ws.branches[pr.head]  # one commit on main: fast-forward
        self.forge.merge(number)

    def gate_status(self, number: int) -> CommitStatus:
        sha = self.forge.get(number).head_sha
        return next(s for s in self.forge.statuses(sha) if s.context == "promoter/gates")


_HUMAN = Identity(name="Dev Eloper", email="dev@example.com")


def test_a_tag_flows_dev_staging_prod_through_two_promotion_prs() -> None:
    w = World()
    w.now += timedelta(hours=1)
    w.set("dev", "1.1.0")
    cfg = _config()
    report = w.run(cfg)
    assert [(i.image, i.source, i.target, i.decision) for i in report.images] == [
        ("web", "dev", "staging", Decision.PROMOTE),
        ("web", "staging", "prod", Decision.UP_TO_DATE)]
    assert [(r.branch, r.action) for r in report.results] == [("promoter/staging/web", "opened")]
    number = report.results[0].number or 0
    pr = w.forge.get(number)
    assert pr.title == "Promote web to 1.1.0 in staging"
    assert "### Gates" in pr.body and "| `web` | soak | pass |" in pr.body
    assert w.gate_status(number).state is StatusState.SUCCESS
    assert w.run(cfg).results[0].action == "kept"  # idempotent
    w.merge(number)
    assert w.tag("staging") == "1.1.0"
    report = w.run(cfg)
    assert [(r.branch, r.action) for r in report.results] == [("promoter/prod/web", "opened")]
    w.merge(report.results[0].number or 0)
    assert (w.tag("dev"), w.tag("staging"), w.tag("prod")) == ("1.1.0",) * 3
    assert w.run(cfg).results == ()


def test_soak_keeps_the_status_pending_until_the_clock_passes_it() -> None:
    w = World()
    w.set("dev", "1.1.0")
    cfg = _config("    gates: {soak: 1h}")
    w.now += timedelta(minutes=37)
    report = w.run(cfg, target="staging")
    number = report.results[0].number or 0
    status = w.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.PENDING, "soak: 23 min left (37 min of 1h on dev)")
    w.now += timedelta(minutes=23)
    w.run(cfg, target="staging")
    status = w.gate_status(number)
    assert (status.state, status.description) == (StatusState.SUCCESS, "all gates pass")
    body = w.forge.get(number).body
    assert "| `web` | soak | pass | over 1h on dev |" in body
    w.now += timedelta(hours=5)  # once passed, later runs leave the pull request alone
    assert [r.action for r in w.run(cfg, target="staging").results] == ["kept"]
    assert w.forge.get(number).body == body


def test_select_steps_keeps_order() -> None:
    cfg = _config()
    def names(steps: tuple[Step, ...]) -> list[tuple[str, str]]:
        return [("+".join(s.name for s in srcs), t.name) for srcs, t in steps]

    assert names(select_steps(cfg, None, None)) == [("dev", "staging"), ("staging", "prod")]
    assert names(select_steps(cfg, "staging", None)) == [("staging", "prod")]
    assert names(select_steps(cfg, None, "prod")) == [("staging", "prod")]
    with pytest.raises(InputError, match="prod is promoted from staging only, not from dev"):
        select_steps(cfg, "dev", "prod")
    with pytest.raises(InputError, match="dev is the first environment"):
        select_steps(cfg, None, "dev")
    with pytest.raises(InputError, match="prod is the last environment"):
        select_steps(cfg, "prod", None)


@pytest.mark.parametrize(("dev", "staging", "decision", "reason"), [
    ("1.1.0", "1.2.0", Decision.SKIPPED,
     "staging runs web 1.2.0, ahead of dev's 1.1.0; promotion never moves backwards (rollback)"),
    ("1.1.0", "1.1.0", Decision.UP_TO_DATE, ""),
    ("1.1.0", "1.0.9", Decision.PROMOTE, ""),  # behind, though dev never ran 1.0.9
    ("main-b2", "main-a1", Decision.PROMOTE, ""),  # not versions: dev ran main-a1 before
    ("main-b2", "hotfix-9", Decision.SKIPPED,
     "staging runs web hotfix-9, which dev never ran (in its last 50 changes); left alone"),
])
def test_order_is_law(dev: str, staging: str, decision: str, reason: str) -> None:
    w = World(dev="main-a1" if dev.startswith("main") else "1.0.0", staging=staging)
    w.set("dev", dev)
    report = w.run(_config(), target="staging")
    [image] = report.images
    assert (image.decision, image.reason) == (decision, reason)
    assert len(report.results) == (decision == Decision.PROMOTE)


def test_source_digest_is_copied_even_where_the_target_pinned_none() -> None:
    w = World()
    w.set("dev", "1.1.0", DIGEST)
    report = w.run(_config(), target="staging")
    [result] = report.results
    text = w.ws.read(result.branch, "overlays/staging/kustomization.yaml") or ""
    assert text == KUSTOMIZATION.format(tag="1.1.0") + f"    digest: {DIGEST}\n"
    assert report.images[0].to_digest == DIGEST


def test_auto_gate_waits_for_promote_and_override_opens() -> None:
    w = World()
    w.set("dev", "2.0.0")
    cfg = _config("    gates: {auto: minor}")
    report = w.run(cfg)
    assert [(i.target, i.decision, i.reason) for i in report.images][0] == (
        "staging", Decision.WAITING, "auto: major update waits for /promote (auto: minor)")
    assert report.results == () and w.forge.pulls == {}
    report = w.run(cfg, target="staging", images=["web"], override=True)
    [result] = report.results
    assert result.action == "opened"
    # once open, later runs keep it up to date without /promote
    w.set("dev", "2.0.1")
    report = w.run(cfg, target="staging")
    assert [(r.number, r.action) for r in report.results] == [(result.number, "updated")]


def test_freeze_stops_the_environment_and_its_open_pr_says_why() -> None:
    w = World()
    w.set("dev", "1.1.0")
    [opened] = w.run(_config()).results
    w.set("dev", "1.2.0")
    frozen = _config("    gates:\n      freeze: [{days: [mon], from: '08:00', to: '18:00', "
                     "reason: release week}]")
    report = w.run(frozen, target="staging")
    assert [(i.decision, i.reason) for i in report.images] == [
        (Decision.STOPPED, "freeze: frozen until 18:00 UTC (release week)")]
    assert report.results == ()
    status = w.gate_status(opened.number or 0)
    assert (status.state, status.description) == (
        StatusState.PENDING, "freeze: frozen until 18:00 UTC (release week)")
    assert w.forge.get(opened.number or 0).title == "Promote web to 1.1.0 in staging"
    w.now = START.replace(hour=18)
    report = w.run(frozen, target="staging")
    assert [(r.number, r.action) for r in report.results] == [(opened.number, "updated")]


def test_auto_merge_waits_for_the_gates_and_min_approvals() -> None:
    w = World()
    w.set("dev", "1.1.0")
    cfg = _config("    gates: {min-approvals: 1}", "  auto-merge: true")
    [result] = w.run(cfg).results
    number = result.number or 0
    status = w.gate_status(number)
    assert (status.state, status.description) == (
        StatusState.SUCCESS, "all gates pass; auto-merge waits for min-approvals: 0 of 1")
    assert not w.forge.get(number).auto_merge
    w.forge.approve(number, "reviewer")
    report = w.run(cfg)
    assert report.statuses[0].auto_merge
    assert w.forge.get(number).auto_merge
    assert "| `web` | min-approvals | pass | 1 of 1 |" in w.forge.get(number).body


def _two_images(w: World, api_dev: str, gates: str = "{}") -> Config:
    """``api`` next to ``web`` (3.0.0 everywhere, ``api_dev`` in dev; web 1.0.1 in dev), pull
    requests grouped by environment."""
    api = KUSTOMIZATION.replace("acme/web", "acme/api")
    for env in ("dev", "staging", "prod"):
        path = f"overlays/{env}/api.yaml"
        w.ws.branches["main"] = w.ws.commit(
            parent=w.ws.branches["main"], files={path: api.format(tag="3.0.0")},
            message="api", author=_HUMAN)
    w.ws.branches["main"] = w.ws.commit(
        parent=w.ws.branches["main"], files={
            "overlays/dev/api.yaml": api.format(tag=api_dev),
            "overlays/dev/kustomization.yaml": KUSTOMIZATION.format(tag="1.0.1")},
        message="dev moves", author=_HUMAN)
    return parse_config(f"""\
environments:
  - {{name: dev, paths: [overlays/dev]}}
  - {{name: staging, paths: [overlays/staging], gates: {gates}}}
  - {{name: prod, paths: [overlays/prod]}}
images:
  - {{name: web, repository: {IMAGE}}}
  - {{name: api, repository: registry.example/acme/api}}
forge: {{type: github, repository: acme/gitops, token-env: T}}
pull-requests: {{group: environment}}
""")


def test_group_by_environment_makes_one_pr_per_step() -> None:
    w = World()
    cfg = _two_images(w, "3.1.0")
    report = w.run(cfg)
    assert [(r.branch, dict(r.images)) for r in report.results] == [
        ("promoter/staging", {"web": "1.0.1", "api": "3.1.0"})]
    pr = w.forge.get(report.results[0].number or 0)
    assert pr.title == "Promote 2 images to staging"
    assert "| `web` | soak |" in pr.body and "| `api` | soak |" in pr.body


def test_grouped_pr_takes_in_only_what_auto_or_promote_let_in() -> None:
    w = World()
    cfg = _two_images(w, "4.0.0", gates="{auto: minor}")
    for _ in range(2):  # the open PR does not let api's major update in on the second run
        report = w.run(cfg, target="staging")
        assert [(i.image, i.decision) for i in report.images] == [
            ("web", Decision.PROMOTE), ("api", Decision.WAITING)]
        assert [dict(r.images) for r in report.results] == [{"web": "1.0.1"}]
    report = w.run(cfg, target="staging", images=["api"], override=True)  # /promote staging api
    assert [dict(r.images) for r in report.results] == [{"web": "1.0.1", "api": "4.0.0"}]


def test_a_promotion_pr_the_target_no_longer_needs_is_closed() -> None:
    w = World()
    w.set("dev", "1.1.0")
    [opened] = w.run(_config()).results
    w.set("staging", "1.1.0")  # someone did it by hand
    report = w.run(_config())
    assert [(r.branch, r.outcome) for r in report.results] == [
        ("promoter/staging/web", "closed"), ("promoter/prod/web", "created")]  # staging -> prod
    assert report.results[0].number == opened.number
    assert w.forge.get(opened.number or 0).state.value == "closed"


def test_a_promotion_pr_whose_source_was_rolled_back_behind_the_target_is_closed() -> None:
    """staging -> prod for 1.1.0 is open; then staging is rolled back to 0.9.0, behind prod's
    1.0.0. Merged, the PR would put into prod a version staging no longer runs: it is closed,
    and its branch deleted."""
    w = World(dev="1.1.0", staging="1.1.0", prod="1.0.0")
    [opened] = w.run(_config(), source="staging").results
    assert opened.action == "opened"
    w.set("staging", "0.9.0")  # promoter rollback staging, merged
    report = w.run(_config(), source="staging")
    assert [(i.decision, i.to_tag) for i in report.images] == [(Decision.SKIPPED, "0.9.0")]
    assert [(r.branch, r.outcome, r.images) for r in report.results] == [
        ("promoter/prod/web", "closed", {"web": "1.1.0"})]
    pr = w.forge.get(opened.number or 0)
    assert pr.state.value == "closed"
    assert w.forge.comments(pr.number)[-1].body.startswith(
        "Closing: staging no longer runs `web` 1.1.0 (it runs 0.9.0), so it may not enter prod")
    assert "promoter/prod/web" not in w.ws.branches
    assert w.run(_config(), source="staging").results == ()  # nothing left to do


def test_a_promotion_pr_is_kept_while_its_source_still_runs_it() -> None:
    """Skipped for another reason (prod ahead by hand) but staging still runs the PR's
    version: the PR stays for people to decide."""
    w = World(dev="1.1.0", staging="1.1.0", prod="1.0.0")
    [opened] = w.run(_config(), source="staging").results
    w.set("prod", "1.2.0")  # a hand edit puts prod ahead
    report = w.run(_config(), source="staging")
    assert [i.decision for i in report.images] == [Decision.SKIPPED]
    assert report.results == ()
    assert w.forge.get(opened.number or 0).state.value == "open"


def test_dry_run_evaluates_but_writes_nothing() -> None:
    w = World()
    w.set("dev", "1.1.0")
    branches = dict(w.ws.branches)
    report = w.run(_config(), dry_run=True)
    assert [i.decision for i in report.images] == [Decision.PROMOTE, Decision.UP_TO_DATE]
    assert [p.branch for p in report.plan.pull_requests] == ["promoter/staging/web"]
    assert report.results == () and w.ws.branches == branches and w.forge.calls.count(
        "create") == 0


def test_arrival_on_real_git_counts_from_the_merge_not_the_branch_commit(tmp_path: Path
                                                                          ) -> None:
    import os
    import subprocess

    from promoter.flows.promote import _landed, arrival, ran_before
    from promoter.flows.snapshots import Snapshots
    from promoter.gitrepo import GitWorkspace

    repo = tmp_path / "repo"

    def git(*args: str, at: datetime | None = None) -> str:
        env = dict(os.environ)
        if at is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = at.isoformat()
        return subprocess.run(["git", "-C", str(repo), *args], check=True, text=True,
                              capture_output=True, env=env).stdout.strip()

    def write(tag: str, note: str = "") -> None:
        path = repo / "overlays/dev/kustomization.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(KUSTOMIZATION.format(tag=tag) + note)

    t = [START + timedelta(hours=i) for i in range(6)]
    repo.mkdir()
    git("init", "-q", "-b", "main")
    write("1.0.0")
    git("add", ".")
    git("commit", "-qm", "start", at=t[0])
    git("checkout", "-qb", "promoter/dev/web")
    write("1.1.0")
    git("commit", "-qam", "dev: 1.1.0", at=t[1])  # the PR's commit, made when it opened
    git("checkout", "-q", "main")
    (repo / "README.md").write_text("unrelated\n")
    git("add", ".")
    git("commit", "-qm", "readme", at=t[2])
    git("merge", "-q", "--no-ff", "-m", "Merge dev 1.1.0", "promoter/dev/web", at=t[3])
    merge = git("rev-parse", "HEAD")
    write("1.1.0", "# a comment, same version\n")
    git("commit", "-qam", "comment", at=t[4])
    cfg = _config()
    with GitWorkspace.open(repo) as ws:
        head = ws.branch_head("main") or ""
        [loc] = Snapshots(ws).locate_env(cfg, "dev", head)
        assert arrival(ws, head, loc) == Arrival(commit=merge, since=t[3])
        [branch_commit] = [c for c in ws.history(head, ["overlays"]) if c.subject == "dev: 1.1.0"]
        # a walk cut short counts from the oldest commit it saw: less soak, never more
        assert _landed(ws, head, branch_commit, limit=1).sha == head
        assert ran_before(ws, head, loc, "1.0.0", None)
        assert not ran_before(ws, head, loc, "0.9.0", None)
    write("1.2.0")
    git("commit", "-qam", "dev: 1.2.0 by hand", at=t[5])
    with GitWorkspace.open(repo) as ws:
        head = ws.branch_head("main") or ""
        [loc] = Snapshots(ws).locate_env(cfg, "dev", head)
        assert arrival(ws, head, loc) == Arrival(commit=head, since=t[5])


def test_a_forge_failure_on_one_image_is_reported_and_opens_nothing() -> None:
    w = World()
    w.set("dev", "1.1.0")
    w.forge.fail_next("statuses")
    report = w.run(_config("    gates: {require-checks: [e2e]}"), target="staging")
    assert not report.ok
    assert tuple(map(str, report.errors)) == (
        "web dev -> staging: memory: acme/gitops: statuses: injected failure",)
    assert report.exit_code == 3  # the forge alone is to blame: retry later
    assert [(i.decision, i.reason) for i in report.images] == [
        (Decision.SKIPPED, "memory: acme/gitops: statuses: injected failure")]
    assert w.forge.pulls == {}


def test_cli_promote_on_a_local_repository_makes_branches(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    import subprocess

    from promoter.cli import main

    repo = tmp_path / "gitops"
    for env, tag in (("dev", "1.1.0"), ("staging", "1.0.0"), ("prod", "1.0.0")):
        path = repo / f"overlays/{env}/kustomization.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(KUSTOMIZATION.format(tag=tag))
    (repo / ".promoter.yaml").write_text(f"""\
environments:
  - {{name: dev, paths: [overlays/dev]}}
  - {{name: staging, paths: [overlays/staging], gates: {{soak: 1h}}}}
  - {{name: prod, paths: [overlays/prod]}}
images:
  - {{name: web, repository: {IMAGE}}}
""")
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "start"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    now = datetime.now(UTC) + timedelta(minutes=20)
    assert main(["promote", "--repo", str(repo), "--now", now.isoformat()]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "dev -> staging: web 1.0.0 -> 1.1.0 (minor) promote"
    assert out[1].startswith("  soak: 40 min left (20 min of 1h on dev)") or \
        out[1].startswith("  soak: 41 min left (19 min of 1h on dev)")
    assert out[2] == "staging -> prod: web 1.0.0 up-to-date"
    assert out[3] == "staging: promoter/staging/web: created"
    shown = subprocess.run(["git", "-C", str(repo), "show",
                            "promoter/staging/web:overlays/staging/kustomization.yaml"],
                           check=True, capture_output=True, text=True).stdout
    assert shown == KUSTOMIZATION.format(tag="1.1.0")
    assert main(["promote", "--repo", str(repo), "--now", "yesterday"]) == 2
    assert "--now: 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


_VERSION = st.tuples(*(st.integers(0, 3),) * 3)


@given(_VERSION, _VERSION, st.booleans())
def test_compare_never_moves_a_target_backwards(src: tuple[int, int, int],
                                                tgt: tuple[int, int, int], ran: bool) -> None:
    from promoter.flows.promote import compare
    from promoter.plan import locate

    image = _CFG.image("web")

    def at(env: str, version: tuple[int, int, int]) -> Located:
        path = f"overlays/{env}/kustomization.yaml"
        text = KUSTOMIZATION.format(tag=".".join(map(str, version)))
        return locate(image, env, (path,), {path: text}.get)

    decision, reason = compare(at("dev", src), at("staging", tgt), lambda tag, digest: ran)
    expected = (Decision.UP_TO_DATE if src == tgt else
                Decision.SKIPPED if tgt > src else Decision.PROMOTE)
    assert decision == expected
    assert ("ahead of dev's" in reason) is (tgt > src)


def test_environments_on_their_own_branches() -> None:
    w = World()
    w.ws.branches["env/staging"] = w.ws.branches["main"]
    w.set("dev", "1.1.0")  # on main only
    cfg = parse_config(f"""\
environments:
  - {{name: dev, paths: [overlays/dev]}}
  - {{name: staging, paths: [overlays/staging], branch: env/staging}}
images:
  - {{name: web, repository: {IMAGE}}}
forge: {{type: github, repository: acme/gitops, token-env: T}}
""")
    [result] = w.run(cfg).results
    pr = w.forge.get(result.number or 0)
    assert (pr.head, pr.base) == ("promoter/staging/web", "env/staging")
    assert w.ws.read(pr.head, "overlays/staging/kustomization.yaml") == \
        KUSTOMIZATION.format(tag="1.1.0")
    assert w.ws.read(pr.head, "overlays/dev/kustomization.yaml") == \
        KUSTOMIZATION.format(tag="1.0.0")  # the staging branch's own dev file is left alone


def test_auto_merge_refused_by_the_forge_still_posts_the_status() -> None:
    w = World()
    w.set("dev", "1.1.0")
    w.forge.fail_next("enable_auto_merge", "Pull request is in clean status")
    report = w.run(_config(prs="  auto-merge: true"), target="staging")
    [result] = report.results
    assert tuple(map(str, report.errors)) == (
        f"#{result.number}: auto-merge: memory: acme/gitops: enable_auto_merge: Pull request "
        "is in clean status (make promoter/gates a required check so the forge waits for it)",)
    assert w.gate_status(result.number or 0).state is StatusState.SUCCESS
    assert report.statuses[0].auto_merge is False
