"""The encounter status lifecycle: the one place its allowed transitions are defined.

============  ==========================================
from          may change to
============  ==========================================
planned       arrived, cancelled, no-show
arrived       in-progress, cancelled
in-progress   finished
finished      (terminal)
cancelled     (terminal)
no-show       (terminal)
============  ==========================================

A new encounter starts ``planned``. Every change goes through
``core.encounters.services.change_status``, which checks this table, writes the history
row and calls the ``tessera_encounter_status_changed`` hook in the same transaction.
"""

from __future__ import annotations

PLANNED = "planned"
ARRIVED = "arrived"
IN_PROGRESS = "in-progress"
FINISHED = "finished"
CANCELLED = "cancelled"
NO_SHOW = "no-show"

STATUSES = (PLANNED, ARRIVED, IN_PROGRESS, FINISHED, CANCELLED, NO_SHOW)
INITIAL = PLANNED

TRANSITIONS: dict[str, tuple[str, ...]] = {
    PLANNED: (ARRIVED, CANCELLED, NO_SHOW),
    ARRIVED: (IN_PROGRESS, CANCELLED),
    IN_PROGRESS: (FINISHED,),
    FINISHED: (),
    CANCELLED: (),
    NO_SHOW: (),
}

TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)


def allowed_next(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def is_allowed(old: str, new: str) -> bool:
    return new in allowed_next(old)


def refusal(old: str, new: str) -> str:
    """Why ``old`` -> ``new`` is refused, naming what is allowed instead."""
    nexts = allowed_next(old)
    if not nexts:
        return f"A {old} encounter cannot change status any more ({old} is final)."
    return f"An encounter that is {old} cannot become {new}; it can become: {', '.join(nexts)}."
