"""Checking, scoring and storing instrument responses; reading observations.

Every function here reads or writes PHI and records an audit event in the caller's
transaction (the caller commits)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar.exceptions import ValidationException
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.lookup import find_or_404
from core.audit.record import record
from core.instruments.models import InstrumentResponse, Observation
from core.instruments.types import Instrument
from core.patients.models import Patient
from core.web.inputs import parse_instant, raise_errors

MAX_CODE = 40


class InstrumentInputError(ValidationException):
    """Answers that cannot be scored: 422 with one ``{field, reason}`` per problem."""

    status_code = 422


async def patient_or_404(session: AsyncSession, patient_id: uuid.UUID) -> Patient:
    return await find_or_404(session, Patient, patient_id, resource_type="patient", noun="patient")


def read_answers(instrument: Instrument, body: Any) -> tuple[dict[str, float], dt.datetime | None]:
    """The answers of ``body`` (``{"answers": {item: value}, "effective_at"?}``) checked
    against the instrument; a 422 names every unknown, wrong or missing item."""
    if not isinstance(body, Mapping):
        raise_errors(
            [{"field": "answers", "reason": "send a JSON object {item: value}"}], InstrumentInputError
        )
    errors: list[dict[str, str]] = []
    raw = body.get("answers")
    if not isinstance(raw, Mapping):
        raise_errors(
            [{"field": "answers", "reason": "required: an object {item: value}"}], InstrumentInputError
        )
    items = {item.key: item for item in instrument.items}
    answers: dict[str, float] = {}
    for key, value in raw.items():
        item = items.get(key)
        if item is None:
            errors.append({"field": f"answers.{key}", "reason": "no such item in this instrument"})
            continue
        if value is None:
            continue  # left unanswered
        allowed = [o.value for o in item.options]
        if isinstance(value, bool) or not isinstance(value, int | float) or value not in allowed:
            shown = ", ".join(_number(v) for v in allowed)
            errors.append({"field": f"answers.{key}", "reason": f"must be one of {shown}"})
            continue
        answers[key] = float(value)
    effective_at = None
    if body.get("effective_at") is not None:
        effective_at, problem = parse_instant(body.get("effective_at"))
        if problem:
            errors.append({"field": "effective_at", "reason": problem})
    unknown = set(body) - {"answers", "effective_at"}
    errors.extend({"field": name, "reason": "unknown field"} for name in sorted(map(str, unknown)))
    raise_errors(errors, InstrumentInputError)
    missing = [key for key in items if key not in answers]
    if len(answers) < instrument.required:
        need = instrument.required
        rule = "every item" if need == len(items) else f"at least {need} of {len(items)} items"
        raise_errors(
            [{"field": f"answers.{key}", "reason": f"missing ({rule} must be answered)"} for key in missing],
            InstrumentInputError,
        )
    return answers, effective_at


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _change(instrument: Instrument, old: float, new: float) -> dict[str, Any]:
    delta = new - old
    improved = delta > 0 if instrument.higher_is_better else delta < 0
    meaningful = instrument.mcid is not None and abs(delta) >= instrument.mcid
    return {
        "change": round(delta, 4),
        "direction": "better" if improved else ("same" if delta == 0 else "worse"),
        "passes_mcid": meaningful if instrument.mcid is not None else None,
        "meaningful_improvement": bool(meaningful and improved),
    }


@dataclass
class Scored:
    response: InstrumentResponse
    observation: Observation
    result: dict[str, Any]


async def submit(
    session: AsyncSession,
    instrument: Instrument,
    patient_id: uuid.UUID,
    answers: dict[str, float],
    *,
    effective_at: dt.datetime | None,
    user_id: uuid.UUID | None,
    now: dt.datetime,
) -> Scored:
    """Score ``answers`` (already checked), store the response and its observation, and
    compare with the patient's first and previous responses to the same instrument."""
    await patient_or_404(session, patient_id)
    score = instrument.score(answers)
    if not math.isfinite(score):
        raise_errors([{"field": "answers", "reason": "these answers cannot be scored"}], InstrumentInputError)
    when = effective_at or now
    earlier = (
        await session.scalars(
            select(InstrumentResponse)
            .where(
                InstrumentResponse.patient_id == patient_id,
                InstrumentResponse.instrument_key == instrument.key,
                InstrumentResponse.effective_at <= when,
            )
            .order_by(InstrumentResponse.effective_at, InstrumentResponse.created_at)
        )
    ).all()
    band = instrument.band(score)
    alerts = instrument.raised_alerts(answers, score)
    response = InstrumentResponse(
        patient_id=patient_id,
        instrument_key=instrument.key,
        instrument_version=instrument.version,
        answers=answers,
        score=decimal.Decimal(str(round(score, 4))),
        band=band,
        alerts=alerts,
        effective_at=when,
        recorded_by_user_id=user_id,
    )
    session.add(response)
    await session.flush()
    observation = Observation(
        patient_id=patient_id,
        code_system=instrument.code_system,
        code=instrument.code,
        display=instrument.title,
        value=response.score,
        unit=instrument.unit,
        effective_at=when,
        source_response_id=response.id,
        recorded_by_user_id=user_id,
    )
    session.add(observation)
    await session.flush()
    await record(
        session,
        action="create",
        resource_type="instrument_response",
        resource_id=response.id,
        patient_id=patient_id,
        detail={"instrument": instrument.key, "version": instrument.version},
    )
    result = {
        "id": str(response.id),
        "instrument": instrument.key,
        "version": instrument.version,
        "patient_id": str(patient_id),
        "effective_at": when.isoformat(),
        "answers": answers,
        "score": float(response.score),
        "band": band,
        "alerts": alerts,
        "observation": observation_json(observation),
        "mcid": instrument.mcid,
        "higher_is_better": instrument.higher_is_better,
        "since_first": _change(instrument, float(earlier[0].score), score) if earlier else None,
        "since_previous": _change(instrument, float(earlier[-1].score), score) if earlier else None,
    }
    return Scored(response, observation, result)


