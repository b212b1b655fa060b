"""Typing sessions: each client that types key by key keeps its recurrent state on the server.

A keystroke then costs what ``Session.sync`` recomputes (the changed tail: one or two steps), not a
re-read of the whole text. A session is only a cache: a client whose session expired or was evicted
gets a fresh one and the same answer (``sync`` reads the whole text once), so correctness never
depends on it. The store is bounded in count (least recently used first out) and idle time, so
memory stays flat whatever clients do. Not thread-safe: the server touches it from the model
thread only (``worker.ModelWorker``), like the sessions themselves.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from wordrnn.predict.session import Session


@dataclass
class _Entry:
    session: Session
    used: float


class SessionStore:
    """Sessions by client-chosen id, at most ``max_sessions``, each dropped after ``idle`` seconds unused.

    Args:
        make: a fresh session (``Predictor.session``).
        max_sessions: how many are kept; a new one beyond it evicts the least recently used.
        idle: seconds without a request after which a session is dropped.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, make: Callable[[], Session], max_sessions: int, idle: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 0 or idle <= 0:
            raise ValueError("max_sessions must be >= 0 and idle > 0")
        self.make, self.max_sessions, self.idle, self.clock = make, max_sessions, idle, clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.created = self.expired = self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._entries

    def get(self, session_id: str | None) -> Session:
        """The session of ``session_id`` (made when new, expired or evicted); None: a throwaway one."""
        now = self.clock()
        self._expire(now)
        if session_id is None or self.max_sessions == 0:
            return self.make()
        entry = self._entries.get(session_id)
        if entry is None:
            entry = _Entry(self.make(), now)
            self.created += 1
            self._entries[session_id] = entry
            while len(self._entries) > self.max_sessions:
                self._entries.popitem(last=False)
                self.evicted += 1
        else:
            entry.used = now
            self._entries.move_to_end(session_id)
        return entry.session

    def drop(self, session_id: str) -> bool:
        """Forget a session (a client that is done); whether it existed."""
        return self._entries.pop(session_id, None) is not None

    def _expire(self, now: float) -> None:
        """Drop sessions idle for longer than ``idle``: the oldest-used ones sit first in the order."""
        while self._entries:
            oldest = next(iter(self._entries.values()))
            if now - oldest.used <= self.idle:
                break
            self._entries.popitem(last=False)
            self.expired += 1

    def stats(self) -> dict[str, float]:
        return {"open": len(self._entries), "max": self.max_sessions, "idle_seconds": self.idle,
                "created": self.created, "expired": self.expired, "evicted": self.evicted}
