"""tls_server_config of --web-config, with exporter-toolkit's semantics, as an ssl.SSLContext.

Go's crypto/tls and Python's ssl (OpenSSL) differ; where a setting cannot be honoured exactly
it is refused with a message naming it, never accepted and ignored.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

Error = Callable[[str, str], None]

TLS_KEYS = frozenset(
    {
        "cert_file",
        "key_file",
        "cert",
        "key",
        "client_ca_file",
        "client_ca",
        "client_auth_type",
        "client_allowed_sans",
        "min_version",
        "max_version",
        "cipher_suites",
        "prefer_server_cipher_suites",
        "curve_preferences",
    }
)
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's tls.CipherSuites() names -> OpenSSL names. Both apply to TLS 1.0-1.2 only: TLS 1.3
# suites are not configurable in Go, so listing them has no effect there nor here.
CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
}
TLS13_CIPHERS = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
HTTP2_CIPHERS = frozenset(
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}
)
CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1"}
GO_CURVES = (*CURVES, "X25519")
CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")


def tls_enabled(raw: dict[str, Any]) -> bool:
    """As the toolkit: TLS is on when any certificate, key, CA or client-auth field is set;
    an empty or absent tls_server_config means plain HTTP."""
    fields = ("cert_file", "cert", "key_file", "key", "client_ca_file", "client_ca")
    return any(raw.get(name) for name in (*fields, "client_auth_type"))


def join_dir(directory: Path, value: Any) -> Any:
    """A relative path is relative to the web config file's directory (as the toolkit)."""
    if isinstance(value, str) and value and not os.path.isabs(value):
        return str(directory / value)
    return value


def build_context(raw: dict[str, Any], http2: bool, error: Error) -> ssl.SSLContext | None:
    """The server context for a validated-shape tls_server_config; problems go to `error`."""
    where = "tls_server_config"
    for name in ("cert_file", "key_file", "cert", "key", "client_ca_file", "client_ca"):
        if raw.get(name) is not None and not isinstance(raw[name], str):
            error(f"{where}.{name}", "must be a string")
            return None
    if not (raw.get("cert_file") or raw.get("cert")):
        error(where, "missing one of cert or cert_file")
        return None
    if not (raw.get("key_file") or raw.get("key")):
        error(where, "missing one of key or key_file")
        return None
    for file_key, inline_key in (("cert_file", "cert"), ("key_file", "key")):
        if raw.get(file_key) and raw.get(inline_key):
            error(where, f"give {inline_key} or {file_key}, not both")
            return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # the toolkit's defaults
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    if not _load_pair(context, raw, error):
        return None
    _versions(context, raw, error)
    _ciphers(context, raw, http2, error)
    _curves(context, raw, error)
    _client_auth(context, raw, error)
    return context


def _load_pair(context: ssl.SSLContext, raw: dict[str, Any], error: Error) -> bool:
    """cert/key from files or inline PEM (written to a private temporary file for OpenSSL)."""
    with tempfile.TemporaryDirectory(prefix="rc-exporter-tls-") as private:
        paths = []
        for file_key, inline_key in (("cert_file", "cert"), ("key_file", "key")):
            if raw.get(file_key):
                try:
                    with open(raw[file_key], "rb"):
                        pass
                except OSError as exc:
                    what = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror
                    error(
                        f"tls_server_config.{file_key}", f"failed to read {raw[file_key]}: {what}"
                    )
                    return False
                paths.append(raw[file_key])
                continue
            path = Path(private) / inline_key
            path.touch(mode=0o600)
            path.write_text(raw[inline_key], encoding="utf-8")
            paths.append(str(path))
        try:
            context.load_cert_chain(paths[0], paths[1])
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or "invalid"
            error("tls_server_config", f"failed to load X509KeyPair: {reason}")
            return False
    return True


def _versions(context: ssl.SSLContext, raw: dict[str, Any], error: Error) -> None:
    for option in ("min_version", "max_version"):
        if option not in raw:
            continue
        version = TLS_VERSIONS.get(raw[option]) if isinstance(raw[option], str) else None
        if version is None:
            error(
                f"tls_server_config.{option}",
                f"unknown TLS version: {raw[option]} (one of {', '.join(TLS_VERSIONS)})",
            )
        elif option == "min_version":
            context.minimum_version = version
        else:
            context.maximum_version = version


