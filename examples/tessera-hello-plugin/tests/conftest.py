"""The kernel's fixtures for this plugin's tests (see docs/plugins.md, "Testing a plugin")."""

import pytest

pytest_plugins = ["core.testing"]


@pytest.fixture(scope="session")
def tessera_plugin():
    return "hello"


@pytest.fixture(scope="session")
def tessera_plugin_modules():
    # the plugin from this folder, also when it is not pip-installed
    return ("tessera_hello",)
