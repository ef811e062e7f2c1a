"""The plugin kernel: manifests, the registry, per-tenant hook callers."""

from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginError, PluginRegistry

__all__ = ["Manifest", "PluginError", "PluginRegistry", "hookimpl"]
