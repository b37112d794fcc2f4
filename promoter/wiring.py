"""Build the real adapters (workspace, registry, forge) from config and environment.

The only module that reads ``os.environ`` for credentials on behalf of the flows; the flows
themselves take ports as arguments.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import click

from promoter.argocd import Applications, Connect
from promoter.argocd.client import ArgoCDClient
from promoter.config import ArgoCD, Config, ForgeType, find_config, load_config, read_secret
from promoter.errors import InputError
from promoter.forge import Forge, open_forge
from promoter.gitrepo import GitWorkspace, HttpAuth, Workspace, cloned
from promoter.registry.charts import ChartRegistry, HttpChartIndex
from promoter.registry.creds import Credentials, CredentialStore
from promoter.registry.httpcache import DiskCache, HttpCache
from promoter.registry.oci import OciRegistry, ssl_context
from promoter.signature_checks import SignatureChecks, for_config

ACTIONS_TOKEN_NOTICE = (
    "notice: pull requests opened with the Actions GITHUB_TOKEN do not trigger other "
    "workflows (GitHub's rule). To have CI run on promoter's pull requests, use a GitHub App: "
    "set forge.app.id and forge.app.private-key-env in .promoter.yaml.")


def forge_token(cfg: Config, environ: Mapping[str, str]) -> str | None:
    return read_secret(environ, cfg.forge.token_env, key="forge.token-env")


@contextlib.contextmanager
def workspace(repo: str | None, clone: str | None, cfg_token: str | None = None,
              forge_type: ForgeType | None = None) -> Iterator[GitWorkspace]:
    """``--repo DIR`` (default: the current directory) or ``--clone URL`` into a temp dir."""
    auth = None
    if cfg_token:
        user = "oauth2" if forge_type is ForgeType.GITLAB else "x-access-token"
        auth = HttpAuth(username=user, token=cfg_token)
    if clone:
        with cloned(clone, auth=auth) as ws:
            yield ws
    else:
        with GitWorkspace.open(repo or ".", auth=auth) as ws:
            yield ws


def load(repo_root: Path, config: str | None) -> Config:
    path = Path(config) if config else find_config(repo_root)
    return load_config(path, root=repo_root)


def http_cache(environ: Mapping[str, str]) -> HttpCache | None:
    """The registry answers kept across runs: in ``$PROMOTER_CACHE_DIR/registry`` when that
    is set, else none."""
    root = environ.get("PROMOTER_CACHE_DIR")
    return DiskCache(Path(root) / "registry") if root else None


def registry(cfg: Config, environ: Mapping[str, str], *,
             kept: HttpCache | None = None) -> OciRegistry | ChartRegistry:
    """An :class:`OciRegistry` with the config's credentials (by env reference) first, then
    the usual sources (environment, docker config); answers are kept in ``kept`` (default:
    :func:`http_cache`). Wrapped in a :class:`ChartRegistry` when the config has charts: HTTP
    Helm repositories through an :class:`HttpChartIndex` with the same credentials, CA
    bundles and kept answers."""
    store = CredentialStore(environ)
    configured: dict[str, Credentials] = {}
    for r in cfg.registries:
        user = read_secret(environ, r.username_env, key=f"registries[{r.host}].username-env")
        password = read_secret(environ, r.password_env, key=f"registries[{r.host}].password-env")
        token = read_secret(environ, r.token_env, key=f"registries[{r.host}].token-env")
        if user or password or token:
            configured[r.host] = Credentials(username=user, password=password,
                                             registry_token=token, source=".promoter.yaml")

    def credentials(host: str) -> Credentials | None:
        return configured.get(host) or store(host)

    cas: dict[str, str] = {}
    for r in cfg.registries:
        path = environ.get(r.ca_file_env) if r.ca_file_env else None
        if path is None and r.ca_file:
            path = str(Path(cfg.root) / r.ca_file)
        if path:
            cas[r.host] = path
    # hosts as the wire names them (lower case): a cap written GHCR.io still applies
    concurrency = {r.host.lower(): r.concurrency for r in cfg.registries
                   if r.concurrency is not None}
    rate = {r.host.lower(): r.requests_per_second for r in cfg.registries
            if r.requests_per_second is not None}
    kept = kept if kept is not None else http_cache(environ)
    oci = OciRegistry(credentials=credentials, ca_bundle=cas or None,
                      insecure=[r.host for r in cfg.registries if r.insecure],
                      host_concurrency=concurrency or None, host_rate=rate or None,
                      http_cache=kept)
    charts = [i.chart for i in cfg.images if i.chart is not None]
    if not charts:
        return oci
    return ChartRegistry(oci, HttpChartIndex(credentials=credentials, ca_bundle=cas, kept=kept),
                         charts)


def signature_checks(cfg: Config, ws: Workspace, environ: Mapping[str, str], *,
                     now: datetime) -> SignatureChecks | None:
    """The signature gates' checks, reading the configured registries; None when no
    environment has a signature gate (nothing to ask)."""
    return for_config(cfg, ws, lambda: registry(cfg, environ), now=now)


def argocd(cfg: Config, environ: Mapping[str, str]) -> Connect:
    """Reach an environment's Argo CD Application (``health.argocd``): its token from the
    variable ``token-env`` names (InputError when unset), its CA bundle from the repository."""
    def connect(setting: ArgoCD) -> Applications:
        env = next((e.name for e in cfg.environments if e.health_argocd == setting), "?")
        token = read_secret(environ, setting.token_env,
                            key=f"environments[{env}].health.argocd.token-env") or ""
        verify: bool | ssl.SSLContext = not setting.insecure
        if setting.ca_file:
            verify = ssl_context(Path(cfg.root) / setting.ca_file)
        return ArgoCDClient(setting.url, token, verify=verify)

    return connect


def forge(cfg: Config, environ: Mapping[str, str]) -> Forge | None:
    """The configured forge, or None for ``local`` (branches only)."""
    f = cfg.forge
    if f.type is ForgeType.LOCAL:
        return None
    repo = f.repository if f.type is ForgeType.GITHUB else f.project
    if not repo:
        raise InputError(f"forge.{'repository' if f.type is ForgeType.GITHUB else 'project'} "
                         "is required for a github/gitlab forge")
    token = forge_token(cfg, environ)
    app_id = key = None
    if f.app is not None:
        app_id = f.app.id or int(read_secret(environ, f.app.id_env, key="forge.app.id-env") or 0)
        key = read_secret(environ, f.app.private_key_env, key="forge.app.private-key-env")
    if token is None and key is None:
        raise InputError("forge: no credentials; set forge.token-env (or forge.app)")
    if f.type is ForgeType.GITHUB and f.token_env == "GITHUB_TOKEN" and \
            environ.get("GITHUB_ACTIONS") == "true" and f.app is None:
        click.echo(ACTIONS_TOKEN_NOTICE, err=True)
    return open_forge(f.type.value, repo=repo, url=f.url, token=token, app_id=app_id,
                      private_key=key,
                      installation_id=f.app.installation_id if f.app else None)
