"""The import contract (scripts/import_contract.py) that `make lint` runs: core imports no
plugin, a plugin imports only ``core.plugin_api``. Each test builds a small tree and runs the
very `make imports` target that `make lint` calls, so a broken rule fails the lint."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "imports",
            f"IMPORT_ROOT={root}",
            f"VENV_PY={sys.executable}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


CLEAN = {
    "core/__init__.py": "",
    "core/plugin_api.py": "from core.db import base\n",
    "core/db/__init__.py": "",
    "core/db/base.py": "import sqlalchemy\n",
    "plugins/__init__.py": "",
    "plugins/vitals/__init__.py": "from .hooks import *  # noqa\n",
    "plugins/vitals/manifest.py": "from core.plugin_api import Manifest\nmanifest = Manifest(name='vitals')\n",
    "plugins/vitals/hooks.py": "from core.plugin_api import hookimpl\nfrom plugins.vitals import models\nimport sqlalchemy as sa\n",
    "plugins/vitals/models.py": "from core.plugin_api import TenantModel\n",
    "plugins/vitals/tests/test_x.py": "from core.db.base import utcnow\nfrom tests.fixtures import x\n",
    "plugins/billing/__init__.py": "",
    "plugins/billing/manifest.py": "from core.plugin_api import Manifest\nmanifest = Manifest(name='billing', requires=['vitals'])\n",
    "plugins/billing/hooks.py": "from plugins.vitals.hookspecs import VitalsSpec\n",
}


def test_the_repository_keeps_the_contract():
    result = make_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_clean_tree_passes(tmp_path):
    result = make_imports(tree(tmp_path, CLEAN))
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_importing_a_plugin_fails_the_lint(tmp_path):
    root = tree(
        tmp_path, {**CLEAN, "core/db/base.py": "import sqlalchemy\nfrom plugins.vitals import models\n"}
    )
    result = make_imports(root)
    assert result.returncode != 0
    assert "core/db/base.py:2: core imports plugins.vitals.models" in result.stdout


def test_core_importing_the_retired_tenants_package_fails(tmp_path):
    root = tree(
        tmp_path,
        {**CLEAN, "core/cli.py": "def main():\n    from tenants.registry import get_tenant\n"},
    )
    result = make_imports(root)
    assert result.returncode != 0
    assert "core/cli.py:2: core imports tenants.registry.get_tenant" in result.stdout


def test_a_plugin_importing_core_internals_fails_the_lint(tmp_path):
    root = tree(tmp_path, {**CLEAN, "plugins/vitals/hooks.py": "from core.db.session import Database\n"})
    result = make_imports(root)
    assert result.returncode != 0
    assert "plugins/vitals/hooks.py:1: plugins.vitals imports core internals" in result.stdout


def test_relative_and_bare_forms_are_resolved(tmp_path):
    root = tree(
        tmp_path,
        {**CLEAN, "plugins/vitals/models.py": "import core.audit.record\nfrom core import settings\n"},
    )
    result = make_imports(root)
    assert result.returncode != 0
    assert "models.py:1: plugins.vitals imports core internals" in result.stdout
    assert "models.py:2: plugins.vitals imports core internals" in result.stdout


def test_a_plugin_may_import_only_the_hookspecs_of_a_plugin_it_requires(tmp_path):
    not_required = tree(
        tmp_path / "a", {**CLEAN, "plugins/vitals/hooks.py": "from plugins.billing.hookspecs import X\n"}
    )
    assert "plugins.vitals imports another plugin" in make_imports(not_required).stdout
    internals = tree(
        tmp_path / "b", {**CLEAN, "plugins/billing/hooks.py": "from plugins.vitals.models import Vital\n"}
    )
    assert "plugins.billing imports another plugin" in make_imports(internals).stdout


def test_a_third_party_distribution_in_examples_is_held_to_the_same_rule(tmp_path):
    root = tree(tmp_path, CLEAN)
    shutil.copytree(
        ROOT / "examples" / "tessera-hello-plugin",
        root / "examples" / "hello",
        ignore=shutil.ignore_patterns("build", "*.egg-info"),
    )
    assert make_imports(root).returncode == 0
    (root / "examples/hello/tessera_hello/extra.py").write_text("from core.web.render import page\n")
    result = make_imports(root)
    assert result.returncode != 0
    assert "tessera_hello/extra.py:1: tessera_hello imports core internals" in result.stdout


def test_lint_runs_the_contract():
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), "lint", f"VENV_PY={sys.executable}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "imports" in dry_run.stdout


def test_the_kernel_does_not_import_lifecycle_or_the_shell(tmp_path):
    root = tree(
        tmp_path,
        {
            **CLEAN,
            "core/lifecycle/__init__.py": "",
            "core/lifecycle/plugins.py": "from core.db.base import x\n",
            "core/cli.py": "from core.lifecycle.plugins import enable_plugin\n",
        },
    )
    assert make_imports(root).returncode == 0  # the shell may call lifecycle
    (root / "core/db/base.py").write_text("from core.lifecycle.plugins import enable_plugin\n")
    (root / "core/lifecycle/plugins.py").write_text("from core.cli import main\n")
    result = make_imports(root)
    assert "core/db/base.py:1: the kernel (core.db.base) imports the lifecycle" in result.stdout
    assert (
        "core/lifecycle/plugins.py:1: the lifecycle (core.lifecycle.plugins) imports the shell"
        in result.stdout
    )
