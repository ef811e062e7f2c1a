"""The clinic owner's settings area (``/settings``) and the tenant switcher.

(Named ``tenant_settings`` because ``core.settings`` is the process configuration.)
"""
