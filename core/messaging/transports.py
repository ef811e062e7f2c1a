"""How messages leave the building: e-mail over SMTP, text messages through an SMS
provider's HTTP API, and a recording transport for development.

``transports_for(settings, tenant_id)`` picks them from the settings: ``TESSERA_SMTP_URL``
for e-mail, ``TESSERA_SMS_URL`` (+ ``TESSERA_SMS_TOKEN``) for texts; whichever is unset is
*recorded* instead of sent, as JSON lines under ``<TESSERA_DATA_DIR>/messages/`` (one file
per clinic, ``<tenant id>.jsonl``; ``core.messaging.recorded`` reads it back and ``tessera
messages list`` prints it), so ``make run`` works with neither configured and a developer
still sees every message.

Errors: a transport raises ``TransportError`` when the message was certainly not
accepted (``permanent`` when trying again cannot help: a refused recipient, a rejected
token). Its text names the cause for the person fixing the configuration and never
contains the message, its recipient or anything the remote side echoed back (it may be
PHI). Anything else that escapes (a lost connection mid-transfer, a timeout) leaves it
unknown whether the message arrived; the caller treats that case (``core.messaging.sending``
and scheduling's reminders): a text's ``reference`` is its idempotency key, and
``find_text(reference)`` asks the provider whether an earlier attempt already reached it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

import aiosmtplib
import httpx

from core.messaging.recorded import messages_folder


class TransportError(RuntimeError):
    """The message was not accepted. ``permanent``: trying again will not help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Email:
    """One e-mail. ``message_id`` is stable for one message (derived from the id of what
    it is sent for), so a second attempt after a crash is recognisably the same message."""

    to: str
    subject: str
    text: str
    message_id: str
    sender: str


@dataclass(frozen=True)
class TextMessage:
    """One SMS. ``reference`` is stable for one message: providers that honour an
    idempotency key drop a second attempt with the same one, and ``find_text`` looks it up."""

    to: str
    text: str
    reference: str


class EmailTransport(Protocol):
    async def send_email(self, email: Email) -> str:
        """Hand ``email`` over; returns the id the message is known by (its Message-ID)."""


class SmsProvider(Protocol):
    """An SMS gateway. Adapters for a particular provider implement this one method."""

    async def send(self, to: str, text: str, *, reference: str) -> str:
        """Send ``text`` to the E.164 number ``to``; returns the provider's message id."""

    async def lookup(self, reference: str) -> str | None:
        """The provider's id of the message sent with idempotency key ``reference``, or
        None when the provider never accepted one. Raises ``TransportError`` when it cannot
        tell (then the caller cannot know either, and sends again under the same key)."""


# -- e-mail ------------------------------------------------------------------------------

SMTP_SCHEMES = {"smtp": (25, False, False), "smtp+starttls": (587, True, False), "smtps": (465, False, True)}


def build_email(email: Email) -> EmailMessage:
    message = EmailMessage()
    message["From"] = email.sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Message-ID"] = email.message_id
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    # RFC 3834: an automatic message; well-behaved auto-responders do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    return message


