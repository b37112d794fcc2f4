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

from promoter.config.document import (
    KeyPath,
    format_path,
    schema_text,
)
from promoter.config.load import (
    config_problems,
    find_config,
    load_config,
    parse_config,
)
from promoter.config.model import (
    BRANCH_FIELDS,
    COMMON_FIELDS,
    CONFIG_NAMES,
    DEFAULT_AUTHOR,
    DEFAULT_HOLD_LABEL,
    IMAGE_FIELDS,
    Auto,
    Commenters,
    Commit,
    Config,
    DiscoverTarget,
    Environment,
    FileTarget,
    Forge,
    ForgeType,
    FreezeWindow,
    Gates,
    GitHubApp,
    Group,
    Identity,
    Image,
    KeylessSigner,
    KeyTarget,
    PullRequests,
    Registry,
    SignaturePolicy,
    Target,
    allowed_fields,
    read_secret,
    render_template,
    template_fields,
    valid_branch_name,
)
from promoter.durations import parse_duration

__all__ = ["Auto", "BRANCH_FIELDS", "COMMON_FIELDS", "CONFIG_NAMES", "Commenters", "Commit",
           "Config", "DEFAULT_AUTHOR", "config_problems", "DEFAULT_HOLD_LABEL", "DiscoverTarget",
           "Environment", "FileTarget", "Forge", "ForgeType", "FreezeWindow", "Gates",
           "GitHubApp", "Group", "IMAGE_FIELDS", "Identity", "Image", "KeyPath",
           "KeylessSigner", "KeyTarget", "PullRequests", "Registry", "SignaturePolicy",
           "Target", "allowed_fields",
           "find_config", "format_path", "load_config", "parse_config",
           "parse_duration", "read_secret", "render_template", "schema_text",
           "template_fields", "valid_branch_name"]
