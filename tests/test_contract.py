"""The exporter's metric families match the contract's list exactly."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.collecting.registry import FAMILIES

from contract import ADDITIONS, ALL_METRICS, NOT_YET

REPO = Path(__file__).parent.parent
CONTRACT = REPO / "docs" / "CONTRACT.md"  # the repo's copy, so users (and this test) have it
SHARED_CONTRACT = REPO.parent / "shared" / "CONTRACT.md"


def test_every_family_the_renderer_knows_is_in_the_contract_and_vice_versa() -> None:
    rendered = {f.name for f in FAMILIES} | {"rocketchat_exporter_build_info"}
    assert rendered == set(ALL_METRICS)


def test_help_text_exists_for_every_family_and_counters_end_in_total() -> None:
    for family in FAMILIES:
        assert len(family.help) > 20
        assert family.kind in ("gauge", "counter")
        assert family.name.endswith("_total") == (family.kind == "counter")


def test_the_repos_contract_is_the_teams_contract() -> None:
    """docs/CONTRACT.md is a verbatim copy of ../shared/CONTRACT.md where that exists (a
    developer checkout); on a bare clone the copy is all there is, and the test below uses it."""
    text = CONTRACT.read_text()
    assert "## Metrics" in text
    if SHARED_CONTRACT.exists():
        assert text == SHARED_CONTRACT.read_text(), "copy ../shared/CONTRACT.md to docs/"


def test_contract_list_is_the_one_in_the_contract() -> None:
    text = CONTRACT.read_text()
    mentioned = set(re.findall(r"rocketchat_[a-z0-9_]*[a-z0-9]", text))
    # the contract abbreviates siblings: `..._memory_total_bytes` / `_memory_free_bytes`
    assert set(ALL_METRICS) - mentioned <= {
        "rocketchat_instance_memory_free_bytes",
        "rocketchat_instance_load5",
        "rocketchat_instance_load15",
        "rocketchat_workspace_uploads_size_bytes",
        "rocketchat_workspace_livechat_agents",
        "rocketchat_workspace_active_guests",
        "rocketchat_workspace_app_users",
        "rocketchat_workspace_teams",
        "rocketchat_workspace_e2e_messages",
        "rocketchat_workspace_integrations_active",
        "rocketchat_workspace_migration_locked",
        "rocketchat_workspace_livechat_managers",
    }
    assert mentioned - set(ALL_METRICS) - set(ADDITIONS) == NOT_YET
