"""Who is making the request: set by the authentication middleware, read by guards and
by the audit log."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    display_name: str
    #: the tenant the session or token is bound to (None: a platform operator's session)
    tenant_id: uuid.UUID | None
    roles: frozenset[str] = frozenset()
    #: "session" or "token"
    via: str = "session"
    session_id: str | None = None
    token_id: uuid.UUID | None = None
    #: a token limited to these permission objects (empty: the user's full rights)
    token_scopes: frozenset[str] = frozenset()
    #: the second factor was checked in this session (always True for tokens)
    mfa_verified: bool = True
    #: the user has a second factor enrolled
    mfa_enrolled: bool = False
    is_operator: bool = False
    #: emergency-access grants of this session: permission object -> expiry (epoch seconds)
    break_glass: dict[str, float] = field(default_factory=dict)

    @property
    def actor_type(self) -> str:
        return "token" if self.via == "token" else "user"


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, for the audit log."""

    client_ip: str | None = None
    user_agent: str | None = None


_principal: ContextVar[Principal | None] = ContextVar("tessera_principal", default=None)
_NO_META = RequestMeta()
_meta: ContextVar[RequestMeta | None] = ContextVar("tessera_request_meta", default=None)


def current_principal() -> Principal | None:
    return _principal.get()


def current_request_meta() -> RequestMeta:
    return _meta.get() or _NO_META


def set_request_identity(principal: Principal | None, meta: RequestMeta) -> tuple[Any, Any]:
    return _principal.set(principal), _meta.set(meta)


def reset_request_identity(tokens: tuple[Any, Any]) -> None:
    _principal.reset(tokens[0])
    _meta.reset(tokens[1])
