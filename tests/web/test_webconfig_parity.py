"""--web-config behaves as exporter-toolkit on the equivalent of its web/testdata files.

Each case is one web config written next to its certificates (paths relative to the file, as
in the toolkit); the exporter is started from another working directory and real TLS clients
(Python ssl, with the ciphers, curves, versions and client certificates of the toolkit's
tests) connect to it. Certificates are made here with the openssl command.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from exporter.demo.server import FakeRocketChat
from exporter.model.config import ConfigError
from exporter.web.webconfig import load_web_config

from conftest import fast_config

SERVER = {"cert_file": "server.crt", "key_file": "server.key"}
IF_GIVEN = {**SERVER, "client_auth_type": "VerifyClientCertIfGiven"}
REQUIRE = {**SERVER, "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": "ca.pem"}
HTTP2_CIPHERS = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
ALL_CIPHERS = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
]  # fmt: skip


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl not found (Debian package openssl)")
    subprocess.run([openssl, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _signed(folder: Path, name: str, subject: str, sans: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    (folder / f"{name}.ext").write_text(f"subjectAltName={sans}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
             cwd=folder)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA; a server certificate for localhost signed by it; a client certificate signed by it
    (SANs of every kind); and a self-signed client certificate no CA vouches for."""
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)  # fmt: skip
    _signed(folder, "server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
    every_kind = "DNS:client.example,email:bot@example.com,URI:spiffe://example/prom,IP:2001:db8::1"
    _signed(folder, "client", "/CN=prometheus", every_kind)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rogue",
             "-addext", "subjectAltName=DNS:client.example", "-keyout", "rogue.key",
             "-out", "rogue.crt", cwd=folder)  # fmt: skip
    return folder


def write(pki: Path, name: str, content: dict[str, Any]) -> str:
    path = pki / f"{name}.yml"
    path.write_text(yaml.safe_dump(content))
    return str(path)


