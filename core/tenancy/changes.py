"""A process-wide signal: "a tenant row changed here". Per-process caches of the tenant
registry (``core.web.context.TenantDirectory``) subscribe and forget what they hold.

The database session sends it after a commit whose transaction changed the ``tenants``
table through the ORM (``core.db.session``), so a change made in this process takes effect
here at once; other processes catch up when their cache entries expire.
"""

from __future__ import annotations

import weakref
from typing import Protocol


class TenantCache(Protocol):
    def forget(self) -> None: ...


# Held weakly: an app (and its cache) that is dropped stops listening on its own.
_caches: weakref.WeakSet[TenantCache] = weakref.WeakSet()


def subscribe(cache: TenantCache) -> None:
    """Have ``cache.forget()`` called whenever tenants change in this process."""
    _caches.add(cache)


def tenants_changed() -> None:
    """Tell every cache of this process that tenant rows changed."""
    for cache in list(_caches):
        cache.forget()
