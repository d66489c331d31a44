"""Dashboard structure and alert rules, checked with promtool (no server needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from exporter.collecting.registry import FAMILIES, OPTIONAL
from exporter.exposition.encoder import EXPORTER_ONLY

from conftest import promtool
from contract import ADDITIONS, ALL_METRICS

REPO = Path(__file__).parent.parent
DASHBOARD = REPO / "grafana" / "dashboards" / "rocketchat.json"
RULES = REPO / "prometheus" / "rules" / "rocketchat.rules.yml"
RULE_TESTS = REPO / "prometheus" / "rules" / "rocketchat.rules.test.yml"
METRIC = re.compile(r"\b(rocketchat_[a-z0-9_]+)")
# families without a workspace label (the exporter's own): no $workspace filter applies
EXPORTER_WIDE = {f.name for f in (*FAMILIES, *EXPORTER_ONLY) if "workspace" not in f.labels}


def panels() -> list[dict[str, Any]]:
    return list(json.loads(DASHBOARD.read_text())["panels"])


def panel_exprs() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in panels()
        for target in panel.get("targets", [])
    ]


def test_committed_dashboard_matches_its_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "grafana" / "generate_dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout


def test_dashboard_panels_have_unique_ids_the_datasource_variable_and_descriptions() -> None:
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            if set(METRIC.findall(target["expr"])) - EXPORTER_WIDE:
                assert 'workspace=~"$workspace"' in target["expr"], panel["title"]
    variables = {v["name"]: v for v in json.loads(DASHBOARD.read_text())["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["workspace"]["multi"] is True
    assert variables["workspace"]["includeAll"] is True


def test_dashboard_covers_every_row_and_uses_only_contract_metrics() -> None:
    rows = [panel["title"] for panel in panels() if panel["type"] == "row"]
    assert rows == [
        "Fleet overview",
        "Instances",
        "Usage",
        "Adoption and health",
        "More from the statistics record",
        "Support window",
        "Licenses and capacity",
        "Instance health",
        "Omnichannel",
        "Exporter health",
    ]
    used = {m for _, expr in panel_exprs() for m in METRIC.findall(expr)}
    known = set(ALL_METRICS) | set(ADDITIONS)  # the contract's, and what this repo adds
    assert used <= known, used - known
    assert len(used) >= 20
    units = {
        panel["fieldConfig"]["defaults"].get("unit") for panel in panels() if "fieldConfig" in panel
    }
    assert {"bytes", "s", "percentunit"} <= units


def test_every_family_the_exporter_serves_has_a_panel() -> None:
    used = {m for _, expr in panel_exprs() for m in METRIC.findall(expr)}
    served = [f.name for f in (*FAMILIES, *EXPORTER_ONLY)]
    assert [name for name in served if name not in used] == []


def test_the_declared_grafana_version_writes_the_dashboards_schema_version() -> None:
    """The schema each Grafana release writes (and reads without migrating): a dashboard that
    asks for 10.0 must not use a schema only a later release knows."""
    schema_of_release = {"9.4.0": 37, "10.0.0": 38}
    dashboard = json.loads(DASHBOARD.read_text())
    (grafana,) = [r for r in dashboard["__requires"] if r["id"] == "grafana"]
    assert schema_of_release[grafana["version"]] == dashboard["schemaVersion"]


def test_every_family_of_every_optional_collector_has_a_panel() -> None:
    """The registry says which families each collector owns; a collector added without
    dashboard panels fails here."""
    used = {m for _, expr in panel_exprs() for m in METRIC.findall(expr)}
    for collector in OPTIONAL.values():
        for family in collector.families:
            assert family.name in used, (collector.name, family.name)


def test_rules_pass_promtool_check_and_use_only_contract_metrics() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert names == {
        "RocketChatInstanceDisconnected",
        "RocketChatInstanceLinkBroken",
        "RocketChatInstanceVanished",
        "RocketChatInstanceHeartbeatStale",
        "RocketChatWorkspaceDown",
        "RocketChatStatisticsStale",
        "RocketChatAppsFailed",
        "RocketChatMigrationLocked",
        "RocketChatUploadsInGridFS",
        "RocketChatLicenseSeatsNearLimit",
        "RocketChatLicenseExpiringSoon",
        "RocketChatLicenseActionPrevented",
        "RocketChatInstanceUnhealthy",
        "RocketChatInstanceHeapHigh",
        "RocketChatPresenceCapNear",
        "RocketChatCollectorFailing",
        "RocketChatOmnichannelNoAgent",
        "RocketChatVersionSupportEndingSoon",
        "RocketChatVersionSupportEnded",
        "RocketChatExporterDown",
        "RocketChatExporterReloadFailed",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert set(METRIC.findall(rule["expr"])) <= {*ALL_METRICS, *ADDITIONS}
        if "Instance" in rule["alert"]:
            text = rule["annotations"]["summary"] + rule["annotations"]["description"]
            for label in ("workspace", "host", "port"):
                assert "$labels." + label in text


def test_every_alert_has_firing_and_silent_unit_tests() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    rules = {r["alert"] for r in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]}
    assert firing == rules
    assert silent == rules


def test_example_prometheus_config_is_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "config", str(REPO / "prometheus" / "prometheus.example.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_import_asks_for_the_datasource_and_panels_carry_units() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    (needed,) = dashboard["__inputs"]
    assert (needed["name"], needed["type"], needed["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    assert {r["id"] for r in dashboard["__requires"]} >= {"grafana", "prometheus"}
    variable = dashboard["templating"]["list"][0]
    assert variable["type"] == "datasource" and variable["current"]["value"] == "${DS_PROMETHEUS}"
    for panel in panels():
        if panel["type"] in ("stat", "timeseries"):
            assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


def test_error_panels_fall_back_to_zero_instead_of_no_data() -> None:
    for title, expr in panel_exprs():
        if "poll_errors_total" in expr or "== 0)" in expr:
            assert "vector(0)" in expr, title
