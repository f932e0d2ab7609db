"""Resolution as ansible-core does it: roles, modules, plugins and collections found
through the configured paths and the playbook's own folders.

Submodules: `settings` (the frozen input), `installed` (file-system looks, recorded),
`requirements` (``requirements.yml``), `plugins` (strategy names) and `resolver` (the
per-compilation resolver the lowering asks).  Argument specs live in
`compiler.argspec`, which the catalog uses too.
"""
