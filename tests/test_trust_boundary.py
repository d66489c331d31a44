"""The fence against a hostile DNS, for real: tests/netns/netns_*.py run in a network and mount
namespace of their own (unshare -n -m), where 169.254.169.254 on lo plays the address outside
the fence and tests/dnsserver.py answers every lookup. Skipped, with the reason, only where a
namespace cannot be made (not root, no unshare or ip)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def namespace_problem() -> str:
    for tool in ("unshare", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} not found (util-linux, iproute2)"
    probe = subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        return f"cannot make a network namespace here: {probe.stderr.decode()[:200]}"
    return ""


def run_inside(tmp_path: Path, files: str, certificate: tuple[Path, Path]) -> None:
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n")
    setup = (
        "set -e; ip link set lo up; ip addr add 169.254.169.254/32 dev lo; "
        f"mount --bind {resolv} /etc/resolv.conf; "
        f'exec "{sys.executable}" -m pytest -q -p no:cacheprovider -p no:randomly '
        f"-o python_files='netns_*.py' {files}"
    )
    env = {**os.environ, "NETNS_CERT": str(certificate[0]), "NETNS_KEY": str(certificate[1])}
    env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run(
        ["unshare", "-n", "-m", "sh", "-c", setup],
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout, result.stdout[-3000:]


def test_hostile_names_never_take_a_connection_outside_the_fence(
    tmp_path: Path, names_certificate: tuple[Path, Path]
) -> None:
    run_inside(tmp_path, "tests/netns/netns_fence.py", names_certificate)