def _names(raw: dict[str, Any], key: str, error: Error) -> list[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        error(f"tls_server_config.{key}", "must be a list of names")
        return None
    return value


def _ciphers(context: ssl.SSLContext, raw: dict[str, Any], http2: bool, error: Error) -> None:
    names = _names(raw, "cipher_suites", error)
    if raw.get("prefer_server_cipher_suites", True) is True:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    elif raw["prefer_server_cipher_suites"] is not False:
        error("tls_server_config.prefer_server_cipher_suites", "must be true or false")
    if not names:
        return
    unknown = [n for n in names if n not in CIPHERS and n not in TLS13_CIPHERS]
    for name in unknown:
        error("tls_server_config.cipher_suites", f"unknown cipher: {name}")
    if unknown:
        return
    if http2 and not HTTP2_CIPHERS & set(names):
        error(
            "tls_server_config.cipher_suites",
            "TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher "
            f"(need at least one of {' or '.join(sorted(HTTP2_CIPHERS))}, or set "
            "http_server_config.http2: false)",
        )
        return
    legacy = [CIPHERS[n] for n in names if n in CIPHERS]
    if legacy:  # only TLS 1.3 names: nothing to restrict (as in Go)
        context.set_ciphers(":".join(legacy))


def _curves(context: ssl.SSLContext, raw: dict[str, Any], error: Error) -> None:
    names = _names(raw, "curve_preferences", error)
    if not names:
        return
    where = "tls_server_config.curve_preferences"
    unknown = [n for n in names if n not in GO_CURVES]
    for name in unknown:
        error(where, f"unknown curve: {name}")
    if unknown:
        return
    if len(set(names)) > 1 or names[0] not in CURVES:
        error(
            where,
            "cannot be honoured exactly: Python's ssl can restrict the key exchange to one of "
            f"{', '.join(CURVES)} only (not X25519, not several); list one or remove the key",
        )
        return
    context.set_ecdh_curve(CURVES[names[0]])


def _client_auth(context: ssl.SSLContext, raw: dict[str, Any], error: Error) -> None:
    where = "tls_server_config"
    auth = raw.get("client_auth_type") or ""
    if not isinstance(auth, str) or auth not in CLIENT_AUTH:
        if auth in UNSUPPORTED_CLIENT_AUTH:
            error(
                f"{where}.client_auth_type",
                f"{auth} cannot be honoured: Python's ssl cannot ask for a client certificate "
                "without verifying it; use RequireAndVerifyClientCert with client_ca_file",
            )
        else:
            error(f"{where}.client_auth_type", f"invalid ClientAuth: {auth}")
        return
    mode = CLIENT_AUTH[auth]
    ca_file, ca_text = raw.get("client_ca_file"), raw.get("client_ca")
    if (ca_file or ca_text) and mode == ssl.CERT_NONE:
        error(where, "client CA's have been configured without a Client Auth Policy")
        return
    sans = raw.get("client_allowed_sans")
    if sans is not None:
        if not isinstance(sans, list) or not all(isinstance(s, str) for s in sans):
            error(f"{where}.client_allowed_sans", "must be a list of names")
        elif mode != ssl.CERT_REQUIRED:
            error(
                f"{where}.client_allowed_sans",
                "client_allowed_sans requires client_auth_type to be one of "
                "RequireAnyClientCert or RequireAndVerifyClientCert",
            )
    if mode == ssl.CERT_NONE:
        return
    try:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        elif ca_text:
            context.load_verify_locations(cadata=ca_text)
        else:  # as Go with no ClientCAs: the system's roots
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    except FileNotFoundError:
        error(f"{where}.client_ca_file", f"no such file: {ca_file}")
        return
    except (OSError, ssl.SSLError, ValueError) as exc:
        error(f"{where}.client_ca{'_file' if ca_file else ''}", f"cannot load: {exc}")
        return
    context.verify_mode = mode


def san_values(peercert: dict[str, Any] | None) -> list[str]:
    """A verified client certificate's SANs as the toolkit compares them: DNS names, email
    addresses, IP addresses and URIs."""
    if not peercert:
        return []
    values = []
    for kind, value in peercert.get("subjectAltName", ()):
        if kind == "IP Address":  # OpenSSL writes IPv6 in full upper case, Go compressed
            with contextlib.suppress(ValueError):
                value = str(ipaddress.ip_address(str(value).strip()))
        if kind in ("DNS", "email", "IP Address", "URI"):
            values.append(str(value))
    return values
