"""Start-up: aiohttp is imported without loading the CA bundle for its unused client contexts
(exporter/webimport.py), and nothing else in the process is affected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# in a fresh interpreter, the way the CLI starts: what the TLS contexts made afterwards trust,
# what aiohttp's own client contexts trust, and SSL_CERT_FILE afterwards
PROBE = textwrap.dedent(
    """
    import json, os, ssl
    import exporter.cli
    import aiohttp.connector

    print(json.dumps({
        "after": ssl.create_default_context().cert_store_stats()["x509_ca"],
        "aiohttp": aiohttp.connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"],
        "env": os.environ.get("SSL_CERT_FILE"),
    }))
    """
)


def probe(ssl_cert_file: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    if ssl_cert_file is not None:
        env["SSL_CERT_FILE"] = ssl_cert_file
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_aiohttp_client_contexts_skip_the_bundle_and_later_contexts_load_it(
    certificate: tuple[Path, Path],
) -> None:
    ca = str(certificate[0])
    result = probe(ca)
    assert result == {"after": 1, "aiohttp": 0, "env": ca}  # the operator's bundle, restored


def test_an_unset_ssl_cert_file_stays_unset() -> None:
    result = probe(None)
    assert result["env"] is None and result["aiohttp"] == 0
