"""Real servers for the reminder tests: an SMTP server (aiosmtpd) and an HTTP "SMS
provider" (the standard library's HTTP server), each on a free local port in a thread,
plus helpers to book through ``booking`` and to read rows as the schema owner."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import socket
import threading
import uuid
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from sqlalchemy import text

ZONE = "America/Chicago"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def future_weekday_at(hhmm: str, *, days_ahead: int = 10, zone: str = ZONE) -> dt.datetime:
    """An aware instant ``days_ahead`` or a few more days from now, on a weekday, at the
    local wall time ``hhmm`` (the booking clinic works Monday-Friday)."""
    day = dt.date.today() + dt.timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=zoneinfo.ZoneInfo(zone))


class Inbox:
    """What the SMTP server accepted. ``stall`` holds every DATA before its answer; a
    message counts as delivered only once the server answered 250 to its DATA (a client
    that vanishes while stalled delivered nothing: aiosmtpd cancels the handler)."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()
        self.stall = threading.Event()
        self.data_started = threading.Event()
        self.refuse_recipients = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if self.refuse_recipients:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.data_started.set()
        while self.stall.is_set():  # noqa: ASYNC110 - the flag is set from the test's thread
            await asyncio.sleep(0.05)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 2.0.0 accepted"

    def delivered(self) -> list:
        with self.lock:
            return list(self.messages)


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        inbox.stall.clear()
        controller.stop()


class SmsGateway:
    """Requests the fake provider received; ``status`` is what it answers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200


@contextmanager
def sms_gateway() -> Iterator[tuple[SmsGateway, str]]:
    gateway = SmsGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            gateway.requests.append(
                {
                    "path": self.path,
                    "json": json.loads(body),
                    "authorization": self.headers.get("authorization"),
                    "idempotency_key": self.headers.get("idempotency-key"),
                }
            )
            answer = json.dumps({"id": f"sms-{len(gateway.requests)}"}).encode()
            self.send_response(gateway.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway, f"http://127.0.0.1:{server.server_address[1]}/v1/messages"
    finally:
        server.shutdown()
        server.server_close()


async def rows(owner_engine, sql: str, **params) -> list[dict]:
    async with owner_engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(text(sql), params)).all()]


async def execute(owner_engine, sql: str, **params) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text(sql), params)


async def reminders_of(owner_engine, appointment_id: uuid.UUID) -> list[dict]:
    return await rows(
        owner_engine,
        "SELECT r.*, o.status AS outbox_status, o.not_before, o.kwargs, o.job "
        "FROM scheduling_reminders r LEFT JOIN core_outbox o "
        "ON o.tenant_id = r.tenant_id AND o.id = r.outbox_id "
        "WHERE r.appointment_id = :a ORDER BY r.appointment_version, r.rule",
        a=appointment_id,
    )


async def set_contact(owner_engine, patient_id, *, email_address=None, phone=None) -> None:
    await execute(
        owner_engine,
        "UPDATE patients SET email = :e, phone = :p WHERE id = :id",
        e=email_address,
        p=phone,
        id=patient_id,
    )


async def set_config(owner_engine, tenant, config: dict) -> None:
    await execute(
        owner_engine,
        "UPDATE tenant_plugins SET config = CAST(:c AS jsonb) WHERE tenant_id = :t AND plugin = 'scheduling'",
        c=json.dumps(config),
        t=tenant.id,
    )
