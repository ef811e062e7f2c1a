"""Signed tokens for links that work without signing in (invitations, set-password links,
a plugin's links in messages to patients).

A token is ``<payload>.<signature>``: the payload a compact JSON object in URL-safe base64,
the signature HMAC-SHA256 (RFC 2104) over it, compared in constant time. Each kind of link
has its own key, derived from ``TESSERA_SECRET_KEY`` and the kind's ``purpose``, so a token
of one kind is forged for every other. What the payload means (expiry, tenant, single use)
is the caller's to check: ``unsign_token`` only says the payload is authentic.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

#: tokens longer than this are refused unread
MAX_TOKEN = 512


class SignatureError(ValueError):
    """The token is not authentic (``reason`` "forged") or not a token at all ("malformed")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def urlsafe_b64(raw: bytes) -> str:
    """URL-safe base64 without padding (how tokens and nonces are written)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret_key: str, purpose: str, body: str) -> str:
    if not secret_key:
        raise RuntimeError(f"TESSERA_SECRET_KEY is needed to sign {purpose} links")
    key = hmac.new(secret_key.encode(), f"tessera:{purpose}:v1".encode(), hashlib.sha256).digest()
    return urlsafe_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def sign_token(secret_key: str, purpose: str, payload: dict[str, Any]) -> str:
    """A token carrying ``payload`` (JSON values), signed for ``purpose``."""
    body = urlsafe_b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_signature(secret_key, purpose, body)}"


def unsign_token(
    secret_key: str,
    purpose: str,
    token: str,
    *,
    max_length: int = MAX_TOKEN,
    fields: Mapping[str, Callable[[Any], Any]] | None = None,
) -> dict[str, Any]:
    """The payload of an authentic ``purpose`` token, else :class:`SignatureError`. With
    ``fields`` (key -> converter, e.g. ``{"t": uuid.UUID, "e": int}``), exactly those keys,
    converted; a missing key or a value that does not convert is "malformed"."""
    try:
        if len(token) > max_length:
            raise ValueError("too long")
        body, signature = token.split(".")
        expected = _signature(secret_key, purpose, body)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise SignatureError("forged")
        payload = json.loads(_unb64(body))
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        if fields is not None:
            payload = {key: convert(payload[key]) for key, convert in fields.items()}
    except SignatureError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeError):
        raise SignatureError("malformed") from None
    return payload
