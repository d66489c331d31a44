"""`python -m exporter.healthcheck [PORT]`: exit 0 if the exporter's /healthz answers 200.

The container's HEALTHCHECK (no curl in the image). Without PORT it asks where
$ROCKETCHAT_EXPORTER_LISTEN says the exporter listens (the image sets it and the exporter
reads it as its --listen default, so a changed address keeps the container healthy). It tries
plain HTTP, then HTTPS, so it keeps working when --web-config turns TLS on; /healthz needs no
basic auth. The certificate is not verified: the check talks to its own process.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request

LISTEN_ENV = "ROCKETCHAT_EXPORTER_LISTEN"
ANY = ("", "0.0.0.0", "::", "[::]")


def target(listen: str) -> tuple[str, int]:
    """Where to ask for the process listening on `listen` (HOST:PORT, [::1]:PORT or :PORT):
    all interfaces -> loopback."""
    host, _, port = listen.rpartition(":")
    host = "127.0.0.1" if host in ANY else host
    return (host if not (":" in host and not host.startswith("[")) else f"[{host}]"), int(port)


def healthy(port: int, timeout: float = 4.0, host: str = "127.0.0.1") -> bool:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    for scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(  # noqa: S310 - a fixed loopback URL
                f"{scheme}://{host}:{port}/healthz",
                timeout=timeout,
                context=insecure if scheme == "https" else None,
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return False


def main(argv: list[str]) -> int:
    if argv:
        return 0 if healthy(int(argv[0])) else 1
    host, port = target(os.environ.get(LISTEN_ENV) or "0.0.0.0:9877")
    return 0 if healthy(port, host=host) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
