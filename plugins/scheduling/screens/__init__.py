"""The scheduling screens (HTML + htmx) over ``booking``, ``availability`` and ``waitlist``.

    GET  /scheduling/calendar?view=&date=&provider=|location=   day/week grid (htmx: #calendar)
    GET  /scheduling/calendar/book?start=&provider=&location=   the booking form for an empty slot
    POST /scheduling/calendar/book                             book (409/422 inline in the form)
    GET  /scheduling/patients/search?patient_q=                patient choices for the forms
    GET  /scheduling/appointments/{id}                         details and actions
    POST /scheduling/appointments/{id}/{confirm|cancel|check-in|no-show|reschedule}
    GET  /scheduling/today?location=&date=                     the front desk's list (refreshes)
    GET  /scheduling/waitlist                                  the waitlist and its form
    POST /scheduling/waitlist                                  add an entry
    POST /scheduling/waitlist/{id}/remove | /book              take off / book the offered slot
    GET  /scheduling/waitlist/offers?provider=&location=&start= who on the waitlist fits a slot
    GET  /scheduling/patients/{id}/appointments                the chart's Appointments panel

The screen's state lives in its URL (``hx-push-url``), and every form carries ``back``, the
URL of the screen it came from: after a change, htmx gets that screen's fragment with a
notice (no page load), a plain form post a 303 to it. A refused change answers 409/422
with the form and its message, retargeted (``HX-Retarget``) to the screen's dialog area.
Every route that shows or changes patient data is a PHI route and audited: the calendar
and today lists as one read each listing their appointment ids (as core's searches do).
"""

from __future__ import annotations

from plugins.scheduling.screens.appointment import (
    appointment_detail,
    cancel_appointment,
    check_in_appointment,
    confirm_appointment,
    no_show_appointment,
    reschedule_appointment,
)
from plugins.scheduling.screens.book import book, book_form, patient_choices
from plugins.scheduling.screens.calendar import calendar
from plugins.scheduling.screens.chart import patient_appointments
from plugins.scheduling.screens.today import today
from plugins.scheduling.screens.waitlist import waitlist_offers, waitlist_screen
from plugins.scheduling.screens.waitlist_actions import waitlist_add, waitlist_book, waitlist_remove

ROUTES: list = [
    calendar,
    book_form,
    patient_choices,
    book,
    appointment_detail,
    confirm_appointment,
    cancel_appointment,
    check_in_appointment,
    no_show_appointment,
    reschedule_appointment,
    today,
    waitlist_screen,
    waitlist_add,
    waitlist_remove,
    waitlist_book,
    waitlist_offers,
    patient_appointments,
]
