"""The git edge: the :class:`Workspace` port and publishing (:mod:`.base`), the real
implementation over git and GitPython (:mod:`.real`) and an in-memory one (:mod:`.memory`).

Flows work with commit SHAs: they ask for a branch's head, read files at that SHA, build a new
commit on a parent and push it with a lease. Nothing touches the working tree or the index of
the checkout, so ``--repo DIR`` in CI leaves the user's checkout exactly as it was.
"""

from promoter.gitrepo.base import (
    BranchChange,
    CommitInfo,
    HttpAuth,
    LeaseLost,
    Outcome,
    Published,
    RefUpdate,
    Workspace,
    check_branch_name,
    check_repo_path,
    foreign_commits,
    publish_branch,
    publish_branches,
)
from promoter.gitrepo.memory import MemoryWorkspace
from promoter.gitrepo.real import GitWorkspace, cloned

__all__ = ["BranchChange", "CommitInfo", "GitWorkspace", "HttpAuth", "LeaseLost",
           "MemoryWorkspace", "Outcome", "Published", "RefUpdate", "Workspace",
           "check_branch_name", "check_repo_path", "cloned", "foreign_commits",
           "publish_branch", "publish_branches"]
