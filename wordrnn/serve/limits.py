"""What a request may ask for, and reading its JSON body into checked values.

Every bad request must become a 4xx answer with a one-line JSON ``{"error": ...}``, never a 500:
so the body is parsed here with every way it can be wrong in mind (not JSON, not an object, NaN,
a lone surrogate, a string where a number belongs, a value out of range, an unknown field: a typo
such as ``"temprature"`` is refused rather than silently ignored), and each field is read through
one typed accessor that names the field and the allowed range in its message.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Caps that keep one request (or one client) from taking the server's memory or time.

    Args:
        max_body: bytes of a request body.
        max_text: characters of a text (typed text, seed text, text to score).
        max_k: suggestions per request.
        max_words: words one ``/v1/generate`` may ask for.
        max_sessions: typing sessions kept at once (the least recently used one goes first).
        session_idle: seconds after which an unused session is dropped.
        undo_states: recurrent states a session keeps for cheap backspacing (each state holds the
            word cache: a vocabulary-sized vector, ~70 KB for the bundled model).
        max_queue: model calls waiting at once; beyond it a request gets 503 "busy".
    """

    max_body: int = 256 * 1024
    max_text: int = 20_000
    max_k: int = 50
    max_words: int = 1000
    max_sessions: int = 64
    session_idle: float = 600.0
    undo_states: int = 8
    max_queue: int = 256

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx, or 503 when busy) and a one-line message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


_SESSION_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_MAX_SEED = 2**63 - 1


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object of a request body, or ``RequestError`` saying what is wrong with it."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise RequestError("send the body as JSON with the header Content-Type: application/json "
                           "(curl: --json '{...}')", 415)
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise RequestError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, NaN, an integer of thousands of digits
        raise RequestError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(f"the body must be a JSON object, got {type(data).__name__}")
    return data


class Fields:
    """Typed, range-checked access to a request's JSON object; unknown fields are refused.

    Args:
        data: the parsed body.
        allowed: the field names this endpoint understands.
    """

    def __init__(self, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = [key for key in data if key not in allowed]
        if unknown:
            raise RequestError(f"unknown field {unknown[0]!r}; this endpoint takes {', '.join(allowed)}")
        self.data = data

    def text(self, name: str, limit: int, required: bool = True) -> str:
        """A string field of at most ``limit`` characters (413 beyond it), valid Unicode."""
        if name not in self.data or self.data[name] is None:
            if required:
                raise RequestError(f"missing field {name!r} (a string)")
            return ""
        value = self.data[name]
        if not isinstance(value, str):
            raise RequestError(f"{name!r} must be a string, got {_kind(value)}")
        if len(value) > limit:
            raise RequestError(f"{name!r} is {len(value):,} characters; the limit is {limit:,} "
                               "(send the last part of the text)", 413)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(f"{name!r} is not valid Unicode (a lone surrogate)") from None
        return value

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        """A whole number in [low, high]; ``default`` when absent or null."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 3.0 is 3
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"{name!r} must be a whole number, got {_kind(value)}")
        if not low <= value <= high:
            raise RequestError(f"{name!r} must be between {low:,} and {high:,}, got {value}")
        return value

    def number(self, name: str, default: float | None, low: float, high: float, low_open: bool = True) -> float | None:
        """A finite number in (low, high] (or [low, high] with ``low_open=False``); ``default`` when absent."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RequestError(f"{name!r} must be a number, got {_kind(value)}")
        above = value > low if low_open else value >= low
        if not (above and value <= high):
            bracket = "(" if low_open else "["
            raise RequestError(f"{name!r} must be in {bracket}{low:g}, {high:g}], got {value!r}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise RequestError(f"{name!r} must be true or false, got {_kind(value)}")
        return value

    def session_id(self, name: str = "session") -> str | None:
        """A client-chosen session id: 1 to 64 characters of letters, digits and ``. _ ~ -``."""
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
            raise RequestError(f"{name!r} must be 1 to 64 letters, digits, '.', '_', '~' or '-' "
                               "(a random id such as a UUID)")
        return value

    def seed(self, name: str = "seed") -> int | None:
        return self.integer(name, None, 0, _MAX_SEED)


def check_session_id(value: str) -> str:
    """A session id from a URL path, checked like ``Fields.session_id``."""
    if not _SESSION_ID.fullmatch(value):
        raise RequestError("a session id is 1 to 64 letters, digits, '.', '_', '~' or '-'")
    return value


def _kind(value: Any) -> str:
    """How a wrong value is named in a message: its JSON type and a short preview."""
    names = {bool: "a boolean", str: "a string", list: "an array", dict: "an object", int: "a number",
             float: "a number"}
    preview = json.dumps(value, allow_nan=True)[:40] if not isinstance(value, (list, dict)) else ""
    return names.get(type(value), type(value).__name__) + (f" ({preview})" if preview else "")
