"""The byte-exact YAML image-editing engine: screen, locate, splice, verify, write.

Stable API (other modules and the evidence tests build on it):

- :func:`find_sites` ``(text, path, *, helm_paths=()) -> tuple[Site, ...]``: every image
  reference in one text, one Site per value (pure; InputError ``path:line:col`` on invalid YAML).
- :func:`apply_changes` ``(text, path, changes) -> str``: apply :class:`Change` values to sites
  found in that same text; only the changed scalars' characters differ (keys may be added to
  a Kustomize/Helm mapping); the result is re-parsed and verified (pure; EditError).
- :func:`find_in_paths` ``(paths, *, helm_paths=()) -> (sites, problems)``: files and
  directories (``*.yaml``/``*.yml``/``Kustomization``, recursively); files that fail to parse
  while walking a directory become :class:`Problem` values, explicit files raise.
- :func:`set_image` ``(paths, image, *, tag=None, digest=None, new_name=None, dry_run=False,
  helm_paths=()) -> SetResult``: every reference to ``image`` (any equivalent reference); per
  file old and new text in ``SetResult.files``; NotFound when referenced nowhere; writes
  atomically only when everything verified and ``dry_run`` is false.

Layout: :mod:`.yamlpos` (positioned nodes, the finders' seam), :mod:`.finders` (one module per
kind, the FINDERS dict and the de-duplication rule), :mod:`.splice` (quoting, edits),
:mod:`.insert` (new keys and entries in the file's style), :mod:`.embedded` (YAML inside
block scalars: Argo CD ``helm.values: |``, inline patches), :mod:`.verify` (the re-parse
proof), :mod:`.engine` (pure: texts), :mod:`.ops` (files), :mod:`.files` (scan, read, atomic
write).
"""

from __future__ import annotations

from promoter.edit.engine import apply_changes, find_sites
from promoter.edit.model import Change, FileEdit, Kind, Problem, SetResult, Site, Span
from promoter.edit.ops import find_in_paths, set_image

__all__ = [
    "Change", "FileEdit", "Kind", "Problem", "SetResult", "Site", "Span", "apply_changes",
    "find_in_paths", "find_sites", "set_image",
]
