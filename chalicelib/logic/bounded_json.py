"""JSON from outside with a bound on nesting (issue 11 point 5).

``json.loads`` recurses once per level: 100,000 nested brackets raise ``RecursionError`` (a
RuntimeError, not a ValueError), which a caller maps to "retry later" although the request can never
succeed. Here the nesting is measured before parsing, on the text itself, and anything deeper than
``MAX_JSON_DEPTH`` is a ``JsonTooDeep`` (a ValueError): a 4xx for an HTTP body, a dropped message
for SNS. 32 is DynamoDB's own limit for nested attributes; no body of this API nests half as deep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

MAX_JSON_DEPTH = 32

# A JSON string literal (escapes included), and the brackets that open or close a level.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonTooDeep(ValueError):
    """The document nests objects/arrays deeper than allowed."""


def nesting_depth(text: str) -> int:
    """Deepest nesting of objects/arrays in ``text`` (brackets inside strings do not count)."""
    structural = _BRACKETS.findall(_STRING.sub("", text))
    if not structural:
        return 0
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in structural))


def loads_bounded(
    raw: str | bytes | bytearray,
    *,
    max_depth: int = MAX_JSON_DEPTH,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """``json.loads`` that raises ``JsonTooDeep`` (a ValueError) instead of recursing past ``max_depth``.

    Also ValueError / UnicodeDecodeError for what json.loads refuses."""
    text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    if nesting_depth(text) > max_depth:
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=parse_constant)
    except RecursionError:  # belt and braces: a smaller stack than the bound assumes
        raise JsonTooDeep(f"JSON nested deeper than {max_depth} levels") from None
