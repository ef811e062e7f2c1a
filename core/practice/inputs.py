"""Moved to ``core.web.inputs`` (it is not about the practice); kept so old imports work."""

from core.web.inputs import (
    InputErrors,
    Reader,
    field_error,
    parse_bound,
    parse_instant,
    parse_limit,
    parse_offset,
    parse_uuid,
    raise_errors,
)

__all__ = [
    "InputErrors",
    "Reader",
    "field_error",
    "parse_bound",
    "parse_instant",
    "parse_limit",
    "parse_offset",
    "parse_uuid",
    "raise_errors",
]
