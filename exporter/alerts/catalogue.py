"""Every alert, declared once (alert.py says what a declaration holds): the rules file, the
PrometheusRule, docs/runbooks.md and the status pages' verdicts are all made from this table
(`python -m exporter.docs --write`; tests keep the committed files equal to it)."""

from __future__ import annotations

from exporter.alerts.alert import Alert
from exporter.alerts.conditions import Subjects
from exporter.alerts.instances import INSTANCE_ALERTS
from exporter.alerts.workspace import WORKSPACE_ALERTS
from exporter.runtime.state import WorkspaceState

ORDER = (
    "RocketChatInstanceDisconnected",
    "RocketChatInstanceLinkBroken",
    "RocketChatInstanceVanished",
    "RocketChatInstanceHeartbeatStale",
    "RocketChatWorkspaceDown",
    "RocketChatStatisticsStale",
    "RocketChatAppsFailed",
    "RocketChatMigrationLocked",
    "RocketChatUploadsInGridFS",
    "RocketChatLicenseSeatsNearLimit",
    "RocketChatLicenseExpiringSoon",
    "RocketChatLicenseActionPrevented",
    "RocketChatVersionSupportEndingSoon",
    "RocketChatVersionSupportEnded",
    "RocketChatInstanceUnhealthy",
    "RocketChatInstanceHeapHigh",
    "RocketChatPresenceCapNear",
    "RocketChatCollectorFailing",
    "RocketChatOmnichannelNoAgent",
    "RocketChatExporterDown",
    "RocketChatExporterReloadFailed",
)
BY_NAME = {alert.name: alert for alert in (*INSTANCE_ALERTS, *WORKSPACE_ALERTS)}
ALERTS: tuple[Alert, ...] = tuple(BY_NAME[name] for name in ORDER)
assert len(ALERTS) == len(BY_NAME)

Finding = tuple[Alert, Subjects]


def holding(workspace: WorkspaceState, now: float) -> tuple[Finding, ...]:
    """The alerts whose condition holds now for the workspace, with their subjects."""
    found = []
    for alert in ALERTS:
        subjects = alert.check(workspace, now)
        if subjects:
            found.append((alert, subjects))
    return tuple(found)
