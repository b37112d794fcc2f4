"""``promoter check``: verify a pull request's environment changes and post ``promoter/verify``.

What to check: ``--pr N`` (asks the forge for its base branch, head commit and labels), or
``--base REF --head REF``, or else what CI says (GitHub Actions ``pull_request`` events:
``GITHUB_BASE_REF``/``GITHUB_HEAD_REF`` and ``GITHUB_REF`` ``refs/pull/N/merge``; GitLab merge
request pipelines: ``CI_MERGE_REQUEST_IID``, ``CI_MERGE_REQUEST_TARGET_BRANCH_NAME``,
``CI_COMMIT_SHA``). The checkout needs the history of both (``fetch-depth: 0``).

Exit 0 when every rule holds, 1 on violations, 2 on bad input, 3 when the registry could not
answer. The Markdown summary is printed (``--output markdown``) or appended to
``$GITHUB_STEP_SUMMARY`` when set, either way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import click

from promoter import wiring
from promoter.cli.output import output_option, print_json, record
from promoter.cli.repo import checkout_options, open_repo, optional_forge
from promoter.errors import InputError, PromoterError
from promoter.flows.check import CheckReport, is_rollback, verify_status
from promoter.flows.check import check as run_check
from promoter.forge import Forge
from promoter.gitrepo import Workspace
from promoter.render.markdown import markdown
from promoter.render.text import text
from promoter.secrets import redact


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What to check, as given or found in CI."""

    pr: int | None = None
    base: str | None = None
    head: str | None = None


def ci_target(environ: Mapping[str, str]) -> Target:
    """The pull request CI runs for, from its environment variables (pure)."""
    if environ.get("GITHUB_BASE_REF"):
        m = re.fullmatch(r"refs/pull/(\d+)/(merge|head)", environ.get("GITHUB_REF", ""))
        return Target(pr=int(m[1]) if m else None, base=environ["GITHUB_BASE_REF"],
                      head=environ.get("GITHUB_HEAD_REF") or None)
    if environ.get("CI_MERGE_REQUEST_IID", "").isdigit():
        return Target(pr=int(environ["CI_MERGE_REQUEST_IID"]),
                      base=environ.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") or None,
                      head=environ.get("CI_COMMIT_SHA") or None)
    return Target()


def _rev(ws: Workspace, ref: str, what: str) -> str:
    sha = ws.branch_head(ref) or ws.resolve(ref)
    if sha is None:
        raise InputError(f"{what} {ref}: no such branch or commit in the checkout (fetch it, "
                         "e.g. actions/checkout with fetch-depth: 0)")
    return sha


@click.command("check", epilog=(
    "Without --pr or --base/--head the pull request comes from CI (GitHub Actions "
    "pull_request events, GitLab merge request pipelines). Exit 0 every rule holds, 1 "
    "violations, 2 bad input, 3 the registry could not answer (retry later). The Markdown "
    "summary is appended to $GITHUB_STEP_SUMMARY when set."))
@checkout_options
@click.option("--pr", "pr", type=int, default=None, help="The pull request (merge request) "
              "to check; needs the forge.")
@click.option("--base", "base", default=None, metavar="REF",
              help="The branch (or commit) the change goes into.")
@click.option("--head", "head", default=None, metavar="REF",
              help="The branch (or commit) with the change.")
@output_option("text", "json", "markdown")
def check(repo: str | None, config: str | None, pr: int | None, base: str | None,
          head: str | None, output: str) -> int:
    """Verify the environment changes of a pull request: images exist (digests match), no
    stage skipped, no downgrade outside a rollback, valid YAML. Posts promoter/verify."""
    if pr is None and (base is None) != (head is None):
        raise InputError("--base and --head go together")
    target = Target(pr=pr, base=base, head=head) if pr or base else ci_target(os.environ)
    if target.pr is None and (target.base is None or target.head is None):
        raise InputError("nothing to check: give --pr N or --base REF --head REF")
    with open_repo(repo, config) as (cfg, ws):
        forge, why = optional_forge(cfg)
        labels: tuple[str, ...] = ()
        head_branch = target.head
        if target.pr is not None and forge is not None:
            got = forge.get(target.pr)
            labels, head_branch = got.labels, got.head
            base_ref = target.base or got.base
            found = ws.resolve(got.head_sha) or ws.branch_head(got.head)
            if found is None:
                raise InputError(f"pull request {target.pr}: head {got.head_sha[:12]} is not in "
                                 "the checkout (fetch it, e.g. fetch-depth: 0)")
            head_sha = found
        elif target.base is not None and target.head is not None:
            base_ref = target.base
            head_sha = _rev(ws, target.head, "--head")
        else:
            raise InputError(f"--pr needs a forge: {why or 'forge.type is local'}")
        base_sha = _rev(ws, base_ref, "--base")
        report = run_check(cfg, ws, wiring.registry(cfg, os.environ), base=base_sha,
                           head=head_sha, rollback=is_rollback(head_branch, labels),
                           base_branch=base_ref)
        posted = _post(forge, head_sha, report)
    summary = markdown(report)
    _step_summary(summary)
    record((), checked=report.files)
    if output == "json":
        print_json(report, exit_code=report.exit_code)
    else:
        record(report.problems)
        click.echo(summary if output == "markdown" else text(report), nl=False)
    if posted:
        click.echo(f"promoter: {posted}", err=True)
    return report.exit_code


def _post(forge: Forge | None, sha: str, report: CheckReport) -> str | None:
    if forge is None:
        return None
    status = verify_status(report, summary=markdown(report))
    try:
        forge.set_status(sha, status)
    except PromoterError as e:
        return f"could not post {status.context}: {redact(str(e))}"
    return f"posted {status.context} {status.state.value} on {sha[:12]}"


def _step_summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown + "\n")
