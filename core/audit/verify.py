"""Verifying a tenant's audit chain (``tessera audit verify --tenant S``).

Walks the tenant's sealed events by ``seal_seq`` and stops at the first bad one:

* **deleted** — a gap in ``seal_seq``, or an event whose ``prev_hash`` is the hash of no
  event in the log (its predecessor was removed and the rest renumbered);
* **reordered** — an event whose ``prev_hash`` is the hash of an event that sits at another
  position (positions were swapped);
* **altered** — the recomputed hash of an event differs from the stored one (a content
  column, or its own ``seal_seq``, was changed).

It reads as the sealer role or the schema owner (both see every tenant's rows). What it
cannot see by itself: the removal of the newest events, or a chain rewritten end to end
with recomputed hashes. Against both, record the printed head (``seq`` and ``hash``)
elsewhere and pass it back with ``--expect-head SEQ:HASH``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.audit.models import CHAINED_FIELDS
from core.audit.seal import GENESIS, chain_hash

PAGE = 5000

_COLUMNS = ", ".join(CHAINED_FIELDS)
_PAGE = text(
    f"SELECT {_COLUMNS}, seal_seq, prev_hash, hash FROM audit_events "
    "WHERE tenant_id = :tenant AND seal_seq > :after ORDER BY seal_seq LIMIT :limit"
)
_BY_HASH = text(
    "SELECT id, seal_seq FROM audit_events WHERE tenant_id = :tenant AND hash = :hash "
    "ORDER BY seal_seq LIMIT 1"
)
_AT_SEQ = text("SELECT id, hash FROM audit_events WHERE tenant_id = :tenant AND seal_seq = :seq")
_UNSEALED = text("SELECT count(*) FROM audit_events WHERE tenant_id = :tenant AND seal_seq IS NULL")


@dataclass(frozen=True)
class Problem:
    kind: str  # "deleted", "reordered", "altered", "head"
    event_id: uuid.UUID | None
    seal_seq: int | None
    reason: str

    def line(self) -> str:
        where = f"event {self.event_id} (seq {self.seal_seq})" if self.event_id else f"seq {self.seal_seq}"
        return f"audit chain broken at {where}: {self.kind}: {self.reason}"


@dataclass(frozen=True)
class Report:
    tenant_id: uuid.UUID
    sealed: int
    unsealed: int
    head_seq: int
    head_hash: bytes
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return self.problem.line()
        return (
            f"audit chain intact: {self.sealed} events sealed, {self.unsealed} awaiting sealing; "
            f"head seq {self.head_seq} hash {self.head_hash.hex()}"
        )


def parse_head(value: str) -> tuple[int, bytes]:
    """``"SEQ:HEX"`` as printed by verify -> (seq, hash); ValueError when malformed."""
    seq, _, digest = value.partition(":")
    try:
        number, raw = int(seq), bytes.fromhex(digest)
    except ValueError:
        raise ValueError(f"expected SEQ:HASH (as printed by verify), got {value!r}") from None
    if number < 1 or len(raw) != 32:
        raise ValueError(f"expected SEQ:HASH with a 64-digit hex SHA-256, got {value!r}")
    return number, raw


async def verify_chain(
    engine: AsyncEngine, tenant_id: uuid.UUID, *, expect_head: tuple[int, bytes] | None = None
) -> Report:
    """Check one tenant's chain; the report names the first bad event, if any."""
    expected_seq, prev = 1, GENESIS
    async with engine.connect() as conn:
        unsealed = int(await conn.scalar(_UNSEALED, {"tenant": tenant_id}))

        def report(problem: Problem | None = None) -> Report:
            return Report(tenant_id, expected_seq - 1, unsealed, expected_seq - 1, prev, problem)

        while True:
            rows = (
                (await conn.execute(_PAGE, {"tenant": tenant_id, "after": expected_seq - 1, "limit": PAGE}))
                .mappings()
                .all()
            )
            for row in rows:
                seq, event_id = int(row["seal_seq"]), row["id"]
                stored_prev = bytes(row["prev_hash"]) if row["prev_hash"] is not None else None
                stored_hash = bytes(row["hash"]) if row["hash"] is not None else None
                if seq != expected_seq:
                    missing = (
                        f"seq {expected_seq}"
                        if seq == expected_seq + 1
                        else f"seq {expected_seq} to {seq - 1}"
                    )
                    return report(
                        Problem("deleted", event_id, seq, f"events are missing before it ({missing})")
                    )
                if stored_prev is None or stored_hash is None:
                    return report(Problem("altered", event_id, seq, "its chain columns were cleared"))
                if stored_prev != prev:
                    found = (await conn.execute(_BY_HASH, {"tenant": tenant_id, "hash": stored_prev})).first()
                    if found is not None:
                        return report(
                            Problem(
                                "reordered",
                                event_id,
                                seq,
                                f"it was sealed after event {found.id} (now at seq {found.seal_seq}), "
                                f"not after the event at seq {seq - 1}",
                            )
                        )
                    return report(
                        Problem(
                            "deleted",
                            event_id,
                            seq,
                            "the event it was chained to is gone, or this row was forged with its "
                            "chain columns set (its prev_hash matches no event)",
                        )
                    )
                if chain_hash(prev, row, seq) != stored_hash:
                    return report(Problem("altered", event_id, seq, "its content does not match its hash"))
                prev = stored_hash
                expected_seq += 1
            if len(rows) < PAGE:
                break

        if expect_head is not None:
            head_seq, head_hash = expect_head
            anchored = (await conn.execute(_AT_SEQ, {"tenant": tenant_id, "seq": head_seq})).first()
            if anchored is None:
                return report(
                    Problem(
                        "head",
                        None,
                        head_seq,
                        f"the recorded head is gone: the chain ends at seq {expected_seq - 1} "
                        "(the newest events were deleted)",
                    )
                )
            if bytes(anchored.hash) != head_hash:
                return report(
                    Problem(
                        "head",
                        anchored.id,
                        head_seq,
                        "its hash differs from the recorded head (the chain was rewritten)",
                    )
                )
    return report()
