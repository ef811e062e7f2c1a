"""The audit log: record, seal (hash chain), verify, report."""

from core.audit.record import record, record_now

__all__ = ["record", "record_now"]
