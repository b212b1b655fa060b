"""JSON as wordrnn prints and serves it: standard JSON only, never NaN or infinity.

Standard library only, so the CLI and the HTTP server share it without importing each other.
``json.dumps`` writes NaN and Infinity, which are not JSON: jq, or a browser's ``JSON.parse``,
then refuses the whole output. A diverged model's figures (a NaN loss, a NaN probability) are
shown as ``null`` instead.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None, in nested dicts, lists and tuples too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_text(data: Any) -> str:
    """``data`` as standard JSON text (UTF-8 characters as they are): how every command prints JSON."""
    return json.dumps(finite(data), ensure_ascii=False, allow_nan=False)
