"""Validate the GraphQL documents our clients send against GitHub's GraphQL schema.

The schema is ``@octokit/graphql-schema``'s introspection result ``schema.json`` (installed by
``scripts/setup`` into ``tests/npm/node_modules``), built once per process: about 6x faster than
its ``schema.graphql`` SDL. GitHub's schema has duplicate fields and deprecation mismatches that
strict building rejects, so it is built with ``assume_valid``; documents are still parsed,
validated, and their variables coerced.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode

from tests.servers.fake_github import SPEC_PATH

SCHEMA_PATH = SPEC_PATH.parents[2] / "graphql-schema" / "schema.json"


def available() -> bool:
    return SCHEMA_PATH.is_file()


@cache
def _schema() -> GraphQLSchema:
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return build_client_schema(data.get("data", data), assume_valid=True)


def errors(document: str, variables: dict[str, Any] | None = None) -> list[str]:
    """What is wrong with a GraphQL request (empty when GitHub's schema accepts it)."""
    try:
        ast = parse(document)
    except GraphQLError as exc:
        return [f"graphql syntax: {exc.message}"]
    schema = _schema()
    problems = [f"graphql: {e.message}" for e in validate(schema, ast)]
    for op in ast.definitions:
        if isinstance(op, OperationDefinitionNode):
            coerced = get_variable_values(schema, op.variable_definitions or (), variables or {})
            if isinstance(coerced, list):
                problems += [f"graphql variables: {e.message}" for e in coerced]
    return problems
