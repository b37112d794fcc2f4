"""``environments[].health.argocd`` in ``.promoter.yaml``: the Application to ask and how,
every mistake one line at its key (the token itself never in the file)."""

from __future__ import annotations

import pytest

from promoter.config import ArgoCD, parse_config
from promoter.errors import ConfigError


def _text(health: str) -> str:
    return f"""\
environments:
  - name: dev
    paths: [d]
    health: {health}
  - {{name: prod, paths: [p]}}
images: [{{repository: ghcr.io/acme/api}}]
"""


def test_the_application_and_its_server() -> None:
    cfg = parse_config(_text("{argocd: {url: 'https://argocd.example.com/', application: api-dev, "
                             "token-env: ARGOCD_TOKEN, project: apps, ca-file: certs/ca.pem}, "
                             "statuses: [flux/api-dev]}"))
    dev = cfg.environment("dev")
    assert dev.health_argocd == ArgoCD(url="https://argocd.example.com", application="api-dev",
                                       token_env="ARGOCD_TOKEN", project="apps",
                                       ca_file="certs/ca.pem")
    assert dev.health_statuses == ("flux/api-dev",)
    assert cfg.environment("prod").health_argocd is None
    only = parse_config(_text("{argocd: {url: 'http://argocd.local', application: a, "
                              "token-env: T, insecure: true}}")).environment("dev")
    assert (only.health_statuses, only.health_argocd and only.health_argocd.insecure) == ((), True)


@pytest.mark.parametrize(("health", "message"), [
    ("{}", "4:13: environments[0].health: give statuses, argocd or both"),
    ("{argocd: {url: 'ftp://x', application: a, token-env: T}}",
     "4:28: environments[0].health.argocd.url: must be an http(s) URL without credentials"),
    ("{argocd: {url: 'https://u:p@x', application: a, token-env: T}}",
     "4:28: environments[0].health.argocd.url: must be an http(s) URL without credentials"),
    ("{argocd: {url: 'https://x', application: a}}",
     "4:22: environments[0].health.argocd: missing required key 'token-env'"),
    ("{argocd: {url: 'https://x', application: a, token-env: T, ca-file: ../ca.pem}}",
     "4:80: environments[0].health.argocd.ca-file: '../ca.pem' leaves the repository ('..')"),
    ("{argocd: {url: 'https://x', application: a, token-env: T, ca-file: c.pem, "
     "insecure: true}}",
     "4:87: environments[0].health.argocd.insecure: give either ca-file or insecure, not both"),
    ("{argocd: {url: 'https://x', application: a, token-env: T, token: abcdef}}",
     "4:71: environments[0].health.argocd.token: secrets must not be written in the config; "
     "put it in an environment variable and name that in token-env"),
])
def test_every_mistake_is_one_line_at_its_key(health: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(_text(health))
    assert str(e.value) == f".promoter.yaml:{message}"
