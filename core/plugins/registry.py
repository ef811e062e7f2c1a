"""The plugin registry: one pluggy PluginManager per app, loaded from entry points.

Boot order: discover (entry points ``tessera.plugins`` plus ``TESSERA_PLUGIN_MODULES``),
check each manifest (shape, core compatibility, dependencies), register, then
``check_pending()`` so a misspelt hook implementation fails loudly.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import jsonschema
import pluggy

from core import __version__ as core_version
from core import hookspecs
from core.plugins.manifest import Manifest
from core.plugins.markers import PROJECT
from core.plugins.types import EncounterType, Permission, Role

log = logging.getLogger("tessera.plugins")

ENTRY_POINT_GROUP = "tessera.plugins"
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")
#: also the database's check on ``encounters.type`` (migration core_0019)
_ENCOUNTER_TYPE = re.compile(r"[a-z][a-z0-9-]{1,31}")


class PluginError(RuntimeError):
    """A plugin cannot be loaded or enabled; the message names the plugin and the cause."""


@dataclass(frozen=True)
class LoadedPlugin:
    manifest: Manifest
    module: Any
    source: str  # "entry point <dist>", "module <path>" or "core"
    builtin: bool = False  # core's own behaviours: always on, not listed for enabling


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (hooks may return either)."""
    if inspect.isawaitable(value):
        return await value
    return value


