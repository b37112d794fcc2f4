"""Comment commands: who may run them, what they do, and the one reply.

:func:`handle` takes a comment (a GitHub issue comment on a PR, a GitLab MR note) and:

1. ignores what is not for promoter: edits and deletions, GitLab system notes, comments outside
   pull requests, comments without a command, and comments by bots or by promoter itself;
2. reacts with :attr:`~promoter.forge.Reaction.EYES`, so the commenter sees it was read;
3. asks the forge what the commenter may do: write access is needed (GitHub collaborator
   permission ``write`` or more, GitLab Developer or more); an environment's
   ``allowed-commenters`` narrow that further for commands aimed at it. A refusal is answered
   politely and says nothing about anyone's permissions or the allowlist;
4. runs the commands in order through :data:`HANDLERS` (one function per command type) and
   posts **one** comment with every result. ``/promote ENV [IMAGE]`` runs
   :func:`promoter.flows.promote.promote` (overriding the ``auto`` gate, never the order rule),
   ``status`` :func:`promoter.flows.status.status`, ``rollback``
   :func:`promoter.flows.rollback.rollback`; ``/hold ENV`` labels every open promoter pull
   request into ENV (the promote flow stops a step whose target has a held one).

Commands that mean "merge this" turn on the forge's own auto-merge (GitHub auto-merge, GitLab
"merge when the pipeline succeeds"), so branch protection, reviews and checks still apply.
Pull-request-scoped commands (``/promote`` without arguments, ``/hold``, ``rebase``,
``ignore this version``...) act only on pull requests promoter opened itself (author is
promoter, and its hidden metadata is present), never on someone's fork.
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from promoter import commands as c
from promoter import ignores, render
from promoter.argocd import Connect
from promoter.config import Config, Environment
from promoter.errors import ForgeError, GitError, InputError, PromoterError
from promoter.flows.publish import Outcome as Published
from promoter.flows.publish import Proposal, publish
from promoter.forge import Forge, MergeMethod, Permission, PRState, PullRequest, Reaction
from promoter.gitrepo import Workspace
from promoter.secrets import redact
from promoter.signature_checks import SignatureChecks, for_config
from promoter.webhooks import CommentEvent as CommentEvent  # the entry points read events
from promoter.webhooks import github_event as github_event  # through promoter.webhooks'
from promoter.webhooks import gitlab_note_event as gitlab_note_event  # one walker

log = logging.getLogger(__name__)

IGNORE_BRANCH = "promoter/ignore"


class Result(enum.Enum):
    DONE = "done"
    DECLINED = "declined"  # not done, and why (bad input, wrong state, unknown command)
    REFUSED = "refused"  # the commenter may not run it for that environment
    FAILED = "failed"  # a forge, git or registry error


class Outcome(enum.Enum):
    IGNORED = "ignored"  # nothing for promoter; nothing posted
    REFUSED = "refused"  # not allowed; a polite answer was posted
    DONE = "done"  # every command ran (some may have answered "no")
    FAILED = "failed"  # a command failed on a forge, git or registry error


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    command: c.Command
    result: Result
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    outcome: Outcome
    reason: str = ""
    answers: tuple[Answer, ...] = ()
    reply: str | None = None  # the comment posted


WorkspaceOpener: TypeAlias = Callable[[], AbstractContextManager[Workspace]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Ports:
    """What the commands may use. Without ``workspace`` (or ``registry``) the commands that
    need a checkout (or the registry) answer that they cannot run here.

    ``member_of(user, team_or_group)`` answers allowlists by team (GitHub ``org/team``) or group
    (GitLab path); without it only the allowlists' ``users`` can match.
    """

    forge: Forge
    workspace: WorkspaceOpener | None = None
    registry: Callable[[], Any] | None = None
    member_of: Callable[[str, str], bool] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    argocd: Connect | None = None  # the environments' Argo CD Applications (health.argocd)


@dataclass(slots=True, kw_only=True)
class _Ctx:
    cfg: Config
    ports: Ports
    event: CommentEvent
    pr: PullRequest | None  # None: a command from the dashboard issue, about no pull request
    meta: Mapping[str, Any] | None  # promoter's hidden metadata when promoter opened the PR
    notes: list[str] = field(default_factory=list)
    where: str = ""  # where the command came from, for commit messages ("#12", "the dashboard")

    @property
    def this_pr(self) -> PullRequest:
        """The pull request the command is about; InputError (answered) when there is none."""
        if self.pr is None:
            raise InputError("this works only on a pull request")
        return self.pr

    @property
    def forge(self) -> Forge:
        return self.ports.forge

    @property
    def env(self) -> Environment | None:
        name = self.meta.get("env") if self.meta else None
        return next((e for e in self.cfg.environments if e.name == name), None)

    def own_pr(self) -> Mapping[str, Any]:
        """The metadata of this PR; InputError (answered) when promoter did not open it."""
        if self.meta is None:
            raise InputError("this works only on pull requests promoter opened")
        return self.meta


# --- authorization ----------------------------------------------------------------------------

def _allowed(env: Environment, user: str, member_of: Callable[[str, str], bool] | None
             ) -> bool:
    who = env.commenters
    if not who.restricted or user.lower() in {u.lower() for u in who.users}:
        return True
    return member_of is not None and any(member_of(user, t) for t in (*who.teams, *who.groups))


def _target_env(ctx: _Ctx, cmd: c.Command) -> Environment | None:
    """The environment a command acts on (named, or this PR's), for the allowlists."""
    name = getattr(cmd, "env", None)
    if name is not None:
        return next((e for e in ctx.cfg.environments if e.name == name), None)
    if isinstance(cmd, c.Promote | c.Rollback | c.Hold | c.Unhold | c.Rebase | c.Ignore):
        return ctx.env
    return None


# --- handlers ---------------------------------------------------------------------------------

def _merge_this(ctx: _Ctx) -> str:
    ctx.own_pr()
    pr = ctx.this_pr
    if not pr.is_open:
        raise InputError(f"this pull request is {pr.state.value}")
    env = ctx.env
    hold = env.gates.hold_label if env else None
    if hold and hold in pr.labels:
        raise InputError(f"this pull request is on hold (label `{hold}`); `/unhold` first")
    method = MergeMethod(ctx.cfg.pull_requests.merge_method)
    try:
        ctx.forge.enable_auto_merge(pr.number, method=method)
    except ForgeError as e:
        if "clean status" not in str(e):
            raise
        raise InputError("the forge has nothing left to wait for (no required check or review "
                         "is pending), so it refuses auto-merge; merge it yourself") from None
    return ("auto-merge is on: the forge merges this pull request once its required checks "
            "and reviews pass.")


def _signatures(ctx: _Ctx, ws: Workspace) -> SignatureChecks | None:
    """The signature gates' checks, when an environment has one (without a registry they stay
    pending: nothing unsigned gets in by command)."""
    return for_config(ctx.cfg, ws, ctx.ports.registry or (lambda: None),
                      now=ctx.ports.clock())


def _promote(ctx: _Ctx, cmd: c.Command) -> str:
    """No arguments (or this PR's environment): merge this PR through auto-merge. Otherwise the
    promote flow, overriding the ``auto`` gate (never the order rule)."""
    assert isinstance(cmd, c.Promote)
    env, image = cmd.env, cmd.image
    here = ctx.env
    if env is not None and env not in ctx.cfg.env_names and image is None and \
            env in {i.name for i in ctx.cfg.images}:
        env, image = (here.name if here else None), env  # "/promote api": the image
    if image is None and cmd.version is None and (env is None or (here and env == here.name)):
        return _merge_this(ctx)
    if cmd.version is not None:
        raise InputError("promoting a chosen VERSION is not supported; promoter moves what the "
                         "source environments run (use `/rollback ... --to VERSION` to go back)")
    from promoter.flows.promote import promote
    from promoter.render.text import text as render_text

    with _workspace(ctx, "`promote`") as ws:
        report = promote(ctx.cfg, ws, ctx.forge, target=env, images=(image,) if image else None,
                         now=ctx.ports.clock(), override=True, signatures=_signatures(ctx, ws),
                         argocd=ctx.ports.argocd)
    text = render_text(report).rstrip()
    errors = "".join(f"\nerror: {e}" for e in report.errors)
    return f"\n```text\n{text}{errors}\n```"


def _rollback(ctx: _Ctx, cmd: c.Command) -> str:
    """``/rollback [ENV] [IMAGE] [--to VERSION]``: ENV defaults to this PR's environment, IMAGE
    to this PR's image when it moves one (a bare image name in place of ENV works too)."""
    assert isinstance(cmd, c.Rollback)
    from promoter.flows.rollback import rollback
    from promoter.render.text import text as render_text

    env, image = cmd.env, cmd.image
    here = ctx.env
    if env is not None and env not in ctx.cfg.env_names and image is None and \
            env in {i.name for i in ctx.cfg.images}:
        env, image = None, env
    env = env or (here.name if here else None)
    if env is None:
        raise InputError("say which environment: `/rollback ENV [IMAGE] [--to VERSION]`")
    ctx.cfg.environment(env)  # InputError for an unknown one
    if image is None and cmd.to is not None:
        images = list((ctx.meta or {}).get("images") or ())
        if len(images) != 1:
            raise InputError("`--to` needs an image: `/rollback ENV IMAGE --to VERSION`")
        image = images[0]
    with _workspace(ctx, "`rollback`") as ws:
        report = rollback(ctx.cfg, ws, ctx.forge, env=env, image=image, to=cmd.to,
                          reason=f"/rollback by @{ctx.event.author} on {ctx.where}",
                          registry=ctx.ports.registry() if cmd.to and ctx.ports.registry
                          else None)
    return f"\n```text\n{render_text(report).rstrip()}\n```"


def _status(ctx: _Ctx, cmd: c.Command) -> str:
    from promoter.flows.status import status
    from promoter.render.markdown import markdown

    with _workspace(ctx, "`status`") as ws:
        st = status(ctx.cfg, ws, ctx.forge, now=ctx.ports.clock())
    return "\n" + markdown(st)


def _hold_label(ctx: _Ctx) -> str:
    ctx.own_pr()
    env = ctx.env
    if env is None:
        raise InputError("this pull request names no environment promoter knows")
    return env.gates.hold_label


def _env_prs(ctx: _Ctx, name: str) -> tuple[Environment, list[PullRequest]]:
    """The open pull requests promoter opened into environment ``name``."""
    env = ctx.cfg.environment(name)
    me = ctx.forge.me()
    prs = [pr for pr in ctx.forge.list_open(base=env.branch) if pr.author == me
           and (render.read_meta(pr.body) or {}).get("env") == env.name]
    return env, prs


def _hold_env(ctx: _Ctx, name: str, *, hold: bool) -> str:
    """Hold (or release) every open promoter PR into ``name``: the promote flow stops a step
    whose target has a held PR."""
    env, prs = _env_prs(ctx, name)
    label = env.gates.hold_label
    changed = []
    for pr in prs:
        if hold and label not in pr.labels:
            ctx.forge.add_labels(pr.number, (label,))
            changed.append(pr.number)
        elif not hold and label in pr.labels:
            ctx.forge.update(pr.number, labels=tuple(x for x in pr.labels if x != label))
            changed.append(pr.number)
    if not prs:
        return (f"no open promoter pull request into **{env.name}** to hold; promotions into "
                f"it are held while one of them carries `{label}`.") if hold else \
            f"nothing into **{env.name}** is on hold."
    numbers = ", ".join(f"#{n}" for n in changed) or "none changed"
    verb = "on hold" if hold else "released"
    return f"**{env.name}** {verb}: label `{label}` on its open pull requests ({numbers})."


def _hold(ctx: _Ctx, cmd: c.Command) -> str:
    assert isinstance(cmd, c.Hold)
    if cmd.env is not None:
        return _hold_env(ctx, cmd.env, hold=True)
    label = _hold_label(ctx)
    if label in ctx.this_pr.labels:
        return f"already on hold (label `{label}`)."
    ctx.forge.add_labels(ctx.this_pr.number, (label,))
    return f"on hold: label `{label}` added; promoter leaves this pull request alone until " \
           "`/unhold`."


def _unhold(ctx: _Ctx, cmd: c.Command) -> str:
    assert isinstance(cmd, c.Unhold)
    if cmd.env is not None:
        return _hold_env(ctx, cmd.env, hold=False)
    label = _hold_label(ctx)
    pr = ctx.this_pr
    if label not in pr.labels:
        return "not on hold."
    ctx.forge.update(pr.number, labels=tuple(x for x in pr.labels if x != label))
    return f"released: label `{label}` removed."


def _help(ctx: _Ctx, cmd: c.Command) -> str:
    return c.HELP


def _unknown(ctx: _Ctx, cmd: c.Command) -> str:
    assert isinstance(cmd, c.Unknown)
    raise InputError(f"{cmd.reason}. {c.HELP}")


@contextlib.contextmanager
def _workspace(ctx: _Ctx, what: str) -> Iterator[Workspace]:
    if ctx.ports.workspace is None:
        raise InputError(f"{what} needs a checkout of the repository, which this run has not")
    with ctx.ports.workspace() as ws:
        ws.fetch()
        yield ws


def _rebase(ctx: _Ctx, cmd: c.Command) -> str:
    """Rebuild this PR's branch the way it was made: a registry poll, or a promotion step (not
    overriding the gates). ``recreate`` deletes the branch first, dropping commits by hand."""
    assert isinstance(cmd, c.Rebase)
    from promoter.flows.poll import poll
    from promoter.flows.promote import promote

    meta = ctx.own_pr()
    word = "recreate" if cmd.recreate else "rebase"
    promotion = bool(meta.get("source"))
    if not promotion and ctx.ports.registry is None:
        raise InputError(f"`{word}` needs the registry, which this run cannot reach")
    env = meta.get("env") if isinstance(meta.get("env"), str) else None
    images = tuple(meta.get("images") or ())
    with _workspace(ctx, f"`{word}`") as ws:
        if cmd.recreate:
            head = ws.branch_head(ctx.this_pr.head)
            if head is not None:
                ws.delete_branch(ctx.this_pr.head, expect=head)
                ws.fetch()
        if promotion:
            done = promote(ctx.cfg, ws, ctx.forge, target=env, images=images or None,
                           now=ctx.ports.clock(), signatures=_signatures(ctx, ws),
                           argocd=ctx.ports.argocd)
            results, errors = done.results, done.errors
        else:
            assert ctx.ports.registry is not None
            polled = poll(ctx.cfg, ws, ctx.ports.registry(), ctx.forge,
                          envs=(env,) if env else None, images=images or None)
            results, errors = polled.results, polled.errors
    mine = [r for r in results if r.branch == ctx.this_pr.head] or list(results)
    if not mine:
        return f"nothing to rebuild: {'; '.join(map(str, errors)) or 'nothing to change'}."
    lines = []
    for r in mine:
        where = f" #{r.number}" if r.number else ""
        lines.append(f"`{r.branch}`: {r.outcome}{where}" + (f" ({r.error})" if r.error else ""))
    return "; ".join(lines) + "."


def _ignore(ctx: _Ctx, cmd: c.Command) -> str:
    assert isinstance(cmd, c.Ignore)
    meta = ctx.own_pr() if cmd.image is None else (ctx.meta or {})
    images: dict[str, str] = dict(meta.get("images") or {})
    if cmd.image is not None:
        ctx.cfg.image(cmd.image)  # InputError for an unknown image
        image, version = cmd.image, images.get(cmd.image)
    elif len(images) == 1:
        image, version = next(iter(images.items()))
    else:
        raise InputError("this pull request moves several images; say which: "
                         "`/promoter ignore IMAGE`")
    what = cmd.what
    with _workspace(ctx, "`ignore`") as ws:
        base = ctx.cfg.forge.base_branch
        pending = ws.branch_head(IGNORE_BRANCH)
        old_pr = ctx.forge.find(head=IGNORE_BRANCH, base=base)
        source = pending if pending and old_pr is not None and old_pr.is_open \
            else ws.branch_head(base)
        if source is None:
            raise InputError(f"branch {base} does not exist")
        rules = ignores.parse(ws.read(source, ignores.PATH))
        rules = ignores.add(rules, image, version=version, whole=what is c.IgnoreWhat.IMAGE,
                            major=what is c.IgnoreWhat.MAJOR, minor=what is c.IgnoreWhat.MINOR)
        text = ignores.dump(rules)
        title = "promoter: remember ignored versions"
        body = (f"Later polls skip what `/promoter ignore` asked for, once this is merged.\n\n"
                f"```yaml\n{text}```\n")
        [done] = publish(ws, ctx.forge, [Proposal(
            env="", branch=IGNORE_BRANCH, base=base, files={ignores.PATH: text}, title=title,
            body=body, message=f"{title}\n\n{c.describe(cmd)} on {ctx.where} by "
                               f"@{ctx.event.author}")], author=ctx.cfg.commit.author)
    if done.outcome is Published.HUMAN:
        raise InputError(f"{IGNORE_BRANCH} has commits by someone else, so the ignore rule was "
                         "not written: merge or close that pull request first")
    if done.outcome is Published.FAILED or done.number is None:
        raise GitError(f"{IGNORE_BRANCH}: {done.error or done.outcome}")
    what_text = {c.IgnoreWhat.IMAGE: f"`{image}` altogether",
                 c.IgnoreWhat.VERSION: f"`{image}` {version}",
                 c.IgnoreWhat.MAJOR: f"`{image}` major version of {version}",
                 c.IgnoreWhat.MINOR: f"`{image}` minor version of {version}"}[what]
    closing = ""
    if ctx.meta is not None and image in images and ctx.pr is not None and ctx.pr.is_open:
        ctx.forge.close(ctx.pr.number)
        closing = " This pull request is closed."
    return f"later polls skip {what_text} once #{done.number} is merged ({done.url}).{closing}"


Handler: TypeAlias = Callable[[_Ctx, c.Command], str]

# command type -> handler; the one dispatch table (promote/rollback/status go to their flows)
HANDLERS: dict[type, Handler] = {
    c.Promote: _promote,
    c.Rollback: _rollback,
    c.Status: _status,
    c.Hold: _hold,
    c.Unhold: _unhold,
    c.Rebase: _rebase,
    c.Ignore: _ignore,
    c.Help: _help,
    c.Unknown: _unknown,
}


# --- the flow ---------------------------------------------------------------------------------

def _is_bot(event: CommentEvent, me: str) -> bool:
    user = event.author.lower()
    return (event.author_is_bot or user == me.lower() or user.endswith("[bot]")
            or _gitlab_bot(user))


def _gitlab_bot(user: str) -> bool:
    """GitLab's project/group access token users: ``project_7_bot_<hash>``, ``group_3_bot``."""
    head, _, rest = user.partition("_")
    return head in ("project", "group") and "_bot" in rest and rest.split("_", 1)[0].isdigit()


def refusal(user: str) -> str:
    return (f"@{user}, sorry: promoter commands need write access to this repository, so "
            "promoter did not run them. Someone with write access can run them for you.")


def handle(event: CommentEvent, cfg: Config, ports: Ports) -> Report:
    """Run the commands of one comment (see the module docstring). ForgeError only when the
    forge cannot be reached at all; a failing command is answered, not raised."""
    if event.edited or event.system or not event.on_pull_request:
        why = "an edit" if event.edited else "a system note" if event.system else \
            "not on a pull request"
        return Report(outcome=Outcome.IGNORED, reason=why)
    cmds = c.parse(event.body)
    if not cmds:
        return Report(outcome=Outcome.IGNORED, reason="no command")
    forge = ports.forge
    if _is_bot(event, forge.me()):
        return Report(outcome=Outcome.IGNORED, reason=f"by a bot ({event.author})")
    forge.react(event.number, event.comment_id, Reaction.EYES)
    if not authorized(forge, event.author):
        reply = refusal(event.author)
        forge.comment(event.number, reply)
        return Report(outcome=Outcome.REFUSED, reason="no write access", reply=reply)
    pr = forge.get(event.number)
    meta = render.read_meta(pr.body) if pr.author == forge.me() else None
    ctx = _Ctx(cfg=cfg, ports=ports, event=event, pr=pr, meta=meta, where=f"#{pr.number}")
    answers = [_run(ctx, cmd) for cmd in cmds]
    reply = _reply(event.author, answers)
    forge.comment(event.number, reply)
    failed = any(a.result is Result.FAILED for a in answers)
    refused = all(a.result is Result.REFUSED for a in answers)
    outcome = Outcome.FAILED if failed else Outcome.REFUSED if refused else Outcome.DONE
    return Report(outcome=outcome, answers=tuple(answers), reply=reply)


def run_for(cfg: Config, ports: Ports, *, author: str, command: c.Command,
            number: int | None = None, where: str = "the dashboard") -> Answer:
    """Run one command for ``author`` as if they had commented it on pull request ``number``
    (None: on no pull request), for the dashboard's checkboxes. The caller has checked write
    access with :func:`authorized`; the environments' ``allowed-commenters`` apply here."""
    forge = ports.forge
    pr = forge.get(number) if number is not None else None
    meta = render.read_meta(pr.body) if pr is not None and pr.author == forge.me() else None
    event = CommentEvent(number=number or 0, comment_id=0, author=author, body="")
    return _run(_Ctx(cfg=cfg, ports=ports, event=event, pr=pr, meta=meta, where=where), command)


def allowed_in(cfg: Config, env: str, user: str,
               member_of: Callable[[str, str], bool] | None) -> bool:
    """Whether environment ``env``'s ``allowed-commenters`` admit ``user``."""
    return _allowed(cfg.environment(env), user, member_of)


def authorized(forge: Forge, user: str) -> bool:
    """Whether ``user`` may run promoter commands at all: write access or more."""
    return forge.permission(user) >= Permission.WRITE


def _run(ctx: _Ctx, cmd: c.Command) -> Answer:
    env = _target_env(ctx, cmd)
    if env is not None and not _allowed(env, ctx.event.author, ctx.ports.member_of):
        return Answer(command=cmd, result=Result.REFUSED, text=(
            f"refused: commands for **{env.name}** are limited to the people its configuration "
            "allows."))
    try:
        if ctx.pr is not None and ctx.pr.state is PRState.CLOSED and \
                isinstance(cmd, c.Rebase):
            raise InputError("this pull request is closed")
        text = HANDLERS[type(cmd)](ctx, cmd)
        if ctx.pr is not None and isinstance(cmd, c.Hold | c.Unhold | c.Rebase | c.Ignore |
                                             c.Promote):
            ctx.pr = ctx.forge.get(ctx.pr.number)  # the next command sees what this one did
        return Answer(command=cmd, result=Result.DONE, text=text)
    except InputError as e:
        return Answer(command=cmd, result=Result.DECLINED, text=f"not done: {redact(str(e))}")
    except PromoterError as e:  # forge, git, registry: say what, never a secret
        log.warning("command failed: %s: %s", c.describe(cmd), e)
        kind = "the forge" if isinstance(e, ForgeError) else "git or the registry"
        return Answer(command=cmd, result=Result.FAILED,
                      text=f"failed: {kind} said: {redact(str(e))}")


def _reply(user: str, answers: list[Answer]) -> str:
    lines = [f"@{user}"]
    for a in answers:
        text = a.text.rstrip()
        sep = "\n\n" if "\n" in text else " "
        lines.append(f"- `{c.describe(a.command)}`:{sep}{text}")
    return c.fit_reply("\n".join(lines) + "\n")
