"""Every bad request to the HTTP API is a 4xx (or 503 when busy) with a one-line JSON
``{"error": ...}`` that says what was wrong: never a 500, never a traceback (in-process, tiny model)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from wordrnn.predict.predictor import load
from wordrnn.serve.app import create_app
from wordrnn.serve.limits import Limits

LIMITS = Limits(max_body=4096, max_text=500, max_k=20, max_words=100)
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(tiny_model):
    app = create_app(load(tiny_model, runtime="keras"), LIMITS)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def assert_error(response, status: int, *needles: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert list(data) == ["error"] and isinstance(data["error"], str) and data["error"]
    assert "Traceback" not in data["error"] and "\n" not in data["error"]
    for needle in needles:
        assert needle in data["error"], data["error"]
    return data["error"]


BAD_BODIES = [
    # (path, raw body, status, words the message must hold)
    ("/v1/complete", b"{", 400, ["malformed JSON"]),
    ("/v1/complete", b"", 400, ["malformed JSON"]),
    ("/v1/complete", b'["the"]', 400, ["JSON object"]),
    ("/v1/complete", b'{"text": NaN}', 400, ["NaN"]),
    ("/v1/complete", b"\xff\xfe\x00", 400, ["malformed JSON"]),
    ("/v1/complete", b"[" * 2000 + b"]" * 2000, 400, ["malformed JSON"]),  # deeper than Python recurses
    ("/v1/complete", b'{"text": "\\ud800"}', 400, ["not valid Unicode"]),
    ("/v1/score", b'{"text": "a", "text": 5}', 400, ["'text' must be a string"]),
]


@pytest.mark.parametrize("path, raw, status, needles", BAD_BODIES)
def test_malformed_bodies(client, path, raw, status, needles):
    assert_error(client.post(path, content=raw, headers=JSON), status, *needles)


BAD_FIELDS = [
    ("/v1/complete", {}, 400, ["missing field 'text'"]),
    ("/v1/complete", {"text": None}, 400, ["missing field 'text'"]),
    ("/v1/complete", {"text": 42}, 400, ["'text' must be a string"]),
    ("/v1/complete", {"text": ["the"]}, 400, ["'text' must be a string", "array"]),
    ("/v1/complete", {"text": "the", "k": 0}, 400, ["'k'", "between 1 and 20"]),
    ("/v1/complete", {"text": "the", "k": 21}, 400, ["'k'", "between 1 and 20"]),
    ("/v1/complete", {"text": "the", "k": "3"}, 400, ["'k' must be a whole number"]),
    ("/v1/complete", {"text": "the", "k": 2.5}, 400, ["'k' must be a whole number"]),
    ("/v1/complete", {"text": "the", "k": True}, 400, ["'k' must be a whole number"]),
    ("/v1/complete", {"text": "the", "kk": 3}, 400, ["unknown field 'kk'"]),
    ("/v1/complete", {"text": "the", "session": "a b"}, 400, ["'session'"]),
    ("/v1/complete", {"text": "the", "session": "x" * 65}, 400, ["'session'"]),
    ("/v1/complete", {"text": "the", "session": 7}, 400, ["'session'"]),
    ("/v1/complete", {"text": "the", "complete_known_words": "yes"}, 400, ["true or false"]),
    ("/v1/complete", {"text": "x" * 501}, 413, ["501 characters", "limit is 500"]),
    ("/v1/generate", {"n": -1}, 400, ["'n'", "between 0 and 100"]),
    ("/v1/generate", {"n": 101}, 400, ["'n'", "between 0 and 100"]),
    ("/v1/generate", {"temperature": 0}, 400, ["'temperature'"]),
    ("/v1/generate", {"temperature": -1.5}, 400, ["'temperature'"]),
    ("/v1/generate", {"temperature": "hot"}, 400, ["'temperature' must be a number"]),
    ("/v1/generate", {"top_k": 0}, 400, ["'top_k'"]),
    ("/v1/generate", {"top_k": 10**6}, 400, ["'top_k'"]),
    ("/v1/generate", {"top_p": 0}, 400, ["'top_p'"]),
    ("/v1/generate", {"top_p": 1.5}, 400, ["'top_p'"]),
    ("/v1/generate", {"seed": -1}, 400, ["'seed'"]),
    ("/v1/generate", {"seed": "x"}, 400, ["'seed' must be a whole number"]),
    ("/v1/generate", {"stop_at_eos": 1}, 400, ["true or false"]),
    ("/v1/generate", {"text": "x" * 501}, 413, ["limit is 500"]),
    ("/v1/generate", {"temprature": 0.5}, 400, ["unknown field 'temprature'"]),
    ("/v1/score", {}, 400, ["missing field 'text'"]),
    ("/v1/score", {"text": ""}, 400, ["no words"]),  # the library's CorpusError, as a 400
    ("/v1/score", {"text": "   \n  "}, 400, ["no words"]),
    ("/v1/score", {"text": "x" * 501}, 413, ["limit is 500"]),
]


@pytest.mark.parametrize("path, body, status, needles", BAD_FIELDS)
def test_wrong_types_and_out_of_range_values(client, path, body, status, needles):
    assert_error(client.post(path, json=body), status, *needles)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_bodies_not_sent_as_json_get_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/complete", content=b'{"text": "the"}', headers=headers)
    assert_error(response, 415, "Content-Type: application/json")


def test_too_large_bodies_get_413_whether_declared_or_streamed(client):
    big = json.dumps({"text": "a " * 3000}).encode()
    assert_error(client.post("/v1/complete", content=big, headers=JSON), 413, "limit")

    def chunks():  # no Content-Length: the server counts what arrives
        for _ in range(10):
            yield b" " * 1000

    assert_error(client.post("/v1/complete", content=chunks(), headers=JSON), 413, "limit")


def test_unknown_paths_and_methods(client):
    assert_error(client.get("/v2/complete"), 404, "/v2/complete")
    assert_error(client.get("/static/nothing.js"), 404)
    response = client.get("/v1/complete")
    assert_error(response, 405, "GET")
    assert "POST" in response.headers["allow"]
    assert_error(client.post("/v1/info", json={}), 405)
    assert_error(client.delete("/v1/sessions/a%20b"), 400, "session id")


def test_a_busy_model_answers_503_with_retry_after(client):
    worker = client.app.state.service.worker
    worker.pending, saved = worker.max_queue, worker.pending
    try:
        response = client.post("/v1/complete", json={"text": "the"})
    finally:
        worker.pending = saved
    assert_error(response, 503, "busy")
    assert response.headers["retry-after"] == "1"
    assert client.post("/v1/complete", json={"text": "the"}).status_code == 200


def test_hostile_text_is_answered(client):
    """Texts the tokenizer must survive: control characters, NUL, emoji, right-to-left, only punctuation."""
    for text in ["\x00\x01\x02", "the 🐈 sees", "שלום the", "...!!!???", "\t\n\r\n", "a" * 500, "the\u200bcat "]:
        response = client.post("/v1/complete", json={"text": text, "session": "hostile"})
        assert response.status_code == 200, (text, response.text)
        assert set(response.json()) == {"context", "prefix", "suggestions"}
