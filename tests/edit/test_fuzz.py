"""Fuzzing the YAML finders (issue 15): on any text, ``find_sites`` and ``apply_changes`` end
quickly, stay small, and either answer or raise one of promoter's own errors.

The texts are built from the pieces the finders look at (image keys, Kustomize and Helm keys,
compose services, markers, block scalars, anchors and aliases, templates, flow collections),
glued with random indentation and punctuation, so most of them are near-YAML: valid, or broken
in the ways a hand-edited file is. Every example is bounded in time and in traced memory.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promoter.edit import Change, apply_changes, find_sites
from promoter.errors import EditError, InputError

T = TypeVar("T")
MAX_SECONDS = 3.0  # traced: tracemalloc makes the engine about 3 times slower
MAX_BYTES = 64 * 1024 * 1024
FILE_NAMES = ("values.yaml", "kustomization.yaml", "docker-compose.yml", "app.yaml",
              ".argocd-source-app.yaml", "patch.yaml")

KEYS = ["image", "tag", "repository", "registry", "digest", "newTag", "newName", "name",
        "images", "containers", "services", "build", "values", "helm", "patch", "patches",
        "apiVersion", "kind", "spec", "source", "parameters", "value", "op", "path", "steps",
        "env", "repo", "status", "sideImage", "version"]
VALUES = ["ghcr.io/acme/app:1.0", "nginx", "nginx:1.25@sha256:" + "ab" * 32, "'1.2'",
          '"v3"', "${TAG:-1.0}", "{{ .Values.tag }}", "$(params.image)", "null", "''",
          "apps/v1", "Deployment", "Kustomization", "argoproj.io/v1alpha1", "Application",
          "kustomize.config.k8s.io/v1beta1", "add", "/spec/template/spec/containers/0/image",
          "true", "1.37", "registry:5000/x", "a" * 40]
PUNCT = [": ", "\n", "- ", "  ", "    ", "{", "}", "[", "]", ", ", "|\n", "|-\n", ">\n",
         "&a ", "*a", "&b ", "*b", "<<: *a\n", "---\n", "#", ' # {"$imagepolicy": "ns:p"}',
         ' # {"$imagepolicy": "ns:p:tag"}', " # promoter: ghcr.io/acme/app", "\r\n", "\t",
         "'", '"', "!!str ", "? ", "%YAML 1.1\n", "\ufeff", "\\"]
PIECES = st.sampled_from(KEYS) | st.sampled_from(VALUES) | st.sampled_from(PUNCT)
TEXTS = st.lists(PIECES, max_size=120).map("".join)


def bounded(fn: Callable[[], T]) -> T:
    """Run ``fn`` and check it stayed within the time and memory bounds."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        return fn()
    finally:
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < MAX_SECONDS, f"took {elapsed:.1f} s"
        assert peak < MAX_BYTES, f"peaked at {peak // 1024} KiB"


def _one_line(err: Exception, path: str) -> None:
    message = str(err)
    assert message.startswith(path) and "\n" not in message, message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS, st.sampled_from(FILE_NAMES))
def test_find_sites_answers_or_refuses_within_bounds(text: str, path: str) -> None:
    try:
        sites = bounded(lambda: find_sites(text, path))
    except InputError as e:
        _one_line(e, path)
        return
    for site in sites:
        for span in (site.tag, site.whole, site.name_span, site.digest, site.at):
            if span is not None:
                assert 0 <= span.start <= span.end <= len(text)
                assert "\n" not in text[span.start:span.end] or span.style in ("|", ">")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS, st.sampled_from(FILE_NAMES))
def test_every_found_site_can_be_set_or_is_refused_cleanly(text: str, path: str) -> None:
    try:
        sites = find_sites(text, path)
    except InputError:
        return
    for site in sites:
        try:
            new = bounded(lambda s=site: apply_changes(text, path, [Change(site=s, tag="9.9.9")]))
        except EditError as e:  # EditError is an InputError; both name the file
            _one_line(e, path)
            continue
        assert any(s.ref.tag == "9.9.9" or s.ref.tag is None for s in find_sites(new, path))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["[{}]", "{{k: {}}}"]))
def test_nested_aliases_are_counted_not_expanded(depth: int, width: int, shape: str) -> None:
    """A billion-laughs shape of any depth and width either is cheap or is refused."""
    lines = ["a0: &a0 [image, 'nginx:1']"]
    for i in range(1, depth + 1):
        items = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} " + shape.format(items))
    text = "\n".join(lines) + "\nimage: nginx:1.25\n"
    try:
        bounded(lambda: find_sites(text, "values.yaml"))
    except InputError as e:
        assert "aliases expand to more than" in str(e)
        assert width ** depth > 1000  # only a nest that multiplies a lot is refused
