"""Every numeric family of the statistics record, declared once: name, help, where in the record
(a path, or alternatives "a|b": the first that holds a value), the label its sources go in;
extracted by one pure function into samples, rendered, documented and counted as covered from
this table. A field absent from the record, or `false` (e.g. `apps.*` while the apps engine is
not ready), is an absent series, never 0.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exporter.rocketchat.values import (
    Unboxed,
    boxed,
    clean,
    number,
    shared_in,
    timestamp,
    unboxed,
)

NUMBER, UNIQUE, FLAG, TIME = "number", "unique", "flag", "time"


@dataclass(frozen=True)
class Field:
    family: str
    help: str
    sources: tuple[tuple[str, str], ...]  # (dotted path in the record, label value)
    label: str = ""  # the label the values of `sources` go in, if several
    kind: str = NUMBER


def stat(family: str, help_: str, path: str, kind: str = NUMBER) -> Field:
    return Field(family, help_, ((path, ""),), kind=kind)


W = "rocketchat_workspace_"
USERS, ACTIVE_USERS, USERS_BY_STATUS = f"{W}users", f"{W}active_users", f"{W}users_by_status"
ROOMS, MESSAGES = f"{W}rooms", f"{W}messages"
UPLOADS, UPLOADS_SIZE = f"{W}uploads", f"{W}uploads_size_bytes"
CREATED_AT = f"{W}statistics_timestamp_seconds"
_ROOM_TYPES = ("channel", "private_group", "direct", "livechat", "discussion")

FIELDS = (
    stat(USERS, "Total users (statistics totalUsers).", "totalUsers"),
    stat(ACTIVE_USERS, "Active users (statistics activeUsers).", "activeUsers"),
    Field(
        USERS_BY_STATUS,
        "Users by presence status when the statistics record was generated (onlineUsers, "
        "awayUsers, busyUsers, offlineUsers).",
        tuple((f"{status}Users", status) for status in ("online", "away", "busy", "offline")),
        "status",
    ),
    stat(ROOMS, "Total rooms (statistics totalRooms).", "totalRooms"),
    Field(
        f"{W}rooms_by_type",
        "Rooms by type (statistics totalChannels, totalPrivateGroups, totalDirect, "
        "totalLivechat, totalDiscussions).",
        tuple(
            zip(
                # servers up to 0.65 stored the typo totlalLivechat
                (
                    "totalChannels",
                    "totalPrivateGroups",
                    "totalDirect",
                    "totalLivechat|totlalLivechat",
                    "totalDiscussions",
                ),
                _ROOM_TYPES,
                strict=True,
            )
        ),
        "room_type",
    ),
    stat(
        MESSAGES,
        "Total messages (statistics totalMessages, sum of the rooms' message counters).",
        "totalMessages",
    ),
    Field(
        f"{W}messages_by_room_type",
        "Messages by room type (statistics total*Messages).",
        tuple(
            zip(
                (
                    "totalChannelMessages",
                    "totalPrivateGroupMessages",
                    "totalDirectMessages",
                    "totalLivechatMessages",
                    "totalDiscussionsMessages",
                ),
                _ROOM_TYPES,
                strict=True,
            )
        ),
        "room_type",
    ),
    stat(UPLOADS, "Uploaded files (statistics uploadsTotal).", "uploadsTotal"),
    stat(
        UPLOADS_SIZE,
        "Total size of uploaded files (statistics uploadsTotalSize).",
        "uploadsTotalSize",
    ),
    stat(
        f"{W}livechat_visitors",
        "Omnichannel visitors (statistics totalLivechatVisitors).",
        "totalLivechatVisitors",
    ),
    stat(
        f"{W}livechat_agents",
        "Omnichannel agents (statistics totalLivechatAgents).",
        "totalLivechatAgents",
    ),
    stat(
        CREATED_AT,
        "When the newest statistics record was generated (createdAt), as Unix time; the server "
        "writes one about daily.",
        "createdAt",
        TIME,
    ),
    Field(
        "rocketchat_workspace_connections_peak",
        "Peak of simultaneous connections (statistics dailyPeakConnections: period day; "
        "maxMonthlyPeakConnections: month).",
        (("dailyPeakConnections", "day"), ("maxMonthlyPeakConnections", "month")),
        "period",
    ),
    Field(
        "rocketchat_workspace_unique_users",
        "Distinct users who used the workspace in the period (statistics uniqueUsersOfYesterday, "
        "uniqueUsersOfLastWeek, uniqueUsersOfLastMonth: data[0].count, 0 when empty).",
        (
            ("uniqueUsersOfYesterday", "day"),
            ("uniqueUsersOfLastWeek", "week"),
            ("uniqueUsersOfLastMonth", "month"),
        ),
        "period",
        UNIQUE,
    ),
    stat(
        "rocketchat_workspace_deactivated_users",
        "Deactivated users (nonActiveUsers).",
        "nonActiveUsers",
    ),
    stat(
        "rocketchat_workspace_active_guests", "Active guest users (activeGuests).", "activeGuests"
    ),
    stat("rocketchat_workspace_app_users", "Users that are apps (appUsers).", "appUsers"),
    stat("rocketchat_workspace_threads", "Threads (totalThreads).", "totalThreads"),
    stat("rocketchat_workspace_teams", "Teams (teams.totalTeams).", "teams.totalTeams"),
    stat(
        "rocketchat_workspace_e2e_rooms",
        "End-to-end encrypted rooms (totalE2ERooms).",
        "totalE2ERooms",
    ),
    stat(
        "rocketchat_workspace_e2e_messages",
        "End-to-end encrypted messages (totalEncryptedMessages).",
        "totalEncryptedMessages",
    ),
    stat(
        "rocketchat_workspace_push_queue",
        "Push notifications waiting to be sent (pushQueue).",
        "pushQueue",
    ),
    stat(
        "rocketchat_workspace_uncaught_exceptions",
        "Uncaught exceptions of the process that generated the record (uncaughtExceptionsCount).",
        "uncaughtExceptionsCount",
    ),
    Field(
        "rocketchat_workspace_apps",
        "Marketplace and private apps by state (apps.totalInstalled, totalActive, totalFailed); "
        "absent while the apps engine is not ready.",
        (
            ("apps.totalInstalled", "installed"),
            ("apps.totalActive", "enabled"),
            ("apps.totalFailed", "failed"),
        ),
        "state",
    ),
    Field(
        "rocketchat_workspace_integrations",
        "Integrations by type (integrations.totalIncoming, totalOutgoing).",
        (("integrations.totalIncoming", "incoming"), ("integrations.totalOutgoing", "outgoing")),
        "type",
    ),
    Field(
        "rocketchat_workspace_integrations_active",
        "Enabled integrations by type (integrations.totalIncomingActive, totalOutgoingActive).",
        (
            ("integrations.totalIncomingActive", "incoming"),
            ("integrations.totalOutgoingActive", "outgoing"),
        ),
        "type",
    ),
    stat(
        "rocketchat_workspace_migration_version",
        "Database migration the server is at (migration.version).",
        "migration.version",
    ),
    stat(
        "rocketchat_workspace_migration_locked",
        "1 while the migration lock is held (migration.locked): an upgrade in progress, or stuck.",
        "migration.locked",
        FLAG,
    ),
    stat(
        "rocketchat_workspace_last_message_timestamp_seconds",
        "When the last message was sent (lastMessageSentAt), as Unix time.",
        "lastMessageSentAt",
        TIME,
    ),
    stat(
        "rocketchat_workspace_last_login_timestamp_seconds",
        "When a user last logged in (lastLogin), as Unix time.",
        "lastLogin",
        TIME,
    ),
    stat(
        "rocketchat_workspace_livechat_departments",
        "Omnichannel departments (departments).",
        "departments",
    ),
    stat(
        "rocketchat_workspace_livechat_managers",
        "Omnichannel managers (totalLivechatManagers).",
        "totalLivechatManagers",
    ),
    stat(
        "rocketchat_workspace_livechat_rooms_placed_on_hold",
        "Omnichannel rooms ever placed on hold (chatsOnHold, cumulative).",
        "chatsOnHold",
    ),
)
DEPLOYMENT_INFO = "rocketchat_workspace_deployment_info"
DEPLOYMENT_HELP = (
    "Deployment of the workspace (mongoVersion, mongoStorageEngine, oplogEnabled, msEnabled, "
    "deploy.method, deploy.platform); the value is 1."
)
DEPLOYMENT_LABELS = (
    ("mongo_version", "mongoVersion"),
    ("mongo_storage_engine", "mongoStorageEngine"),
    ("oplog_enabled", "oplogEnabled"),
    ("microservices", "msEnabled"),
    ("deploy_method", "deploy.method"),
    ("deploy_platform", "deploy.platform"),
)
FILE_STORE_INFO = "rocketchat_workspace_file_store_info"
FILE_STORE_HELP = (
    "Where uploads are stored (fileStoreType: GridFS, FileSystem, AmazonS3, GoogleCloudStorage, "
    "Webdav); the value is 1."
)
FILE_STORE_PATH = "fileStoreType"


_STORE_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def file_store(record: dict[str, Any]) -> str | None:
    """The upload storage type (a setting's value: one word), or None when the record has none
    that looks like one."""
    raw = record.get(FILE_STORE_PATH)
    if not isinstance(raw, str) or _STORE_TYPE.fullmatch(raw) is None:
        return None
    return sys.intern(raw)


EXTRA = "rocketchat_workspace_statistic"
EXTRA_HELP = "A numeric field of the statistics record chosen in extra_statistics (booleans: 1/0)."
EXTRA_PATH = re.compile(r"[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*")

# JavaScript Date.toString(): "Wed Jun 18 2025 09:08:55 GMT+0000 (Coordinated Universal Time)"
_JS_DATE = re.compile(
    r"[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d{1,2}) (\d{4}) "
    r"(\d{2}):(\d{2}):(\d{2}) GMT([+-])(\d{2})(\d{2})"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def lookup(record: dict[str, Any], path: str) -> Any:
    return _dig(record, tuple(path.split(".")))


def js_date(value: Any) -> float | None:
    """Unix seconds from Date.toString() text (6.2+) or an ISO string (before); "" = None."""
    if not isinstance(value, str) or not value or len(value) > 100:
        return timestamp(value)
    match = _JS_DATE.match(value)
    if match is None:
        return timestamp(value)
    month_name, day, year, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
    month = _MONTHS.get(month_name)
    if month is None:
        return None
    offset = (int(tz_hours) * 3600 + int(tz_minutes) * 60) * (-1 if sign == "-" else 1)
    try:  # by hand: strptime costs 10x more, at every statistics poll
        when = datetime(int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=UTC)
        return when.timestamp() - offset
    except (ValueError, OverflowError):
        return None


def _value(raw: Any, kind: str) -> float | None:
    if kind == FLAG:
        return float(raw) if isinstance(raw, bool) else None
    if kind == TIME:
        return js_date(raw)
    if kind == UNIQUE:
        data = raw.get("data") if isinstance(raw, dict) else None
        if not isinstance(data, list):
            return None
        first = data[0] if data else {"count": 0}
        return number(first.get("count")) if isinstance(first, dict) else None
    return number(raw)  # false, null, text: absent


# every source of FIELDS once: (family, label text, kind, path keys); the label strings are
# shared by every workspace's samples
SOURCES = tuple(
    (field.family, f'{field.label}="{label_value}"' if field.label else "", field.kind, path)
    for field in FIELDS
    for path, label_value in field.sources
)

# where each (family, label value) sits in a record's values (SOURCES order): one look-up
_BY_VALUE = {
    source: index
    for index, source in enumerate(
        (field.family, label_value) for field in FIELDS for _, label_value in field.sources
    )
}


def position(family: str, label_value: str = "") -> int:
    """Where a family's (label value's) sample sits in a record's values; KeyError for a
    family or label the table does not declare (a typo fails, never reads an absent series)."""
    return _BY_VALUE[(family, label_value)]


# a record's values, one per SOURCES entry, unboxed (NaN: absent): ~1 KiB less per record than
# a tuple of float objects, ~10 MiB at 10 000 workspaces
Values = Unboxed


# how samples() reads each source: its paths' keys split once, not at every record
_PLAN = tuple(
    (tuple(tuple(p.split(".")) for p in path.split("|")), kind) for _, _, kind, path in SOURCES
)


def _dig(record: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = record
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _first(
    record: dict[str, Any], alternatives: tuple[tuple[str, ...], ...], kind: str
) -> float | None:
    for keys in alternatives:
        value = _value(_dig(record, keys), kind)
        if value is not None:
            return value
    return None


def samples(record: dict[str, Any]) -> Values:
    """The value of every source of FIELDS, in SOURCES order (NaN where the record has none)."""
    return unboxed(
        _value(_dig(record, paths[0]), kind) if len(paths) == 1 else _first(record, paths, kind)
        for paths, kind in _PLAN
    )


def at(values: Values, index: int) -> float | None:
    """The value at a SOURCES index, None where the record had none."""
    return boxed(values[index])


def present(values: Values) -> Iterator[tuple[str, str, float]]:
    """(family, label text, value) of each value the record had."""
    for (family, label, _, _), value in zip(SOURCES, values, strict=True):
        if value == value:  # not NaN
            yield family, label, value


def deployment(record: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The deployment_info labels, or None when the record has none of the fields."""
    values = []
    for label, path in DEPLOYMENT_LABELS:
        raw = lookup(record, path)
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        values.append((label, clean(raw[:64]) if isinstance(raw, str) else ""))
    if not any(v for _, v in values):
        return None
    return shared_in(_DEPLOYMENTS, tuple(values))


# a fleet runs a handful of deployments (Mongo version, engine, method...): one tuple kept for
# every workspace with the same, ~0.6 KiB less per workspace
_DEPLOYMENTS: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}


def extra_fields(record: dict[str, Any], paths: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """extra_statistics: each path whose value is a number (or a boolean: 1/0)."""
    found = []
    for path in paths:
        raw = lookup(record, path)
        value = float(raw) if isinstance(raw, bool) else number(raw)
        if value is not None:
            found.append((path, value))
    return tuple(found)
