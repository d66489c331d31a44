"""The dashboard rows of the optional collectors: licenses and capacity, instance health,
omnichannel (tests check that every family of every collector appears in a panel)."""

from __future__ import annotations

from panels import INSTANCE_LEGEND, Layout, stat, table, target, thresholds, timeseries

from exporter.alerts.conditions import (
    EXPIRY_DAYS,
    EXPIRY_WITHIN,
    HEAP_RATIO,
    PRESENCE_CAP,
    PRESENCE_NEAR,
    SEATS_RATIO,
    SUPPORT_DAYS,
)

CAP_MODULES = 'module=~"unlimited-presence|scalability"'


def collector_rows(layout: Layout, sel: str) -> None:
    support_window(layout, sel)
    licenses(layout, sel)
    health(layout, sel)
    links(layout, sel)
    omnichannel(layout, sel)


def support_window(layout: Layout, sel: str) -> None:
    layout.row("Support window")
    days = f"(rocketchat_workspace_version_support_end_timestamp_seconds{sel} - time()) / 86400"
    layout.add(
        table(
            "Days of support left, by workspace",
            "Days until the official mobile and desktop apps stop accepting each workspace's "
            f"version (/api/info supportedVersions, 6.5+): fewest first; orange within "
            f"{SUPPORT_DAYS} days, red once it has ended (negative).",
            f"sort({days})",
            steps=thresholds((None, "red"), (0, "orange"), (SUPPORT_DAYS, "green")),
        ),
        w=12,
        h=8,
    )
    minimum = table(
        "Oldest apps accepted",
        "The oldest desktop and mobile app versions each workspace accepts "
        "(/api/info minimumClientVersions).",
        f"rocketchat_workspace_client_minimum_info{sel}",
    )
    layout.add(minimum, w=12, h=8)


