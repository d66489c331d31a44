"""Omnichannel dashboards (view-livechat-manager): agents by status, chats by state."""

from __future__ import annotations

import time
from typing import Any

from exporter.collecting.answers import successful
from exporter.collecting.base import Collected, Collector, Family, Key, Out, Request
from exporter.collecting.expfmt import fmt
from exporter.rocketchat.values import ParseError, number, only_parse_errors

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


AGENTS = "rocketchat_omnichannel_agents"
CHATS = "rocketchat_omnichannel_chats"
# (status or state, count) pairs of each answer
AGENTS_ENDPOINT: Key[tuple[tuple[str, float], ...]] = Key("omnichannel.agents-status")
CHATS_ENDPOINT: Key[tuple[tuple[str, float], ...]] = Key("omnichannel.chats")
_CHARTS = "/api/v1/livechat/analytics/dashboards/charts/"

FAMILIES = (
    Family(
        AGENTS,
        "gauge",
        "Omnichannel agents by status, live (charts/agents-status: available, away, busy, "
        "offline).",
        ("workspace", "status"),
    ),
    Family(
        CHATS,
        "gauge",
        "Omnichannel chats by state now (charts/chats since 1970: open, queued, onhold).",
        ("workspace", "state"),
    ),
)


def chats_params() -> dict[str, str]:
    """Rooms created since 1970 until now: the current open/queued/on-hold numbers."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"start": "1970-01-01T00:00:00Z", "end": now}


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    for family, label, endpoint in (
        (AGENTS, "status", AGENTS_ENDPOINT),
        (CHATS, "state", CHATS_ENDPOINT),
    ):
        for key, value in workspace.get(endpoint) or ():
            out[family].append(f'{family}{{{ws_label},{label}="{key}"}} {fmt(value)}\n')


COLLECTOR = Collector(
    name="omnichannel",
    summary="omnichannel agents by status and chats open, queued and on hold",
    requests=(
        Request(
            AGENTS_ENDPOINT,
            _CHARTS + "agents-status",
            lambda body, config: parse_agents_status(body),
        ),
        Request(
            CHATS_ENDPOINT,
            _CHARTS + "chats",
            lambda body, config: parse_chats(body),
            params=chats_params,
            query_doc="?start=1970-01-01T00:00:00Z&end=<now>",
        ),
    ),
    interval=lambda workspace: max(workspace.poll_interval, 60.0),
    interval_doc="poll_interval, at least 60s",
    families=FAMILIES,
    rank=70,
    render=render,
    min_interval=60.0,
    permission="view-livechat-manager",
    versions="3.x+ (onhold 4.x+)",
)
