"""Finding one tenant row by id for a route: the row, or a 404 that is itself audited.

Someone asking for an id that is not this clinic's (another clinic's, or a made-up one) is
worth a line in the audit trail: the failed read is recorded and committed before the 404,
so the rollback that follows an error does not take it back. Another clinic's row is as
unknown as a made-up one (the tenant scope of the session filters it out).
"""

from __future__ import annotations

import uuid
from typing import TypeVar

from litestar.exceptions import NotFoundException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.record import record
from core.db.base import TenantModel

Row = TypeVar("Row", bound=TenantModel)


async def find_or_404(
    session: AsyncSession,
    model: type[Row],
    row_id: uuid.UUID,
    *,
    resource_type: str,
    noun: str,
    for_update: bool = False,
) -> Row:
    """The current tenant's ``model`` row with ``row_id`` (locked with ``for_update``), or
    a recorded failed read and a 404 saying "There is no such {noun} in this clinic."."""
    query = select(model).where(model.id == row_id)
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is not None:
        return row
    await record(
        session,
        action="read",
        resource_type=resource_type,
        resource_id=row_id,
        outcome="failure",
        reason=f"no such {noun} in this clinic",
    )
    await session.commit()
    raise NotFoundException(detail=f"There is no such {noun} in this clinic.")