def flatten(results: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for item in results:
        if item is None:
            continue
        if isinstance(item, list | tuple):
            out.extend(item)
        else:
            out.append(item)
    return out


class TenantHooks:
    """Hook callers limited to the plugins one tenant enabled (plus core's builtins)."""

    def __init__(self, registry: PluginRegistry, enabled: frozenset[str]) -> None:
        self._registry = registry
        self.enabled = enabled
        self._callers: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        caller = self._callers.get(name)
        if caller is None:
            pm = self._registry.pm
            excluded = [
                pm.get_plugin(p.manifest.name)
                for p in self._registry.plugins.values()
                if not p.builtin and p.manifest.name not in self.enabled
            ]
            caller = pm.subset_hook_caller(name, remove_plugins=[p for p in excluded if p])
            self._callers[name] = caller
        return caller

    async def collect(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call ``hook`` for this tenant's plugins, await each result, flatten lists."""
        results = getattr(self, hook)(**kwargs)
        return flatten([await resolve(r) for r in results])


class PluginRegistry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self._tenant_hooks: dict[frozenset[str], TenantHooks] = {}

    # -- loading ----------------------------------------------------------------------

    def load(
        self,
        *,
        builtin: Iterable[tuple[Manifest, Any]] = (),
        modules: Iterable[str] = (),
        objects: Iterable[Any] = (),
        blocked: Iterable[str] = (),
        use_entry_points: bool = True,
    ) -> None:
        """Discover, check and register plugins; raises PluginError naming the culprit."""
        blocked = set(blocked)
        found: list[LoadedPlugin] = [
            LoadedPlugin(manifest, module, "core", builtin=True) for manifest, module in builtin
        ]
        if use_entry_points:
            for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
                if ep.name in blocked:
                    log.warning("plugin %s is blocked by TESSERA_PLUGINS_BLOCKED", ep.name)
                    continue
                try:
                    module = ep.load()
                except Exception as exc:
                    raise PluginError(f"plugin {ep.name!r} failed to import: {exc}") from exc
                dist = ep.dist.name if ep.dist else "?"
                found.append(LoadedPlugin(_manifest_of(module, ep.name), module, f"entry point {dist}"))
        for path in modules:
            try:
                module = importlib.import_module(path)
            except ImportError as exc:
                raise PluginError(
                    f"plugin module {path!r} (TESSERA_PLUGIN_MODULES) cannot be imported: {exc}"
                ) from exc
            manifest = _manifest_of(module, path)
            if manifest.name in blocked:
                continue
            found.append(LoadedPlugin(manifest, module, f"module {path}"))
        for obj in objects:
            found.append(LoadedPlugin(_manifest_of(obj, repr(obj)), obj, "object"))

        names: dict[str, LoadedPlugin] = {}
        for plugin in found:
            m = plugin.manifest
            try:
                m.check_shape()
            except ValueError as exc:
                raise PluginError(str(exc)) from exc
            if m.name in names:
                raise PluginError(
                    f"two plugins are named {m.name!r} ({names[m.name].source} and {plugin.source})"
                )
            if not m.supports_core(core_version):
                raise PluginError(
                    f"plugin {m.name!r} {m.version} requires tessera core {m.core}, "
                    f"but this core is {core_version}"
                )
            names[m.name] = plugin
        for plugin in names.values():
            for needed in plugin.manifest.requires:
                if needed not in names:
                    raise PluginError(
                        f"plugin {plugin.manifest.name!r} requires plugin {needed!r}, which is not installed"
                    )
        for plugin in names.values():
            # A plugin may publish hooks of its own for other plugins to implement
            # (scheduling's booking check, billing's questions to charting): a module
            # of @hookspec functions exposed as ``tessera_hookspecs``.
            published = getattr(plugin.module, "tessera_hookspecs", None)
            if published is not None:
                self.pm.add_hookspecs(published)
        for name, plugin in names.items():
            self.pm.register(plugin.module, name=name)
            self.plugins[name] = plugin
        self.pm.check_pending()
        self._tenant_hooks.clear()

    # -- queries ----------------------------------------------------------------------

    def manifest(self, name: str) -> Manifest:
        try:
            return self.plugins[name].manifest
        except KeyError:
            raise PluginError(f"no plugin named {name!r} is installed") from None

    def optional(self) -> list[Manifest]:
        """The plugins a tenant may enable (everything but core's builtins), by name."""
        return sorted((p.manifest for p in self.plugins.values() if not p.builtin), key=lambda m: m.name)

    def is_builtin(self, name: str) -> bool:
        plugin = self.plugins.get(name)
        return bool(plugin and plugin.builtin)

    def call_each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call an installation hook per plugin, returning ``(plugin name, result)`` pairs.

        Used where the kernel must know whose result is whose (routes, static folders...).
        """
        caller = getattr(self.pm.hook, hook)
        out = []
        for impl in caller.get_hookimpls():
            args = {k: kwargs[k] for k in impl.argnames}
            out.append((impl.plugin_name, impl.function(**args)))
        return out

    def for_tenant(self, enabled: Iterable[str]) -> TenantHooks:
        """Hook callers reaching only ``enabled`` plugins (cached by the enabled set)."""
        key = frozenset(enabled)
        hooks = self._tenant_hooks.get(key)
        if hooks is None:
            hooks = self._tenant_hooks[key] = TenantHooks(self, key)
        return hooks

    def only(self, name: str) -> TenantHooks:
        """Hook callers reaching exactly one optional plugin (and no builtin)."""
        return _SinglePluginHooks(self, name)

    def permissions(self) -> list[Permission]:
        """Every permission of every installed plugin; refuses one outside its namespace."""
        out: list[Permission] = []
        for name, result in self.call_each("tessera_permissions"):
            for permission in flatten([result]):
                plugin_part, _, resource = permission.object.partition(":")
                if plugin_part != name or not resource:
                    raise PluginError(
                        f"plugin {name!r} defines permission {permission.object!r}; its permissions "
                        f"must be named '{name}:<resource>'"
                    )
                out.append(permission)
        return out

    def roles(self) -> list[tuple[str, Role]]:
        """The role vocabulary: ``(plugin, role)`` for core's built-in roles and every
        installed plugin's, in load order. Refuses a duplicate name, a plugin role outside
        ``<plugin>_*``, and a grant of an unknown permission or action."""
        permissions = {p.object: p for p in self.permissions()}
        out: list[tuple[str, Role]] = []
        seen: dict[str, str] = {}
        for name, result in self.call_each("tessera_roles"):
            for role in flatten([result]):
                if not _ROLE_NAME.fullmatch(role.name):
                    raise PluginError(f"plugin {name!r} defines role {role.name!r}: use 2-40 of a-z 0-9 _")
                if not self.is_builtin(name) and not role.name.startswith(f"{name}_"):
                    raise PluginError(
                        f"plugin {name!r} defines role {role.name!r}; its roles must be named '{name}_<role>'"
                    )
                if role.name in seen:
                    raise PluginError(
                        f"role {role.name!r} is defined by both {seen[role.name]!r} and {name!r}"
                    )
                for obj, actions in role.grants.items():
                    permission = permissions.get(obj)
                    unknown = [a for a in actions if permission is None or a not in permission.actions]
                    if unknown:
                        raise PluginError(
                            f"plugin {name!r}: role {role.name!r} grants {obj!r} {unknown}, "
                            "which no installed permission defines"
                        )
                seen[role.name] = name
                out.append((name, role))
        return out

    def encounter_types(self) -> dict[str, EncounterType]:
        """The encounter-type vocabulary (code -> type): core's built-in kinds and every
        installed plugin's. Refuses a malformed or duplicate code."""
        out: dict[str, EncounterType] = {}
        owners: dict[str, str] = {}
        for name, result in self.call_each("tessera_encounter_types"):
            for kind in flatten([result]):
                if not _ENCOUNTER_TYPE.fullmatch(kind.code):
                    raise PluginError(
                        f"plugin {name!r} defines encounter type {kind.code!r}: use 2-32 of a-z 0-9 -, "
                        "starting with a letter"
                    )
                if kind.code in out:
                    raise PluginError(
                        f"encounter type {kind.code!r} is defined by both {owners[kind.code]!r} and {name!r}"
                    )
                out[kind.code], owners[kind.code] = kind, name
        return out

    def validate_config(self, name: str, config: dict[str, Any] | None) -> dict[str, Any]:
        manifest = self.manifest(name)
        config = {} if config is None else config
        try:
            jsonschema.validate(config, manifest.config_schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
            raise PluginError(
                f"invalid configuration for plugin {name!r} at {where}: {exc.message}"
            ) from None
        return config


class _SinglePluginHooks(TenantHooks):
    def __init__(self, registry: PluginRegistry, name: str) -> None:
        super().__init__(registry, frozenset({name}))
        self._name = name

    def __getattr__(self, hook: str) -> Any:
        pm = self._registry.pm
        others = [pm.get_plugin(n) for n in self._registry.plugins if n != self._name]
        return pm.subset_hook_caller(hook, remove_plugins=[p for p in others if p])


def _manifest_of(obj: Any, where: str) -> Manifest:
    manifest = getattr(obj, "manifest", None)
    if not isinstance(manifest, Manifest):
        raise PluginError(
            f"{where} is registered as a tessera plugin but exposes no `manifest` "
            "(a core.plugin_api.Manifest)"
        )
    return manifest


__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "PluginError", "PluginRegistry"]
