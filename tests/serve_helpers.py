"""The real ``wordrnn serve`` in a subprocess on a free loopback port (``--port 0``), for the tests
that talk to it over HTTP or through a browser: started, waited for (its URL line), stopped with
Ctrl-C (SIGINT), its output kept for the assertions."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 20.0) -> int:
        """Ctrl-C, as a user would; the exit status (killed after ``timeout`` seconds: a failure)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("the server did not stop within 20 s of Ctrl-C") from None
        return self.process.returncode


def _drain(stream, into: list[str], lines: queue.Queue | None = None) -> None:  # noqa: ANN001
    for line in stream:
        into.append(line)
        if lines is not None:
            lines.put(line)


@contextmanager
def running_server(*args: str, timeout: float = 180.0) -> Iterator[Server]:
    """``wordrnn serve --host 127.0.0.1 --port 0 *args`` until the block ends (then stopped if still up)."""
    command = [sys.executable, "-m", "wordrnn", "serve", "--host", "127.0.0.1", "--port", "0", *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    server = Server(process, "")
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_drain, args=(process.stdout, server.stdout, lines), daemon=True).start()
    threading.Thread(target=_drain, args=(process.stderr, server.stderr), daemon=True).start()
    try:
        try:
            first = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no URL from wordrnn serve within {timeout:.0f} s: {''.join(server.stderr)}") from None
        found = re.search(r" at (http://127\.0\.0\.1:\d+/) ", first)
        assert found, f"unexpected first line {first!r}; stderr: {''.join(server.stderr)}"
        server.url = found.group(1)
        yield server
    finally:
        if process.poll() is None:
            try:
                server.stop()
            except AssertionError:
                pass
