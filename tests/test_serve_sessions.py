"""serve.sessions (bounded by count and idle time) and serve.worker (one model thread, bounded queue)."""

from __future__ import annotations

import asyncio
import threading
import warnings

import pytest

from wordrnn.errors import WordRNNWarning
from wordrnn.serve.sessions import SessionStore
from wordrnn.serve.worker import Busy, ModelWorker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store(max_sessions: int = 3, idle: float = 10.0) -> tuple[SessionStore, Clock]:
    clock = Clock()
    made = iter(range(10**6))
    return SessionStore(lambda: f"session-{next(made)}", max_sessions, idle, clock), clock  # type: ignore[arg-type,return-value]


def test_the_same_id_gets_the_same_session_and_a_new_id_a_new_one():
    sessions, _ = store()
    first = sessions.get("a")
    assert sessions.get("a") is first
    assert sessions.get("b") != first
    assert len(sessions) == 2 and sessions.created == 2


def test_no_id_gives_a_throwaway_session_that_is_not_kept():
    sessions, _ = store()
    assert sessions.get(None) != sessions.get(None)
    assert len(sessions) == 0


def test_beyond_the_count_the_least_recently_used_session_goes():
    sessions, _ = store(max_sessions=2)
    a = sessions.get("a")
    sessions.get("b")
    sessions.get("a")  # a is now the most recently used
    sessions.get("c")
    assert "b" not in sessions and "a" in sessions and "c" in sessions
    assert sessions.get("a") is a and sessions.evicted == 1 and len(sessions) == 2


def test_idle_sessions_expire_and_come_back_fresh():
    sessions, clock = store(idle=10.0)
    a = sessions.get("a")
    clock.now = 6.0
    sessions.get("b")
    clock.now = 12.0  # a idle for 12 s, b for 6 s
    sessions.get("c")
    assert "a" not in sessions and "b" in sessions and sessions.expired == 1
    assert sessions.get("a") is not a


def test_a_used_session_does_not_expire():
    sessions, clock = store(idle=10.0)
    a = sessions.get("a")
    for now in (8.0, 16.0, 24.0):
        clock.now = now
        assert sessions.get("a") is a
    assert sessions.expired == 0


def test_drop_and_zero_sessions():
    sessions, _ = store()
    sessions.get("a")
    assert sessions.drop("a") is True and sessions.drop("a") is False and len(sessions) == 0
    none_kept, _ = store(max_sessions=0)
    none_kept.get("a")
    assert len(none_kept) == 0


def test_the_store_stays_bounded_under_many_clients():
    sessions, clock = store(max_sessions=5, idle=3.0)
    for i in range(1000):
        clock.now = i * 0.01
        sessions.get(f"client-{i % 37}")
        assert len(sessions) <= 5
    assert sessions.stats()["open"] == 5 and sessions.evicted > 0


def test_the_worker_runs_calls_one_at_a_time_on_one_thread():
    worker = ModelWorker()
    inside, threads, overlaps = [0], set(), []
    lock = threading.Lock()

    def call(i: int) -> int:
        with lock:
            inside[0] += 1
            overlaps.append(inside[0] > 1)
        threads.add(threading.get_ident())
        threading.Event().wait(0.002)
        with lock:
            inside[0] -= 1
        return i

    async def main() -> list[int]:
        return await asyncio.gather(*(worker.run(call, i) for i in range(30)))

    assert asyncio.run(main()) == list(range(30))
    worker.close()
    assert not any(overlaps) and len(threads) == 1 and threading.get_ident() not in threads
    assert worker.calls == 30 and worker.busy_seconds >= 30 * 0.002


def test_the_worker_refuses_calls_beyond_its_queue_and_keeps_warnings_quiet():
    worker = ModelWorker(max_queue=2)
    release = threading.Event()

    async def main() -> None:
        blocked = [asyncio.ensure_future(worker.run(release.wait, 5)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(Busy):
            await worker.run(lambda: None)
        release.set()
        await asyncio.gather(*blocked)
        assert worker.pending == 0

    asyncio.run(main())

    def warn() -> str:
        warnings.warn("not in the model's vocabulary", WordRNNWarning)
        return "ok"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(worker.run(warn)) == "ok"
    assert caught == []
    worker.close()
