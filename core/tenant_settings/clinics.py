"""The tenant switcher: the other clinics a signed-in user belongs to.

A session is bound to one tenant, so switching means signing in at the other clinic's
address. Finding the user's other memberships spans tenants, which only platform code may
do: the membership look-up runs ``unscoped("tenant switcher")`` (the platform role may
SELECT memberships of every tenant) and returns tenant ids only; their names come from the
global tenant registry, read as the app role.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import select

from core.auth.models import Membership
from core.tenancy.context import unscoped
from core.tenancy.models import Tenant


@dataclass(frozen=True)
class ClinicLink:
    slug: str
    name: str
    url: str


async def other_clinic_ids(db, user_id: uuid.UUID, current_tenant_id: uuid.UUID) -> list[uuid.UUID]:
    """Tenants (other than the current one) where ``user_id`` has an active membership."""
    with unscoped("tenant switcher"):
        async with db.session() as session:
            rows = await session.scalars(
                select(Membership.tenant_id).where(
                    Membership.user_id == user_id,
                    Membership.status == "active",
                    Membership.tenant_id != current_tenant_id,
                )
            )
            return list(rows)


def sign_in_url(*, scheme: str, slug: str, base_domain: str, port: int | None, email: str) -> str:
    default_port = {"http": 80, "https": 443}.get(scheme)
    where = f"{slug}.{base_domain}" + (f":{port}" if port and port != default_port else "")
    return f"{scheme}://{where}/login?{urlencode({'email': email})}"


async def other_clinics(
    db,
    *,
    user_id: uuid.UUID,
    email: str,
    current_tenant_id: uuid.UUID,
    scheme: str,
    base_domain: str,
    port: int | None,
) -> list[ClinicLink]:
    """The user's other active clinics, by name, each with its sign-in address."""
    ids = await other_clinic_ids(db, user_id, current_tenant_id)
    if not ids:
        return []
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Tenant.slug, Tenant.name)
                .where(Tenant.id.in_(ids), Tenant.status == "active")
                .order_by(Tenant.name, Tenant.slug)
            )
        ).all()
    return [
        ClinicLink(
            slug=slug,
            name=name,
            url=sign_in_url(scheme=scheme, slug=slug, base_domain=base_domain, port=port, email=email),
        )
        for slug, name in rows
    ]
