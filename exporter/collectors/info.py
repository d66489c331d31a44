"""GET /api/info: the version the server runs now (the statistics record lags up to a day)."""

from __future__ import annotations

import re
from typing import Any

from ..parse import clean, only_parse_errors
from .answers import successful

_FULL_VERSION = re.compile(r"\d+\.\d+\.\d+\S*")


@only_parse_errors
def parse_info(body: Any) -> str | None:
    """`info.version` when the caller may see it (view-statistics on 6.5+, admin before), else
    the top-level `version` if it has three parts; "X.Y" alone (anonymous on 4.0+) is not the
    running version, so None."""
    answer = successful(body)
    info = answer.get("info")
    for candidate in (
        info.get("version") if isinstance(info, dict) else None,
        answer.get("version"),
    ):
        if (
            isinstance(candidate, str)
            and len(candidate) <= 64
            and _FULL_VERSION.fullmatch(candidate)
        ):
            return clean(candidate)
    return None
