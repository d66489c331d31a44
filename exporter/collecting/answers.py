"""What every optional endpoint's answer has in common."""

from __future__ import annotations

from typing import Any

from exporter.rocketchat.values import ParseError


def successful(body: Any) -> dict[str, Any]:
    """The answer as a dict; `success: false` (or not a JSON object) is a failure."""
    if not isinstance(body, dict):
        raise ParseError("answer is not a JSON object")
    if body.get("success") is False:
        raise ParseError("answer says success: false")
    return body
