"""Database: declarative base, the TenantScoped mixin, engines and sessions."""

from core.db.base import Base, TenantModel, TenantScoped, new_id, utcnow
from core.db.session import Database

__all__ = ["Base", "Database", "TenantModel", "TenantScoped", "new_id", "utcnow"]
