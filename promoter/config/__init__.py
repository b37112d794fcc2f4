"""``.promoter.yaml``: parsed with positions, validated, turned into frozen data.

:func:`load_config` reads the file; :func:`parse_config` does the rest on text. The steps:

1. compose the YAML (ruamel) into plain values and remember where every key and value sits;
2. refuse inline secrets (``token:``, ``password:``, values that look like tokens);
3. validate against the JSON Schema shipped as ``promoter/data/promoter.schema.json``;
4. semantic checks the schema cannot express (environment names, duplicates, regexes, semver
   ranges, template placeholders, paths that escape the repository);
5. build :class:`Config` with every default filled in.

Every error is one :class:`~promoter.errors.ConfigError` line
``FILE:LINE:COL: KEY.PATH: what is wrong`` (``images[2].policy.semver: ...``). Values of
fields that may hold secrets are never repeated in a message.
"""

# The package re-exports each module's public names as that module's __all__ lists them once.
from promoter.config.document import KeyPath as KeyPath
from promoter.config.document import format_path as format_path
from promoter.config.document import schema_text as schema_text
from promoter.config.load import *  # noqa: F403
from promoter.config.model import *  # noqa: F403
from promoter.durations import parse_duration as parse_duration
