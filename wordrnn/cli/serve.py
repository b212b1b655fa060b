"""``wordrnn serve``: the predictor as a local HTTP API and a web page (uvicorn runs ``serve.app``).

The options are checked and the socket bound before the model loads, so a typo or a port in use
fails at once with one line; the URL is printed only when the socket listens. Ctrl-C stops the
server gracefully (requests in flight get a few seconds) and exits with status 0.
"""

from __future__ import annotations

import errno
import ipaddress
import re
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from wordrnn.cli.app import MODEL_HELP, RUNTIME_HELP, app, err, out, warnings_to_stderr
from wordrnn.cli.options import finite
from wordrnn.errors import ConfigError

if TYPE_CHECKING:
    import socket

    from wordrnn.serve.limits import Limits

_ORIGIN = re.compile(r"\*|https?://[^/\s]+")


@app.command()
def serve(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help=MODEL_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; the default is reachable from this "
                             "machine only (0.0.0.0: every network interface)."),
    port: int = typer.Option(8377, "--port", "-p", help="TCP port (0: any free port; the URL printed says which)."),
    runtime: str = typer.Option("auto", "--runtime", help=RUNTIME_HELP),
    cors: Optional[list[str]] = typer.Option(None, "--cors", help="Let pages of this origin (http://host:port) call "
                                             "the API from a browser; repeatable, '*' for any. Off by default."),
    max_sessions: int = typer.Option(64, "--max-sessions", help="Typing sessions kept at once (0: none)."),
    session_idle: float = typer.Option(600.0, "--session-idle", callback=finite, help="Seconds after which an unused session is dropped."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Print a line per request."),
) -> None:
    """Serve suggestions over HTTP: a JSON API (/v1/...) and a web page with a live suggestion bar."""
    from wordrnn.serve.limits import Limits

    origins = _check(port, cors or [], max_sessions, session_idle)
    limits = Limits(max_sessions=max_sessions, session_idle=session_idle)
    sock = _listen(host, port)
    try:
        _run(sock, model, runtime, limits, origins, access_log)
    finally:
        sock.close()


def _check(port: int, cors: list[str], max_sessions: int, session_idle: float) -> list[str]:
    """Refuse impossible options before anything is loaded; returns the CORS origins."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    if max_sessions < 0:
        raise ConfigError(f"--max-sessions must be 0 or more, got {max_sessions}")
    if not session_idle > 0:
        raise ConfigError(f"--session-idle must be a number of seconds above 0, got {session_idle}")
    for origin in cors:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(f"--cors takes an origin such as http://localhost:3000 (scheme and host, no path) "
                              f"or '*', got {origin!r}")
    return [origin.rstrip("/") for origin in cors]


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, or a ``ConfigError`` saying why there cannot be one."""
    import socket  # here, not at the top: `wordrnn --help` imports every command module
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError):
        raise ConfigError(f"--host {host!r} is not an address or a name this machine can resolve") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} is already in use on {host}; pick another with --port "
                              "(0 picks a free one)") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"not allowed to listen on port {port} (ports below 1024 need privileges); "
                              "pick another with --port") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _url(sock: socket.socket) -> str:
    """The address to open: the bound one, or loopback when bound to every interface (0.0.0.0, ::)."""
    host, port = sock.getsockname()[:2]
    if ipaddress.ip_address(host.split("%")[0]).is_unspecified:
        host = "::1" if ":" in host else "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _run(sock: socket.socket, model: Optional[Path], runtime: str, limits: Limits, origins: list[str],
         access_log: bool) -> None:
    """Load the model (warmed up: the first request pays no start-up), print the URL, serve until Ctrl-C."""
    import uvicorn

    from wordrnn.predict.predictor import load
    from wordrnn.serve.app import create_app

    with warnings_to_stderr():
        predictor = load(model, runtime)
        predictor.start()
        predictor.lexicon()
    application = create_app(predictor, limits, origins)
    url = _url(sock)
    if not ipaddress.ip_address(sock.getsockname()[0].split("%")[0]).is_loopback:
        err.print("[yellow]warning:[/] listening beyond this machine: anyone who can reach it can use the API",
                  markup=True)
    config = uvicorn.Config(application, log_level="info" if access_log else "warning", access_log=access_log,
                            timeout_graceful_shutdown=3, lifespan="on", server_header=False)
    try:
        out.print(f"serving {application.state.service.name} ({predictor.runtime}) at {url} "
                  f"(API: {url}api; Ctrl-C stops)", markup=False)
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # before uvicorn took the signal, or re-raised by it after a graceful shutdown
        pass
    err.print("stopped")
