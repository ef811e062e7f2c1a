"""Real servers for the messaging tests: an SMTP server (aiosmtpd) and an HTTP "SMS
provider" (the standard library's HTTP server), each on a free local port in a thread.
Core's and the plugins' tests use them alike."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_recipients:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
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
    """Requests the fake provider received; ``status`` is what it answers to a send.

    Like a provider that keeps its messages by idempotency key, ``GET <url>/<key>``
    answers 200 ``{"id": ...}`` for a key it accepted and 404 for one it did not
    (``lookup_status`` overrides that answer). ``accepted`` maps keys to ids.

    ``stall`` holds the answer to a send *after* the text was accepted (the provider's
    response time, the window a crashed sender cannot see into); ``send_received`` is set
    once a send arrived."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lookups: list[str] = []
        self.accepted: dict[str, str] = {}
        self.status = 200
        self.lookup_status: int | None = None
        self.stall = threading.Event()
        self.send_received = threading.Event()


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
            provider_id = f"sms-{len(gateway.requests)}"
            if 200 <= gateway.status < 300:
                gateway.accepted.setdefault(self.headers.get("idempotency-key") or "", provider_id)
            gateway.send_received.set()
            while gateway.stall.is_set():
                time.sleep(0.05)
            try:
                self._answer(gateway.status, {"id": provider_id})
            except OSError:  # the sender is gone (killed while waiting for the answer)
                pass

        def do_GET(self):
            key = self.path.rsplit("/", 1)[-1]
            gateway.lookups.append(key)
            if gateway.lookup_status is not None:
                self._answer(gateway.lookup_status, {})
            elif key in gateway.accepted:
                self._answer(200, {"id": gateway.accepted[key]})
            else:
                self._answer(404, {})

        def _answer(self, status: int, payload: dict) -> None:
            answer = json.dumps(payload).encode()
            self.send_response(status)
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


@pytest.fixture
async def no_unsent_messages_left(owner_engine):
    """Withdraw, after the test, the ``core.send_message`` outbox entries it left open (an
    invitation whose e-mail the test never sent): the suite shares one database, and a
    later test that runs a real worker would otherwise send them all first."""
    yield
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE core_outbox SET status = 'withdrawn', finished_at = now() "
                "WHERE job = 'core.send_message' AND status IN ('pending', 'enqueued')"
            )
        )
