"""Validate fake GitHub responses against GitHub's official OpenAPI description.

The description is ``@octokit/openapi``'s ``generated/api.github.com.json`` (OpenAPI 3.0.3),
installed by ``scripts/setup`` into ``tests/npm/node_modules``. It is parsed once per process.
OpenAPI 3.0 ``nullable: true`` is rewritten into JSON Schema (a nullable enum also accepts null:
GitHub really sends ``"conclusion": null`` for a running check run), then each response is
checked with ``Draft4Validator`` with format checking on.
"""

from __future__ import annotations

import copy
import json
from functools import cache, lru_cache
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.servers.fake_github import load_spec
from tests.servers.git_http import Recorded

BASE_URI = "urn:github:openapi"


def _nullable(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable: true`` into JSON Schema, in place."""
    if isinstance(node, list):
        for item in node:
            _nullable(item)
        return node
    if not isinstance(node, dict):
        return node
    for value in node.values():
        _nullable(value)
    if node.pop("nullable", False) is True:
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        else:
            inner = {k: node.pop(k) for k in list(node)
                     if k not in ("description", "title", "example")}
            node["anyOf"] = [{"type": "null"}, inner]
    return node


@lru_cache(maxsize=1)
def _spec() -> tuple[dict[str, Any], Registry, dict[str, tuple[str, str, dict[str, Any]]]]:
    spec = load_spec()
    if spec is None:
        raise LookupError("@octokit/openapi is not installed (run scripts/setup)")
    fixed = {"components": _nullable(copy.deepcopy(spec["components"]))}
    registry: Registry = Registry().with_resource(BASE_URI, DRAFT4.create_resource(fixed))
    ops: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                ops[op["operationId"]] = (method.upper(), path, op)
    return spec, registry, ops


def available() -> bool:
    return load_spec() is not None


def operation(op_id: str) -> tuple[str, str]:
    """(METHOD, path template) of an operationId; KeyError when GitHub has no such operation."""
    method, path, _ = _spec()[2][op_id]
    return method, path


@cache
def _validator(op_id: str, status: int) -> Draft4Validator | None:
    spec, registry, ops = _spec()
    op = ops[op_id][2]
    resp = op["responses"].get(str(status))
    if resp is None:
        raise KeyError(f"{op_id} does not document status {status}")
    if "$ref" in resp:
        resp = spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[-1]]
    content = resp.get("content")
    if not content:
        return None  # e.g. 204: no body
    schema = content["application/json"]["schema"]
    text = json.dumps(schema).replace('"$ref": "#/', f'"$ref": "{BASE_URI}#/')
    return Draft4Validator(_nullable(json.loads(text)), registry=registry,
                           format_checker=FormatChecker())


@cache
def _request_validator(op_id: str) -> Draft4Validator | None:
    _, registry, ops = _spec()
    content = ops[op_id][2].get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    text = json.dumps(content["application/json"]["schema"]).replace(
        '"$ref": "#/', f'"$ref": "{BASE_URI}#/')
    return Draft4Validator(_nullable(json.loads(text)), registry=registry,
                           format_checker=FormatChecker())


# Where the schema is narrower than GitHub's documented behaviour. The labels operations say in
# prose "You can also pass an array of labels directly" (PyGithub does), but the schema only has
# the object form; such a body is checked as {"labels": [...]}.
_BARE_ARRAY_OK = frozenset({"issues/add-labels", "issues/set-labels"})


def request_errors(rec: Recorded) -> list[str]:
    """What is wrong with the JSON body the client sent (a bot bug, not a fake bug)."""
    validator = _request_validator(rec.op) if rec.request is not None else None
    if validator is None:
        return []
    body = rec.request
    if isinstance(body, list) and rec.op in _BARE_ARRAY_OK:
        body = {"labels": body}
    return [f"request {rec.op} {'/'.join(map(str, e.absolute_path)) or '<root>'}: "
            f"{e.message[:200]}" for e in validator.iter_errors(body)]


def errors(rec: Recorded) -> list[str]:
    """What is wrong with one recorded response (empty when it matches GitHub's contract)."""
    try:
        validator = _validator(rec.op, rec.status)
    except KeyError as exc:
        return [f"{rec.method} {rec.path} -> {rec.status}: {exc.args[0]}"]
    if validator is None:
        return [] if rec.body is None else [f"{rec.op} {rec.status}: body where none belongs"]
    return [f"{rec.op} {rec.status} {'/'.join(map(str, e.absolute_path)) or '<root>'}: "
            f"{e.message[:200]}" for e in validator.iter_errors(rec.body)]


@cache
def _schema_validator(name: str) -> Draft4Validator:
    _, registry, _ = _spec()
    return Draft4Validator({"$ref": f"{BASE_URI}#/components/schemas/{name}"},
                           registry=registry, format_checker=FormatChecker())


def schema_errors(name: str, body: Any) -> list[str]:
    """What is wrong with ``body`` as a ``components/schemas/<name>`` (e.g. a webhook payload:
    ``webhook-issue-comment-created``)."""
    return [f"{name} {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
            for e in _schema_validator(name).iter_errors(body)]


def assert_github_valid(server: object, start: int) -> None:
    """For a fake GitHub: no unknown endpoint was asked for, and every exchange recorded since
    ``start`` matches GitHub's OpenAPI description (when it is installed). Other servers pass."""
    from tests.servers.fake_github import FakeGitHub

    if not isinstance(server, FakeGitHub):
        return
    assert not server.unknown, server.unknown
    if available():
        problems = validate_all(server.recorded[start:])
        assert not problems, "\n".join(problems[:10])


def validate_all(recorded: list[Recorded]) -> list[str]:
    """Errors for every REST request body and response in ``recorded`` (GraphQL and injected
    faults skipped: a fault answers before the fake knows the operation)."""
    out: list[str] = []
    for rec in recorded:
        if rec.op == "graphql" or rec.injected:
            continue
        out.extend(request_errors(rec))
        out.extend(errors(rec))
    return out
