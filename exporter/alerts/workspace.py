"""The alerts about a workspace as a whole, its license, its collectors and the exporter."""

from __future__ import annotations

from exporter.alerts import conditions as c
from exporter.alerts.alert import Alert
from exporter.rocketchat.reasons import REASONS_DOC, every_reason

SUPPORT = "rocketchat_workspace_version_support_end_timestamp_seconds"

WORKSPACE_ALERTS: tuple[Alert, ...] = (
    Alert(
        name="RocketChatWorkspaceDown",
        severity="critical",
        title="workspace down",
        expr="rocketchat_up == 0",
        for_="5m",
        summary="Rocket.Chat workspace {{ $labels.workspace }} cannot be polled",
        description=(
            "The exporter's polls of workspace {{ $labels.workspace }} have failed for 5 "
            'minutes. See rocketchat_exporter_poll_errors_total{workspace="{{ $labels.workspace '
            "}}\"} for the reason and the exporter's status page for the last error."
        ),
        why="""rocketchat_up is 0 from the first failed poll on: it fires from a fresh start.""",
        meaning="The latest poll of `instances.get` or `statistics.list` failed: the server is "
        "down or unreachable, the exporter's credentials or permission stopped working, or the "
        "`url` is not a Rocket.Chat server. While it lasts, the workspace's other series are "
        "absent and no other alert about it can fire.",
        confirm="The fleet page lists the workspace DOWN with the reason; "
        "`rocketchat_exporter_poll_errors_total` counts it by reason; "
        "`rocketchat-exporter --check-config` and a `curl` of the url from the exporter's host "
        "show what the exporter sees.",
        action="Follow the reason on the workspace's status page (its endpoint table says when "
        f"the next try is: a failed poll is retried every `poll_interval`); `{REASONS_DOC}` "
        f"has the table of reasons. By reason: {every_reason()}.",
        check=c.down,
    ),
    Alert(
        name="RocketChatStatisticsStale",
        severity="warning",
        title="statistics stale",
        expr=f"time() - rocketchat_workspace_statistics_timestamp_seconds > {c.STALE_HOURS} * 3600",
        for_="15m",
        summary=(
            "Rocket.Chat workspace {{ $labels.workspace }} statistics are "
            "{{ $value | humanizeDuration }} old"
        ),
        description=(
            "The newest statistics record of workspace {{ $labels.workspace }} is older than "
            "26 hours; the server writes one about daily. Its statistics job may be stuck."
        ),
        why="""The record's own time: true from the first scrape of an old record.""",
        meaning="The newest statistics record is over 26 hours old (the server writes one "
        "about once a day, hourly before 5.0): the job that writes it is not running, so every "
        "`rocketchat_workspace_*` number from statistics is that old.",
        confirm="The workspace page's statistics record age; Administration > Workspace > "
        "Statistics shows the same record.",
        action="Restart one instance (the job runs on a server's cron); check its log for "
        "errors of the statistics job and that the instances' clocks are right. Generating a "
        "record by hand (`statistics?refresh=true` as an admin) proves the job can run.",
        check=c.statistics_stale,
    ),
    Alert(
        name="RocketChatAppsFailed",
        severity="warning",
        title="apps failed",
        expr='rocketchat_workspace_apps{state="failed"} > 0',
        for_="5m",
        summary="{{ $value }} Rocket.Chat app(s) failed on {{ $labels.workspace }}",
        description=(
            "The newest statistics record of workspace {{ $labels.workspace }} counts "
            "{{ $value }} installed app(s) in a failed state. See Administration > Apps, and "
            "the server log for the app's error (often an incompatibility after an upgrade)."
        ),
        why="""From the statistics record (about daily); absent while the apps engine is not
ready (the record says false).""",
        meaning="Installed apps failed to start; what they do (integrations, bots, "
        "omnichannel apps) is not happening.",
        confirm="Administration > Apps > Installed shows the failed apps and their status.",
        action="Read the app's logs (Apps > the app > Logs); update or reinstall it; an app "
        "that is incompatible with the server version after an upgrade needs its new version.",
        check=c.apps_failed,
    ),
    Alert(
        name="RocketChatMigrationLocked",
        severity="critical",
        title="migration locked",
        expr="rocketchat_workspace_migration_locked == 1",
        for_="1h",
        summary="Rocket.Chat database migration of {{ $labels.workspace }} is locked",
        description=(
            "The statistics of workspace {{ $labels.workspace }} have shown the migration lock "
            "held for over an hour. A server stopped during an upgrade leaves it held; see the "
            "Rocket.Chat docs on unlocking migrations."
        ),
        why="""An upgrade holds the lock for minutes; an hour means it is stuck.""",
        meaning="The database migration lock is held: an upgrade is in progress or stopped "
        "half-way. Instances of the new version wait for it and may not start.",
        confirm="`rocketchat_workspace_migration_version` stays where it was; the log of a "
        "starting instance says it waits for the migration lock.",
        action="Make sure no instance is still migrating, then release the lock as the "
        "Rocket.Chat documentation describes (`migrations` collection, `control` document: "
        "`locked: false`) and restart one instance to finish the migration.",
        check=c.migration_locked,
    ),
    Alert(
        name="RocketChatUploadsInGridFS",
        severity="warning",
        title="uploads in GridFS",
        expr=f"""rocketchat_workspace_uploads_size_bytes > {c.GRIDFS_GIB} * 1024^3
and on (workspace) rocketchat_workspace_file_store_info{{type="GridFS"}}""",
        for_="1h",
        summary=(
            "Rocket.Chat workspace {{ $labels.workspace }} keeps "
            "{{ $value | humanize1024 }}B of uploads in GridFS"
        ),
        description=(
            "Workspace {{ $labels.workspace }} stores its uploads in MongoDB (GridFS) and they "
            f"exceed {c.GRIDFS_GIB} GiB: every backup and replica carries them and they compete "
            "with messages for the database cache. Move them to a file system or object storage."
        ),
        why="""From the statistics record (8.x: fileStoreType). The threshold: see the runbook.""",
        meaning="Uploads live inside MongoDB (the GridFS file store) and take more than "
        f"{c.GRIDFS_GIB} GiB. Rocket.Chat advises GridFS for testing only: every file is in "
        "every database backup and on every replica-set member, restores take as long as the "
        "files are big, and reading files evicts messages from MongoDB's cache (WiredTiger "
        f"uses about half the host's memory). Why {c.GRIDFS_GIB} GiB: on the 4-8 GB hosts a "
        f"small deployment runs on, that cache is 1.5-3.5 GB, so at {c.GRIDFS_GIB} GiB the files "
        "alone exceed it "
        "and usually outweigh the rest of the database; below that, GridFS is a nuisance, "
        "not yet a risk.",
        confirm="Administration > Settings > File Upload > Storage Type says GridFS; "
        "`rocketchat_workspace_uploads_size_bytes` is the total; in MongoDB, "
        "`db.rocketchat_uploads.chunks.stats().storageSize`.",
        action="Switch the storage type to FileSystem (a shared volume for every instance) or "
        "an object store (Amazon S3, Google Cloud Storage, Webdav), then migrate the existing "
        "files with a migration tool or script; until then, size the backups and the database "
        "disk for the files.",
        check=c.uploads_in_gridfs,
    ),
    Alert(
        name="RocketChatLicenseSeatsNearLimit",
        severity="warning",
        title="seats near limit",
        expr=f"rocketchat_license_seats_used / rocketchat_license_seats_max > {c.SEATS_RATIO}",
        for_="15m",
        summary=(
            "Rocket.Chat workspace {{ $labels.workspace }} uses "
            "{{ $value | humanizePercentage }} of its licensed seats"
        ),
        description=(
            "Workspace {{ $labels.workspace }} has used more than 90 % of the seats its "
            "license allows for 15 minutes. At the limit new users cannot be activated: "
            "deactivate unused accounts or extend the license."
        ),
        why="""The server counts active users live; absent without a seat limit (Community).""",
        meaning="More than 90 % of the license's seats are in use. At 100 % activating "
        "users is blocked.",
        confirm="The workspace page's seats line; Administration > Subscription.",
        action="Deactivate accounts nobody uses, or extend the license.",
        check=c.seats_near_limit,
    ),
    Alert(
        name="RocketChatLicenseExpiringSoon",
        severity="warning",
        title="license expiring",
        expr=f"rocketchat_license_expiry_timestamp_seconds - time() < {c.EXPIRY_DAYS} * 86400",
        for_="10m",
        summary=(
            "Rocket.Chat license of {{ $labels.workspace }} expires in "
            "{{ $value | humanizeDuration }}"
        ),
        description=(
            "The license of workspace {{ $labels.workspace }} stops being valid in "
            "{{ $value | humanizeDuration }} (a negative duration: it has expired). Renew it "
            "before Enterprise features switch off."
        ),
        why="""Needs view-privileged-setting (else the expiry is absent and this is silent).""",
        meaning="The license stops being valid within 14 days, or already has: Enterprise "
        "features switch off then.",
        confirm="The workspace page's license expiry; Administration > Subscription.",
        action="Renew the license (or the trial) and sync it from Administration > Subscription.",
        check=c.license_expiring,
    ),
    Alert(
        name="RocketChatVersionSupportEndingSoon",
        severity="warning",
        title="support ending",
        expr=(f"{SUPPORT} - time() < {c.SUPPORT_DAYS} * 86400 and {SUPPORT} - time() >= 0"),
        for_="10m",
        summary=(
            "Rocket.Chat workspace {{ $labels.workspace }} loses its mobile and desktop apps in "
            "{{ $value | humanizeDuration }}"
        ),
        description=(
            "The version workspace {{ $labels.workspace }} runs stops being supported in "
            "{{ $value | humanizeDuration }}: the official mobile and desktop apps will refuse "
            "to connect to it then. Upgrade before."
        ),
        why="""The server's own support list (6.5+); 30 days leave time for an upgrade.""",
        meaning="The Rocket.Chat version this workspace runs loses support within 30 days "
        "(the server's signed support list in `/api/info` says so). On that date the official "
        "mobile and desktop apps stop connecting to it: users see a message that the server "
        "version is no longer supported, and only the web client keeps working.",
        confirm="The workspace page's support window (the date and the days left); admins "
        "see a banner in the web client as the date nears; "
        "`rocketchat_workspace_version_support_end_timestamp_seconds` is the date.",
        action="Plan the upgrade to a supported release now (Rocket.Chat supports about the "
        "last six months of releases): read the release notes, back up MongoDB, upgrade one "
        "instance at a time. An air-gapped server's support list is the one its release "
        "shipped with and ages with it: upgrading is the only way to move the date (a "
        "registered workspace may also get an exception from Rocket.Chat's support).",
        check=c.support_ending,
    ),
    Alert(
        name="RocketChatVersionSupportEnded",
        severity="critical",
        title="support ended",
        expr=f"time() - {SUPPORT} > 0",
        for_="5m",
        summary=(
            "Rocket.Chat workspace {{ $labels.workspace }} is no longer supported: its apps "
            "refuse it"
        ),
        description=(
            "The version workspace {{ $labels.workspace }} runs lost support "
            "{{ $value | humanizeDuration }} ago: the official mobile and desktop apps refuse "
            "to connect to it. Upgrade now."
        ),
        why="""The date has passed: the apps refuse the workspace now, whatever else holds.""",
        meaning="The version this workspace runs is past the end of its support window: the "
        "official mobile and desktop apps refuse it now (users cannot use their apps; the web "
        "client still works).",
        confirm="The workspace page's support window says how many days ago it ended; a "
        "mobile or desktop app shows that the server version is no longer supported.",
        action="Upgrade to a supported release now; until then, point users at the web client. "
        "For an air-gapped server, whose support list ages with its release, upgrading is the "
        "only fix; a registered workspace can ask Rocket.Chat's support for an exception "
        "while it upgrades.",
        check=c.support_ended,
    ),
    Alert(
        name="RocketChatLicenseActionPrevented",
        severity="warning",
        title="license limit reached",
        expr="rocketchat_license_action_prevented == 1",
        for_="5m",
        summary="Rocket.Chat workspace {{ $labels.workspace }} blocks new {{ $labels.kind }}",
        description=(
            "The license of workspace {{ $labels.workspace }} has reached its "
            "{{ $labels.kind }} limit: creating more is prevented. Free some up or extend the "
            "license."
        ),
        why="""A limit reached: creating more of that kind is blocked right now.""",
        meaning="A license limit is reached (users, guests, apps, contacts...): creating more "
        "of that kind is refused. On Community Edition the limits are fixed (for example 3 "
        "private apps).",
        confirm="`rocketchat_license_usage` against `rocketchat_license_limit` for the kind; "
        "the workspace page lists the blocked kinds.",
        action="Remove some of that kind (disable apps, deactivate users) or get a license "
        "with a higher limit.",
        check=c.action_prevented,
        subject="kind",
    ),
    Alert(
        name="RocketChatPresenceCapNear",
        severity="warning",
        title="near presence cap",
        expr=f"""sum by (workspace) (rocketchat_instance_connections) > {c.PRESENCE_NEAR}
unless on (workspace)
rocketchat_license_module_info{{module=~"{"|".join(c.PRESENCE_MODULES)}"}}""",
        for_="10m",
        summary=(
            "Rocket.Chat workspace {{ $labels.workspace }} has {{ $value }} connections, near "
            "the presence cap of 200"
        ),
        description=(
            "Workspace {{ $labels.workspace }} has had over 180 connections for 10 minutes "
            "without the unlimited-presence or scalability module. Above 200 the server turns "
            "user status (online/away) off for everyone until an admin re-enables it."
        ),
        why="""Without the unlimited-presence or scalability module, Rocket.Chat 6.x+ switches
user status broadcast off above 200 connections (the sum of the instances'). With the
licenses collector off the modules are unknown and a licensed workspace could fire too.""",
        meaning="The workspace is close to the 200 connections above which a server without "
        "the unlimited-presence module turns presence (online/away/busy) off for everyone.",
        confirm="The workspace page's connections total; "
        "`sum by (workspace) (rocketchat_instance_connections)`.",
        action="Plan for it: a license with the unlimited-presence module, or fewer "
        "connections. After the cap tripped, a user with `manage-user-status` turns presence "
        "on again (the banner in Administration, or `POST /api/v1/presence.enableBroadcast`).",
        check=c.presence_cap_near,
    ),
    Alert(
        name="RocketChatCollectorFailing",
        severity="warning",
        title="collector failing",
        expr="""rocketchat_exporter_collector_success == 0
unless on (workspace) (rocketchat_up == 0)""",
        for_="15m",
        summary="Collector {{ $labels.collector }} of {{ $labels.workspace }} is failing",
        description=(
            "The exporter's {{ $labels.collector }} collector has failed for workspace "
            "{{ $labels.workspace }} for 15 minutes. The status page of the workspace says why "
            "and which permission the exporter's user needs."
        ),
        why="""A permission missing or a route blocked by a proxy: its data is missing while
rocketchat_up stays 1. A workspace that is down fails every collector: RocketChatWorkspaceDown
says so, once.""",
        meaning="One collector's latest poll failed: its series are absent. For an optional "
        "collector (licenses, health, omnichannel) this is usually a missing permission.",
        confirm="The workspace page's collectors section says what failed and why.",
        action="Grant the permission the page names to the exporter's user (each collector's "
        "permission: the collector table of `docs/reference.md#collectors`; how: "
        "`README.md#an-account-for-the-exporter`), or turn that collector off for the "
        "workspace in the config.",
        check=c.collector_failing,
        subject="collector",
    ),
    Alert(
        name="RocketChatOmnichannelNoAgent",
        severity="warning",
        title="chats queued, no agent",
        expr="""rocketchat_omnichannel_chats{state="queued"} > 0
and on (workspace)
rocketchat_omnichannel_agents{status="available"} == 0""",
        for_="10m",
        summary=(
            "{{ $value }} omnichannel chat(s) queued on {{ $labels.workspace }} and no agent "
            "available"
        ),
        description=(
            "Workspace {{ $labels.workspace }} has had queued omnichannel chats and no agent "
            "in the available status for 10 minutes."
        ),
        why="""Visitors are waiting and nobody can take them.""",
        meaning="Visitors wait in the omnichannel queue and no agent is available to take them.",
        confirm="Omnichannel > Current chats (queued) and the agents' statuses; the workspace "
        "page's omnichannel line.",
        action="Get an agent available, or check the business hours and the routing configuration.",
        check=c.no_agent,
    ),
    Alert(
        name="RocketChatExporterDown",
        severity="critical",
        title="exporter down",
        expr='up{job="rocketchat-exporter"} == 0 or absent(up{job="rocketchat-exporter"})',
        for_="5m",
        summary="The Rocket.Chat exporter {{ $labels.instance }} is down",
        description=(
            "Prometheus cannot scrape the Rocket.Chat exporter ({{ $labels.instance }}) for "
            "5 minutes: no Rocket.Chat alert can fire meanwhile."
        ),
        why="""absent(): also when service discovery lost the exporter.""",
        meaning="Prometheus cannot scrape the exporter: no other alert of this file can "
        "fire meanwhile.",
        confirm="Prometheus' Targets page says why (refused, timeout, 401 of basic auth, "
        "TLS); the exporter's `/healthz`.",
        action="Start the exporter again; read its log (a config error exits with code 2 and "
        "names the field). The job name must be `rocketchat-exporter`, or edit the rule.",
        check=c.never,
    ),
    Alert(
        name="RocketChatExporterReloadFailed",
        severity="warning",
        title="config reload refused",
        expr="increase(rocketchat_exporter_config_reload_failures_total[15m]) > 0",
        for_="0s",
        summary="The Rocket.Chat exporter {{ $labels.instance }} refused a reload of its "
        "{{ $labels.config }}",
        description=(
            "A reload (SIGHUP or POST /-/reload) of the exporter's {{ $labels.config }} file "
            "was refused in the last 15 minutes: the file is invalid. The exporter keeps the "
            "previous one, but would exit at its next restart."
        ),
        why="""A counter: increase() over 15 minutes, so one refused reload fires at once and the
alert ends 15 minutes after the last one (a fixed file reloads without a count).""",
        meaning="The config (or web config) file on disk is invalid: a reload was refused and "
        "the exporter runs on the previous, good one. Nothing is lost yet, but the file "
        "someone meant to apply is not applied, and a restart (a new pod, a reboot) would "
        "exit with code 2 instead of serving.",
        confirm="The exporter's log has the refusal with each problem and its field; "
        "`rocketchat-exporter --config FILE --check-config` on the same file prints them; "
        "`rocketchat_exporter_config_reload_failures_total{config}` says which file.",
        action="Fix the file the log names and reload again (SIGHUP or `POST /-/reload`); "
        "`--check-config` first. The alert ends 15 minutes after the last refused reload.",
        check=c.never,
    ),
)
