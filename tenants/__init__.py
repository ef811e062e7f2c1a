"""Tenant lifecycle: the registry, practice-type presets, plugin enabling per tenant."""
