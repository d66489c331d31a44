"""Every pointer leads somewhere: the relative Markdown links (and their anchors) of every
document in the repository, and every `something.md#anchor` or `something.md` the code, the
generated rules, runbooks, dashboard and status-page texts send a reader to."""

from __future__ import annotations

import re
from pathlib import Path

from exporter.alerts.catalogue import ALERTS
from exporter.rocketchat.reasons import REASONS, REASONS_DOC, every_reason

REPO = Path(__file__).resolve().parent.parent
SKIP = {".venv", ".git", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
# a document named in prose (not a path built in code: `"docs" / "x.md"` is preceded by a quote)
MENTION = re.compile(r"(?<![\w/.\-\"'])((?:[\w.-]+/)*[\w.-]+\.md)(#[a-z0-9_-]+)?")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")


def files(*suffixes: str) -> list[Path]:
    found = []
    for path in REPO.rglob("*"):
        if SKIP.intersection(path.relative_to(REPO).parts) or not path.is_file():
            continue
        if path.suffix in suffixes or path.name in suffixes:
            found.append(path)
    return sorted(found)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in document.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        found.update(HTML_ID.findall(line))
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def problem(target: str, anchor: str, origin: Path) -> str:
    """What is wrong with a pointer to target#anchor from origin ("" if nothing)."""
    path = (origin.parent / target) if target else origin
    if target and not path.exists():
        path = REPO / target  # code and generated texts name paths from the repository root
    if not path.exists():
        return f"{target}: no such file"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{target or path.name}#{anchor}: no such section"
    return ""


def test_slugs_are_githubs() -> None:
    assert slug("Troubleshooting: error reasons") == "troubleshooting-error-reasons"
    assert slug("1. Point it at your Rocket.Chat") == "1-point-it-at-your-rocketchat"
    assert slug("`make test` and CI") == "make-test-and-ci"
    assert slug("Proxies and NO_PROXY") == "proxies-and-no_proxy"


def test_every_relative_markdown_link_and_anchor_leads_somewhere() -> None:
    broken, checked = [], 0
    for document in files(".md"):
        text = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
        for target in [*LINK.findall(text), *IMAGE.findall(text)]:
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            checked += 1
            if wrong := problem(path, anchor, document):
                broken.append(f"{document.relative_to(REPO)}: {wrong}")
    assert checked > 50, "the link pattern found almost nothing: is it still right?"
    assert broken == []


def test_every_document_the_code_and_generated_texts_name_exists_with_its_section() -> None:
    """Docstrings, log and error messages, alert runbooks, dashboard descriptions, config and
    manifests: a "see docs/x.md#y" must lead to x.md's section y."""
    texts = [
        (p, p.read_text())
        for p in files(".py", ".yaml", ".yml", ".json", ".toml")
        if p.relative_to(REPO).parts[0] != "tests"  # the code's texts, not the tests'
    ]
    texts += [(p, p.read_text()) for p in files("Dockerfile", "Makefile", "run")]
    for alert in ALERTS:
        words = (alert.meaning, alert.confirm, alert.action, alert.description, alert.summary)
        texts.append((REPO / "exporter" / "alerts" / alert.name, " ".join(words)))
    texts.append((REPO / "exporter" / "rocketchat" / "reasons.py", every_reason()))
    broken, checked = [], 0
    for origin, text in texts:
        for target, anchor in MENTION.findall(text):
            checked += 1
            if wrong := problem(target, anchor.lstrip("#"), origin):
                broken.append(f"{origin.relative_to(REPO)}: {wrong}")
    assert checked > 20, "the mention pattern found almost nothing: is it still right?"
    assert broken == []


def test_the_workspace_down_runbook_names_every_reason_and_where_they_are_explained() -> None:
    down = next(a for a in ALERTS if a.name == "RocketChatWorkspaceDown")
    for reason in REASONS:
        assert f"`{reason}`" in down.action
    assert REASONS_DOC in down.action
    document, _, section = REASONS_DOC.partition("#")
    assert problem(document, section, REPO / "README.md") == ""
