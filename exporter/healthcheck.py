"""`python -m exporter.healthcheck [PORT]`: exit 0 if /healthz on 127.0.0.1 answers 200.

The container's HEALTHCHECK (no curl in the image). It tries plain HTTP, then HTTPS, so it keeps
working when --web-config turns TLS on; /healthz needs no basic auth. The certificate is not
verified: the check talks to its own process over loopback.
"""

from __future__ import annotations

import ssl
import sys
import urllib.error
import urllib.request


def healthy(port: int, timeout: float = 4.0) -> bool:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    for scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(  # noqa: S310 - a fixed loopback URL
                f"{scheme}://127.0.0.1:{port}/healthz",
                timeout=timeout,
                context=insecure if scheme == "https" else None,
            ) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return False


def main(argv: list[str]) -> int:
    port = int(argv[0]) if argv else 9877
    return 0 if healthy(port) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
