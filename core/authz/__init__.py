"""Authorization: casbin RBAC with domains (domain = tenant) and the route guards."""

from core.authz.enforcer import Authorizer
from core.authz.guards import requires

__all__ = ["Authorizer", "requires"]
