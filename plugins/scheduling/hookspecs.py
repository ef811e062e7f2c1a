"""Hooks the scheduling plugin publishes for other plugins to implement.

This module and the two dataclasses in it are scheduling's public contract: billing
implements ``tessera_scheduling_booking_check`` to refuse a visit beyond an insurance
authorization's limit, telehealth implements ``tessera_scheduling_appointment_changed``
to open a video room for a telehealth booking. Import them as
``from plugins.scheduling.hookspecs import Booking, Concern`` (or, from a third-party
package, depend on the ``scheduling`` plugin in your manifest's ``requires``).

The hooks reach only the plugins the booking's tenant enabled (and nobody while the
tenant has scheduling off) and may return awaitables. The booking check and
``appointment_changed`` run inside the tenant's scope and the booking's transaction;
``appointment_actions`` is a robust contribution to the appointment's screen. A plugin
that works with scheduling but does not need it implements these with
``@hookimpl(optionalhook=True)`` instead of listing it in ``requires``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from core.plugin_api import hookspec

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.plugin_api import Action


@dataclass(frozen=True)
class Booking:
    """A proposed booking, as the booking check sees it (times are UTC instants)."""

    #: "book", "reschedule" or "series" (one call per occurrence of a new series)
    action: str
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    location_id: uuid.UUID
    type_id: uuid.UUID
    type_name: str
    encounter_type: str
    telehealth: bool
    starts_at: dt.datetime
    ends_at: dt.datetime
    #: the appointment being rescheduled; None for a new one
    appointment_id: uuid.UUID | None = None
    series_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Concern:
    """What a booking check has to say. A ``veto`` refuses the booking (409 with the
    message); a ``warning`` lets it through and is shown to whoever booked."""

    level: Literal["veto", "warning"]
    message: str
    #: a short machine-readable reason, e.g. "authorization-exhausted"
    code: str = ""


@dataclass(frozen=True)
class Previous:
    """Where a rescheduled appointment was before the move (UTC instants): the time it
    freed, which the waitlist offers to the patients waiting for one."""

    provider_id: uuid.UUID
    location_id: uuid.UUID
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True)
class AppointmentSummary:
    """An appointment as another plugin's screen extension sees it (UTC instants)."""

    id: uuid.UUID
    patient_id: uuid.UUID
    provider_id: uuid.UUID
    location_id: uuid.UUID
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    encounter_id: uuid.UUID | None = None


@hookspec
def tessera_scheduling_booking_check(booking: Booking, session: AsyncSession) -> list[Concern]:
    """*In transaction (veto).* Return concerns about a proposed booking or reschedule; return ``[]`` (or nothing)
    when there are none.

    Called after scheduling's own checks (availability, double booking) passed and the
    provider's, patient's and resource's calendars are locked, before anything is written.
    A ``veto`` from any plugin refuses the booking with a 409 naming the message;
    warnings are returned with the booked appointment. Read through ``session``; do not
    write (use ``tessera_scheduling_appointment_changed`` for that).

    :param booking: the proposal (see ``Booking``).
    :param session: the open transaction of the booking, in the tenant's scope.
    """


@hookspec
def tessera_scheduling_appointment_changed(
    appointment_id: uuid.UUID, change: str, session: AsyncSession, previous: Previous | None
) -> None:
    """*In transaction.* Called after an appointment was booked or changed, in the same
    transaction. For work that may fail or be slow (a video room to open, a message to
    send), consume the durable event ``scheduling.appointment_changed`` instead
    (``tessera_event_consumers``; payload ``appointment_id``, ``change``): it is delivered
    after the change committed, retried, and never undoes it.

    ``change`` is one of ``booked``, ``rescheduled``, ``cancelled``, ``confirmed``,
    ``arrived``, ``no-show``, ``completed``. Write through ``session`` and your rows commit
    with the change; raising aborts it.

    :param appointment_id: the appointment (read it with ``session`` if you need more).
    :param change: what happened.
    :param session: the open transaction, in the tenant's scope.
    :param previous: for ``rescheduled``, where and when the appointment was before
        (``Previous``); ``None`` for every other change.
    """


@hookspec(robust=True)
def tessera_scheduling_appointment_actions(appointment: AppointmentSummary, request: Request) -> list[Action]:
    """*Contribution.* Return actions to offer on an appointment's details (a link to start
    the video visit, a button to collect a copay), shown after scheduling's own.

    :param appointment: the appointment shown (``AppointmentSummary``).
    :param request: the current request; use ``may(request, ...)`` to offer only what the
        user may do (the route behind the action keeps its own guard).
    """


__all__ = [
    "AppointmentSummary",
    "Booking",
    "Concern",
    "Previous",
    "tessera_scheduling_appointment_actions",
    "tessera_scheduling_appointment_changed",
    "tessera_scheduling_booking_check",
]
