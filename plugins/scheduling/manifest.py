"""Who this plugin is, which core it works with, and what a clinic may configure."""

from core.plugin_api import Manifest

#: Reminder rules a clinic gets when it has not configured any: an e-mail two days before
#: and a text message two hours before.
DEFAULT_REMINDERS = [
    {"channel": "email", "hours_before": 48},
    {"channel": "sms", "hours_before": 2},
]

manifest = Manifest(
    name="scheduling",
    version="0.1.0",
    title="Scheduling",
    description=(
        "Appointment types, provider availability, rooms, conflict-free booking, recurring "
        "series, calendar, waitlist, reminders by e-mail and text, iCalendar feeds."
    ),
    core=">=0.1,<1.0",
    config_schema={
        "type": "object",
        "properties": {
            "slot_minutes": {
                "type": "integer",
                "enum": [5, 10, 15, 20, 30, 60],
                "description": "Granularity of offered start times and of the calendar grid.",
            },
            "feed_names": {
                "type": "boolean",
                "description": "Allow calendar feeds that carry patients' full names (off: initials "
                "only). Such feeds expire after feed_names_days; turning this off makes every feed "
                "show initials at once.",
            },
            "feed_names_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": 365,
                "description": "Days a calendar feed with full names works after it is created (default 90).",
            },
            "reminders": {
                "type": "array",
                "maxItems": 6,
                "description": "When to remind patients before an appointment.",
                "items": {
                    "type": "object",
                    "properties": {
                        "channel": {"type": "string", "enum": ["email", "sms"]},
                        "hours_before": {"type": "integer", "minimum": 1, "maximum": 336},
                    },
                    "required": ["channel", "hours_before"],
                    "additionalProperties": False,
                },
            },
            "email_template": {
                "type": "string",
                "maxLength": 4000,
                "description": "Reminder e-mail body; placeholders {clinic}, {when}, {location}, "
                "{provider}, {confirm_url}, {cancel_url}.",
            },
            "sms_template": {
                "type": "string",
                "maxLength": 480,
                "description": "Reminder text message; same placeholders as the e-mail.",
            },
        },
        "additionalProperties": False,
    },
)
