"""The two primitives of the Prometheus text format (0.0.4) every renderer shares."""

from __future__ import annotations

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape(value: str) -> str:
    """Label value escaping of the text format: backslash, double quote, newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


# the text of the small whole numbers most samples are (counts, flags, cpus): looked up, not
# converted twice (1.0 == 1 and -0.0 == 0 as keys)
_SMALL = {float(i): str(i) for i in range(-1, 4096)}


def fmt(value: float) -> str:
    """Integers without a fraction (exact and compact), everything else as Python's repr."""
    text = _SMALL.get(value)
    if text is not None:
        return text
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
