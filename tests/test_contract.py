"""The exporter's metric families match the contract's list exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.render import FAMILIES

from contract import ALL_METRICS

CONTRACT = Path(__file__).parent.parent.parent / "shared" / "CONTRACT.md"


def test_every_family_the_renderer_knows_is_in_the_contract_and_vice_versa() -> None:
    rendered = {f.name for f in FAMILIES} | {"rocketchat_exporter_build_info"}
    assert rendered == set(ALL_METRICS)


def test_help_text_exists_for_every_family_and_counters_end_in_total() -> None:
    for family in FAMILIES:
        assert len(family.help) > 20
        assert family.kind in ("gauge", "counter")
        assert family.name.endswith("_total") == (family.kind == "counter")


def test_contract_list_is_the_one_in_shared_contract_md() -> None:
    if not CONTRACT.exists():
        pytest.skip("../shared/CONTRACT.md is not next to this checkout")
    text = CONTRACT.read_text()
    mentioned = set(re.findall(r"rocketchat_[a-z0-9_]*[a-z0-9]", text))
    # the contract abbreviates siblings: `..._memory_total_bytes` / `_memory_free_bytes`
    assert set(ALL_METRICS) - mentioned <= {
        "rocketchat_instance_memory_free_bytes",
        "rocketchat_instance_load5",
        "rocketchat_instance_load15",
        "rocketchat_workspace_uploads_size_bytes",
        "rocketchat_workspace_livechat_agents",
    }
    assert mentioned - set(ALL_METRICS) == set()
