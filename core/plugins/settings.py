"""A plugin's own install-level settings: ``TESSERA_<PLUGIN>_<NAME>`` environment variables.

A plugin declares them in its manifest (``settings=(PluginSetting(...), ...)``), each with
a default and a description, as core's ``Settings`` documents its own. The kernel reads
them from the environment once, with core's (``Settings.plugin_env``), checks them at
boot (a bad value stops the boot with one line naming the variable) and hands them to
the plugin through ``plugin_settings``; ``tessera plugins settings`` lists them.
Per-clinic choices belong in the manifest's ``config_schema`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.plugins.manifest import Manifest
    from core.settings import Settings

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class PluginSettingError(ValueError):
    """A plugin setting's value cannot be read; the message names the variable."""


@dataclass(frozen=True)
class PluginSetting:
    #: lower-case name; the variable is ``TESSERA_<PLUGIN>_<NAME>`` in upper case
    name: str
    #: the value when the variable is unset; its type (str, int, float, bool) is the setting's
    default: str | int | float | bool
    #: what it does, for ``tessera plugins settings`` and the plugin's docs
    description: str = ""

    def variable(self, plugin: str) -> str:
        return f"TESSERA_{plugin.upper()}_{self.name.upper()}"

    def parse(self, plugin: str, raw: str) -> Any:
        kind = type(self.default)
        if kind is bool:
            if raw.strip().lower() in _TRUE:
                return True
            if raw.strip().lower() in _FALSE:
                return False
            raise PluginSettingError(f"{self.variable(plugin)} must be 1 or 0, got {raw!r}")
        if kind in (int, float):
            try:
                return kind(raw)
            except ValueError:
                article = "an integer" if kind is int else "a number"
                raise PluginSettingError(f"{self.variable(plugin)} must be {article}, got {raw!r}") from None
        return raw


def plugin_settings(settings: Settings, manifest: Manifest) -> dict[str, Any]:
    """The plugin's settings by name: each variable's value, or the declared default."""
    env = dict(settings.plugin_env)
    values: dict[str, Any] = {}
    for setting in manifest.settings:
        raw = env.get(setting.variable(manifest.name))
        values[setting.name] = setting.default if raw in (None, "") else setting.parse(manifest.name, raw)
    return values
