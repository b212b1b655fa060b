"""One thread for everything that touches the model.

A runner's step (a LiteRT interpreter, a compiled Keras function) is not thread-safe, and neither
are ``Session`` objects, so concurrent requests must not run them at once. A lock around a thread
pool would serialise them too; a single worker thread does the same with less machinery, keeps
arrival order (no starved request), and leaves the event loop free to read and answer other
requests (pages, info, refusals) while a long call (scoring a long text) runs.

Measured with ``scripts/bench_serve.py`` (20 typists, 200 requests/s, bundled model): a keystroke's
model work is 0.1-0.3 ms, the HTTP handling around it about 1 ms of CPU, and the model thread is
busy a fifth of the time; running the model calls on the event loop itself (no thread hop) made no
measurable difference. More worker processes, each with its own interpreter, would not help on 2
cores and would split the sessions: a typist's state lives in one process.

The worker also counts waiting calls, so a flood of requests is answered "busy" (503) instead of
queueing without bound, and measures how long it was busy.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from wordrnn.errors import WordRNNWarning

T = TypeVar("T")


class Busy(Exception):
    """More model calls are waiting than the server accepts."""


class ModelWorker:
    """Runs calls one at a time, in arrival order, on a dedicated thread.

    Args:
        max_queue: calls allowed to wait or run at once; ``run`` raises ``Busy`` beyond it.
    """

    def __init__(self, max_queue: int = 256) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wordrnn-model")
        self.max_queue = max_queue
        self.pending = 0
        self.calls = 0
        self.busy_seconds = 0.0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model thread; library warnings (unknown words) are not printed.

        A request cannot show a warning to its client in the JSON the CLI defines, and a server log
        line per keystroke with a new word would drown everything else.
        """
        if self.pending >= self.max_queue:
            raise Busy(f"{self.pending} requests are waiting for the model")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._call, fn, args)
        finally:
            self.pending -= 1

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", WordRNNWarning)
                return fn(*args)
        finally:
            self.calls += 1
            self.busy_seconds += time.perf_counter() - start

    def stats(self) -> dict[str, float]:
        return {"calls": self.calls, "busy_seconds": round(self.busy_seconds, 3), "waiting": self.pending}

    def close(self) -> None:
        """Stop taking calls; calls still waiting are dropped, the running one finishes."""
        self._pool.shutdown(wait=False, cancel_futures=True)
