"""CONTRIBUTING.md's worked example is real: its collector module, built in a copy of the
repository, is found by the registry, passes the layer check (folder and module limits
included) and ruff, and appears in the tables the docs generator writes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "CONTRIBUTING.md"


def example_module() -> str:
    """The Python block of the worked example, dedented."""
    text = GUIDE.read_text()
    step = text[text.index("## Worked example: a new collector") :]
    block = re.search(r"```python\n(.*?)```", step, re.S)
    assert block is not None, "the worked example has no python block"
    lines = block.group(1).splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines).rstrip() + "\n"


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in the copy, its package first on the path (not the installed checkout)."""
    env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_worked_example_builds_a_collector_the_registry_layers_and_docs_accept(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "exporter", copy / "exporter", ignore=ignore)
    for folder in ("docs", "prometheus"):
        shutil.copytree(REPO / folder, copy / folder, ignore=ignore)
    for name in ("README.md", "config.example.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, copy / name)
    (copy / "tests").mkdir()
    shutil.copy(REPO / "tests" / "test_layers.py", copy / "tests" / "test_layers.py")
    (copy / "exporter" / "collectors" / "federation.py").write_text(example_module())

    found = run(
        copy,
        "-c",
        "from exporter.collecting.registry import COLLECTORS, REQUESTS; "
        "import exporter; print(exporter.__file__); "
        "print(list(COLLECTORS)[-1], COLLECTORS['federation'].optional, "
        "'federation.status' in REQUESTS)",
    )
    assert found.returncode == 0, found.stderr
    where, registered = found.stdout.splitlines()
    assert where.startswith(str(copy))  # the copy's package, not the checkout's
    assert registered == "federation True True"

    module = "exporter/collectors/federation.py"
    for gate in (("check",), ("format", "--check")):  # make test's quality gates
        linted = run(copy, "-m", "ruff", *gate, "--config", str(REPO / "pyproject.toml"), module)
        assert linted.returncode == 0, linted.stdout + linted.stderr

    layers = run(copy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "tests")
    assert layers.returncode == 0, layers.stdout[-3000:] + layers.stderr[-2000:]

    docs = run(copy, "-m", "exporter.docs", "--write")
    assert docs.returncode == 0, docs.stderr
    reference = (copy / "docs" / "reference.md").read_text()
    assert "| `federation` | off | `federation.status`: /api/v1/federation.status |" in reference
    assert "| `rocketchat_federation_servers` | federation | workspace |" in reference
