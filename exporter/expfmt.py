"""The two primitives of the Prometheus text format (0.0.4) every renderer shares."""

from __future__ import annotations


def escape(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def fmt(value: float) -> str:
    """Integers without a fraction (exact and compact), everything else as Python's repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def instance_labels(ws_label: str, instance_id: str, host: str, port: str) -> str:
    """The labels every per-instance series carries: workspace, instance_id, host, port."""
    return (
        f'{ws_label},instance_id="{escape(instance_id)}",'
        f'host="{escape(host)}",port="{escape(port)}"'
    )
