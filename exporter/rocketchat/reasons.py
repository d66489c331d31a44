"""Each poll error reason: what happened and what to do. The status pages, the WorkspaceDown
runbook and the dashboard name them; docs/reference.md's table is generated from them."""

from __future__ import annotations

# where the table of reasons is, for every text that sends the reader there
REASONS_DOC = "docs/reference.md#troubleshooting-error-reasons"

REASONS: dict[str, tuple[str, str]] = {
    "timeout": (
        "no complete answer within `timeout`",
        "check the server's health and the network; raise `timeout` for slow, big workspaces",
    ),
    "connection": (
        "refused, reset, DNS failure, TLS certificate not trusted",
        "check `url`, firewalls; for a private CA set `tls.ca_file`",
    ),
    "http_5xx": (
        "the server or a proxy answered 5xx",
        "the server or its proxy is failing; see their logs",
    ),
    "http_4xx": ("another 4xx (404: wrong `url` or path prefix)", "check `url`"),
    "unauthorized": (
        "401: token rejected, or login refused",
        "check `user_id` and the token; a rotated token: update the file; 2FA accounts: use a "
        "token",
    ),
    "forbidden": (
        "403, or 400 `error-not-allowed` from statistics",
        "give the user a role with the permission the error names: `view-statistics` for the "
        "core, `view-livechat-manager` for omnichannel",
    ),
    "rate_limited": (
        "429 from the REST rate limiter",
        "grant `api-bypass-rate-limit` or poll less often; the exporter waits until "
        "`X-RateLimit-Reset`",
    ),
    "invalid_response": (
        "not JSON (an HTML login page of a proxy), a redirect, the wrong shape, more than 1000 "
        "instances listed, an unknown or corrupt `Content-Encoding`, or an internal error "
        "(logged with its traceback once)",
        "point `url` at Rocket.Chat itself, not at a login proxy",
    ),
    "too_large": (
        "answer above `max_response_bytes`, as received or decompressed",
        "raise `max_response_bytes` if the answer is legitimate",
    ),
}


def what_to_do(reason: str) -> str:
    return REASONS.get(reason, ("", ""))[1]


def every_reason() -> str:
    """Each reason with what to do, for texts that must name them all (runbooks)."""
    return "; ".join(f"`{reason}`: {todo}" for reason, (_, todo) in REASONS.items())
