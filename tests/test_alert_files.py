"""The alerts are declared once (exporter/alerts/catalogue.py): the committed rules file, the
PrometheusRule and docs/runbooks.md are generated from it and must stay equal to it, and every
rule's runbook_url must land on a heading of the runbooks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from exporter.alerts.alert import RUNBOOKS_URL
from exporter.alerts.catalogue import ALERTS
from exporter.docs import RULES, RUNBOOKS, documents

REPO = Path(__file__).parent.parent
OPERATOR_RULE = REPO / "deploy" / "kubernetes" / "prometheus-rule.yaml"


def test_committed_rules_and_runbooks_are_generated_from_the_alerts_table() -> None:
    stale = [str(p) for p, text in documents().items() if p.read_text() != text]
    assert stale == [], "run python -m exporter.docs --write"
    result = subprocess.run(
        [sys.executable, "-m", "exporter.docs", "--check"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_the_prometheus_rule_carries_the_same_rules_as_the_rules_file() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "deploy" / "kubernetes" / "generate.py"), "--check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    operator = yaml.safe_load(OPERATOR_RULE.read_text())
    assert operator["kind"] == "PrometheusRule"
    assert operator["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_runbook_url_lands_on_a_heading_that_says_what_to_do() -> None:
    text = RUNBOOKS.read_text()
    sections = dict(
        (_anchor(m.group(1)), m.group(2))
        for m in re.finditer(r"^## ([^\n]+)\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    )
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert len(rules) == len(ALERTS)
    for rule in rules:
        base, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert base == RUNBOOKS_URL and base.endswith("/docs/runbooks.md")
        assert anchor == rule["alert"].lower()
        body = sections[anchor]  # KeyError: the link lands nowhere
        for part in ("What it means.", "How to confirm.", "What to do.", rule["expr"].strip()):
            assert part in body, (rule["alert"], part)


def test_every_alert_has_a_distinct_title_for_the_status_pages() -> None:
    titles = [a.title for a in ALERTS]
    assert len(set(titles)) == len(titles)
    assert all(a.severity in ("critical", "warning") for a in ALERTS)
