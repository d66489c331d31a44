"""The status pages are templates escaped by construction: autoescaping on for every template,
every HTML-making helper escaping what it takes, and Jinja2 loaded only by the first page
request (start-up and /metrics never pay for it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from markupsafe import Markup

from exporter.web import templating

TEMPLATES = Path(templating.__file__).parent / "templates"
HOSTILE = '<img src=x onerror="alert(1)">\u202e'


def test_every_template_compiles_with_autoescaping_on() -> None:
    env = templating.environment()
    names = sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
    assert len(names) >= 10
    for name in names:
        template = env.get_template(name)
        assert template.environment.autoescape is True


def test_the_helpers_escape_what_they_take_and_mark_only_their_own_html() -> None:
    made = templating.text(HOSTILE)
    assert isinstance(made, Markup)
    assert "<img" not in made and made.startswith("<bdi>&lt;img") and "&#34;" in made
    assert "<img" not in templating.code_spans(f"run `{HOSTILE}`")
    assert "<code>&lt;img" in templating.code_spans(f"run `{HOSTILE}`")
    rendered = (
        templating.environment().from_string("{{ value }}|{{ value | text }}").render(value=HOSTILE)
    )
    assert "<img" not in rendered


def test_jinja2_is_loaded_by_the_first_page_request_not_by_start_or_metrics() -> None:
    script = textwrap.dedent(
        """
        import asyncio, dataclasses, sys
        import aiohttp
        from exporter.app import Exporter
        from exporter.demo.landscape import config_for, demo_workspaces
        from exporter.demo.server import FakeRocketChat

        async def main():
            fake = FakeRocketChat(demo_workspaces()[:2])
            await fake.start()
            config = config_for(fake, poll_interval=0.5, statistics_interval=0.5)
            config = dataclasses.replace(config, listen_host="127.0.0.1", listen_port=0)
            exporter = Exporter(config)
            await exporter.start()
            async with aiohttp.ClientSession() as session:
                async with session.get(exporter.url + "/metrics") as response:
                    assert response.status == 200
                print("after /metrics:", "jinja2" in sys.modules)
                async with session.get(exporter.url + "/") as response:
                    assert response.status == 200 and "<main" in await response.text()
                print("after /:", "jinja2" in sys.modules)
            await exporter.stop()
            await fake.stop()

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["after /metrics: False", "after /: True"]
