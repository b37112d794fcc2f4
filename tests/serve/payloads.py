"""Payloads the serve tests deliver: GHCR's ``registry_package`` (GitHub ships no example, so it
is built from GitHub's schema and validated against it) and registry notifications."""

from __future__ import annotations

from typing import Any

from tests.servers.fake_github import Shaper, load_spec

DIGEST = "sha256:" + "ab" * 32


def registry_package(owner: str, name: str, tag: str, *, action: str = "published",
                     repo: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GHCR ``registry_package`` event as GitHub sends it for ``docker push
    ghcr.io/OWNER/NAME:TAG``, completed from the ``webhook-registry-package-<action>`` schema."""
    shaper = Shaper(load_spec(), "https://api.github.com")
    user = {"login": owner, "id": 9, "node_id": "U_9", "type": "Organization",
            "url": f"https://api.github.com/users/{owner}"}
    version = {
        "id": 77, "version": DIGEST, "name": DIGEST, "description": "", "summary": "",
        "html_url": f"https://github.com/{owner}/{name}/pkgs/container/{name}/77",
        "metadata": [], "package_files": [], "target_commitish": "main",
        "installation_command": f"docker pull ghcr.io/{owner}/{name}:{tag}",
        "package_url": f"ghcr.io/{owner}/{name}:{tag}",
        "container_metadata": {"tag": {"name": tag, "digest": DIGEST}, "labels": None,
                               "manifest": None}}
    partial: dict[str, Any] = {
        "action": action, "sender": user, "registry_package": {
            "id": 5, "name": name, "namespace": owner, "description": None,
            "ecosystem": "CONTAINER", "package_type": "CONTAINER",
            "html_url": f"https://github.com/orgs/{owner}/packages/container/package/{name}",
            "created_at": "2026-11-01T10:00:00Z", "updated_at": "2026-11-23T10:00:00Z",
            "owner": user, "package_version": version,
            "registry": {"about_url": "https://docs.github.com/packages", "name": "GitHub CR",
                         "type": "docker", "url": "https://ghcr.io", "vendor": "GitHub Inc"}}}
    if repo is not None:
        partial["repository"] = repo
    return shaper.shape(f"webhook-registry-package-{action}", partial)


def distribution_push(host: str, repository: str, tag: str) -> dict[str, Any]:
    """distribution's notification envelope for one manifest push (``application/vnd.docker.
    distribution.events.v1+json``), as docs/notifications.md shows it."""
    return {"events": [{
        "id": "asdf-asdf-asdf-asdf-0", "timestamp": "2026-11-23T10:00:00Z", "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 708,
                   "digest": DIGEST, "length": 708, "repository": repository,
                   "url": f"http://{host}/v2/{repository}/manifests/{DIGEST}", "tag": tag},
        "request": {"id": "req-1", "addr": "127.0.0.1:50000", "host": host, "method": "PUT",
                    "useragent": "skopeo"},
        "actor": {}, "source": {"addr": "registry:5000", "instanceID": "i-1"}}]}


def docker_hub_push(repo_name: str, tag: str) -> dict[str, Any]:
    """Docker Hub's repository webhook (docs.docker.com/docker-hub/repos/manage/webhooks)."""
    return {"callback_url": f"https://registry.hub.docker.com/u/{repo_name}/hook/x/",
            "push_data": {"pushed_at": 1732356000, "pusher": "trustedbuilder", "tag": tag},
            "repository": {"comment_count": 0, "date_created": 1417494799, "description": "",
                           "is_official": False, "is_private": True, "is_trusted": True,
                           "name": repo_name.split("/")[-1], "namespace": repo_name.split("/")[0],
                           "owner": repo_name.split("/")[0], "repo_name": repo_name,
                           "repo_url": f"https://registry.hub.docker.com/u/{repo_name}/",
                           "star_count": 0, "status": "Active"}}


def harbor_push(host: str, project: str, name: str, tag: str) -> dict[str, Any]:
    """Harbor's ``PUSH_ARTIFACT`` webhook (default payload format)."""
    return {"type": "PUSH_ARTIFACT", "occur_at": 1732356000, "operator": "admin",
            "event_data": {"resources": [{"digest": DIGEST, "tag": tag,
                                          "resource_url": f"{host}/{project}/{name}:{tag}"}],
                           "repository": {"date_created": 1732350000, "name": name,
                                          "namespace": project,
                                          "repo_full_name": f"{project}/{name}",
                                          "repo_type": "private"}}}
