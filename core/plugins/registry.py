"""The plugin registry: one pluggy PluginManager per app, loaded from entry points.

Boot order: discover (entry points ``tessera.plugins`` plus ``TESSERA_PLUGIN_MODULES``),
check each manifest (shape, core compatibility, dependencies), register, check that every
implementation names a known hook (a misspelt one fails loudly; one marked
``optionalhook=True`` may name a hook of a plugin that is not installed), then call every
installation hook once and keep its answer (awaited when it is a coroutine).

``strict=True`` (tests, scripts) raises ``PluginError`` at the first broken plugin.
``strict=False`` (``tessera serve``, ``worker``: ``core.app.build_registry``) leaves the
broken plugin out, keeps its one-line reason in ``registry.broken`` for the platform
operator (``/platform/plugins``) and loads the rest, so one plugin cannot stop every clinic.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import inspect
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import jsonschema
import pluggy

from core import __version__ as core_version
from core import hookspecs
from core.notes.contract import NoteTemplate, valid_template_key
from core.plugins import failures
from core.plugins.manifest import Manifest
from core.plugins.markers import PROJECT, ROBUST_ATTRIBUTE
from core.plugins.types import EncounterType, Permission, Role

log = logging.getLogger("tessera.plugins")

ENTRY_POINT_GROUP = "tessera.plugins"
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")
#: also the database's check on ``encounters.type`` (migration core_0019)
_ENCOUNTER_TYPE = re.compile(r"[a-z][a-z0-9-]{1,31}")

#: hooks called once at boot for every installed plugin (see ``core.hookspecs``)
INSTALLATION_HOOKS = (
    "tessera_routes",
    "tessera_migration_dirs",
    "tessera_template_dirs",
    "tessera_static_dirs",
    "tessera_permissions",
    "tessera_jobs",
    "tessera_event_consumers",
    "tessera_audit_actions",
    "tessera_roles",
    "tessera_encounter_types",
    "tessera_note_templates",
    "tessera_instruments",
)


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


def resolve_now(value: Any) -> Any:
    """``resolve`` for synchronous callers (boot): run an awaitable to its end.

    Installation hooks may be ``async def`` like every other hook, but the app is assembled
    synchronously, sometimes while an event loop is already running (inside a test, under
    uvicorn's factory). The coroutine therefore runs on a loop of its own in a short-lived
    thread; it must not depend on the caller's loop (installation hooks do no I/O).
    """
    if not inspect.isawaitable(value):
        return value
    outcome: dict[str, Any] = {}

    async def wait() -> Any:
        return await value

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(wait())
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="tessera-boot-hook")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class TenantHooks:
    """Hook callers limited to the plugins one tenant enabled (plus core's builtins).

    ``await hooks.collect(name, **kwargs)`` is how the kernel and plugins call a hook: each
    implementation in pluggy's order (``tryfirst`` first, ``trylast`` last, otherwise the
    plugin registered last first), awaited when it returns an awaitable, lists flattened.
    A ``firstresult`` hook stops at the first answer that is not ``None`` (``first()``
    returns just that answer). A robust hook (``@hookspec(robust=True)``) skips a plugin
    that raises and reports it (``core.plugins.failures``); any other hook fails closed.
    A hook another plugin publishes reaches nobody while that plugin is not enabled.
    ``hooks.<name>(**kwargs)`` is pluggy's own caller for the same plugins (no awaiting).
    """

    def __init__(self, registry: PluginRegistry, enabled: frozenset[str]) -> None:
        self._registry = registry
        self.enabled = enabled
        self._callers: dict[str, Any] = {}

    def _excluded(self, hook: str) -> list[Any]:
        registry = self._registry
        publisher = registry.publishers.get(hook)
        silenced = (
            # an optional implementation of a hook whose publisher is not installed
            getattr(registry.pm.hook, hook).spec is None
            # or whose publisher this tenant has not enabled
            or (
                publisher is not None and not registry.is_builtin(publisher) and publisher not in self.enabled
            )
        )
        return [
            registry.pm.get_plugin(p.manifest.name)
            for p in registry.plugins.values()
            if silenced or (not p.builtin and p.manifest.name not in self.enabled)
        ]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        caller = self._callers.get(name)
        if caller is None:
            pm = self._registry.pm
            caller = pm.subset_hook_caller(name, remove_plugins=[p for p in self._excluded(name) if p])
            self._callers[name] = caller
        return caller

    def implementations(self, hook: str) -> list[tuple[str, Any]]:
        """``(plugin name, hookimpl)`` in the order they are called."""
        caller = getattr(self, hook)
        return [(impl.plugin_name, impl) for impl in reversed(caller.get_hookimpls())]

    async def collect(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call ``hook`` for this tenant's plugins, await each result, flatten lists."""
        registry = self._registry
        robust = registry.is_robust(hook)
        first = registry.is_firstresult(hook)
        results: list[Any] = []
        for plugin, impl in self.implementations(hook):
            try:
                value = await resolve(impl.function(**{k: kwargs[k] for k in impl.argnames}))
            except Exception as exc:
                if not robust:
                    raise
                await failures.report(plugin, hook, exc)
                continue
            if value is None:
                continue
            if first:
                return [value]
            results.append(value)
        return flatten(results)

    async def first(self, hook: str, **kwargs: Any) -> Any:
        """The first answer that is not ``None`` (for ``firstresult`` hooks), or ``None``."""
        answers = await self.collect(hook, **kwargs)
        return answers[0] if answers else None


class PluginRegistry:
    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        #: plugins left out at boot (``strict=False``): name -> one line saying why
        self.broken: dict[str, str] = {}
        #: hooks plugins publish for each other: hook name -> publishing plugin
        self.publishers: dict[str, str] = {}
        self._tenant_hooks: dict[frozenset[str], TenantHooks] = {}
        self._installed: dict[str, list[tuple[str, Any]]] = {}

    # -- loading ----------------------------------------------------------------------

    def load(
        self,
        *,
        builtin: Iterable[tuple[Manifest, Any]] = (),
        modules: Iterable[str] = (),
        objects: Iterable[Any] = (),
        blocked: Iterable[str] = (),
        use_entry_points: bool = True,
        strict: bool = True,
    ) -> None:
        """Discover, check and register plugins.

        ``strict``: raise ``PluginError`` naming the first broken plugin. Otherwise leave
        each broken plugin (and whatever requires it) out, with its reason in ``broken``.
        Core's builtin plugin is always strict: without it nothing works.
        """
        blocked = set(blocked)

        def fail(name: str, message: str, *, cause: BaseException | None = None, core: bool = False) -> None:
            if strict or core:
                raise PluginError(message) from cause
            self.broken[name] = message
            log.error("plugin %s left out: %s", name, message)

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
                    manifest = _manifest_of(module, ep.name)
                except PluginError as exc:
                    fail(ep.name, str(exc))
                    continue
                except Exception as exc:
                    fail(ep.name, f"plugin {ep.name!r} failed to import: {failures.describe(exc)}", cause=exc)
                    continue
                dist = ep.dist.name if ep.dist else "?"
                found.append(LoadedPlugin(manifest, module, f"entry point {dist}"))
        for path in modules:
            try:
                module = importlib.import_module(path)
                manifest = _manifest_of(module, path)
            except PluginError as exc:
                fail(path, str(exc))
                continue
            except ImportError as exc:
                fail(
                    path,
                    f"plugin module {path!r} (TESSERA_PLUGIN_MODULES) cannot be imported: {exc}",
                    cause=exc,
                )
                continue
            if manifest.name in blocked:
                continue
            found.append(LoadedPlugin(manifest, module, f"module {path}"))
        for obj in objects:
            try:
                found.append(LoadedPlugin(_manifest_of(obj, repr(obj)), obj, "object"))
            except PluginError as exc:
                fail(repr(obj), str(exc))

        names: dict[str, LoadedPlugin] = {}
        for plugin in found:
            m = plugin.manifest
            try:
                m.check_shape()
            except ValueError as exc:
                fail(str(m.name), str(exc), cause=exc, core=plugin.builtin)
                continue
            if m.name in names:
                fail(m.name, f"two plugins are named {m.name!r} ({names[m.name].source} and {plugin.source})")
                continue
            if not m.supports_core(core_version):
                fail(
                    m.name,
                    f"plugin {m.name!r} {m.version} requires tessera core {m.core}, "
                    f"but this core is {core_version}",
                )
                continue
            names[m.name] = plugin
        self._drop_unmet_requirements(names, fail)
        for name, plugin in names.items():
            # A plugin may publish hooks of its own for other plugins to implement
            # (scheduling's booking check, billing's questions to charting): a module
            # of @hookspec functions exposed as ``tessera_hookspecs``.
            published = getattr(plugin.module, "tessera_hookspecs", None)
            if published is not None:
                self.pm.add_hookspecs(published)
                for hook, _ in inspect.getmembers(published, inspect.isfunction):
                    if hook.startswith("tessera_"):
                        self.publishers[hook] = name
        for name, plugin in list(names.items()):
            try:
                self.pm.register(plugin.module, name=name)
            except Exception as exc:  # pluggy refuses an implementation the spec cannot call
                del names[name]
                fail(name, f"plugin {name!r} cannot be registered: {exc}", cause=exc, core=plugin.builtin)
                continue
            self.plugins[name] = plugin
        for name, message in self._unknown_hooks().items():
            self._leave_out(name, names)
            fail(name, message, core=self.is_builtin(name))
        self._drop_unmet_requirements(names, fail, registered=True)
        self._call_installation_hooks(names, fail)
        self._drop_unmet_requirements(names, fail, registered=True)
        for hook, pairs in self._installed.items():  # without those whose requirement left
            self._installed[hook] = [(n, v) for n, v in pairs if n in self.plugins]
        self.pm.check_pending()
        self._tenant_hooks.clear()

    def _leave_out(self, name: str, names: dict[str, LoadedPlugin]) -> None:
        names.pop(name, None)
        self.plugins.pop(name, None)
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        for hook in [h for h, publisher in self.publishers.items() if publisher == name]:
            del self.publishers[hook]

    def _drop_unmet_requirements(
        self, names: dict[str, LoadedPlugin], fail: Any, registered: bool = False
    ) -> None:
        changed = True
        while changed:
            changed = False
            for name, plugin in list(names.items()):
                missing = [needed for needed in plugin.manifest.requires if needed not in names]
                if missing:
                    if registered:
                        self._leave_out(name, names)
                    else:
                        del names[name]
                    why = "could not be loaded" if missing[0] in self.broken else "is not installed"
                    fail(name, f"plugin {name!r} requires plugin {missing[0]!r}, which {why}")
                    changed = True

    def _unknown_hooks(self) -> dict[str, str]:
        """Plugins implementing a hook nobody defines: a misspelling, unless the
        implementation is ``optionalhook=True`` and names another plugin's hook."""
        kernel_hooks = [
            n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("tessera_")
        ]
        known = {h for h, caller in vars(self.pm.hook).items() if getattr(caller, "spec", None) is not None}
        problems: dict[str, str] = {}
        for hook, caller in vars(self.pm.hook).items():
            if getattr(caller, "spec", None) is not None:
                continue
            for impl in caller.get_hookimpls():
                close = difflib.get_close_matches(hook, sorted(known), n=1, cutoff=0.85)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                owner = hook.removeprefix("tessera_").split("_", 1)[0]
                if not impl.optionalhook:
                    problems[impl.plugin_name] = (
                        f"plugin {impl.plugin_name!r} implements {hook!r}, which neither the kernel nor "
                        f"an installed plugin defines{hint}; mark it @hookimpl(optionalhook=True) if it "
                        "answers a hook of a plugin that may be absent"
                    )
                elif close and close[0] in kernel_hooks:
                    problems[impl.plugin_name] = (
                        f"plugin {impl.plugin_name!r} implements {hook!r}, a misspelling of the kernel's hook{hint}"
                    )
                elif owner in self.plugins:
                    problems[impl.plugin_name] = (
                        f"plugin {impl.plugin_name!r} implements {hook!r}, but plugin {owner!r} publishes "
                        f"no such hook{hint}"
                    )
        return problems

    def _call_installation_hooks(self, names: dict[str, LoadedPlugin], fail: Any) -> None:
        """Call every installation hook of every plugin once, awaiting async ones.

        A plugin whose installation hook raises (or defines a permission outside its
        namespace) is left out; the answers of the others are kept for ``call_each``.
        """
        self._installed.clear()
        answers: dict[str, list[tuple[str, Any]]] = {}
        for hook in INSTALLATION_HOOKS:
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                name = impl.plugin_name
                if name not in self.plugins:
                    continue
                try:
                    value = resolve_now(impl.function())
                    if hook == "tessera_permissions":
                        _check_namespace(name, value)
                    if hook == "tessera_audit_actions":
                        _declare_audit_actions(name, value)
                except PluginError as exc:
                    self._leave_out(name, names)
                    fail(name, str(exc), core=impl.plugin_name == "core")
                    continue
                except Exception as exc:
                    self._leave_out(name, names)
                    fail(
                        name,
                        f"plugin {name!r}: {hook} raised {failures.describe(exc)}",
                        cause=exc,
                        core=impl.plugin_name == "core",
                    )
                    continue
                answers.setdefault(hook, []).append((name, value))
        # answers of a plugin left out by a later hook are dropped; the rest in call order
        for hook, pairs in answers.items():
            self._installed[hook] = [(n, v) for n, v in reversed(pairs) if n in self.plugins]

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
        """An installation hook's answers per plugin, as ``(plugin name, result)`` pairs.

        Used where the kernel must know whose result is whose (routes, static folders...).
        Installation hooks were called (and awaited) once at boot; other hooks are called
        now, and what they return is awaited by the caller.
        """
        if hook in INSTALLATION_HOOKS:
            return list(self._installed.get(hook, []))
        caller = getattr(self.pm.hook, hook)
        out = []
        for impl in reversed(caller.get_hookimpls()):
            args = {k: kwargs[k] for k in impl.argnames}
            out.append((impl.plugin_name, impl.function(**args)))
        return out

    def is_robust(self, hook: str) -> bool:
        """Whether one plugin's failure in ``hook`` is skipped (``@hookspec(robust=True)``)."""
        spec = getattr(self.pm.hook, hook).spec
        return spec is not None and bool(getattr(spec.function, ROBUST_ATTRIBUTE, False))

    def is_firstresult(self, hook: str) -> bool:
        spec = getattr(self.pm.hook, hook).spec
        return spec is not None and bool(spec.opts.get("firstresult"))

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
            out.extend(_check_namespace(name, result))
        return out

    def _builtins_first(self, pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """Core's entries of a vocabulary before any plugin's, the plugins in call order."""
        return sorted(pairs, key=lambda pair: not self.is_builtin(pair[0]))

    def roles(self) -> list[tuple[str, Role]]:
        """The role vocabulary: ``(plugin, role)`` for core's built-in roles and every
        installed plugin's, in load order. Refuses a duplicate name, a plugin role outside
        ``<plugin>_*``, and a grant of an unknown permission or action."""
        permissions = {p.object: p for p in self.permissions()}
        out: list[tuple[str, Role]] = []
        seen: dict[str, str] = {}
        for name, result in self._builtins_first(self.call_each("tessera_roles")):
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
        for name, result in self._builtins_first(self.call_each("tessera_encounter_types")):
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

    def note_templates(self) -> dict[tuple[str, int], NoteTemplate]:
        """Every installed note template by ``(key, version)``. Refuses a key outside the
        plugin's namespace (``"<plugin>.<name>"``), a version that is not a positive whole
        number, a schema that is not valid JSON Schema, a permission no plugin defines, and
        the same ``(key, version)`` twice."""
        out: dict[tuple[str, int], NoteTemplate] = {}
        permissions = {p.object: p for p in self.permissions()}
        for name, result in self._builtins_first(self.call_each("tessera_note_templates")):
            for template in flatten([result]):
                where = f"plugin {name!r}: note template {getattr(template, 'key', template)!r}"
                if not isinstance(template, NoteTemplate):
                    raise PluginError(f"{where} is not a NoteTemplate")
                if not valid_template_key(template.key) or not template.key.startswith(f"{name}."):
                    raise PluginError(f"{where}: name it '{name}.<name>' (a-z, 0-9, _)")
                if isinstance(template.version, bool) or not isinstance(template.version, int):
                    raise PluginError(f"{where}: the version must be a whole number")
                if template.version < 1:
                    raise PluginError(f"{where}: the version must be 1 or more")
                try:
                    jsonschema.Draft202012Validator.check_schema(template.schema)
                except jsonschema.SchemaError as exc:
                    raise PluginError(f"{where} v{template.version}: invalid schema: {exc.message}") from None
                permission = permissions.get(template.permission)
                if permission is None or "write" not in permission.actions:
                    raise PluginError(
                        f"{where} v{template.version}: permission {template.permission!r} with a "
                        "'write' action is not defined by any installed plugin"
                    )
                ident = (template.key, template.version)
                if ident in out:
                    raise PluginError(f"{where} v{template.version} is defined twice")
                out[ident] = template
        return out

    def instruments(self) -> dict[str, tuple[str, Any]]:
        """The installed instruments (key -> (plugin, instrument)): core's and every
        installed plugin's (``tessera_instruments``). Refuses a malformed or duplicate key."""
        from core.instruments.types import Instrument

        out: dict[str, tuple[str, Any]] = {}
        for name, result in self._builtins_first(self.call_each("tessera_instruments")):
            for instrument in flatten([result]):
                if not isinstance(instrument, Instrument):
                    raise PluginError(f"plugin {name!r}: tessera_instruments returned {instrument!r}")
                problems = instrument.problems()
                if problems:
                    raise PluginError(
                        f"plugin {name!r}: instrument {instrument.key!r}: {'; '.join(problems)}"
                    )
                if instrument.key in out:
                    raise PluginError(
                        f"instrument {instrument.key!r} is defined by both {out[instrument.key][0]!r} and {name!r}"
                    )
                out[instrument.key] = (name, instrument)
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

    def _excluded(self, hook: str) -> list[Any]:
        pm = self._registry.pm
        return [pm.get_plugin(n) for n in self._registry.plugins if n != self._name]


def _declare_audit_actions(name: str, result: Any) -> None:
    from core.audit import actions

    try:
        actions.declare(name, flatten([result]))
    except ValueError as exc:
        raise PluginError(str(exc)) from None


def _check_namespace(name: str, result: Any) -> list[Permission]:
    permissions = flatten([result])
    for permission in permissions:
        plugin_part, _, resource = permission.object.partition(":")
        if plugin_part != name or not resource:
            raise PluginError(
                f"plugin {name!r} defines permission {permission.object!r}; its permissions "
                f"must be named '{name}:<resource>'"
            )
    return permissions


def _manifest_of(obj: Any, where: str) -> Manifest:
    manifest = getattr(obj, "manifest", None)
    if not isinstance(manifest, Manifest):
        raise PluginError(
            f"{where} is registered as a tessera plugin but exposes no `manifest` "
            "(a core.plugin_api.Manifest)"
        )
    return manifest


__all__ = ["ENTRY_POINT_GROUP", "LoadedPlugin", "PluginError", "PluginRegistry"]
