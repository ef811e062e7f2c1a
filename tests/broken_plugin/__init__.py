"""A plugin that cannot load on this core (its ``core`` range does not match): the suite
checks that it is left out with one line and that everything else still starts."""

from core.plugin_api import Manifest

manifest = Manifest(name="broken_at_boot", version="1.0", title="Broken at boot", core=">=99")
