"""A plugin's manifest: who it is, what it needs, which core it works with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from core.plugins.settings import PluginSetting

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass(frozen=True)
class Manifest:
    #: Unique name: lower case, digits and underscores. Prefixes tables, templates,
    #: permissions, jobs and settings.
    name: str
    version: str
    title: str
    description: str = ""
    #: Names of plugins that must be installed (and enabled first, per tenant).
    requires: tuple[str, ...] = ()
    #: PEP 440 range of Tessera core versions this plugin works with, e.g. ">=0.1,<0.2".
    core: str = ">=0.1"
    #: JSON Schema of the per-tenant configuration (``tenant_plugins.config``).
    config_schema: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "additionalProperties": False}
    )
    #: Install-level settings read from ``TESSERA_<NAME>_<SETTING>`` (core.plugins.settings).
    settings: tuple[PluginSetting, ...] = ()

    def check_shape(self) -> None:
        if not NAME_RE.match(self.name):
            raise ValueError(
                f"plugin name {self.name!r} must be 2-40 lower-case letters, digits or '_', "
                "starting with a letter"
            )
        Version(self.version)
        try:
            SpecifierSet(self.core)
        except InvalidSpecifier as exc:
            raise ValueError(f"plugin {self.name!r}: core range {self.core!r} is invalid") from exc
        for setting in self.settings:
            if not NAME_RE.match(setting.name):
                raise ValueError(f"plugin {self.name!r}: setting name {setting.name!r} is invalid")

    def supports_core(self, core_version: str) -> bool:
        return SpecifierSet(self.core).contains(Version(core_version), prereleases=True)
