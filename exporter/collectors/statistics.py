"""Core: the newest statistics record, every statistics_interval. Never `count=0`,
`refresh=true`, `fields` or `query`: the default sort returns the OLDEST record, and refresh
writes a snapshot and resets the daily peak. Its numeric families are declared once in
collecting/statfields.py; this module reads a record into them and renders them."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from exporter.collecting import statfields
from exporter.collecting.base import Collected, Collector, Family, Key, Out, Request
from exporter.collecting.expfmt import escape, fmt
from exporter.model.config import Config
from exporter.rocketchat.values import ParseError, clean, only_parse_errors, timestamp

PATH = "/api/v1/statistics.list"
PARAMS = {"sort": '{"createdAt":-1}', "count": "1"}


@dataclass(slots=True)  # not frozen: a frozen __init__ is several times slower (every poll)
class Statistics:
    """One statistics record: every declared numeric field (statfields.SOURCES order; NaN =
    absent, its series absent), the version, and the labels of the info families."""

    version: str | None
    values: statfields.Values
    deployment: tuple[tuple[str, str], ...] | None = None
    extra: tuple[tuple[str, float], ...] = ()  # the operator's extra_statistics
    file_store: str | None = None  # fileStoreType

    def value(self, family: str, label_value: str = "") -> float | None:
        """One declared sample, e.g. value(statfields.USERS_BY_STATUS, "online")."""
        return statfields.at(self.values, statfields.position(family, label_value))

    @property
    def created_at(self) -> float | None:
        return self.value(statfields.CREATED_AT)


@only_parse_errors
def parse_statistics_list(body: Any, extra_paths: tuple[str, ...] = ()) -> Statistics | None:
    """The newest record of a statistics.list answer (by createdAt), or None if it holds none."""
    if not isinstance(body, dict) or not isinstance(body.get("statistics"), list):
        raise ParseError("answer has no 'statistics' list")
    records = body["statistics"]
    if not all(isinstance(r, dict) for r in records):
        raise ParseError("a statistics record is not an object")
    if not records:
        return None
    newest = max(records, key=lambda r: timestamp(r.get("createdAt")) or -math.inf)
    return parse_statistics(newest, extra_paths)


@only_parse_errors
def parse_statistics(record: dict[str, Any], extra_paths: tuple[str, ...] = ()) -> Statistics:
    """One statistics record (IStats); every field is optional."""
    version = record.get("version")
    return Statistics(
        version=sys.intern(clean(version[:64])) if isinstance(version, str) else None,
        values=statfields.samples(record),
        deployment=statfields.deployment(record),
        extra=statfields.extra_fields(record, extra_paths),
        file_store=statfields.file_store(record),
    )


FAMILIES = (
    *(
        Family(f.family, "gauge", f.help, ("workspace", f.label) if f.label else ("workspace",))
        for f in statfields.FIELDS
    ),
    Family(
        statfields.DEPLOYMENT_INFO,
        "gauge",
        statfields.DEPLOYMENT_HELP,
        ("workspace", *(label for label, _ in statfields.DEPLOYMENT_LABELS)),
    ),
    Family(statfields.FILE_STORE_INFO, "gauge", statfields.FILE_STORE_HELP, ("workspace", "type")),
    Family(statfields.EXTRA, "gauge", statfields.EXTRA_HELP, ("workspace", "field")),
)


def render(ws_label: str, workspace: Collected, out: Out) -> None:
    """The statistics.list part of a workspace's samples, by family."""
    stats = workspace.get(RECORD)
    if stats is None:
        return
    for family, label, value in statfields.present(stats.values):
        labels = f"{ws_label},{label}" if label else ws_label
        out[family].append(f"{family}{{{labels}}} {fmt(value)}\n")
    if stats.deployment is not None:
        labels = ",".join(f'{k}="{escape(v)}"' for k, v in stats.deployment)
        info = statfields.DEPLOYMENT_INFO
        out[info].append(f"{info}{{{ws_label},{labels}}} 1\n")
    if stats.file_store is not None:
        store = statfields.FILE_STORE_INFO
        out[store].append(f'{store}{{{ws_label},type="{escape(stats.file_store)}"}} 1\n')
    for path, value in stats.extra:
        out[statfields.EXTRA].append(
            f'{statfields.EXTRA}{{{ws_label},field="{escape(path)}"}} {fmt(value)}\n'
        )


def latest(workspace: Collected) -> Statistics | None:
    """The newest statistics record of the latest good answer (None: failing, not polled, or
    a server that holds no record yet)."""
    return workspace.get(RECORD)


def _version(workspace: Collected) -> str | None:
    stats = workspace.get(RECORD)
    return stats.version if stats is not None else None


def _parse(body: Any, config: Config) -> Statistics | None:
    return parse_statistics_list(body, config.extra_statistics)


RECORD: Key[Statistics] = Key("statistics.list")

COLLECTOR = Collector(
    name="statistics",
    summary="the newest statistics record: users, rooms, messages, uploads, usage, deployment",
    requests=(
        Request(
            RECORD,
            PATH,
            _parse,
            params=lambda: PARAMS,
            query_doc='?sort={"createdAt":-1}&count=1',
        ),
    ),
    interval=lambda workspace: workspace.statistics_interval,
    interval_doc="statistics_interval",
    families=FAMILIES,
    rank=20,
    render=render,
    optional=False,
    default_enabled=True,
    permission="view-statistics",
    versions="3.10+",
    version=_version,  # up to a day behind after an upgrade: info's comes first
    version_rank=20,
)
