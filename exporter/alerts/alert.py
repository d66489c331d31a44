"""One alert's declaration: its PromQL rule, its words, its runbook and the same condition on
the exporter's own data (conditions.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exporter.alerts.conditions import Subjects
from exporter.runtime.state import WorkspaceState

# where the runbooks live by default; every rule's runbook_url is this plus "#" and the alert in
# lower case (rocketchat-exporter --print-rules --runbook-base-url URL: another base)
RUNBOOKS_URL = (
    "https://github.com/rocketchat-prometheus-exporter/rocketchat-prometheus-exporter"
    "/blob/main/docs/runbooks.md"
)
INSTANCE = "{{ $labels.host }}:{{ $labels.port }}"  # how the rules' words name an instance


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str  # critical: someone should act now; warning: within the day
    title: str  # a few words for the status pages' chips and filters
    expr: str
    for_: str
    summary: str  # Prometheus templates: {{ $labels.x }}, {{ $value }}
    description: str
    why: str  # a comment above the rule: why the expression is written this way
    meaning: str  # the runbook: what it means,
    confirm: str  # how to confirm it,
    action: str  # and what to do
    check: Callable[[WorkspaceState, float], Subjects]  # holds now, for these subjects
    subject: str = ""  # what the subjects are ("instance", "kind", ...); "" = the workspace

    @property
    def fires(self) -> str:
        """When the rule fires once its condition holds, in words."""
        return "at once" if self.for_ in ("", "0s") else f"after {self.for_}"

    @property
    def anchor(self) -> str:
        return self.name.lower()
