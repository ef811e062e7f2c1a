"""The kernel's fixtures (database, tenants, signed-in clients, outbox runner) from
``core.testing``, for this plugin."""

import pytest

pytest_plugins = ["core.testing"]


@pytest.fixture(scope="session")
def tessera_plugin():
    return "{{name}}"


@pytest.fixture(scope="session")
def tessera_plugin_modules():
    # load the plugin from this folder even when it is not pip-installed
    return ("{{name}}",)
