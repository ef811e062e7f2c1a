"""The instruments and observations JSON API.

    GET  /api/instruments                                   the installed instruments (definitions)
    POST /api/patients/{id}/instruments/{key}               {"answers": {item: value}, "effective_at"?}
                                                            -> 201 score, band, alerts, change, MCID
    GET  /api/patients/{id}/observations?code=&system=      the patient's values, oldest first

Reading needs ``core:observations read``, recording ``write``. Another clinic's patient
is a 404 (audited), an unknown instrument a 404, answers that cannot be scored a 422
naming each item.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter

from core.audit.phi import phi_route
from core.auth.principal import current_principal
from core.authz.guards import requires
from core.db.base import utcnow
from core.instruments import services
from core.instruments.types import Instrument
from core.plugin_api import DbSession
from core.web.context import site_of
from core.web.inputs import raise_errors

READ = [requires("core:observations", "read")]
WRITE = [requires("core:observations", "write")]
TAGS = ["observations"]


def available_instruments(request: Request) -> dict[str, Instrument]:
    """The instruments of the current clinic: core's and those of its enabled plugins."""
    hooks = site_of(request).hooks
    enabled = hooks.enabled if hooks is not None else frozenset()
    registry = request.app.state.registry
    return {
        key: instrument
        for key, (plugin, instrument) in request.app.state.instruments.items()
        if registry.is_builtin(plugin) or plugin in enabled
    }


def instrument_json(instrument: Instrument) -> dict[str, Any]:
    low, high = instrument.range()
    return {
        "key": instrument.key,
        "version": instrument.version,
        "title": instrument.title,
        "description": instrument.description,
        "code_system": instrument.code_system,
        "code": instrument.code,
        "unit": instrument.unit,
        "items": [
            {
                "key": i.key,
                "text": i.text,
                "options": [{"value": o.value, "label": o.label} for o in i.options],
            }
            for i in instrument.items
        ],
        "min_answered": instrument.required,
        "score_range": [low, high],
        "bands": [{"low": b.low, "high": b.high, "label": b.label} for b in instrument.bands],
        "mcid": instrument.mcid,
        "higher_is_better": instrument.higher_is_better,
    }


@get("/instruments", name="instruments:list", guards=READ, tags=TAGS)
async def list_instruments(request: Request) -> list[dict[str, Any]]:
    """The instruments this clinic may record, with their items and answer options."""
    return [instrument_json(i) for _, i in sorted(available_instruments(request).items())]


@phi_route
@post(
    "/patients/{patient_id:uuid}/instruments/{key:str}",
    name="instruments:submit",
    guards=WRITE,
    tags=TAGS,
    status_code=201,
)
async def submit_instrument(
    request: Request, patient_id: FromPath[uuid.UUID], key: FromPath[str], db_session: DbSession
) -> dict[str, Any]:
    """Score a completed instrument on the server and store it with its observation."""
    instrument = available_instruments(request).get(key)
    if instrument is None:
        raise NotFoundException(detail=f"There is no instrument {key[:40]!r} in this clinic.")
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise_errors([{"field": "body", "reason": "must be JSON"}], services.InstrumentInputError)
    answers, effective_at = services.read_answers(instrument, body)
    principal = current_principal()
    scored = await services.submit(
        db_session,
        instrument,
        patient_id,
        answers,
        effective_at=effective_at,
        user_id=principal.user_id if principal is not None else None,
        now=utcnow(),
    )
    await db_session.commit()
    return scored.result


@phi_route
@get("/patients/{patient_id:uuid}/observations", name="observations:list", guards=READ, tags=TAGS)
async def list_observations(
    patient_id: FromPath[uuid.UUID],
    db_session: DbSession,
    code: Annotated[
        str | None, QueryParameter(max_length=services.MAX_CODE, description="e.g. 72514-3")
    ] = None,
    system: Annotated[
        str | None, QueryParameter(max_length=100, description="code system, e.g. http://loinc.org")
    ] = None,
) -> list[dict[str, Any]]:
    """The patient's observations, oldest first; of one ``code`` when given."""
    rows = await services.list_observations(db_session, patient_id, code, system)
    await db_session.commit()
    return [services.observation_json(r) for r in rows]


router = Router(path="/api", route_handlers=[list_instruments, submit_instrument, list_observations])

ROUTES: list = [router]
