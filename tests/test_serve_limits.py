"""serve.limits: every way a request body can be wrong gives a RequestError with a 4xx status and
a message naming the field; good values come back typed."""

from __future__ import annotations

import pytest

from wordrnn.serve.limits import Fields, Limits, RequestError, check_session_id, parse_body

JSON = "application/json"


def refused(call, status: int = 400, *needles: str) -> str:
    with pytest.raises(RequestError) as info:
        call()
    assert info.value.status == status, str(info.value)
    for needle in needles:
        assert needle in str(info.value)
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("raw, needle", [
    (b"{", "malformed JSON"),
    (b"", "malformed JSON"),
    (b'{"text": NaN}', "NaN"),
    (b'{"text": Infinity}', "Infinity"),
    (b"\xff\xfe{}", "malformed JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "malformed JSON"),
    (b'{"k": ' + b"9" * 5000 + b"}", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"text"', "must be a JSON object"),
])
def test_bodies_that_are_not_a_json_object_are_refused(raw, needle):
    refused(lambda: parse_body(raw, JSON), 400, needle)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_only_json_content_is_accepted(content_type):
    refused(lambda: parse_body(b"{}", content_type), 415, "Content-Type: application/json")


def test_a_json_content_type_with_a_charset_is_fine():
    assert parse_body(b'{"text": "\xc3\xa9"}', "Application/JSON; charset=utf-8") == {"text": "é"}


def test_unknown_fields_are_refused_with_the_known_ones_named():
    refused(lambda: Fields({"text": "a", "temprature": 1}, ("text", "temperature")), 400, "'temprature'", "temperature")


def test_text_fields():
    fields = Fields({"a": "hello", "b": 5, "c": "x" * 11, "d": "\ud800", "e": None}, ("a", "b", "c", "d", "e", "f"))
    assert fields.text("a", 10) == "hello"
    assert fields.text("e", 10, required=False) == "" and fields.text("f", 10, required=False) == ""
    refused(lambda: fields.text("f", 10), 400, "missing field 'f'")
    refused(lambda: fields.text("b", 10), 400, "'b' must be a string", "a number")
    refused(lambda: fields.text("c", 10), 413, "11 characters", "limit is 10")
    refused(lambda: fields.text("d", 10), 400, "not valid Unicode")


def test_integer_fields():
    fields = Fields({"k": 5, "f": 3.0, "half": 2.5, "s": "3", "b": True, "big": 10**30}, ("k", "f", "half", "s", "b", "big", "none"))
    assert fields.integer("k", 3, 1, 50) == 5 and fields.integer("f", 3, 1, 50) == 3
    assert fields.integer("none", 3, 1, 50) == 3
    refused(lambda: fields.integer("half", 3, 1, 50), 400, "whole number")
    refused(lambda: fields.integer("s", 3, 1, 50), 400, "whole number", "a string")
    refused(lambda: fields.integer("b", 3, 1, 50), 400, "whole number", "a boolean")
    refused(lambda: fields.integer("big", 3, 1, 50), 400, "between 1 and 50")
    refused(lambda: Fields({"k": 0}, ("k",)).integer("k", 3, 1, 50), 400, "between 1 and 50, got 0")


def test_number_fields():
    fields = Fields({"t": 0.7, "zero": 0, "neg": -1, "s": "hot", "inf": float("inf"), "one": 1}, ("t", "zero", "neg", "s", "inf", "one"))
    assert fields.number("t", 1.0, 0.0, 100.0) == 0.7 and fields.number("one", None, 0.0, 1.0) == 1.0
    refused(lambda: fields.number("zero", 1.0, 0.0, 100.0), 400, "(0, 100]")
    refused(lambda: fields.number("neg", 1.0, 0.0, 100.0), 400, "(0, 100]")
    refused(lambda: fields.number("s", 1.0, 0.0, 100.0), 400, "must be a number")
    refused(lambda: fields.number("inf", 1.0, 0.0, 100.0), 400, "must be a number")
    assert Fields({"z": 0}, ("z",)).number("z", None, 0.0, 1.0, low_open=False) == 0.0


def test_boolean_session_and_seed_fields():
    fields = Fields({"yes": True, "str": "yes", "sid": "3f2a-b_c.d~e", "bad": "a b", "long": "x" * 65,
                     "num": 7, "seed": 2**63, "ok": 42}, ("yes", "str", "sid", "bad", "long", "num", "seed", "ok"))
    assert fields.boolean("yes", False) is True and fields.boolean("missing", False) is False
    refused(lambda: fields.boolean("str", False), 400, "true or false")
    assert fields.session_id("sid") == "3f2a-b_c.d~e" and fields.session_id("missing") is None
    for name in ("bad", "long", "num"):
        refused(lambda name=name: fields.session_id(name), 400, "1 to 64")
    assert fields.seed("ok") == 42
    refused(lambda: fields.seed("seed"), 400, "between 0 and")
    assert check_session_id("abc") == "abc"
    refused(lambda: check_session_id("a/b"), 400, "session id")


def test_limits_describe_themselves_as_json():
    data = Limits().to_json()
    assert data["max_text"] == 20_000 and data["max_k"] == 50 and set(data) >= {"max_body", "max_sessions", "session_idle"}
