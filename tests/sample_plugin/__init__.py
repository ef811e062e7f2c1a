"""A plugin used only by the test suite, shaped like a real one (models, migration branch,
routes, templates, permissions, navigation, chart panel, jobs, setup hooks).

Loaded through ``TESSERA_PLUGIN_MODULES=tests.sample_plugin`` in the test settings.
"""

from tests.sample_plugin.hooks import *  # noqa: F403 - the hook implementations
from tests.sample_plugin.manifest import manifest

__all__ = ["manifest"]
