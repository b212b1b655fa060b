"""``wordrnn serve``: bad options fail at once with one line; the real server (a subprocess on a free
loopback port) answers over HTTP, streams generation, serves concurrent typists consistently and
stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest
from typer.testing import CliRunner

from conftest import assert_clean_error
from serve_helpers import running_server
from wordrnn.cli.main import app

runner = CliRunner()


def test_help_names_the_options():
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--host", "--port", "--cors", "--max-sessions", "--session-idle", "--runtime"):
        assert option in result.output


@pytest.mark.parametrize("args, needles", [
    (["--port", "70000"], ["--port", "65535"]),
    (["--port", "-1"], ["--port"]),
    (["--max-sessions", "-1"], ["--max-sessions"]),
    (["--session-idle", "0"], ["--session-idle"]),
    (["--cors", "example.com/app"], ["--cors", "http://localhost:3000"]),
    (["--host", "no-such-host.invalid"], ["--host", "no-such-host.invalid"]),
    (["--model", "/nonexistent/model", "--port", "0"], ["/nonexistent/model"]),
    (["--runtime", "gpu", "--port", "0"], ["--runtime"]),
])
def test_bad_options_fail_with_one_clean_line(args, needles):
    assert_clean_error(runner.invoke(app, ["serve", *args]), *needles)


def test_a_port_in_use_is_named_with_what_to_do():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert_clean_error(runner.invoke(app, ["serve", "--port", str(port)]), f"port {port} is already in use", "--port")


def test_the_real_server_answers_streams_and_stops_on_ctrl_c(tiny_model):
    with running_server("--model", str(tiny_model), "--runtime", "keras") as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            completion = http.post("/v1/complete", json={"text": "the cat sees the ", "k": 4})
            assert completion.status_code == 200 and len(completion.json()["suggestions"]) == 4
            printed = runner.invoke(app, ["complete", "the cat sees the ", "-m", str(tiny_model), "-k", "4", "--json",
                                          "--runtime", "keras"])
            assert completion.text == printed.stdout.strip()

            with http.stream("POST", "/v1/generate", json={"text": "she", "n": 30, "seed": 2}) as stream:
                assert stream.headers["content-type"].startswith("application/x-ndjson")
                lines = [json.loads(line) for line in stream.iter_lines() if line]
            assert len(lines) == 31 and lines[-1] == {"done": True, "words": 30}

            assert http.post("/v1/score", json={"text": "the dog likes the ball ."}).json()["tokens"] == 6
            assert http.get("/v1/info").json()["server"]["runtime"].startswith("keras")
            assert "suggestion" in http.get("/").text
            assert http.post("/v1/complete", content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400
        assert server.stop() == 0
    assert "Traceback" not in "".join(server.stderr)
    assert "stopped" in "".join(server.stderr)


def test_concurrent_typists_over_http_get_the_answers_of_one_at_a_time(tiny_model):
    """Six threads type different sentences key by key with their own sessions, all at once; every
    answer equals the one the same server gives to a lone stateless request."""
    sentences = ["the cat sees the ball", "my friend likes a red apple", "she finds the small house",
                 "a bird wants the river", "they follow the green tree", "the old man sees a blue car"]
    with running_server("--model", str(tiny_model), "--runtime", "keras") as server:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            expected = {s[:end]: http.post("/v1/complete", json={"text": s[:end]}).text
                        for s in sentences for end in range(1, len(s) + 1)}
        mismatches: list[str] = []

        def typist(index: int, sentence: str) -> None:
            with httpx.Client(base_url=server.url, timeout=60) as own:
                for end in range(1, len(sentence) + 1):
                    answer = own.post("/v1/complete", json={"text": sentence[:end], "session": f"typist-{index}"})
                    if answer.text != expected[sentence[:end]]:
                        mismatches.append(sentence[:end])

        threads = [threading.Thread(target=typist, args=(i, s)) for i, s in enumerate(sentences)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert mismatches == []
        assert server.stop() == 0