def observation_json(row: Observation) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "code_system": row.code_system,
        "code": row.code,
        "display": row.display,
        "value": float(row.value),
        "unit": row.unit,
        "effective_at": row.effective_at.isoformat(),
        "source_response_id": str(row.source_response_id) if row.source_response_id else None,
        "source_note_id": str(row.source_note_id) if row.source_note_id else None,
    }


async def list_observations(
    session: AsyncSession, patient_id: uuid.UUID, code: str | None = None, code_system: str | None = None
) -> list[Observation]:
    """The patient's observations, oldest first (of one ``code`` when given); audited."""
    await patient_or_404(session, patient_id)
    query = select(Observation).where(Observation.patient_id == patient_id)
    if code is not None:
        query = query.where(Observation.code == code)
    if code_system is not None:
        query = query.where(Observation.code_system == code_system)
    rows = list(
        (await session.scalars(query.order_by(Observation.effective_at, Observation.created_at))).all()
    )
    await record(
        session,
        action="read",
        resource_type="observations",
        patient_id=patient_id,
        detail={"code": code, "count": len(rows)},
    )
    return rows


async def latest_alerts(session: AsyncSession, patient_id: uuid.UUID) -> dict[str, list[str]]:
    """The alerts of the patient's latest response to each instrument (key -> messages),
    only where there are some; audited when any are shown."""
    rows = (
        await session.execute(
            select(InstrumentResponse.instrument_key, InstrumentResponse.alerts, InstrumentResponse.id)
            .where(InstrumentResponse.patient_id == patient_id)
            .order_by(
                InstrumentResponse.instrument_key,
                InstrumentResponse.effective_at.desc(),
                InstrumentResponse.created_at.desc(),
            )
            .distinct(InstrumentResponse.instrument_key)
        )
    ).all()
    found = {key: list(alerts) for key, alerts, _ in rows if alerts}
    if found:
        await record(
            session,
            action="read",
            resource_type="instrument_response",
            patient_id=patient_id,
            detail={"alerts_of": sorted(found)},
        )
    return found


async def add_observation(
    session: AsyncSession,
    *,
    patient_id: uuid.UUID,
    code_system: str,
    code: str,
    display: str,
    value: float,
    unit: str,
    effective_at: dt.datetime,
    source_note_id: uuid.UUID | None = None,
    recorded_by_user_id: uuid.UUID | None = None,
) -> Observation:
    """Store one measured value of a patient (a range of motion from a note, a pain
    rating), audited in the caller's transaction (the caller commits). A value that is not
    a finite number, an empty code or a naive time is refused with a ``ValueError``;
    another clinic's patient is a 404."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | decimal.Decimal)
        or not math.isfinite(value)
    ):
        raise ValueError("an observation's value is a finite number")
    if not code or not code_system or len(code) > MAX_CODE or not unit:
        raise ValueError("an observation needs a code system, a code (at most 40 characters) and a unit")
    if effective_at.tzinfo is None:
        raise ValueError("an observation's time must be timezone-aware")
    await patient_or_404(session, patient_id)
    row = Observation(
        patient_id=patient_id,
        code_system=code_system,
        code=code,
        display=display[:200],
        value=decimal.Decimal(str(round(float(value), 4))),
        unit=unit,
        effective_at=effective_at,
        source_note_id=source_note_id,
        recorded_by_user_id=recorded_by_user_id,
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        action="create",
        resource_type="observation",
        resource_id=row.id,
        patient_id=patient_id,
        detail={"code": code, "source_note_id": str(source_note_id) if source_note_id else None},
    )
    return row
