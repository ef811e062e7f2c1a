from core.plugins.manifest import Manifest

manifest = Manifest(
    name="sample",
    version="1.0.0",
    title="Sample notes",
    description="Test fixture plugin: notebooks and notes.",
    core=">=0.1,<1.0",
    config_schema={
        "type": "object",
        "properties": {"greeting": {"type": "string", "maxLength": 40}},
        "additionalProperties": False,
    },
)