def licenses(layout: Layout, sel: str) -> None:
    layout.row("Licenses and capacity")
    layout.add(
        timeseries(
            "Seats used / licensed",
            "Active users as the license counts them (licenses.maxActiveUsers, live), as a share "
            "of the licensed seats; at 100 % new users cannot be activated.",
            [
                target(
                    f"rocketchat_license_seats_used{sel} / rocketchat_license_seats_max{sel}",
                    "{{workspace}}",
                )
            ],
            unit="percentunit",
            steps=thresholds((None, "green"), (SEATS_RATIO, "orange"), (1, "red")),
        ),
        w=6,
        h=7,
    )
    layout.add(
        timeseries(
            "License limits used",
            "Each license limit's live counter as a share of its maximum (licenses.info limits; "
            "needs view-privileged-setting). Unlimited kinds are not shown.",
            [
                target(
                    f"rocketchat_license_usage{sel} / on (workspace, kind) "
                    f"rocketchat_license_limit{sel}",
                    "{{workspace}} {{kind}}",
                )
            ],
            unit="percentunit",
            steps=thresholds((None, "green"), (SEATS_RATIO, "orange"), (1, "red")),
        ),
        w=6,
        h=7,
    )
    layout.add(
        stat(
            "License expires in",
            "Time until the license stops being valid (needs view-privileged-setting); red "
            f"within {EXPIRY_DAYS} days.",
            f"rocketchat_license_expiry_timestamp_seconds{sel} - time()",
            unit="s",
            steps=thresholds((None, "red"), (EXPIRY_WITHIN, "green")),
        ),
        w=4,
        h=7,
    )
    layout.add(
        stat(
            "Prevented actions",
            "License limits that currently block creating more (licenses.info "
            "preventedActions): users, guests, apps, contacts.",
            f"sum(rocketchat_license_action_prevented{sel})",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        w=4,
        h=7,
    )
    layout.add(
        stat(
            "Trial licenses",
            "Workspaces running on a trial license (licenses.info trial).",
            f"sum(rocketchat_license_trial{sel})",
            steps=thresholds((None, "green"), (1, "orange")),
        ),
        w=4,
        h=7,
    )
    modules = stat(
        "Licensed modules",
        "Workspaces with each licensed module active (licenses.info activeModules).",
        f"count by (module) (rocketchat_license_module_info{sel})",
    )
    modules["targets"][0]["legendFormat"] = "{{module}}"
    layout.add(modules, w=24, h=4)
    layout.add(
        timeseries(
            "Connections vs the presence cap",
            "Connections per workspace (sum of the instances') on workspaces without the "
            f"unlimited-presence or scalability module: above {PRESENCE_CAP} the server switches "
            "user status off.",
            [
                target(
                    f"sum by (workspace) (rocketchat_instance_connections{sel}) unless on "
                    f"(workspace) rocketchat_license_module_info{{{CAP_MODULES}}}",
                    "{{workspace}}",
                )
            ],
            steps=thresholds((None, "green"), (PRESENCE_NEAR, "orange"), (PRESENCE_CAP, "red")),
        ),
        w=24,
        h=7,
    )


def health(layout: Layout, sel: str) -> None:
    layout.row("Instance health")
    layout.add(
        stat(
            "Unhealthy instances",
            "Instances whose own /livez or /health says unhealthy, or that do not answer it "
            "(health collector).",
            f"count(rocketchat_instance_healthy{sel} == 0) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        w=4,
        h=7,
    )
    layout.add(
        timeseries(
            "Health per instance",
            "1: the instance's own health check passes; 0: it fails or does not answer. "
            "Dashed: its database check (/livez mongo).",
            [
                target(f"rocketchat_instance_healthy{sel}", INSTANCE_LEGEND, "A"),
                target(f"rocketchat_instance_database_healthy{sel}", INSTANCE_LEGEND + " db", "B"),
            ],
        ),
        w=6,
        h=7,
    )
    layout.add(
        timeseries(
            "Heap usage",
            "Heap in use / heap limit per instance (/livez); the server itself reports "
            f"unhealthy above 85 %, RocketChatInstanceHeapHigh fires above {HEAP_RATIO:.0%}.",
            [target(f"rocketchat_instance_heap_usage_ratio{sel}", INSTANCE_LEGEND)],
            unit="percentunit",
            steps=thresholds((None, "green"), (0.85, "orange"), (HEAP_RATIO, "red")),
        ),
        w=7,
        h=7,
    )
    layout.add(
        timeseries(
            "Event-loop lag",
            "Event-loop lag per instance (/livez); the server reports unhealthy above 70 ms.",
            [target(f"rocketchat_instance_event_loop_lag_seconds{sel}", INSTANCE_LEGEND)],
            unit="s",
            steps=thresholds((None, "green"), (0.07, "red")),
        ),
        w=7,
        h=7,
    )


def links(layout: Layout, sel: str) -> None:
    layout.add(
        stat(
            "Broken links",
            "Pairs of instances where one says it holds no cluster link to the other (links "
            "collector: each instance asked at its own address; alert "
            "RocketChatInstanceLinkBroken after 5 minutes). A one-way break counts once.",
            f"count(rocketchat_instance_link_connected{sel} == 0) or vector(0)",
            steps=thresholds((None, "green"), (1, "red")),
        ),
        w=4,
        h=7,
    )
    layout.add(
        timeseries(
            "Cluster links",
            "1: the instance at host:port holds a live link to the peer; 0: it says it does not. "
            "Each direction is its own line: a one-way break shows as one line at 0.",
            [
                target(
                    f"rocketchat_instance_link_connected{sel}",
                    "{{workspace}} {{host}}:{{port}} -> {{peer_host}}:{{peer_port}}",
                )
            ],
            steps=thresholds((None, "red"), (1, "green")),
            min=0,
            max=1,
        ),
        w=20,
        h=7,
    )


def omnichannel(layout: Layout, sel: str) -> None:
    layout.row("Omnichannel")
    layout.add(
        timeseries(
            "Agents by status",
            "Omnichannel agents available, away, busy and offline, live (omnichannel collector).",
            [target(f"sum by (status) (rocketchat_omnichannel_agents{sel})", "{{status}}")],
        ),
        w=12,
        h=7,
    )
    layout.add(
        timeseries(
            "Chats open, queued and on hold",
            "Omnichannel chats by state now; queued chats wait for an agent.",
            [
                target(
                    f"sum by (workspace, state) (rocketchat_omnichannel_chats{sel})",
                    "{{workspace}} {{state}}",
                )
            ],
        ),
        w=12,
        h=7,
    )
