"""The distribution name and the version ranges a third-party plugin states."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import core

ROOT = Path(__file__).resolve().parent.parent


def project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


def test_the_distribution_is_not_the_unrelated_tessera_on_pypi():
    assert project(ROOT / "pyproject.toml")["name"] == "tessera-emr"
    assert project(ROOT / "pyproject.toml")["version"] == core.__version__


def test_the_example_plugin_depends_on_this_distribution_in_its_manifest_range():
    kernel = project(ROOT / "pyproject.toml")
    hello = project(ROOT / "examples" / "tessera-hello-plugin" / "pyproject.toml")
    (requirement,) = [Requirement(d) for d in hello["dependencies"]]
    assert requirement.name == kernel["name"]
    assert kernel["version"] in requirement.specifier
    sys.path.insert(0, str(ROOT / "examples" / "tessera-hello-plugin"))
    try:
        spec = importlib.util.find_spec("tessera_hello.manifest")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    assert SpecifierSet(module.manifest.core) == requirement.specifier


def test_the_plugin_guide_names_the_distribution():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    dependencies = re.findall(r'dependencies = \["([^"]+)"\]', guide)
    assert dependencies and all(Requirement(d).name == "tessera-emr" for d in dependencies)
