"""One vocabulary: on the demo landscape (one workspace per alert condition, two healthy ones)
the status pages name exactly the alerts whose condition holds, and a real Prometheus loaded
with the shipped rules has exactly those alerts pending or firing."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_rules import panel_exprs
from test_prometheus import substitute

from exporter.alerts.catalogue import ALERTS
from exporter.demo.fleet import FakeInstance
from exporter.demo.landscape import config_for, demo_workspaces
from exporter.demo.server import FakeRocketChat, start_health
from exporter.docs import RULES

from conftest import running_prometheus, wait_for

# what the demo shows, by workspace: every alert but the exporter's own, and two healthy ones
EXPECTED = {
    "acme-prod": {
        "RocketChatInstanceDisconnected",
        "RocketChatInstanceVanished",
        "RocketChatInstanceHeartbeatStale",
        "RocketChatLicenseSeatsNearLimit",
        "RocketChatLicenseExpiringSoon",
        "RocketChatInstanceUnhealthy",
        "RocketChatInstanceHeapHigh",
        "RocketChatUploadsInGridFS",
    },
    "acme-staging": {
        "RocketChatLicenseActionPrevented",
        "RocketChatAppsFailed",
        "RocketChatOmnichannelNoAgent",
        "RocketChatVersionSupportEndingSoon",
    },
    "acme-eu": set(),
    "acme-us": {"RocketChatInstanceLinkBroken"},
    "acme-dr": {"RocketChatWorkspaceDown"},
    "legacy": set(),
    "ancient": {"RocketChatStatisticsStale", "RocketChatMigrationLocked"},
    "community": {
        "RocketChatPresenceCapNear",
        "RocketChatCollectorFailing",
        "RocketChatVersionSupportEnded",
    },
}
CHIP = re.compile(r'title="(RocketChat\w+) \((?:critical|warning)\)"')


def test_the_demo_covers_every_alert_but_the_exporters_own() -> None:
    named = set().union(*EXPECTED.values())
    exporters_own = {"RocketChatExporterDown", "RocketChatExporterReloadFailed"}
    assert named == {a.name for a in ALERTS} - exporters_own


class Demo:
    def __init__(self, fake: FakeRocketChat, run: Any, leaving: FakeInstance) -> None:
        self.fake, self.run = fake, run
        self.leaving = leaving  # the acme-prod instance that will vanish

    async def page_names(self) -> dict[str, set[str]]:
        """The alert names each workspace's row of the fleet page shows."""
        _, page, _ = await self.run.get("/")
        rows = {}
        for row in page.split("<tr")[1:]:
            name = re.search(r'<a href="/workspace/([^"]+)">', row)
            if name:
                rows[name.group(1)] = set(CHIP.findall(row))
        return rows


@pytest.fixture
async def demo(exporter_for: Any) -> AsyncIterator[Demo]:
    fake = FakeRocketChat(demo_workspaces())
    await fake.start()
    await start_health(fake)
    leaving = next(i for i in fake.workspaces["acme-prod"].instances if i.listed_until)
    leaving.listed_until = None  # listed until the test says when
    config = config_for(
        fake, poll_interval=0.3, statistics_interval=0.3, timeout=2.0, every_collector=True
    )
    config = dataclasses.replace(
        config,
        workspaces=tuple(  # the demo's collectors (links on acme-us), polled faster
            dataclasses.replace(w, collectors=tuple((name, 0.3) for name, _ in w.collectors))
            for w in config.workspaces
        ),
        extra_statistics=("integrations.totalWithScriptEnabled",),  # as `make run` has
    )
    run = await exporter_for(config)
    await wait_for(lambda: run.exporter.state.ready, "first polls", deadline=60)
    yield Demo(fake, run, leaving)
    await fake.stop()


async def test_the_fleet_page_names_each_workspaces_alert_conditions_and_none_for_the_healthy(
    demo: Demo,
) -> None:
    await wait_for(
        lambda: demo.fake.workspaces["acme-prod"].requests["instances.get"] >= 2, "two polls"
    )
    demo.leaving.listed_until = time.time()  # scaled away now

    latest: dict[str, set[str]] = {}

    async def as_expected() -> bool:
        nonlocal latest
        latest = await demo.page_names()
        return latest == EXPECTED

    try:
        await wait_for(as_expected, "the fleet page names the expected alerts", deadline=60)
    finally:
        print(latest)
    _, page, _ = await demo.run.get("/")
    assert "<b>1</b> instance disconnected</a>" in page  # the chips count workspaces
    _, only, _ = await demo.run.get("/?state=RocketChatPresenceCapNear")
    assert re.findall(r'<a href="/workspace/([^"]+)">', only) == ["community"]
    for healthy in ("acme-eu", "legacy"):
        _, text, _ = await demo.run.get(f"/workspace/{healthy}")
        assert "No alert condition holds." in text
    _, prod, _ = await demo.run.get("/workspace/acme-prod")
    for alert in ALERTS:
        if alert.name in EXPECTED["acme-prod"]:
            assert f'href="/runbooks#{alert.anchor}"' in prod
    assert '<span class="warn">91%</span>' in prod  # the heap that trips its alert
    assert '<span class="warn"> (97.5%)</span>' in prod  # the seats
    _, runbooks, _ = await demo.run.get("/runbooks")
    for alert in ALERTS:
        assert f'<h2 id="{alert.anchor}">{alert.name}</h2>' in runbooks


async def test_prometheus_with_the_shipped_rules_agrees_with_the_status_page(
    demo: Demo, tmp_path: Path
) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "rocketchat-exporter",
                "static_configs": [{"targets": [demo.run.exporter.url.removeprefix("http://")]}],
            }
        ],
    }
    async with running_prometheus(config, tmp_path) as prometheus:
        leaving = demo.leaving.instance_id

        async def scraped_the_leaving_instance() -> bool:
            query = f'rocketchat_instance_info{{instance_id="{leaving}"}}'
            return bool(await prometheus.query(query))

        await wait_for(scraped_the_leaving_instance, "a scrape listing it", deadline=60)
        demo.leaving.listed_until = time.time()

        prometheus_said: dict[str, set[str]] = {}
        page_said: dict[str, set[str]] = {}

        async def agree() -> bool:
            nonlocal prometheus_said, page_said
            prometheus_said = {name: set() for name in EXPECTED}
            for alert in await prometheus.alerts():  # pending (before for:) and firing
                workspace = alert["labels"].get("workspace")
                if workspace is not None:
                    prometheus_said[workspace].add(alert["labels"]["alertname"])
            page_said = await demo.page_names()
            return prometheus_said == page_said == EXPECTED

        try:
            await wait_for(agree, "Prometheus and the page agree", deadline=90)
        finally:
            print("prometheus:", prometheus_said, "page:", page_said)

        # and the dashboard shows the demo: every panel query returns data
        empty: list[tuple[str, str]] = []

        async def every_panel_has_data() -> bool:
            empty.clear()
            for title, expr in panel_exprs():
                if not await prometheus.query(substitute(expr)):
                    empty.append((title, expr))
            return not empty

        try:
            await wait_for(every_panel_has_data, "every dashboard query non-empty", deadline=60)
        finally:
            print("empty panels:", empty)
