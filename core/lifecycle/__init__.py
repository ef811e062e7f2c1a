"""Tenant lifecycle: the registry, practice-type presets, plugin enabling per tenant, export
and purge. The kernel owns it; the CLI, the platform and settings screens and the dev server
call it."""
