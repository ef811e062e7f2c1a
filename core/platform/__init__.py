"""The platform-operator area at the base domain: tenants, their plugins and status."""
