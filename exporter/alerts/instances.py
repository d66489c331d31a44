"""The alerts about one instance of a workspace's cluster."""

from __future__ import annotations

from exporter.alerts import conditions as c
from exporter.alerts.alert import INSTANCE, Alert

INSTANCE_ALERTS: tuple[Alert, ...] = (
    Alert(
        name="RocketChatInstanceDisconnected",
        severity="critical",
        title="instance disconnected",
        expr="""(
  rocketchat_instance_connected == 0
  unless on (workspace, host, port) (rocketchat_instance_connected == 1)
)
unless on (workspace) (
  group by (workspace) (rocketchat_license_module_info)
  unless on (workspace) rocketchat_license_module_info{module="scalability"}
)""",
        for_=c.DISCONNECTED_FOR,
        summary=f"Rocket.Chat instance {INSTANCE} of {{{{ $labels.workspace }}}} is disconnected",
        description=(
            f"The instance {INSTANCE} (id {{{{ $labels.instance_id }}}}) of workspace "
            "{{ $labels.workspace }} is not connected to the instance that answered "
            "instances.get, and no newer record of the same host:port is. Users on it miss "
            "messages and presence changes from the other instances."
        ),
        why="""Fires from the first scrape on and for as long as the record says disconnected.
Silent when: the instance restarted (a record of the same host:port is connected); the
server does not report links (Community Edition, microservices: no
rocketchat_instance_connected at all); the license lists modules but not scalability
module (such a workspace does not link its peers); after recovery.""",
        meaning="The instance that answered `instances.get` has no live link to this instance. "
        "Messages, presence and notifications broadcast by the others do not reach the users "
        "connected to it (and theirs do not reach the rest). A crashed instance shows this "
        "until its record expires (60-120 s), then `RocketChatInstanceVanished` takes over.",
        confirm="The workspace's status page lists the instance DISCONNECTED. Compare "
        "`rocketchat_instance_connected` and `rocketchat_instance_last_heartbeat_timestamp_seconds`"
        " of the instance: a stale heartbeat means the process is dead; a fresh one means it "
        "runs but cannot be reached. With the `links` collector, "
        "`rocketchat_instance_link_connected` shows which instance sees which.",
        action="If the process is dead, restart it. If it runs, check that `INSTANCE_IP` is "
        "the address the other instances reach it at, that `TCP_PORT` is open between the "
        "instances (firewall, network policy), and the instance's log for broker errors. "
        "Restarting the instance re-registers it.",
        check=c.disconnected,
        subject="instance",
    ),
    Alert(
        name="RocketChatInstanceLinkBroken",
        severity="critical",
        title="link broken",
        expr="rocketchat_instance_link_connected == 0",
        for_="5m",
        summary=(
            f"Rocket.Chat instance {INSTANCE} of {{{{ $labels.workspace }}}} has no link to "
            "{{ $labels.peer_host }}:{{ $labels.peer_port }}"
        ),
        description=(
            f"The instance {INSTANCE} of workspace {{{{ $labels.workspace }}}} has said for 5 "
            "minutes that it holds no cluster link to {{ $labels.peer_host }}:"
            "{{ $labels.peer_port }}. Events it broadcasts (messages, presence) do not reach "
            "users connected to that peer: check the network between the two in both "
            "directions."
        ),
        why="""From the links collector: each instance asked at its own address. A pair broken in
either direction fires (each direction is its own series). A restarted peer is connected
as soon as its new record is (a view lists a peer once, connected if any record of it is);
a peer that is gone has no series.""",
        meaning="One instance says it has no live link to one peer. Unlike "
        "`RocketChatInstanceDisconnected` (the view of whichever instance answered the load "
        "balancer), this is one pair, possibly one direction only: users on the peer miss "
        "what the first instance broadcasts (new messages, typing, presence) until they "
        "reload.",
        confirm="The workspace page's link matrix shows the pair in red (one-way breaks are "
        "marked); `rocketchat_instance_link_connected` for the pair in both directions. From "
        "the first instance's host, connect to the peer's `INSTANCE_IP` and `TCP_PORT`.",
        action="Open the peer's `TCP_PORT` to the first instance (firewall, network policy, "
        "security group); check that the peer's `INSTANCE_IP` is the address the others can "
        "reach (not a container-internal one); a one-way break is usually a rule allowing "
        "only one direction. Restarting the first instance re-creates its links.",
        check=c.link_broken,
        subject="pair",
    ),
    Alert(
        name="RocketChatInstanceVanished",
        severity="warning",
        title="instance vanished",
        expr="""(
  max by (workspace, host, port) (max_over_time(rocketchat_instance_info[1h]))
  unless on (workspace, host, port) rocketchat_instance_info
)
and on (workspace) (rocketchat_up == 1)""",
        for_="1m",
        summary=f"Rocket.Chat instance {INSTANCE} of {{{{ $labels.workspace }}}} vanished",
        description=(
            f"The instance {INSTANCE} of workspace {{{{ $labels.workspace }}}} was listed "
            "within the last hour and is no longer listed by instances.get, while the workspace "
            "answers. If this was not a planned scale-down, the process died."
        ),
        why="""Identity is host:port: a restart (new id, same host:port) does not count. It needs
history, so it cannot see an instance that was gone before Prometheus (or the exporter)
started, and it resolves one hour after the instance went away, gone or not.""",
        meaning="An instance that was registered in the last hour is no longer registered while "
        "the workspace answers: it stopped and its record expired. This is how a crash looks "
        "a few minutes later (after `RocketChatInstanceDisconnected` and "
        "`RocketChatInstanceHeartbeatStale`), and how a planned scale-down looks too.",
        confirm="`count by (workspace) (rocketchat_instance_info)` dropped; the workspace page "
        "no longer lists the host:port. Check the orchestrator (`kubectl get pods`, `docker ps`)"
        " for the process.",
        action="If the scale-down was not planned, find why the process stopped (its log, "
        "out-of-memory kills, the orchestrator's events) and start it again. The alert resolves "
        "itself an hour after the instance went away: it is an event, not a state.",
        check=c.vanished,
        subject="instance",
    ),
    Alert(
        name="RocketChatInstanceHeartbeatStale",
        severity="warning",
        title="heartbeat stale",
        expr=f"""max by (workspace) (rocketchat_instance_last_heartbeat_timestamp_seconds)
- on (workspace) group_right ()
rocketchat_instance_last_heartbeat_timestamp_seconds
> {c.HEARTBEAT_LAG}""",
        for_="0s",
        summary=(
            f"Rocket.Chat instance {INSTANCE} of {{{{ $labels.workspace }}}} stopped its heartbeat"
        ),
        description=(
            f"The record of instance {INSTANCE} (id {{{{ $labels.instance_id }}}}) of workspace "
            "{{ $labels.workspace }} is {{ $value | humanizeDuration }} behind the freshest "
            "heartbeat of its workspace; live instances refresh it every 10 s. The process is "
            "probably dead."
        ),
        why=f"""Compared with the freshest heartbeat of the same answer, not with time(): the
exporter's poll interval and clock skew between Prometheus and Rocket.Chat do not count.
No for: the record is removed 60-120 s after the last heartbeat, so the signal lasts about
a minute once it is {c.HEARTBEAT_LAG} s behind.""",
        meaning="The instance's record lags the others' by more than 30 s (every live "
        "instance refreshes its own every 10 s): the process stopped, hangs, or lost its "
        "database connection. Its record expires within two minutes, then "
        "`RocketChatInstanceVanished` fires.",
        confirm="The workspace page's heartbeat age of the instance grows while the others "
        "stay under 10 s. Is the process alive (`kubectl get pods`, `docker ps`)? Does its "
        "`/livez` answer?",
        action="Restart a hung process; for a crash, read its last log lines. If several "
        "instances lag at once, check the database (replica set, disk, connections).",
        check=c.heartbeat_stale,
        subject="instance",
    ),
    Alert(
        name="RocketChatInstanceUnhealthy",
        severity="critical",
        title="instance unhealthy",
        expr="rocketchat_instance_healthy == 0",
        for_="2m",
        summary=f"Rocket.Chat instance {INSTANCE} of {{{{ $labels.workspace }}}} is unhealthy",
        description=(
            f"Instance {INSTANCE} (id {{{{ $labels.instance_id }}}}) of workspace "
            "{{ $labels.workspace }} has failed its own health check (or not answered it) "
            "for 2 minutes while the rest of the cluster answers. Users connected to it may "
            "miss messages: restart it, and check its database connection."
        ),
        why="""The instance's own /livez or /health says unhealthy, or it does not answer.""",
        meaning="The instance's own health check fails: `/health` 500 `not healthy` (it "
        "stopped receiving realtime data from the database), `/livez` `unavailable`, or no "
        "answer at all. Its users may not see new messages.",
        confirm="The workspace page's health column says why; `curl "
        "http://host:port/livez` (or `/health` before 7.11) from the exporter's host.",
        action="Restart the instance. If it recurs, check its database connection (replica "
        "set, change streams, oplog) and its memory (`rocketchat_instance_heap_usage_ratio`).",
        check=c.unhealthy,
        subject="instance",
    ),
    Alert(
        name="RocketChatInstanceHeapHigh",
        severity="warning",
        title="heap near limit",
        expr=f"rocketchat_instance_heap_usage_ratio > {c.HEAP_RATIO}",
        for_="15m",
        summary=(
            f"Rocket.Chat instance {INSTANCE} of {{{{ $labels.workspace }}}} uses "
            "{{ $value | humanizePercentage }} of its heap"
        ),
        description=(
            f"Instance {INSTANCE} (id {{{{ $labels.instance_id }}}}) of workspace "
            "{{ $labels.workspace }} has used more than 90 % of its heap limit for 15 "
            "minutes. Node.js stops a process that reaches it."
        ),
        why="""From /livez (7.11+): heap in use over the heap limit.""",
        meaning="The process is near Node.js's heap limit: it slows down in garbage "
        "collection and is killed when it reaches it. Silent where `/livez` answers without "
        "checks (a release that moved them to `/readyz`): no heap is known there unless the "
        "health collector is told `readyz: true` (at most every 60 s; by default it is not, "
        "because each call resets the event-loop histogram the orchestrator's probes read).",
        confirm="`rocketchat_instance_heap_usage_ratio` and "
        "`rocketchat_instance_event_loop_lag_seconds` of the instance rising together.",
        action="Restart the instance to relieve it now; raise its memory (the container limit "
        "and `--max-old-space-size`) or add an instance; a steady climb after each restart "
        "is a leak to report with the server version.",
        check=c.heap_high,
        subject="instance",
    ),
)
