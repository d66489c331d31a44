"""The building blocks of the dashboard: layout, targets, stat and time series panels."""

from __future__ import annotations

from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WS = 'workspace=~"$workspace"'
INSTANCE_LEGEND = "{{workspace}} {{host}}:{{port}}"


class Layout:
    """Places panels left to right in rows of 24 grid units and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_height = 0

    def _next_id(self) -> int:
        return len(self.panels) + 1

    def row(self, title: str) -> None:
        self.y += self.row_height
        self.x, self.row_height = 0, 0
        self.panels.append(
            {
                "type": "row",
                "id": self._next_id(),
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.y += self.row_height
            self.x, self.row_height = 0, 0
        panel["id"] = self._next_id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    result = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}
    result.update(extra)
    return result


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def coloured(unit: str, steps: Any) -> dict[str, Any]:
    """Field defaults of a panel coloured by thresholds (green when none are given)."""
    return {
        "unit": unit,
        "thresholds": steps or thresholds((None, "green")),
        "color": {"mode": "thresholds"},
    }


def stat(
    title: str, description: str, expr: str, unit: str = "short", steps: Any = None
) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": coloured(unit, steps), "overrides": []},
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "auto",
        },
    }


def table(
    title: str, description: str, expr: str, unit: str = "short", steps: Any = None
) -> dict[str, Any]:
    """One row per series of an instant query, its labels as columns, sorted by the value."""
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, format="table", instant=True)],
        "fieldConfig": {
            "defaults": {
                **coloured(unit, steps),
                "custom": {"cellOptions": {"type": "color-background"}},
            },
            "overrides": [],
        },
        "options": {"showHeader": True, "sortBy": [{"displayName": "Value", "desc": False}]},
        "transformations": [
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
        ],
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str = "short",
    steps: Any = None,
    **custom: Any,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit, "custom": {"fillOpacity": 10, **custom}}
    if steps:
        defaults["thresholds"] = steps
        defaults["custom"]["thresholdsStyle"] = {"mode": "line"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
    }
