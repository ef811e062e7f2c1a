"""Requests no field of any route accepts, refused at the door with a 400.

* **NUL characters** (``\\x00``, ``%00``, ``\\u0000``) in the path, the query string, a JSON
  body or a urlencoded form. PostgreSQL cannot store NUL in text, so one used to travel
  through validation to the database and come back as a 500 — on every text field of
  every route, the anonymous sign-in included. No clinic's text contains one.
* **JSON nested deeper than** :data:`MAX_JSON_DEPTH` levels. No request of the API nests
  more than a few levels; a thousand levels made the decoder recurse until it failed.

Checked once here, before the tenant is looked up or anyone is authenticated, rather than
in every handler: a route added tomorrow is covered too. Bodies are read into memory (up
to :data:`MAX_BODY_BYTES`, the web framework's own limit; larger ones answer 413) and
handed on unchanged. Multipart bodies (file uploads may hold any byte) are not inspected.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core.web.errors import send_error

MAX_JSON_DEPTH = 32
MAX_BODY_BYTES = 10_000_000  # Litestar's default request_max_body_size

NUL_MESSAGE = (
    "The request contains a NUL character (\\u0000 or %00), which no field accepts. Remove it and send again."
)
DEPTH_MESSAGE = f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep; no request needs that."
TOO_LARGE = "The request body is too large."
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _json_problem(value: Any) -> str | None:
    """NUL anywhere (keys included) or nesting beyond the limit, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return NUL_MESSAGE
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                return DEPTH_MESSAGE
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        return NUL_MESSAGE
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return None


def body_problem(content_type: str, body: bytes) -> str | None:
    """Why ``body`` is refused, or None (also None for bodies that do not parse: the route's
    own decoding answers those with its usual message)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        if b"\x00" in body:
            return NUL_MESSAGE
        try:
            decoded = msgspec.json.decode(body)
        except RecursionError:
            return DEPTH_MESSAGE
        except msgspec.DecodeError:
            return None
        return _json_problem(decoded)
    if media == "application/x-www-form-urlencoded":
        text = body.decode("latin-1")
        if "\x00" in text or any(
            "\x00" in k or "\x00" in v for k, v in parse_qsl(text, keep_blank_values=True)
        ):
            return NUL_MESSAGE
    return None


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return value.decode("latin-1")
    return ""


def request_checks_middleware(app: ASGIApp) -> ASGIApp:
    async def check_request(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or (
            query and (b"\x00" in query or "\x00" in unquote_plus(query.decode("latin-1")))
        ):
            await send_error(scope, send, 400, NUL_MESSAGE)
            return
        content_type = _header(scope, b"content-type").lower()
        if scope.get("method") not in _BODY_METHODS or not (
            "json" in content_type or "x-www-form-urlencoded" in content_type
        ):
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        trailing: list[Message] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                trailing.append(message)
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await send_error(scope, send, 413, TOO_LARGE)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if problem := body_problem(content_type, body):
            await send_error(scope, send, 400, problem)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            if trailing:
                return trailing.pop(0)
            return await receive()

        await app(scope, replay, send)

    return check_request
