class TenantError(RuntimeError):
    """A tenant operation cannot be done; the message says why and what to do instead."""
