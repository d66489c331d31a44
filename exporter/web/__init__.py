"""The HTTP side: /metrics, the status pages, --web-config (TLS, auth, limits, headers)."""