class SmtpTransport:
    """E-mail over SMTP with aiosmtplib. ``url`` is ``TESSERA_SMTP_URL``:
    ``smtp://[user:password@]host[:port]``, ``smtp+starttls://…`` or ``smtps://…``."""

    def __init__(self, url: str, *, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
            raise TransportError(
                "TESSERA_SMTP_URL must look like smtp://host:25, smtp+starttls://user:password@host:587 "
                "or smtps://user:password@host:465",
                permanent=True,
            )
        default_port, self.start_tls, self.use_tls = SMTP_SCHEMES[parts.scheme]
        self.host = parts.hostname
        self.port = parts.port or default_port
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    async def send_email(self, email: Email) -> str:
        message = build_email(email)
        try:
            # One bound on the whole exchange (connect to QUIT): when it has passed, this
            # attempt is over, whatever the server does; the senders' retry rule relies on it.
            async with asyncio.timeout(self.timeout):
                await aiosmtplib.send(
                    message,
                    hostname=self.host,
                    port=self.port,
                    username=self.username,
                    password=self.password,
                    start_tls=self.start_tls,
                    use_tls=self.use_tls,
                    timeout=self.timeout,
                )
        except aiosmtplib.SMTPRecipientsRefused:
            raise TransportError("the mail server refused the recipient address", permanent=True) from None
        except aiosmtplib.SMTPAuthenticationError:
            raise TransportError(
                "the mail server refused the user name or password in TESSERA_SMTP_URL", permanent=True
            ) from None
        except aiosmtplib.SMTPConnectError:
            raise TransportError(f"could not connect to the mail server {self.host}:{self.port}") from None
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is a refusal that will be repeated; 4xx asks to try later.
            raise TransportError(
                f"the mail server answered {exc.code}", permanent=500 <= exc.code < 600
            ) from None
        return email.message_id


# -- SMS ---------------------------------------------------------------------------------


class HttpSmsProvider:
    """A generic JSON-over-HTTPS SMS gateway: ``POST url`` with
    ``{"to": "+15551234567", "text": "...", "reference": "..."}``, ``Authorization:
    Bearer <token>`` and ``Idempotency-Key: <reference>``; a 2xx answer carries the
    provider's id as ``{"id": "..."}`` (else the reference stands in for it).

    4xx answers are refusals of this message or of the credentials (permanent, except 408
    and 429: try later); 5xx and network failures before an answer are temporary.

    ``lookup(reference)`` is ``GET url/<reference>`` with the same credentials: 200 with
    ``{"id": "..."}`` when the provider accepted a message under that idempotency key, 404
    when it did not; anything else means it cannot tell."""

    def __init__(self, url: str, token: str, *, timeout: float) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise TransportError("TESSERA_SMS_URL must be an http(s) URL", permanent=True)
        self.url = url
        self.token = token
        self.timeout = timeout

    async def send(self, to: str, text: str, *, reference: str) -> str:
        headers = {"Idempotency-Key": reference}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(
                    self.url, json={"to": to, "text": text, "reference": reference}, headers=headers
                )
        except httpx.ConnectError:
            raise TransportError("could not connect to the SMS provider (TESSERA_SMS_URL)") from None
        status = response.status_code
        if status in (401, 403):
            raise TransportError(
                f"the SMS provider refused the credentials ({status}); check TESSERA_SMS_TOKEN",
                permanent=True,
            )
        if status in (408, 429):
            raise TransportError(f"the SMS provider asked to try later ({status})")
        if 400 <= status < 500:
            raise TransportError(f"the SMS provider refused the message ({status})", permanent=True)
        if status >= 500:
            raise TransportError(f"the SMS provider failed ({status}); will try again")
        try:
            provider_id = response.json().get("id")
        except (ValueError, AttributeError):
            provider_id = None
        return str(provider_id or reference)

    async def lookup(self, reference: str) -> str | None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(
                    f"{self.url.rstrip('/')}/{quote(reference, safe='')}", headers=headers
                )
        except httpx.HTTPError:
            raise TransportError("could not ask the SMS provider about an earlier attempt") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TransportError(
                f"the SMS provider could not say whether an earlier attempt arrived ({response.status_code})"
            )
        try:
            provider_id = response.json().get("id")
        except (ValueError, AttributeError):
            provider_id = None
        return str(provider_id or reference)


class SmsTransport:
    """Sends ``TextMessage``s through an ``SmsProvider``."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    async def send_text(self, message: TextMessage) -> str:
        return await self.provider.send(message.to, message.text, reference=message.reference)

    async def find_text(self, reference: str) -> str | None:
        """The provider's id of an earlier message under ``reference`` (None: none arrived)."""
        return await self.provider.lookup(reference)


# -- recording (development) -------------------------------------------------------------


class RecordingTransport:
    """Keeps messages instead of sending them: one JSON line per message in
    ``<folder>/<tenant id>.jsonl``. For development and demos only: the file holds the
    full messages (PHI), which is why it lives in the data folder, not in a log."""

    def __init__(self, folder: Path, tenant_id: uuid.UUID) -> None:
        self.path = Path(folder) / f"{tenant_id}.jsonl"

    def _append(self, kind: str, payload: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"kind": kind, "at": dt.datetime.now(dt.UTC).isoformat(), **payload})
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")

    async def send_email(self, email: Email) -> str:
        await asyncio.to_thread(self._append, "email", asdict(email))
        return email.message_id

    async def send_text(self, message: TextMessage) -> str:
        await asyncio.to_thread(self._append, "sms", asdict(message))
        return f"recorded:{message.reference}"

    async def find_text(self, reference: str) -> str | None:
        def scan() -> str | None:
            if not self.path.exists():
                return None
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip() and json.loads(line).get("reference") == reference:
                    return f"recorded:{reference}"
            return None

        return await asyncio.to_thread(scan)


# -- choosing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Transports:
    email: EmailTransport
    sms: SmsTransport | RecordingTransport
    #: "smtp" / "http" / "recorded", for the message row and the audit event
    email_kind: str
    sms_kind: str


def transports_for(settings, tenant_id: uuid.UUID) -> Transports:
    """The clinic's transports under ``settings`` (see the module docstring)."""
    recording = RecordingTransport(messages_folder(settings), tenant_id)
    email = (
        SmtpTransport(settings.smtp_url, timeout=settings.send_timeout) if settings.smtp_url else recording
    )
    sms = (
        SmsTransport(HttpSmsProvider(settings.sms_url, settings.sms_token, timeout=settings.send_timeout))
        if settings.sms_url
        else recording
    )
    return Transports(
        email=email,
        sms=sms,
        email_kind="smtp" if settings.smtp_url else "recorded",
        sms_kind="http" if settings.sms_url else "recorded",
    )


def plausible_email(address: str | None) -> bool:
    if not address:
        return False
    _, parsed = parseaddr(address)
    return bool(parsed) and "@" in parsed and parsed == address.strip()


__all__ = [
    "Email",
    "EmailTransport",
    "HttpSmsProvider",
    "RecordingTransport",
    "SmsProvider",
    "SmsTransport",
    "SmtpTransport",
    "TextMessage",
    "TransportError",
    "Transports",
    "build_email",
    "plausible_email",
    "transports_for",
]
