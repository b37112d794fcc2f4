"""The embedded demo: a local registry, a local GitOps repository, no account anywhere."""
