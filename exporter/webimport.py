"""aiohttp, imported without the TLS work its client does at import time.

aiohttp's package imports its client, and the client's connector module builds two default TLS
contexts when it is imported, loading the system's CA bundle twice: 40 ms of a 0.2 s start-up,
for a client the exporter never uses (exporter/httpclient.py makes its requests; the web
server's TLS context comes from --web-config). So while aiohttp is imported, the bundle
OpenSSL loads by default is an empty file: those two unused contexts trust nothing, and every
context made afterwards (the workspaces' https, --web-config) loads the real bundle, because
OpenSSL reads SSL_CERT_FILE at each load. A no-op if aiohttp is already imported.
"""

from __future__ import annotations

import os
import sys


def import_aiohttp() -> None:
    if "aiohttp" in sys.modules:
        return
    saved = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = os.devnull
    try:
        import aiohttp  # noqa: F401
    finally:
        if saved is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = saved


import_aiohttp()
