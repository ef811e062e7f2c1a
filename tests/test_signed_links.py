"""core.web.signed: the one signed-token helper behind invitations, set-password links and
scheduling's patient links."""

from __future__ import annotations

import uuid

import pytest

from core.authz.invitations import INVITATION_PURPOSE, SETUP_PURPOSE
from core.plugin_api import SignatureError, sign_token, unsign_token


def test_a_token_carries_its_payload():
    token = sign_token("key", "demo", {"a": 1, "b": "two"})
    assert unsign_token("key", "demo", token) == {"a": 1, "b": "two"}


@pytest.mark.parametrize(
    ("key", "purpose"),
    [("other-key", "demo"), ("key", "other-purpose"), ("key", INVITATION_PURPOSE), ("key", SETUP_PURPOSE)],
)
def test_another_key_or_purpose_makes_it_forged(key, purpose):
    token = sign_token("key", "demo", {"a": 1})
    with pytest.raises(SignatureError) as caught:
        unsign_token(key, purpose, token)
    assert caught.value.reason == "forged"


def test_a_tampered_payload_is_forged():
    body, signature = sign_token("key", "demo", {"a": 1}).split(".")
    with pytest.raises(SignatureError, match="forged"):
        unsign_token("key", "demo", body + "x." + signature)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "", "x" * 600])
def test_what_is_not_a_token_is_malformed(token):
    with pytest.raises(SignatureError) as caught:
        unsign_token("key", "demo", token)
    assert caught.value.reason == "malformed"


def test_an_authentic_token_over_the_length_limit_is_refused_unread():
    token = sign_token("key", "demo", {"pad": "x" * 600})
    assert unsign_token("key", "demo", token, max_length=2000)["pad"] == "x" * 600
    with pytest.raises(SignatureError, match="malformed"):
        unsign_token("key", "demo", token)


def test_signing_needs_the_secret_key():
    with pytest.raises(RuntimeError, match="TESSERA_SECRET_KEY"):
        sign_token("", "demo", {})


def test_fields_are_converted_and_a_missing_or_bad_one_is_malformed():
    token = sign_token("key", "demo", {"n": "7", "u": "5d3c9a2e-0000-4000-8000-000000000001", "extra": 1})
    assert unsign_token("key", "demo", token, fields={"n": int}) == {"n": 7}
    for fields in ({"missing": str}, {"u": int}, {"extra": uuid.UUID}):
        with pytest.raises(SignatureError) as caught:
            unsign_token("key", "demo", token, fields=fields)
        assert caught.value.reason == "malformed"