# -- files the toolkit refuses (and the settings Python's ssl cannot honour) ---------------------

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("junk_key", {"tls_server_config": {**SERVER, "junk_key": "x"}}, "junk_key: unknown key"),
    ("junk_top_key", {"tls_config": {}}, "tls_config: unknown key"),
    # web_config_junk_key.yml: a misspelled key and nothing else, so TLS is not even on
    ("junk_key_alone", {"tls_server_config": {"cert_filse": "server.crt"}},
     "tls_server_config.cert_filse: unknown key"),
    ("certPath_empty", {"tls_server_config": {**IF_GIVEN, "cert_file": ""}},
     "missing one of cert or cert_file"),
    ("cert_empty", {"tls_server_config": {"cert": "", "key_file": "server.key"}},
     "missing one of cert or cert_file"),
    ("keyPath_empty", {"tls_server_config": {**IF_GIVEN, "key_file": ""}},
     "missing one of key or key_file"),
    ("key_empty", {"tls_server_config": {"cert_file": "server.crt", "key": ""}},
     "missing one of key or key_file"),
    ("certPath_keyPath_empty",
     {"tls_server_config": {"cert_file": "", "key_file": "", "client_auth_type": "x"}},
     "missing one of cert or cert_file"),
    ("certPath_invalid", {"tls_server_config": {**SERVER, "cert_file": "somefile"}},
     "cert_file: failed to read"),
    ("keyPath_invalid", {"tls_server_config": {**SERVER, "key_file": "somefile"}},
     "key_file: failed to read"),
    ("noAuth (CA without a policy)", {"tls_server_config": {**SERVER, "client_ca_file": "ca.pem"}},
     "client CA's have been configured without a Client Auth Policy"),
    ("clientCAs_invalid", {"tls_server_config": {**REQUIRE, "client_ca_file": "somefile"}},
     "no such file"),
    ("clientCAs_nocerts", {"tls_server_config": {**REQUIRE, "client_ca_file": "client.ext"}},
     "client_ca_file: cannot load"),
    ("invalid ClientAuth", {"tls_server_config": {**SERVER, "client_auth_type": "Bogus"}},
     "invalid ClientAuth: Bogus"),
    ("user_list_invalid", {"basic_auth_users": {"john": "$2y$10$tooshort"}},
     "basic_auth_users.john: must be a bcrypt hash"),
    ("bcrypt cost out of range", {"basic_auth_users": {"john": "$2y$99$" + "a" * 53}},
     "bcrypt cost 99 is outside 4-31"),
    ("inventedCiphers", {"tls_server_config": {**IF_GIVEN, "cipher_suites": ["TLS_FANTASY"]}},
     "unknown cipher: TLS_FANTASY"),
    ("inventedCurves", {"tls_server_config": {**IF_GIVEN, "curve_preferences": ["CurveP1"]}},
     "unknown curve: CurveP1"),
    ("wrongTLSVersion", {"tls_server_config": {**IF_GIVEN, "min_version": "TLS111"}},
     "unknown TLS version: TLS111"),
    ("noHTTP2Cipher",
     {"tls_server_config": {**IF_GIVEN, "cipher_suites": ["TLS_RSA_WITH_AES_128_CBC_SHA"],
                            "max_version": "TLS12"}},
     "missing an HTTP/2-required AES_128_GCM_SHA256 cipher"),
    ("headers_content_type_options",
     {"http_server_config": {"headers": {"X-Content-Type-Options": "nosniff,nosniff"}}},
     "invalid value for X-Content-Type-Options"),
    ("headers_frame_options",
     {"http_server_config": {"headers": {"X-Frame-Options": "allow"}}},
     "invalid value for X-Frame-Options"),
    ("headers_extra_header",
     {"http_server_config": {"headers": {"Link": "foo"}}},
     'HTTP header "Link" can not be configured'),
    ("header value that would split the answer",
     {"http_server_config": {"headers": {"Content-Security-Policy": "a\r\nSet-Cookie: x"}}},
     "must be printable ASCII text on one line"),
    ("client_san_no_client_auth",
     {"tls_server_config": {**SERVER, "client_allowed_sans": ["one"]}},
     "client_allowed_sans requires client_auth_type"),
    ("client_san_optional_cert",
     {"tls_server_config": {**IF_GIVEN, "client_allowed_sans": ["one"]}},
     "client_allowed_sans requires client_auth_type"),
    ("both cert and cert_file", {"tls_server_config": {**SERVER, "cert": "PEM"}},
     "give cert or cert_file, not both"),
    ("rate_limit interval", {"rate_limit": {"interval": "soon", "burst": 1}},
     "rate_limit.interval"),
    # Python's ssl cannot do these exactly: refused by name, never accepted and ignored
    ("RequireAnyClientCert", {"tls_server_config": {**SERVER, "client_auth_type":
                                                    "RequireAnyClientCert"}},
     "RequireAnyClientCert cannot be honoured"),
    ("RequestClientCert", {"tls_server_config": {**SERVER, "client_auth_type":
                                                 "RequestClientCert"}},
     "RequestClientCert cannot be honoured"),
    ("allCurves (several at once)",
     {"tls_server_config": {**IF_GIVEN, "curve_preferences":
                            ["CurveP256", "CurveP384", "CurveP521", "X25519"]}},
     "curve_preferences: cannot be honoured exactly"),
    ("X25519 alone", {"tls_server_config": {**IF_GIVEN, "curve_preferences": ["X25519"]}},
     "curve_preferences: cannot be honoured exactly"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), BAD, ids=[c[0] for c in BAD])
def test_a_file_the_toolkit_refuses_is_refused_with_its_reason(
    pki: Path, name: str, content: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_web_config(write(pki, name.split()[0], content))
    assert message in "\n".join(caught.value.problems)


def test_check_config_validates_the_web_config_too(pki: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "workspaces: [{name: a, url: 'http://127.0.0.1:1', auth: {user_id: u, token: t}}]\n"
    )
    web = write(pki, "curves", {"tls_server_config": {**IF_GIVEN, "curve_preferences": ["X25519"]}})
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--config", str(config), "--web-config", web,
         "--check-config"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "curve_preferences: cannot be honoured exactly" in done.stderr
    assert "Traceback" not in done.stderr


# -- files the toolkit accepts: the server behaves as it does ------------------------------------


def client(pki: Path, *, cert: str | None = None, **options: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert is not None:
        context.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    if "max_version" in options:
        context.maximum_version = options["max_version"]
    if "ciphers" in options:
        context.set_ciphers(options["ciphers"])
    if "curve" in options:
        context.set_ecdh_curve(options["curve"])
    return context


async def fetch(
    port: int, context: ssl.SSLContext | None, path: str = "/healthz", auth: str = ""
) -> tuple[int, dict[str, str], str]:
    """(status, headers, cipher) of one request; status 0 when the server refused the client
    (handshake failure, or a TLS 1.3 alert or close instead of an answer)."""
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost" if context else None
        )
    except (ssl.SSLError, ConnectionError):
        return 0, {}, ""
    cipher = (writer.get_extra_info("cipher") or ("",))[0]
    extra = f"Authorization: Basic {auth}\r\n" if auth else ""
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n".encode()
    )
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=30)
    except (ssl.SSLError, ConnectionError):
        answer = b""
    finally:
        writer.close()
    if not answer.startswith(b"HTTP/1.1 "):
        return 0, {}, cipher
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    return int(head[0].split()[1]), headers, cipher


