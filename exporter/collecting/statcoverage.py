"""Every numeric field of the statistics record, accounted for: read into a metric, or left out
on purpose with the reason, in this one place. tests/collectors/test_statistics_8x.py holds the
8.8 field list against it: a numeric field that appears upstream and is in neither fails it.
Any field left out can still be exported without a release: `extra_statistics: [path]`."""

from __future__ import annotations

from exporter.collecting import statfields

TELEMETRY = (
    "feature-adoption counter Rocket.Chat collects for its own product telemetry: no "
    "operational signal (extra_statistics exports it if you want it)"
)
OMNICHANNEL_SETUP = (
    "omnichannel configuration count: changes when an admin edits the setup, not with load "
    "(extra_statistics exports it)"
)
FEDERATION = "federation telemetry: few workspaces federate (extra_statistics exports it)"
ENTERPRISE = "Enterprise feature usage count: product telemetry (extra_statistics exports it)"

# path (or prefix ending in "." or "*") -> why it is not a metric
NOT_EXPORTED: dict[str, str] = {
    "totalConnectedUsers": "online + away: rocketchat_workspace_users_by_status has both",
    "userLanguages": (
        "users per interface language: a series per language code is cardinality a server "
        "decides, for no operational question"
    ),
    "instanceCount": (
        "records heartbeated since the generating process started (0 in microservices, may "
        "count a just-died instance): rocketchat_instances, from instances.get, is the live count"
    ),
    "os.": (
        "the host of whichever instance generated the record, captured once: every instance's "
        "own values come from instances.get (rocketchat_instance_*)"
    ),
    "process.": (
        "the process that generated the record: every instance's start time comes from "
        "instances.get (rocketchat_instance_start_time_seconds)"
    ),
    "integrations.totalIntegrations": (
        "incoming + outgoing: rocketchat_workspace_integrations{type} has both"
    ),
    "integrations.totalWithScriptEnabled": TELEMETRY,
    "voip*": "VoIP statistics, discontinued in 8.x: real records no longer carry them",
    "federatedServers": FEDERATION,
    "federatedUsers": FEDERATION,
    "federationOverviewData.": FEDERATION,
    "matrixFederation.": FEDERATION,
    "enterprise.": ENTERPRISE,
    "contactVerification.": ENTERPRISE,
    "abac*": "attribute-based access control (8.x) counts: " + TELEMETRY,
    "videoConf.": TELEMETRY,
    **dict.fromkeys(
        (
            "archivedDepartments", "emailInboxes", "totalCustomFields",
            "totalLivechatPublicCustomFields", "totalLivechatRoomsWithPriority",
            "totalLivechatRoomsWithDepartment", "totalTriggers", "totalWebRTCCalls",
            "omnichannelWebRTCCalls",
        ),
        OMNICHANNEL_SETUP,
    ),
    **dict.fromkeys(
        (
            "slashCommandsJitsi", "messageAuditApply", "messageAuditLoad", "dashboardCount",
            "joinJitsiButton", "totalBroadcastRooms", "totalTriggeredEmails",
            "totalRoomsWithStarred", "totalRoomsWithPinned", "totalUserEmail2fa",
            "totalUserTOTP", "totalStarred", "totalPinned", "totalLinkInvitation",
            "totalEmailInvitation", "roomsInsideTeams", "totalLinkInvitationUses",
            "totalManuallyAddedUsers", "totalSubscriptionRoles", "totalUserRoles",
            "totalCustomRoles", "push",
        ),
        TELEMETRY,
    ),
}  # fmt: skip


def exported() -> frozenset[str]:
    """Every path of the record some metric reads."""
    return frozenset(
        (
            *(
                p  # "a|b": alternatives, e.g. the old servers' typo totlalLivechat
                for field in statfields.FIELDS
                for path, _ in field.sources
                for p in path.split("|")
            ),
            *(path for _, path in statfields.DEPLOYMENT_LABELS),
            statfields.FILE_STORE_PATH,
            "version",  # rocketchat_workspace_info's label
        )
    )


def left_out(path: str) -> str | None:
    """Why `path` is not exported, or None when nothing here says so."""
    for key, reason in NOT_EXPORTED.items():
        if path == key or (key.endswith((".", "*")) and path.startswith(key.rstrip("*"))):
            return reason
    return None
