"""The simulated Rocket.Chat's answers for the optional collectors: licenses, omnichannel and
each instance's own /livez or /health listener — each route from the version that has it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from exporter.demo.fleet import iso

if TYPE_CHECKING:
    from exporter.demo.fleet import FakeInstance, FakeWorkspace

CHARTS = "livechat/analytics/dashboards/charts/"
ERROR_403 = {
    "success": False,
    "error": "User does not have the permissions required for this action [error-unauthorized]",
}
_KINDS = (
    "activeUsers", "guestUsers", "roomsPerGuest", "privateApps", "marketplaceApps",
    "monthlyActiveContacts",
)  # fmt: skip


def community_license(private_apps: int = 1) -> dict[str, Any]:
    """licenses.info of a Community workspace without a license (as an admin sees it)."""
    unlimited = {"max": -1, "value": 0}
    return {
        "activeModules": [],
        "preventedActions": dict.fromkeys(_KINDS, False),
        "limits": {
            "activeUsers": dict(unlimited), "guestUsers": dict(unlimited),
            "privateApps": {"max": 3, "value": private_apps},
            "marketplaceApps": {"max": 5, "value": 2},
            "monthlyActiveContacts": dict(unlimited),
        },
        "tags": [],
        "trial": False,
    }  # fmt: skip


def enterprise_license(
    seats: int, expires: float, *, trial: bool = False, modules: tuple[str, ...] = ()
) -> dict[str, Any]:
    """licenses.info of a licensed workspace (expiry in validation.validPeriods)."""
    license_ = community_license()
    license_["activeModules"] = list(modules)
    license_["trial"] = trial
    license_["limits"]["activeUsers"] = {"max": seats, "value": 0}
    license_["limits"]["privateApps"] = {"max": -1, "value": 1}
    license_["limits"]["marketplaceApps"] = {"max": -1, "value": 2}
    license_["license"] = {
        "version": "3.0",
        "information": {"trial": trial, "visualExpiration": iso(expires)},
        "validation": {
            "validPeriods": [{"validUntil": iso(expires), "invalidBehavior": "invalidate_license"}]
        },
    }
    return license_


def licenses_info_body(workspace: FakeWorkspace) -> dict[str, Any]:
    """licenses.info?loadValues=true; limits and the license document only for a caller with
    view-privileged-setting. A limit reached prevents creating more of its kind."""
    license_ = workspace.license or community_license()
    body = {k: v for k, v in license_.items() if k != "license"}
    if not workspace.privileged:
        return {"license": {**body, "limits": {}}, "success": True}
    if "license" in license_:
        body["license"] = license_["license"]
    limits = {kind: dict(limit) for kind, limit in body.get("limits", {}).items()}
    if "activeUsers" in limits:
        limits["activeUsers"]["value"] = workspace.active_users()
    prevented = dict(body.get("preventedActions") or {})
    for kind, limit in limits.items():  # a prevent_action limit reached blocks creating more
        prevented[kind] = 0 <= limit["max"] <= limit["value"]
    body["preventedActions"] = prevented
    body["limits"] = limits
    return {"license": body, "success": True}


def collector_answer(workspace: FakeWorkspace, method: str) -> web.Response:
    """The optional collectors' API routes (authenticated already); 404 where the version
    predates the route."""
    version = workspace.version()
    if method == "licenses.maxActiveUsers" and version >= (4, 0):
        return web.json_response(
            {
                "maxActiveUsers": workspace.max_active_users,
                "activeUsers": workspace.active_users(),
                "success": True,
            }
        )
    if method == "licenses.info" and version >= (6, 5):
        return web.json_response(licenses_info_body(workspace))
    if method in (CHARTS + "agents-status", CHARTS + "chats"):
        if not workspace.livechat_manager:
            return web.json_response(ERROR_403, status=403)
        if method.endswith("agents-status"):
            counts = {"_id": None, **workspace.agents} if workspace.agents else {}
            return web.json_response({**counts, "success": True})
        chats = dict(workspace.chats)
        if version < (4, 0):
            chats.pop("onhold", None)
        return web.json_response({**chats, "success": True})
    return web.json_response({"success": False, "error": "not found"}, status=404)


def health_answer(workspace: FakeWorkspace, instance: FakeInstance, path: str) -> web.Response:
    """The instance's own /livez and /readyz (7.11+) or /health (5.3-7.10); the client's HTML
    before 5.3."""
    version = workspace.version()
    ok = instance.health == "ok"
    if path in ("/livez", "/readyz") and version >= (7, 11):
        if path == "/livez" and workspace.bare_livez:  # the checks moved to /readyz
            body_bare = {"status": "ok" if ok else "unavailable"}
            return web.json_response(body_bare, status=200 if ok else 503)
        checks = {
            "memory": {"status": "ok", "percentile": instance.heap_ratio * 100},
            "eventLoop": {"status": "ok" if ok else "unavailable", "lagMs": instance.lag_ms},
            "mongo": {"status": "ok"},
        }
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        return web.json_response(body, status=200 if ok else 503)
    if path == "/health" and (5, 3) <= version < (7, 11):
        return web.Response(text="ok" if ok else "not healthy", status=200 if ok else 500)
    if version < (5, 3):
        return web.Response(text="<!DOCTYPE html><html></html>", content_type="text/html")
    return web.Response(text="Not found", status=404)