@pytest.fixture
async def serve(
    fake: FakeRocketChat, exporter_for: Any, pki: Path, tmp_path: Path, monkeypatch: Any
) -> AsyncIterator[Callable[..., Any]]:
    """Start the exporter with a web config written in the pki folder, from another working
    directory (relative paths must resolve from the file's directory, not the cwd)."""
    monkeypatch.chdir(tmp_path)

    async def start(name: str, content: dict[str, Any]) -> int:
        web_config = load_web_config(write(pki, name, content))
        run = await exporter_for(fast_config(fake), web_config)
        return int(run.exporter.port)

    yield start


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
async def test_relative_paths_resolve_from_the_web_config_directory_with_tls_12_minimum(
    serve: Any, pki: Path
) -> None:
    port = await serve("noAuth.good", {"tls_server_config": IF_GIVEN})
    assert (await fetch(port, client(pki)))[0] == 200
    assert (await fetch(port, None))[0] == 0  # plain HTTP to an HTTPS server
    old = client(pki, max_version=ssl.TLSVersion.TLSv1_1)
    assert (await fetch(port, old))[0] == 0  # the toolkit's default minimum is TLS 1.2


async def test_inline_certificate_and_key_and_a_file_and_inline_mix(serve: Any, pki: Path) -> None:
    cert, key = (pki / "server.crt").read_text(), (pki / "server.key").read_text()
    inline = await serve("tlsInline.good", {"tls_server_config": {"cert": cert, "key": key}})
    assert (await fetch(inline, client(pki)))[0] == 200
    mixed = await serve(
        "keyinline.good",
        {"tls_server_config": {"cert_file": "server.crt", "key": key, **require_inline_ca(pki)}},
    )
    assert (await fetch(mixed, client(pki, cert="client")))[0] == 200
    assert (await fetch(mixed, client(pki)))[0] == 0


def require_inline_ca(pki: Path) -> dict[str, Any]:
    """RequireAndVerifyClientCert with the CA given inline (client_ca)."""
    ca = (pki / "ca.pem").read_text()
    return {"client_auth_type": "RequireAndVerifyClientCert", "client_ca": ca}


async def test_listed_cipher_suites_are_the_only_ones_negotiated(serve: Any, pki: Path) -> None:
    port = await serve(
        "someCiphers.good",
        {"tls_server_config": {**IF_GIVEN, "cipher_suites": HTTP2_CIPHERS,
                               "min_version": "TLS12", "max_version": "TLS12"}},
    )  # fmt: skip
    tls12 = ssl.TLSVersion.TLSv1_2
    status, _, cipher = await fetch(
        port, client(pki, max_version=tls12, ciphers="ECDHE-RSA-AES128-GCM-SHA256")
    )
    assert (status, cipher) == (200, "ECDHE-RSA-AES128-GCM-SHA256")
    for unlisted in ("ECDHE-RSA-AES256-SHA", "ECDHE-RSA-CHACHA20-POLY1305"):
        assert (await fetch(port, client(pki, max_version=tls12, ciphers=unlisted)))[0] == 0
    both = "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
    _, _, chosen = await fetch(port, client(pki, max_version=tls12, ciphers=both))
    assert (
        chosen == "ECDHE-RSA-AES128-GCM-SHA256"
    )  # the server's order (prefer_server_cipher_suites)


