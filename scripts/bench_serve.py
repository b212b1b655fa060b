"""Serving latency under simulated typists (BENCHMARKS.md §3 "Serving"): ``wordrnn serve`` on loopback.

The real server runs in a subprocess (``wordrnn serve --host 127.0.0.1 --port 0``, the bundled model
unless ``--model``). ``--typists`` clients each type validation text character by character, one
``POST /v1/complete`` per keystroke every ``--interval`` ms on a fixed schedule (open loop: a slow
answer does not delay the next keystroke), each with its own session id; every ``--keys-per-session``
keys a typist starts a new text with a new session, so long runs also exercise session eviction.
Latency is measured from the moment a request is sent (and, stricter, from the moment the schedule
said to send it). Requests go to 127.0.0.1 only; each run is bounded in requests and in time.

Printed, one JSON object a line: ``serve`` (requests, errors, p50/p99, server RSS before and after,
the model thread's busy share), ``serve_rss`` samples during the run, and ``serve_reference``: the
same keystrokes answered in this process by ``Predictor.complete`` on a session (no HTTP), measured
after the server run, so the HTTP cost is a ratio from the same machine state.

    nice -n 5 python scripts/bench_serve.py                   # 20 typists, 100 ms, 15 s
    nice -n 5 python scripts/bench_serve.py --requests 100000 # the RSS-flatness run (~8 min)
    python scripts/bench_serve.py --smoke [--model DIR]       # seconds: 3 typists for 2 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wordrnn.serve.limits import Limits  # noqa: E402
VALID = ROOT.parent / "shared" / "corpora" / "brown" / "valid.txt"
SAMPLE = ROOT / "data" / "sample.txt"
MAX_SECONDS = 1800  # whatever is asked, no run lasts longer than this


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def texts(count: int) -> tuple[list[str], str]:
    """``count`` different texts to type (paragraphs of validation text, or the sample text rotated)."""
    path = VALID if VALID.is_file() else SAMPLE
    lines = [" ".join(line.split()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    step = max(1, len(lines) // count)
    return [" ".join(lines[(i * step + j) % len(lines)] for j in range(200)) for i in range(count)], path.name


def keystroke(text: str, key: int, keys_per_session: int) -> tuple[int, str]:
    """(session number, text typed so far) at a typist's ``key``-th keystroke: every
    ``keys_per_session`` keys a new session starts typing the next stretch of the text."""
    turn, end = divmod(key, keys_per_session)
    start = (turn * keys_per_session) % max(1, len(text) - keys_per_session)
    return turn, text[start : start + end + 1]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, MB (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text()
    value = {k: float(re.search(rf"{k}:\s+(\d+)", status).group(1)) / 1024 for k in ("VmRSS", "VmHWM")}
    return round(value["VmRSS"], 1), round(value["VmHWM"], 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(model: str | None, runtime: str, max_sessions: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "wordrnn", "serve", "--host", "127.0.0.1", "--port", "0", "--runtime", runtime,
               "--max-sessions", str(max_sessions)] + (["--model", model] if model else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    line = process.stdout.readline()
    found = re.search(r" at (http://127\.0\.0\.1:\d+/) ", line)
    if not found:
        process.kill()
        raise SystemExit(f"wordrnn serve did not start: {line!r}")
    return process, found.group(1)


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for these requests.

    A general client (httpx) costs about 2 ms of CPU per request here, as much as the server: on a
    2-core machine that would measure the client. This one costs a fraction of that.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        first = await self.reader.readline()
        if not first:  # the server closed this idle keep-alive connection (uvicorn: after 5 s)
            raise ConnectionResetError("stale keep-alive connection")
        status = int(first.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class Load:
    """The typists' schedule and what they measured."""

    def __init__(self, url: str, typists: int, interval: float, total: int, keys_per_session: int) -> None:
        found = re.fullmatch(r"http://(127\.0\.0\.1):(\d+)/", url)
        assert found, url  # loopback only
        self.host, self.port = found.group(1), int(found.group(2))
        self.typists, self.interval, self.total = typists, interval, total
        self.keys_per_session = keys_per_session
        self.latency: list[float] = []
        self.late: list[float] = []  # from the scheduled send time
        self.errors: dict[str, int] = {}
        self.sent = 0

    async def send(self, idle: list[Connection], body: bytes, scheduled: float) -> None:
        """One request on an idle connection of this typist (a new one if all are busy: open loop)."""
        started = time.perf_counter()
        connection = None
        try:
            if idle:
                connection = idle.pop()
                try:
                    status, answer = await asyncio.wait_for(connection.post("/v1/complete", body), 10.0)
                except ConnectionError:  # closed while idle: what any client does, retry on a new one
                    connection.close()
                    connection = None
            if connection is None:
                connection = await Connection.open(self.host, self.port)
                status, answer = await asyncio.wait_for(connection.post("/v1/complete", body), 10.0)
            kind = None if status == 200 and b'"suggestions"' in answer else str(status)
            idle.append(connection)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            kind = type(exc).__name__
            if connection is not None:
                connection.close()
        done = time.perf_counter()
        if kind:
            self.errors[kind] = self.errors.get(kind, 0) + 1
        else:
            self.latency.append(done - started)
            self.late.append(done - scheduled)

    async def typist(self, index: int, text: str, start: float, deadline: float) -> None:
        idle: list[Connection] = []
        pending: set[asyncio.Task] = set()
        key = 0
        while self.sent < self.total:
            scheduled = start + key * self.interval + index * self.interval / self.typists  # staggered
            if scheduled > deadline:
                break
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            turn, typed = keystroke(text, key, self.keys_per_session)
            body = json.dumps({"text": typed, "k": 3, "session": f"typist-{index}-{turn}"}).encode()
            self.sent += 1
            task = asyncio.create_task(self.send(idle, body, scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
            key += 1
        await asyncio.gather(*pending)
        for connection in idle:
            connection.close()

    async def run(self, texts: list[str], seconds: float, sample: Callable[[int], None]) -> float:
        start = time.perf_counter() + 0.2
        deadline = start + seconds
        typists = [asyncio.create_task(self.typist(i, texts[i], start, deadline)) for i in range(self.typists)]
        waiting = set(typists)
        while waiting:
            _, waiting = await asyncio.wait(waiting, timeout=1.0)
            sample(self.sent)
        await asyncio.gather(*typists)  # raises what a typist raised
        return time.perf_counter() - start


def percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.asarray(seconds) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2)}  # as the percentiles: 4.22 <= 4.22, never 4.2


