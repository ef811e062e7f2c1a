"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
parameter set), and the rules a new password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
MIN_LENGTH = 12
#: hashed once so a sign-in for an unknown e-mail takes as long as for a known one
_DUMMY_HASH = _hasher.hash("tessera-timing-equaliser")


class WeakPasswordError(ValueError):
    """The password does not meet the rules; the message says which."""


def check_strength(password: str, *, email: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"use at least {MIN_LENGTH} characters")
    if len(password) > 1024:
        raise WeakPasswordError("use at most 1024 characters")
    if email and password.lower() == email.lower():
        raise WeakPasswordError("do not use your e-mail address as the password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
