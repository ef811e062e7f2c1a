"""Who this plugin is and which Tessera core it works with."""

from core.plugin_api import Manifest

manifest = Manifest(
    name="{{name}}",
    version="0.1.0",
    title="{{title}}",
    description="{{title}}: items a clinic keeps.",
    core=">=0.1,<1.0",
)
