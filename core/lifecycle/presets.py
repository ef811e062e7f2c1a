"""Practice-type presets: which plugins a kind of clinic starts with.

Each preset is a TOML file in ``core/lifecycle/presets/``::

    title = "Outpatient rehab (PT/OT/SLP)"
    description = "..."
    plugins = ["scheduling", "rehab", "billing"]   # enabled in this order
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.lifecycle.errors import TenantError
from core.lifecycle.plugins import enable_plugin
from core.plugins.registry import PluginRegistry
from core.tenancy.models import Tenant

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    plugins: tuple[str, ...]


def load_presets(folder: Path = PRESET_DIR) -> dict[str, Preset]:
    presets = {}
    for path in sorted(folder.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        presets[path.stem] = Preset(
            name=path.stem,
            title=data["title"],
            description=data.get("description", ""),
            plugins=tuple(data.get("plugins", ())),
        )
    return presets


def get_preset(name: str) -> Preset:
    presets = load_presets()
    if name not in presets:
        raise TenantError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(presets))}")
    return presets[name]


@dataclass
class PresetReport:
    enabled: list[str]
    not_installed: list[str]
    failed: dict[str, str]


async def apply_preset(
    session: AsyncSession, registry: PluginRegistry, tenant: Tenant, preset: Preset
) -> PresetReport:
    """Enable the preset's plugins that are installed; report the ones that are not."""
    report = PresetReport([], [], {})
    for name in preset.plugins:
        if name not in registry.plugins:
            report.not_installed.append(name)
            continue
        try:
            async with session.begin_nested():
                await enable_plugin(session, registry, tenant, name)
        except TenantError as exc:
            report.failed[name] = str(exc)
        else:
            report.enabled.append(name)
    return report
