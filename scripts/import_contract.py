"""The import contract, checked by `make lint` (docs/plugins.md, "What a plugin may import").

* Inside ``core``, the kernel imports neither tenant lifecycle (``core.lifecycle``) nor the
  shell (commands, dev server, operator and settings screens), and lifecycle does not
  import the shell (see ``SHELL``).
* ``core`` imports no plugin (``plugins.*`` or any package that registers itself as one)
  and nothing of the repository's tooling (``tests``, ``bench``, ``scripts``, ``examples``).
  The retired top-level ``tenants`` package is forbidden too: tenant lifecycle lives in
  ``core.lifecycle``.
* A plugin's production code (every module of its package except ``tests/``) imports from
  core only ``core.plugin_api``, from other plugins only the ``hookspecs`` module of a
  plugin its manifest names in ``requires``, and never ``tests``, ``bench`` or ``scripts``.
  Third-party libraries are free.

Plugins are the folders of ``plugins/`` and the packages of ``examples/*/`` (a third-party
distribution beside its ``pyproject.toml``). The check reads source only (``ast``); it
imports nothing, so it also runs on a tree that does not import.

Usage: ``python scripts/import_contract.py [ROOT]`` prints one line per violation
(``path:line: what``) and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

#: Top-level names that are the repository's own tooling, never a dependency of product code.
TOOLING = ("tests", "bench", "scripts", "examples", "conftest")
#: The old home of tenant lifecycle; nothing may import it again.
RETIRED = ("tenants",)

#: Core's layers, each importing only the ones below it: the shell (commands, the dev
#: server, operator and settings screens) -> tenant lifecycle -> the kernel (the rest).
#: The assembly modules build an app from all of them and may import anything of core.
SHELL = (
    "core.cli",
    "core.devserver",
    "core.platform",
    "core.tenant_settings",
    "core.auth.cli",
    "core.audit.cli",
    "core.testing",  # the pytest plugin: creates tenants for tests as the operator would
)
LIFECYCLE = "core.lifecycle"
ASSEMBLY = ("core.app", "core.builtin")


@dataclass(frozen=True)
class PluginPackage:
    """One plugin: its import name (``plugins.scheduling``, ``tessera_hello``) and folder."""

    module: str
    folder: Path
    requires: tuple[str, ...]


def _requires(manifest: Path) -> tuple[str, ...]:
    """The ``requires=[...]`` literal of the manifest's ``Manifest(...)`` call, if any."""
    if not manifest.is_file():
        return ()
    for node in ast.walk(ast.parse(manifest.read_text(), str(manifest))):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "requires":
                    try:
                        return tuple(ast.literal_eval(keyword.value))
                    except ValueError:
                        return ()
    return ()


def plugin_packages(root: Path) -> list[PluginPackage]:
    found = []
    plugins = root / "plugins"
    if plugins.is_dir():
        for folder in sorted(plugins.iterdir()):
            if (folder / "__init__.py").is_file():
                found.append(
                    PluginPackage(f"plugins.{folder.name}", folder, _requires(folder / "manifest.py"))
                )
    examples = root / "examples"
    if examples.is_dir():
        for distribution in sorted(examples.iterdir()):
            if not (distribution / "pyproject.toml").is_file():
                continue
            for folder in sorted(distribution.iterdir()):
                if (folder / "__init__.py").is_file() and (folder / "manifest.py").is_file():
                    found.append(PluginPackage(folder.name, folder, _requires(folder / "manifest.py")))
    return found


def _module_name(path: Path, package_root: Path, package_module: str) -> str:
    parts = list(path.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package_module, *parts])


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module a file imports, absolute, with its line. ``from x import y`` yields
    ``x.y`` (y may be a submodule; a name inside x then still starts with x)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(part for part in [*package, base] if part)
            found += [(node.lineno, f"{base}.{alias.name}" if base else alias.name) for alias in node.names]
    return found


def _first(name: str) -> str:
    return name.split(".", 1)[0]


def _within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def _layer(module: str) -> str:
    if any(_within(module, shell) for shell in SHELL):
        return "shell"
    if any(_within(module, assembly) for assembly in ASSEMBLY):
        return "assembly"
    if _within(module, LIFECYCLE):
        return "lifecycle"
    return "kernel"


def check_core(root: Path, plugins: list[PluginPackage]) -> list[str]:
    forbidden_tops = {"plugins", *RETIRED, *TOOLING} | {_first(p.module) for p in plugins}
    problems = []
    for path in sorted((root / "core").rglob("*.py")):
        module = _module_name(path, root / "core", "core")
        layer = _layer(module)
        for line, name in imported_modules(path, module):
            where = f"{path.relative_to(root)}:{line}"
            if _first(name) in forbidden_tops:
                problems.append(f"{where}: core imports {name}")
            elif _first(name) == "core" and layer in ("kernel", "lifecycle"):
                target = _layer(name)
                if target == "shell" or (layer == "kernel" and target == "lifecycle"):
                    problems.append(f"{where}: the {layer} ({module}) imports the {target}: {name}")
    return problems


def check_plugin(root: Path, plugin: PluginPackage, plugins: list[PluginPackage]) -> list[str]:
    own_tops = {_first(p.module) for p in plugins}
    allowed = [plugin.module, "core.plugin_api"]
    for required in plugin.requires:
        allowed += [f"plugins.{required}.hookspecs"] + [
            f"{p.module}.hookspecs" for p in plugins if p.module.rsplit(".", 1)[-1] == required
        ]
    problems = []
    for path in sorted(plugin.folder.rglob("*.py")):
        if "tests" in path.relative_to(plugin.folder).parts:
            continue
        module = _module_name(path, plugin.folder, plugin.module)
        for line, name in imported_modules(path, module):
            if any(_within(name, ok) for ok in allowed):
                continue
            top = _first(name)
            if top == "core":
                why = "imports core internals (only core.plugin_api is public)"
            elif top in own_tops or top == "plugins":
                why = "imports another plugin (only a required plugin's hookspecs)"
            elif top in RETIRED or top in TOOLING:
                why = "imports repository tooling or a retired package"
            else:
                continue  # a third-party library
            problems.append(f"{path.relative_to(root)}:{line}: {plugin.module} {why}: {name}")
    return problems


def violations(root: Path) -> list[str]:
    plugins = plugin_packages(root)
    problems = check_core(root, plugins)
    for plugin in plugins:
        problems += check_plugin(root, plugin, plugins)
    return problems


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else ".").resolve()
    problems = violations(root)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"import contract: {len(problems)} violation(s); see docs/plugins.md, 'What a plugin may import'"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
