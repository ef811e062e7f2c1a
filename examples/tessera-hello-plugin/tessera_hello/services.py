"""What the plugin does, independent of HTTP: list, validate and add greetings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_hello.models import MAX_GREETING_LENGTH, Greeting

DEFAULT_SALUTATION = "Hello"
WELCOME_TEXT = "Welcome! This greeting was added when your clinic turned on the Hello plugin."


class GreetingError(ValueError):
    """The text cannot be a greeting; the message tells the person what to change."""


def clean_greeting_text(raw: object) -> str:
    text_ = str(raw or "").strip()
    if not text_:
        raise GreetingError("Write a few words: a greeting cannot be empty.")
    if len(text_) > MAX_GREETING_LENGTH:
        raise GreetingError(
            f"A greeting can be at most {MAX_GREETING_LENGTH} characters; "
            f"this one has {len(text_)}. Please shorten it."
        )
    return text_


async def list_greetings(session: AsyncSession) -> list[Greeting]:
    """The current tenant's greetings, newest first (ids are time-ordered UUIDv7s)."""
    return list(await session.scalars(select(Greeting).order_by(Greeting.id.desc())))


async def add_greeting(session: AsyncSession, raw_text: object) -> Greeting:
    """Validate and add a greeting in the current tenant; the caller commits."""
    greeting = Greeting(text=clean_greeting_text(raw_text))
    session.add(greeting)
    await session.flush()
    return greeting


async def ensure_greeting(session: AsyncSession, text_: str) -> None:
    """Add ``text_`` unless the tenant already has that exact greeting (idempotent seeding)."""
    exists = await session.scalar(select(Greeting.id).where(Greeting.text == text_).limit(1))
    if exists is None:
        session.add(Greeting(text=text_))
        await session.flush()
