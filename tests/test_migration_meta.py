"""Meta-tests over the migration branches of core and every installed plugin."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

from core.db.admin import CORE_MIGRATIONS, alembic_config
from core.plugins.registry import flatten


def branch_heads(settings, dirs: list[Path]) -> list[str]:
    """The heads among the revisions that live in ``dirs`` (one plugin's branch)."""
    script = ScriptDirectory.from_config(alembic_config(settings, dirs))
    folders = {Path(d).resolve() for d in dirs}
    return sorted(
        head
        for head in script.get_heads()
        if Path(script.get_revision(head).path).resolve().parent in folders
    )


def test_every_plugin_branch_has_exactly_one_head(settings, registry):
    checked = []
    for name, dirs in registry.call_each("tessera_migration_dirs"):
        dirs = [Path(d) for d in flatten([dirs])]
        if not dirs:
            continue
        heads = branch_heads(settings, dirs)
        assert len(heads) == 1, (
            f"plugin {name!r} has {len(heads)} migration heads {heads}: add a merge revision"
        )
        checked.append(name)
    assert "scheduling" in checked and "sample" in checked


def test_core_has_exactly_one_head(settings):
    assert len(branch_heads(settings, [CORE_MIGRATIONS / "versions"])) == 1


def test_the_check_sees_two_heads(settings, tmp_path):
    for revision, parent in (
        ("twoheads_0001", None),
        ("twoheads_0002_a", "twoheads_0001"),
        ("twoheads_0002_b", "twoheads_0001"),
    ):
        (tmp_path / f"{revision}.py").write_text(
            f"revision = {revision!r}\ndown_revision = {parent!r}\n"
            f"branch_labels = {('twoheads',) if parent is None else None!r}\ndepends_on = 'core_0001'\n"
            "def upgrade():\n    pass\ndef downgrade():\n    pass\n"
        )
    assert branch_heads(settings, [tmp_path]) == ["twoheads_0002_a", "twoheads_0002_b"]
