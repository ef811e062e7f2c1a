"""Who this plugin is and which Tessera core it works with."""

from core.plugin_api import Manifest

manifest = Manifest(
    name="hello",
    version="0.1.0",
    title="Hello",
    description="Greetings for the whole team: an example third-party plugin.",
    core=">=0.1,<1.0",
    config_schema={
        "type": "object",
        "properties": {
            "salutation": {
                "type": "string",
                "minLength": 1,
                "maxLength": 40,
                "description": "Heading of the greetings page, e.g. 'Good day'.",
            }
        },
        "additionalProperties": False,
    },
)
