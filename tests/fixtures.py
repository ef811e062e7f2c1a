"""The kernel's suites use core.testing's fixtures (see there); this adds the sample plugin
(tests/sample_plugin), which exists only in this repository, to the plugins loaded."""

from __future__ import annotations

import pytest

from core.testing import migration_dirs

TEST_PLUGIN = "tests.sample_plugin"

__all__ = ["TEST_PLUGIN", "migration_dirs"]


@pytest.fixture(scope="session")
def tessera_plugin_modules() -> tuple[str, ...]:
    return (TEST_PLUGIN,)
