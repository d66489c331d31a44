"""Omnichannel dashboards (view-livechat-manager): agents by status, chats by state."""

from __future__ import annotations

from typing import Any

from ..parse import ParseError, number, only_parse_errors
from .answers import successful

AGENT_STATUSES = ("available", "away", "busy", "offline")
CHAT_STATES = ("open", "queued", "onhold")


@only_parse_errors
def parse_agents_status(body: Any) -> tuple[tuple[str, float], ...]:
    """Live counts; an answer without counts means the workspace has no agents (zeros)."""
    answer = successful(body)
    return tuple((status, number(answer.get(status)) or 0.0) for status in AGENT_STATUSES)


@only_parse_errors
def parse_chats(body: Any) -> tuple[tuple[str, float], ...]:
    """Rooms created since 1970 by state; `onhold` is missing on older servers (absent)."""
    answer = successful(body)
    counts = tuple(
        (state, value) for state in CHAT_STATES if (value := number(answer.get(state))) is not None
    )
    if not counts:
        raise ParseError("answer has no open/queued/onhold counts")
    return counts
