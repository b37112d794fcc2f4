"""promoter: moves container images through GitOps environments."""

from __future__ import annotations

DISTRIBUTION = "gitops-promoter"  # the name on PyPI; the package and the command are promoter


def _version() -> str:
    """The installed distribution's version (setuptools-scm wrote it from the git tag at build
    time), else the one setuptools-scm left in the source tree, else ``0.0.0``."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    try:
        from promoter._version import version  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return "0.0.0"
    return str(version)


__version__ = _version()
