"""``/encounters/{id}``: one visit on a page, with the panels the clinic's plugins add to
it (``tessera_encounter_panels``: a note, vitals, charges). The read is audited with the
patient, in the transaction of the access."""

from __future__ import annotations

import uuid

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Template

from core.audit.phi import phi_route
from core.audit.record import record
from core.encounters.models import ENCOUNTER_TYPES
from core.encounters.routes import READ, RESOURCE, _find, _one_json
from core.patients.models import Patient
from core.plugin_api import DbSession
from core.web.extensions import contributions, render_panels
from core.web.render import page


@phi_route
@get("/encounters/{encounter_id:uuid}", name="core:screen:encounter", guards=READ, include_in_schema=False)
async def encounter_page(
    request: Request, db_session: DbSession, encounter_id: FromPath[uuid.UUID]
) -> Template:
    encounter = await _find(db_session, encounter_id)
    details = await _one_json(request, db_session, encounter)
    patient = await db_session.get(Patient, (encounter.tenant_id, encounter.patient_id))
    await record(
        db_session,
        action="read",
        resource_type=RESOURCE,
        resource_id=encounter.id,
        patient_id=encounter.patient_id,
        detail={"via": "encounter page"},
    )
    await db_session.commit()
    panels = await contributions(request, "tessera_encounter_panels", encounter=encounter)
    return await page(
        request,
        "core/encounters/encounter.html",
        page_title=f"Visit {details['start_local'][:10]}",
        encounter=details,
        type_name=ENCOUNTER_TYPES.get(encounter.type, encounter.type),
        patient=patient,
        panels=render_panels(request, panels, encounter=encounter),
    )


ROUTES: list = [encounter_page]
