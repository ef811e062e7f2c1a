"""The chart's Appointments panel."""

from __future__ import annotations

import uuid

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy import and_, func, select

from core.plugin_api import (
    DbSession,
    Patient,
    may,
    phi_route,
    render_fragment,
    site_of,
    utcnow,
    wants_fragment,
)
from plugins.scheduling.models import (
    HOLDING,
    Appointment,
)
from plugins.scheduling.screens.common import (
    CHART_PAST,
    READ,
    STATUS_LABELS,
    _audit_list,
    _clinic_zone,
    _page,
    _views,
    _zone_lookup,
)


@phi_route
@get(
    "/scheduling/patients/{patient_id:uuid}/appointments",
    name="scheduling:patient-appointments",
    guards=READ,
    include_in_schema=False,
)
async def patient_appointments(
    request: Request, db_session: DbSession, patient_id: FromPath[uuid.UUID]
) -> Template:
    """A patient's upcoming and recent appointments and no-show count (the chart loads this
    into its Appointments panel); audited as a read for the patient."""
    if await db_session.get(Patient, (site_of(request).tenant.id, patient_id)) is None:
        raise NotFoundException(detail="There is no such patient in this clinic.")
    now = utcnow()
    zone_of = _zone_lookup(db_session, _clinic_zone(request))
    upcoming = await _views(
        db_session,
        [Appointment.patient_id == patient_id, Appointment.starts_at >= now, Appointment.status.in_(HOLDING)],
        zone_of,
    )
    past = await _views(
        db_session,
        [Appointment.patient_id == patient_id, Appointment.starts_at < now],
        zone_of,
        order=(Appointment.starts_at.desc(), Appointment.id),
        limit=CHART_PAST,
    )
    no_shows = await db_session.scalar(
        select(func.count())
        .select_from(Appointment)
        .where(and_(Appointment.patient_id == patient_id, Appointment.status == "no-show"))
    )
    await _audit_list(db_session, upcoming + past, "chart", patient_id=patient_id)
    await db_session.commit()
    context = {
        "patient_id": patient_id,
        "upcoming": upcoming,
        "past": past,
        "no_shows": no_shows or 0,
        "status_labels": STATUS_LABELS,
        "can_write": may(request, "scheduling:appointments", "write"),
    }
    if wants_fragment(request):
        return render_fragment(request, "scheduling/_patient_appointments.html", **context)
    return await _page(request, "scheduling/patient_appointments.html", page_title="Appointments", **context)
