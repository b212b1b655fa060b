"""The HTTP API in-process (Starlette's test client) on the tiny model: every endpoint's answer is
the library's (exactly the CLI's JSON for /v1/complete), sessions cost one or two steps per key and
give the same answers, concurrent requests never run the model at once, and every bad request is
a 4xx JSON error."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time

import httpx
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from wordrnn.cli.main import app as cli
from wordrnn.predict.predictor import Completion, Score, load
from wordrnn.json_output import finite
from wordrnn.serve.app import create_app, json_response
from wordrnn.serve.limits import Limits

SENTENCE = "the cat sees the green tree. she likes a red apple today"


class CountingRunner:
    """Wraps a runner: counts steps, and records whether two threads were ever inside ``step`` at once."""

    def __init__(self, base) -> None:  # noqa: ANN001
        self.base, self.steps, self.overlapped = base, 0, False
        self._inside = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.__dict__["base"], name)

    def step(self, inputs, state):  # noqa: ANN001, ANN201
        with self._lock:
            self._inside += 1
            self.overlapped |= self._inside > 1
            self.steps += 1
        try:
            time.sleep(0.0005)  # widen the window a second thread would need to overlap
            return self.base.step(inputs, state)
        finally:
            with self._lock:
                self._inside -= 1


@pytest.fixture(scope="module")
def predictor(tiny_model):
    pred = load(tiny_model, runtime="keras")
    pred.runner = CountingRunner(pred.runner)
    return pred


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor, Limits(max_sessions=8)), raise_server_exceptions=False) as test_client:
        yield test_client


def post(client: TestClient, path: str, body) -> httpx.Response:  # noqa: ANN001
    return client.post(path, json=body)


@pytest.mark.parametrize("text", ["she likes the ", "the cat sees the gr", "", "xyzzy plugh ", "the dog"])
def test_complete_returns_exactly_the_json_of_the_cli(client, tiny_model, text):
    served = post(client, "/v1/complete", {"text": text, "k": 4})
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    printed = CliRunner().invoke(cli, ["complete", text, "-m", str(tiny_model), "-k", "4", "--json", "--runtime", "keras"])
    assert printed.exit_code == 0, printed.output
    assert served.text == printed.stdout.strip()
    assert 1 <= len(served.json()["suggestions"]) <= 4


def test_complete_defaults_to_three_suggestions_and_can_complete_a_known_word(client, predictor):
    data = post(client, "/v1/complete", {"text": "the cat"}).json()
    assert data["prefix"] == "" and data["context"] == ["the", "cat"] and len(data["suggestions"]) == 3
    known = post(client, "/v1/complete", {"text": "the cat", "complete_known_words": True}).json()
    assert known == predictor.complete("the cat", 3, complete_known_words=True).to_json()
    assert known["prefix"] == "cat" and known["context"] == ["the"]


def test_a_session_costs_at_most_two_steps_per_key_and_answers_like_a_fresh_read(client, predictor):
    runner = predictor.runner
    stateless_steps, session_steps = [], []
    for end in range(1, len(SENTENCE) + 1):
        text = SENTENCE[:end]
        before = runner.steps
        fresh = post(client, "/v1/complete", {"text": text})
        stateless_steps.append(runner.steps - before)
        before = runner.steps
        kept = post(client, "/v1/complete", {"text": text, "session": "typist-1"})
        session_steps.append(runner.steps - before)
        assert kept.text == fresh.text, text
    assert max(session_steps[1:]) <= 2, session_steps
    assert sum(session_steps) * 4 < sum(stateless_steps)  # a fresh read re-reads the whole text each key


def test_backspacing_and_editing_inside_a_session_gives_fresh_answers(client):
    edits = ["the cat sees the gr", "the cat sees the", "the cat sees", "the cat", "the dog likes a ",
             "the dog likes a red apple", "x", "", "my friend wants the small house"]
    for text in edits:
        fresh = post(client, "/v1/complete", {"text": text, "k": 5})
        kept = post(client, "/v1/complete", {"text": text, "k": 5, "session": "editor"})
        assert kept.text == fresh.text, text


def test_sessions_are_bounded_and_an_evicted_one_still_answers_the_same(client, predictor):
    for i in range(12):
        assert post(client, "/v1/complete", {"text": "the cat sees ", "session": f"many-{i}"}).status_code == 200
    sessions = client.get("/v1/info").json()["server"]["sessions"]
    assert sessions["open"] == 8 and sessions["evicted"] >= 4
    again = post(client, "/v1/complete", {"text": "the cat sees ", "session": "many-0"}).json()
    assert again == predictor.complete("the cat sees ").to_json()
    assert client.delete("/v1/sessions/many-11").json() == {"session": "many-11", "dropped": True}
    assert client.delete("/v1/sessions/many-11").json()["dropped"] is False


def test_a_session_keeps_only_a_few_states_however_long_the_text(client):
    words = (SENTENCE + " ") * 12
    assert post(client, "/v1/complete", {"text": words, "session": "long"}).status_code == 200
    session = client.app.state.service.sessions.get("long")
    assert len(session) > 100 and len(session._states) <= Limits().undo_states + 1  # start state + recent ones


def test_concurrent_requests_never_run_the_model_at_once(predictor):
    """Many typists at once (over an in-memory ASGI transport): every answer equals the serial one,
    and the runner never had two threads inside ``step``; the last key still costs little."""
    service_app = create_app(predictor)
    texts = [SENTENCE[:end] for end in range(5, len(SENTENCE), 3)]
    expected = {t: predictor.complete(t).to_json() for t in texts}
    predictor.runner.overlapped = False

    async def typist(http: httpx.AsyncClient, name: str) -> list[bool]:
        return [(await http.post("/v1/complete", json={"text": t, "session": name})).json() == expected[t] for t in texts]

    async def main() -> list[list[bool]]:
        transport = httpx.ASGITransport(app=service_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*(typist(http, f"t{i}") for i in range(8)))

    results = asyncio.run(main())
    assert all(all(r) for r in results)
    assert predictor.runner.overlapped is False
    service_app.state.service.worker.close()


def test_generate_streams_ndjson_words_that_match_the_library(client, predictor):
    response = post(client, "/v1/generate", {"text": "the cat", "n": 12, "seed": 3, "temperature": 0.8, "top_k": 20})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[-1] == {"done": True, "words": 12}
    words = [line["word"] for line in lines[:-1]]
    assert words == predictor.generate("the cat", 12, temperature=0.8, top_k=20, seed=3)
    prompt = predictor.session("the cat").words
    if "</s>" not in words:  # the pieces continue the seed's line exactly as the detokenizer writes it
        full, head = predictor.detokenize([*prompt, *words]), predictor.detokenize(prompt)
        assert head + "".join(line["text"] for line in lines[:-1]) == full


def test_generate_stops_at_the_end_of_a_sentence_and_allows_zero_words(client):
    lines = [json.loads(x) for x in post(client, "/v1/generate", {"text": "the dog", "n": 200, "stop_at_eos": True,
                                                                  "seed": 1}).text.splitlines()]
    assert lines[-1]["done"] and lines[-1]["words"] < 200 and all(x.get("word") != "</s>" for x in lines)
    assert post(client, "/v1/generate", {"n": 0}).text.splitlines() == ['{"done": true, "words": 0}']


def test_score_returns_the_library_figures(client, predictor):
    text = "the cat sees the ball ."
    data = post(client, "/v1/score", {"text": text}).json()
    expected: Score = predictor.score(text)
    assert data == {"log_prob": expected.log_prob, "perplexity": expected.perplexity, "tokens": expected.tokens}
    assert math.isclose(data["perplexity"], math.exp(-data["log_prob"] / data["tokens"]))


def test_info_is_the_cli_info_plus_the_server(client, tiny_model):
    data = client.get("/v1/info").json()
    printed = CliRunner().invoke(cli, ["info", str(tiny_model), "--json"])
    assert printed.exit_code == 0
    server = data.pop("server")
    assert data == json.loads(printed.stdout)
    assert server["runtime"].startswith("keras") and server["name"] == tiny_model.name
    assert server["limits"]["max_sessions"] == 8 and server["model_thread"]["calls"] > 0


def test_no_nan_ever_reaches_the_json():
    assert finite({"a": [1.0, float("nan")], "b": {"c": float("inf")}, "d": "x"}) == {"a": [1.0, None], "b": {"c": None}, "d": "x"}
    assert Completion([], "", [("a", float("nan")), ("b", 0.1234567)]).to_json()["suggestions"] == [
        {"word": "a", "prob": None}, {"word": "b", "prob": 0.123457}]
    assert Score(float("-inf"), float("inf"), 3).to_json() == {"log_prob": None, "perplexity": None, "tokens": 3}
    with pytest.raises(ValueError):
        json_response({"x": float("nan")})


def test_the_page_and_its_files_come_from_the_server_only(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'id="text"' in page.text and 'id="bar"' in page.text and 'href="api"' in page.text
    for name in ("app.js", "style.css", "favicon.svg"):
        assert f"static/{name}" in page.text
        served = client.get(f"/static/{name}")
        assert served.status_code == 200
        assert "http://" not in served.text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in served.text
    assert "//" not in page.text.replace("<!doctype html>", "")  # no absolute or protocol-relative URL
    api = client.get("/api")
    assert api.status_code == 200 and "/v1/complete" in api.text and "/v1/generate" in api.text


def test_cors_is_off_unless_an_origin_is_given(predictor, client):
    origin = {"Origin": "http://example.com"}
    plain = client.post("/v1/complete", json={"text": "the"}, headers=origin)
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
    preflight = {**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    assert client.options("/v1/complete", headers=preflight).status_code == 405
    with TestClient(create_app(predictor, cors=["http://example.com"])) as allowed:
        answer = allowed.options("/v1/complete", headers=preflight)
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "http://example.com"
        assert allowed.post("/v1/complete", json={"text": "the"}, headers=origin).headers[
            "access-control-allow-origin"] == "http://example.com"
        other = allowed.post("/v1/complete", json={"text": "the"}, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers
