"""The HTTP application: the JSON API under ``/v1`` and the web page at ``/`` (Starlette, ASGI).

Request handlers only read and check the request (``limits``) and hand the model work to the one
model thread (``worker``); the answers are the library's own JSON (``Completion.to_json``, the
same object as ``wordrnn complete --json``; ``SavedModel.describe``, as ``wordrnn info --json``).
Every failure a client can cause is a 4xx with ``{"error": "..."}``: library errors
(``WordRNNError``) included, since they describe the input; 503 says the model is busy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wordrnn import __version__
from wordrnn.errors import WordRNNError
from wordrnn.json_output import finite
from wordrnn.predict.predictor import Predictor
from wordrnn.predict.sampling import check_options
from wordrnn.predict.streaming import LineStreamer
from wordrnn.serve.limits import Fields, Limits, RequestError, check_session_id, parse_body
from wordrnn.serve.sessions import SessionStore
from wordrnn.serve.worker import Busy, ModelWorker

STATIC = Path(__file__).resolve().parent / "static"
# The page loads nothing but its own files: no CDN, no inline script, no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
log = logging.getLogger("wordrnn.serve")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON as ``wordrnn complete --json`` prints it (same separators, UTF-8 as is); NaN is refused."""
    body = json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(body, status, headers, media_type="application/json")


def error(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


class Service:
    """The model, its sessions and its thread, and the API's handlers.

    Args:
        predictor: the loaded model.
        limits: request and session caps.
    """

    def __init__(self, predictor: Predictor, limits: Limits) -> None:
        self.predictor, self.limits = predictor, limits
        self.worker = ModelWorker(limits.max_queue)
        self.sessions = SessionStore(lambda: predictor.session(undo_states=limits.undo_states),
                                     limits.max_sessions, limits.session_idle)
        self.description = finite(predictor.saved.describe())
        card = self.description.get("card") or {}
        self.name = str(card.get("name") or Path(self.description.get("path") or predictor.path).name)

    async def fields(self, request: Request, allowed: tuple[str, ...]) -> Fields:
        """The request's JSON body, read up to ``max_body`` bytes (413 beyond), as checked fields."""
        limit = self.limits.max_body
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise RequestError(f"the body is {int(declared):,} bytes; the limit is {limit:,}", 413)
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                raise RequestError(f"the body is over {limit:,} bytes, the limit", 413)
        return Fields(parse_body(bytes(raw), request.headers.get("content-type")), allowed)

    async def complete(self, request: Request) -> Response:
        fields = await self.fields(request, ("text", "k", "session", "complete_known_words"))
        text = fields.text("text", self.limits.max_text)
        k = fields.integer("k", 3, 1, self.limits.max_k)
        known = fields.boolean("complete_known_words", False)
        session_id = fields.session_id()

        def run() -> dict[str, Any]:
            session = self.sessions.get(session_id)
            return self.predictor.complete(text, k, known, session=session).to_json()

        return json_response(await self.worker.run(run))

    async def score(self, request: Request) -> Response:
        fields = await self.fields(request, ("text",))
        text = fields.text("text", self.limits.max_text)
        return json_response((await self.worker.run(self.predictor.score, text)).to_json())

    async def generate(self, request: Request) -> Response:
        fields = await self.fields(request, ("text", "n", "temperature", "top_k", "top_p", "seed", "stop_at_eos"))
        text = fields.text("text", self.limits.max_text, required=False)
        n = fields.integer("n", 50, 0, self.limits.max_words)
        temperature = fields.number("temperature", 1.0, 0.0, 100.0)
        top_k = fields.integer("top_k", None, 1, len(self.predictor.vocab))
        top_p = fields.number("top_p", None, 0.0, 1.0)
        seed = fields.seed()
        stop = fields.boolean("stop_at_eos", False)
        check_options(temperature, top_k, top_p, seed)

        def start() -> tuple[list[str], Iterator[str]]:
            session = self.predictor.session(text, undo_states=1)
            return list(session.words), session.iter_generate(n, temperature, top_k, top_p, seed, stop)

        prompt, words = await self.worker.run(start)  # the seed is read (and options checked) before any byte is sent
        return StreamingResponse(self._stream(prompt, words), media_type="application/x-ndjson",
                                 headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    async def _stream(self, prompt: list[str], words: Iterator[str]) -> AsyncIterator[bytes]:
        """One NDJSON line per word: ``{"word", "text"}`` (``text``: what to append to the text so far),
        then ``{"done": true, "words": n}``; each word is a separate model call, so typists' requests
        interleave with a long generation instead of waiting for it."""
        pieces: list[str] = []
        streamer = LineStreamer(self.predictor.detokenize, pieces.append)
        for word in prompt[-64:]:  # the seed's last words set the spacing of the first generated one
            streamer.add(word)
        pieces.clear()
        count = 0
        try:
            while (word := await self.worker.run(next, words, None)) is not None:
                streamer.add(word)
                count += 1
                yield (json.dumps({"word": word, "text": "".join(pieces)}, ensure_ascii=False) + "\n").encode()
                pieces.clear()
        except (WordRNNError, Busy) as exc:
            yield (json.dumps({"error": str(exc)}, ensure_ascii=False) + "\n").encode()
            return
        yield (json.dumps({"done": True, "words": count}) + "\n").encode()

    async def info(self, request: Request) -> Response:
        server = {"wordrnn_version": __version__, "name": self.name, "runtime": self.predictor.runtime,
                  "limits": self.limits.to_json(), "sessions": self.sessions.stats(), "model_thread": self.worker.stats()}
        return json_response({**self.description, "server": server})

    async def drop_session(self, request: Request) -> Response:
        session_id = check_session_id(request.path_params["session_id"])
        dropped = await self.worker.run(self.sessions.drop, session_id)
        return json_response({"session": session_id, "dropped": dropped})


async def _page(name: str) -> Response:
    return FileResponse(STATIC / name, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


async def index(request: Request) -> Response:
    return await _page("index.html")


async def api_page(request: Request) -> Response:
    return await _page("api.html")


def _handlers() -> dict[Any, Any]:
    """Every failure as ``{"error": ...}``: the client's (4xx), busy (503), or a bug (500, logged)."""

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestError)
        return error(str(exc), exc.status)

    async def library(request: Request, exc: Exception) -> Response:
        return error(str(exc), 400)

    async def busy(request: Request, exc: Exception) -> Response:
        return error(f"the model is busy ({exc}); try again shortly", 503, {"Retry-After": "1"})

    async def http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"no such page or endpoint: {request.url.path} (see /api)",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return error(message, exc.status_code, dict(exc.headers or {}))

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        return error(f"internal error: {type(exc).__name__}", 500)

    return {RequestError: refused, WordRNNError: library, Busy: busy, HTTPException: http, Exception: internal}


def create_app(predictor: Predictor, limits: Limits | None = None, cors: Sequence[str] = ()) -> Starlette:
    """The ASGI application serving ``predictor``.

    Args:
        limits: request and session caps (default ``Limits()``).
        cors: origins allowed to call the API from their pages (none by default: CORS off).
    """
    service = Service(predictor, limits or Limits())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.worker.close()

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api", api_page, methods=["GET"]),
        Route("/v1/info", service.info, methods=["GET"]),
        Route("/v1/complete", service.complete, methods=["POST"]),
        Route("/v1/generate", service.generate, methods=["POST"]),
        Route("/v1/score", service.score, methods=["POST"]),
        Route("/v1/sessions/{session_id}", service.drop_session, methods=["DELETE"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(CORSMiddleware, allow_origins=list(cors), allow_methods=["GET", "POST", "DELETE"],
                             allow_headers=["Content-Type"], max_age=600)] if cors else []
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=_handlers(), lifespan=lifespan)
    app.state.service = service
    return app
