"""Reference-doc generators (docs/config.md, docs/api.md); not shipped in the wheel."""
