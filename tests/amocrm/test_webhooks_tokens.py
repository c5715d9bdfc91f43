"""The webhook body parser (hostile input) and the token cipher."""

from __future__ import annotations

import time
import urllib.parse

import pytest

from amocrm.errors import NeedsReinstall
from amocrm.ratelimit import TokenBucket
from amocrm.tokens import TokenCipher, TokenSet
from amocrm.webhooks import MAX_DEPTH, Delivery, RecordEvent, parse_delivery, parse_form
from resolver.errors import InputError

SECRET = "x" * 40


def _body(pairs: list[tuple[str, str]]) -> bytes:
    return urllib.parse.urlencode(pairs).encode()


def test_a_batched_delivery_yields_every_event_of_contacts_and_companies():
    body = _body([("contacts[add][0][id]", "101"), ("contacts[add][0][name]", "Иван"),
                  ("contacts[add][1][id]", "102"), ("contacts[delete][0][id]", "7"),
                  ("companies[update][0][id]", "55"), ("companies[update][0][custom_fields][0][values][0][value]", "x"),
                  ("leads[add][0][id]", "9"),  # not ours: ignored
                  ("account[subdomain]", "Acme"), ("account[id]", "29000000")])
    assert parse_delivery(body) == Delivery("29000000", "acme", (
        RecordEvent("contact", "add", "101"), RecordEvent("contact", "add", "102"),
        RecordEvent("contact", "delete", "7"), RecordEvent("company", "update", "55")))


def test_nested_keys_become_nested_dicts():
    assert parse_form(b"a[b][0][c]=1&a[b][1][c]=%D0%AF&x=y+z") == {"a": {"b": {"0": {"c": "1"}, "1": {"c": "Я"}}},
                                                                     "x": "y z"}


@pytest.mark.parametrize(("body", "reason"), [
    (b"contacts[add][0][id]=1", "names no account"),
    (b"account[id]=1&contacts[add][0][id]=abc", "numeric id"),
    (b"account[id]=1&contacts[add][0][name]=x", "numeric id"),
    (b"account[id]=1&contacts=x", "must hold actions"),
    (b"account[id]=1&contacts[add]=x", "must hold entities"),
    (b"account[id]=1&a[b]=1&a[b][c]=2", "both a value and a container"),
    (b"account[id]=1&a[b][c]=2&a[b]=1", "both a value and a container"),
    (b"account[id]=1&a]b[=1", "not of the form"),
    (b"account[id]=1&" + b"a" + b"[x]" * (MAX_DEPTH + 1) + b"=1", "nested deeper"),
    (b"account[id]=1&" + b"k" * 400 + b"=1", "longer than"),
    (b"\xff\xfe", "not UTF-8"),
    (b"account[id]=1&" + b"&".join(b"contacts[add][%d][id]=1" % i for i in range(5_100)), "more than 5000 events"),
    (b"a=1&" * 60_000, "more than 50000 fields"),
    (b"x=" + b"1" * 2_000_001, "larger than"),
], ids=["no account", "id not a number", "no id", "entity not a dict", "action not a dict", "leaf then container",
        "container then leaf", "bad brackets", "too deep", "key too long", "not utf-8", "too many events",
        "too many fields", "too large"])
def test_hostile_bodies_get_a_clear_error(body: bytes, reason: str):
    with pytest.raises(InputError, match=reason):
        parse_delivery(body)


def test_a_large_body_parses_in_linear_time():
    # 24,000 fields of one delivery (just under the byte limit): a parser quadratic in the fields would take
    # minutes here; the guard is the test timeout, not a clock
    pairs = [(f"contacts[update][{i}][id]", str(i + 1)) for i in range(4_000)]
    pairs += [(f"contacts[update][{i}][f][{k}]", "v") for i in range(4_000) for k in range(5)]
    delivery = parse_delivery(_body([*pairs, ("account[id]", "1")]))
    assert len(delivery.events) == 4_000


def test_tokens_round_trip_encrypted():
    cipher = TokenCipher(SECRET)
    tokens = TokenSet("acc-token", "ref-token", time.time() + 100)
    text = cipher.encrypt(tokens)
    assert "acc-token" not in text and "ref-token" not in text
    assert cipher.decrypt(text) == tokens


def test_another_key_cannot_read_the_tokens():
    text = TokenCipher(SECRET).encrypt(TokenSet("a", "r", 1.0))
    with pytest.raises(NeedsReinstall, match="cannot be decrypted"):
        TokenCipher("y" * 40).decrypt(text)


def test_a_short_secret_key_is_refused():
    with pytest.raises(ValueError, match="CRM_DEDUP_SECRET_KEY"):
        TokenCipher("short")


@pytest.mark.parametrize("answer", [
    {"access_token": "a", "expires_in": 10},
    {"access_token": "a", "refresh_token": "r", "expires_in": -1},
    {"access_token": "a", "refresh_token": "r", "expires_in": True},
], ids=["no refresh token", "negative lifetime", "bool lifetime"])
def test_an_unusable_grant_answer_is_refused(answer: dict[str, object]):
    with pytest.raises(NeedsReinstall):
        TokenSet.from_grant(answer)


def test_the_bucket_spaces_requests_at_its_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(5.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    assert now[0] == pytest.approx(1.0)  # the first goes at once, then one every 0.2 s
    bucket.hold_off(3.0)
    bucket.acquire()
    assert now[0] == pytest.approx(4.0)