def reference(model: str | None, runtime: str, texts: list[str], keys: int, keys_per_session: int) -> dict:
    """The same keystrokes answered in-process (``Predictor.complete`` on a session): no HTTP, no queue."""
    import warnings

    import wordrnn

    warnings.simplefilter("ignore")
    predictor = wordrnn.load(model, runtime)
    predictor.start()
    predictor.lexicon()  # warmed up as `wordrnn serve` warms it
    undo = Limits().undo_states  # as the server's sessions keep
    costs = []
    for text in texts:
        for key in range(keys):
            turn, typed = keystroke(text, key, keys_per_session)
            if key % keys_per_session == 0:
                session = predictor.session(undo_states=undo)
            started = time.perf_counter()
            predictor.complete(typed, 3, session=session)
            costs.append(time.perf_counter() - started)
    return {"bench": "serve_reference", "keystrokes": len(costs), **percentiles(costs)}


def serve_load(args: argparse.Namespace, to_type: list[str], seconds: float, total: int) -> dict:
    """Start the server, run the typists against it, stop it; the figures of the ``serve`` line."""
    process, url = start_server(args.model, args.runtime, args.max_sessions)
    try:
        info = httpx.get(url + "v1/info", timeout=30).json()["server"]
        before = rss_mb(process.pid)[0]
        server_cpu, client_cpu = cpu_seconds(process.pid), time.process_time()
        load = Load(url, args.typists, args.interval / 1e3, total, args.keys_per_session)
        samples: list[float] = []
        last = [0.0]

        def sample(sent: int) -> None:
            if time.perf_counter() - last[0] >= (1.0 if args.smoke else 10.0):
                last[0] = time.perf_counter()
                samples.append(rss_mb(process.pid)[0])
                emit({"bench": "serve_rss", "requests": sent, "rss_mb": samples[-1]})

        elapsed = asyncio.run(load.run(to_type, seconds, sample))
        after, peak = rss_mb(process.pid)
        server_cpu, client_cpu = cpu_seconds(process.pid) - server_cpu, time.process_time() - client_cpu
        final = httpx.get(url + "v1/info", timeout=30).json()["server"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    done = len(load.latency) + sum(load.errors.values())
    return {"model": info["name"], "runtime": info["runtime"], "seconds": round(elapsed, 1), "requests": done,
            "errors": sum(load.errors.values()), "error_kinds": load.errors, **percentiles(load.latency),
            "p99_from_schedule_ms": percentiles(load.late)["p99_ms"], "throughput_rps": round(done / elapsed, 1),
            "rss_before_mb": before, "rss_after_mb": after, "rss_peak_mb": peak,
            "rss_first_sample_mb": samples[0] if samples else None,
            "model_thread_busy": round(final["model_thread"]["busy_seconds"] / elapsed, 3),
            "server_cpu_ms_per_request": round(server_cpu * 1e3 / max(done, 1), 2),
            "client_cpu_ms_per_request": round(client_cpu * 1e3 / max(done, 1), 2),
            "load_average": round(os.getloadavg()[0], 2), "sessions": final["sessions"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model directory (default: the bundled model)")
    parser.add_argument("--runtime", default="auto")
    parser.add_argument("--typists", type=int, default=20)
    parser.add_argument("--interval", type=float, default=100.0, help="ms between one typist's keystrokes")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--requests", type=int, default=0, help="run until this many requests (RSS check)")
    parser.add_argument("--keys-per-session", type=int, default=400)
    parser.add_argument("--max-sessions", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="3 typists for 2 s: checks the script in seconds")
    args = parser.parse_args()
    if args.smoke:
        args.typists, args.seconds, args.requests = 3, 2.0, 0
    interval = args.interval / 1e3
    seconds = args.requests * interval / args.typists if args.requests else args.seconds
    total = args.requests or int(args.typists * seconds / interval) + args.typists
    to_type, source = texts(args.typists)
    result = serve_load(args, to_type, min(MAX_SECONDS, seconds), total)
    emit({"bench": "serve", "text": source, "typists": args.typists, "interval_ms": args.interval, **result,
          "command": " ".join(sys.argv)})
    done = result["requests"]
    keys = 30 if args.smoke else min(150, max(1, done // args.typists))
    emit(reference(args.model, args.runtime, to_type, keys, args.keys_per_session))


if __name__ == "__main__":
    main()