async def test_all_ciphers_and_non_http2_ciphers_with_http2_off_start(
    serve: Any, pki: Path
) -> None:
    port = await serve(
        "allCiphers.good", {"tls_server_config": {**IF_GIVEN, "cipher_suites": ALL_CIPHERS}}
    )
    assert (await fetch(port, client(pki)))[0] == 200
    no_h2 = await serve(
        "noHTTP2.good",
        {"tls_server_config": {**IF_GIVEN, "cipher_suites": ["TLS_RSA_WITH_AES_128_CBC_SHA"],
                               "max_version": "TLS12"},
         "http_server_config": {"http2": False}},
    )  # fmt: skip
    status, _, cipher = await fetch(no_h2, client(pki, ciphers="AES128-SHA:@SECLEVEL=0"))
    assert (status, cipher) == (200, "AES128-SHA")


async def test_one_listed_curve_is_the_only_key_exchange(serve: Any, pki: Path) -> None:
    port = await serve(
        "someCurves.good",
        {
            "tls_server_config": {
                **IF_GIVEN,
                "min_version": "TLS13",
                "curve_preferences": ["CurveP521"],
            }
        },
    )
    assert (await fetch(port, client(pki, curve="secp521r1")))[0] == 200
    assert (await fetch(port, client(pki, curve="secp384r1")))[0] == 0


async def test_client_certificates_verified_if_given_or_required(serve: Any, pki: Path) -> None:
    if_given = await serve("ifGiven_no_ca.good", {"tls_server_config": IF_GIVEN})
    assert (await fetch(if_given, client(pki)))[0] == 200  # no CA needed, no certificate sent
    assert (await fetch(if_given, client(pki, cert="rogue")))[0] == 0  # sent, but unverifiable
    required = await serve("requireandverifyclientcert.good", {"tls_server_config": REQUIRE})
    assert (await fetch(required, client(pki, cert="client")))[0] == 200
    assert (await fetch(required, client(pki)))[0] == 0
    assert (await fetch(required, client(pki, cert="rogue")))[0] == 0


async def test_client_allowed_sans_admit_only_a_certificate_with_one_of_them(
    serve: Any, pki: Path
) -> None:
    for allowed in (["one", "client.example"], ["bot@example.com"], ["spiffe://example/prom"],
                    ["2001:db8::1"]):  # fmt: skip
        port = await serve(
            "client_san.good", {"tls_server_config": {**REQUIRE, "client_allowed_sans": allowed}}
        )
        assert (await fetch(port, client(pki, cert="client")))[0] == 200, allowed
    port = await serve(
        "client_san.bad", {"tls_server_config": {**REQUIRE, "client_allowed_sans": ["one", "two"]}}
    )
    assert (await fetch(port, client(pki, cert="client")))[0] == 403


async def test_configured_headers_are_on_every_answer(serve: Any, pki: Path) -> None:
    headers = {
        "X-Frame-Options": "deny",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-XSS-Protection": 1,
        "Content-Security-Policy": "default-src 'self' *.test.example.net",
    }
    hashed = bcrypt.hashpw(b"dave123", bcrypt.gensalt(rounds=4)).decode()
    port = await serve(
        "headers.good",
        {"http_server_config": {"headers": headers}, "basic_auth_users": {"dave": hashed}},
    )
    good = base64.b64encode(b"dave:dave123").decode()
    for path, auth, expected in (
        ("/metrics", good, 200),
        ("/metrics", "", 401),
        ("/healthz", "", 200),
    ):
        status, sent, _ = await fetch(port, None, path, auth)
        assert status == expected
        assert {k: sent.get(k) for k in headers} == {k: str(v) for k, v in headers.items()}


async def test_rate_limit_is_a_token_bucket_answering_429(serve: Any) -> None:
    closed = await serve("rate_limiter_one_second", {"rate_limit": {"interval": "1s", "burst": 0}})
    assert (await fetch(closed, None))[0] == 429
    port = await serve("rate_limiter_burst", {"rate_limit": {"interval": "1h", "burst": 3}})
    assert [(await fetch(port, None))[0] for _ in range(5)] == [200, 200, 200, 429, 429]
    open_ = await serve("rate_limiter_nonblocking", {"rate_limit": {"interval": "0s", "burst": 0}})
    assert {(await fetch(open_, None))[0] for _ in range(10)} == {200}


async def test_empty_file_or_empty_tls_section_serves_plain_http(serve: Any) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("empty", {}),
        ("empty_tls", {"tls_server_config": {}}),
    ]
    for name, content in cases:
        port = await serve(name, content)
        assert (await fetch(port, None))[0] == 200
