"""Command line: flags, exit codes and wiring; the logic lives in the other modules."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from exporter import __version__
from exporter.alerts.alert import RUNBOOKS_URL
from exporter.alerts.files import rules_file
from exporter.app import Exporter
from exporter.config.load import load_config
from exporter.config.shard import assigned, parse_shard
from exporter.exposition.render import Renderer
from exporter.healthcheck import LISTEN_ENV
from exporter.logsetup import setup_logging
from exporter.model.config import DEFAULT_LISTEN, Config, ConfigError, parse_listen
from exporter.model.secrets import secret_problem
from exporter.runtime import gctune
from exporter.runtime.poller import Poller, new_state
from exporter.web.inflight import MAX_ANSWERS
from exporter.web.webconfig import WebConfig, load_web_config

if TYPE_CHECKING:
    from exporter.demo.server import FakeRocketChat

DEMO_USER_ID = "exporterUserId001"  # every simulated workspace's user, for --demo-token
log = logging.getLogger("exporter")

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rocketchat-exporter",
        description="Prometheus exporter for Rocket.Chat: polls instances.get and "
        "statistics.list of every configured workspace and serves /metrics.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="YAML config file (see config.example.yaml)"
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default=None,  # then $ROCKETCHAT_EXPORTER_LISTEN (see main: listen_from_environment)
        help=f"address to serve on (default: ${LISTEN_ENV} if set, else the config's listen, "
        "else 0.0.0.0:9877)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="log verbosity (default: info)",
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log line format (default: text)",
    )
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="offline check of the config and its secret files (no server is contacted: a "
        "wrong url or token passes; --once tries them): print ok (exit 0) or the errors "
        "(exit 2)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="poll every workspace once, print the metrics, exit 0 if all are up, else 1",
    )
    parser.add_argument(
        "--web-config",
        metavar="FILE",
        help="TLS, basic auth, headers and rate limit for the exporter's endpoints "
        "(exporter-toolkit format)",
    )
    parser.add_argument(
        "--print-example-config",
        action="store_true",
        help="print the commented example configuration and exit",
    )
    parser.add_argument(
        "--web.enable-lifecycle",
        dest="enable_lifecycle",
        action="store_true",
        help="enable POST /-/reload (off by default; SIGHUP always reloads)",
    )
    parser.add_argument(
        "--web.max-requests",
        dest="max_requests",
        type=_positive,
        default=MAX_ANSWERS,
        metavar="N",
        help="at most N /metrics answers in flight; one more aborts the oldest, so slow "
        f"readers cannot pin memory (default {MAX_ANSWERS})",
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="poll only the workspaces of shard I of N (overrides the config's shard)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against an embedded simulated Rocket.Chat (no config needed)",
    )
    parser.add_argument(
        "--print-rules",
        action="store_true",
        help="print the Prometheus alerting rules file and exit (the repository's "
        "prometheus/rules/rocketchat.rules.yml)",
    )
    parser.add_argument(
        "--runbook-base-url",
        metavar="URL",
        default=RUNBOOKS_URL,
        help="with --print-rules: where the rules' runbook_url points, e.g. "
        "http://EXPORTER:9877/runbooks for the exporter's own page (default: the public "
        "repository's docs/runbooks.md)",
    )
    parser.add_argument(
        "--demo-token",
        metavar="TOKEN",
        help="with --demo: every simulated workspace accepts this token (user id "
        f"{DEMO_USER_ID}), so a config file can be rehearsed against the demo (default: "
        "tokens invented at each start)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return number


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Flags that override the config file, applied at start and at every reload."""

    listen: tuple[str, int] | None = None
    shard: tuple[int, int] | None = None

    def apply(self, config: Config) -> Config:
        if self.listen:
            config = dataclasses.replace(
                config, listen_host=self.listen[0], listen_port=self.listen[1]
            )
        if self.shard:
            config = dataclasses.replace(
                config, shard_index=self.shard[0], shard_count=self.shard[1]
            )
        return config


async def _once(config: Config) -> int:
    config = assigned(config)
    state = new_state(config)
    poller = Poller(config, state)
    await poller.open()
    try:
        await poller.poll_all_once()
    finally:
        await poller.close()
    sys.stdout.write(Renderer(state).plain().decode("utf-8"))
    return EXIT_OK if all(w.up for w in state.workspaces.values()) else EXIT_FAIL


async def _serve(
    config: Config,
    web_config: WebConfig | None,
    path: str | None,
    overrides: Overrides,
    lifecycle: bool,
    web_path: str | None = None,
    max_answers: int = MAX_ANSWERS,
) -> int:
    exporter: Exporter

    async def reload() -> list[str]:
        """Re-read the config file; an invalid one is rejected and the old one keeps running."""
        assert path is not None
        problems = await exporter.reload_from(lambda: overrides.apply(_loaded(path)))
        for problem in problems:
            log.error("reload rejected, keeping the running config: %s", problem)
        if web_path:
            web_problems = await exporter.reload_web_config(web_path)
            for problem in web_problems:
                log.error("web config reload rejected, keeping the running one: %s", problem)
            problems += web_problems
        if not problems:
            gctune.settle(full=True)  # the new workspaces' state joins the frozen heap
        return problems

    exporter = Exporter(
        config, web_config, reload if path else None, lifecycle=lifecycle, max_answers=max_answers
    )
    gctune.tune()
    try:
        await exporter.start()
    except OSError as exc:
        log.error(
            "cannot listen on %s:%d: %s", config.listen_host, config.listen_port, exc.strerror
        )
        return EXIT_FAIL
    settling = asyncio.create_task(_settle_after_first_round(exporter), name="gc settle")
    collecting = asyncio.create_task(gctune.collect_periodically(), name="gc clock")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[list[str]]] = set()
    if path:

        def on_sighup() -> None:
            log.info("SIGHUP: reloading %s", path)
            task = asyncio.create_task(reload())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    await stop.wait()
    log.info("signal received, shutting down")
    settling.cancel()
    collecting.cancel()
    await asyncio.wait_for(exporter.stop(), timeout=STOP_TIMEOUT)
    return EXIT_OK


STOP_TIMEOUT = 1.8  # seconds (the contract: within 2 s)

SETTLE_AFTER = 0.5  # seconds after the first exposition: /ready's answer goes out first


async def _settle_after_first_round(exporter: Exporter) -> None:
    await exporter.state.first_exposition.wait()
    await asyncio.sleep(SETTLE_AFTER)  # not in the loop iteration that answers /ready
    gctune.settle()


async def _run(
    args: argparse.Namespace,
    config: Config | None,
    web_config: WebConfig | None,
    overrides: Overrides,
) -> int:
    fake: FakeRocketChat | None = None
    if config is None:  # --demo (imported here: the simulated server is not needed to serve)
        from exporter.demo.landscape import config_for, demo_workspaces
        from exporter.demo.server import FakeRocketChat, start_health

        fake = FakeRocketChat(demo_workspaces())
        for simulated in fake.workspaces.values():
            simulated.user_id = DEMO_USER_ID
            if args.demo_token:
                simulated.token = args.demo_token
        await fake.start()
        await start_health(fake)  # each simulated instance answers /livez or /health itself
        log.info(
            "demo: simulated Rocket.Chat on %s; to rehearse a config against it: url %s, "
            "auth user_id %s and %s",
            fake.base_url, fake.url_of(next(iter(fake.workspaces))), DEMO_USER_ID,
            "the token of --demo-token" if args.demo_token else "a token fixed with --demo-token",
        )  # fmt: skip
        config = config_for(fake, poll_interval=5.0, statistics_interval=30.0, every_collector=True)
        # shows rocketchat_workspace_statistic, as an operator's extra_statistics would
        config = dataclasses.replace(
            config, extra_statistics=("integrations.totalWithScriptEnabled",)
        )
        host, port = parse_listen(DEFAULT_LISTEN)
        config = overrides.apply(dataclasses.replace(config, listen_host=host, listen_port=port))
    try:
        if args.once:
            return await _once(config)
        return await _serve(
            config,
            web_config,
            args.config,
            overrides,
            args.enable_lifecycle,
            args.web_config,
            args.max_requests,
        )
    finally:
        if fake is not None:
            await fake.stop()


def _loaded(path: str) -> Config:
    """The config file for a reload, its unusable secret files logged (they fail only their
    workspace, as at a start)."""
    config = load_config(path)
    for problem in config.secret_problems:
        log.warning("%s; its workspace is down (unauthorized) until the file is fixed", problem)
    return config


def _warn_if_environment_moves_listen(args: argparse.Namespace, file: Config, used: Config) -> None:
    """$ROCKETCHAT_EXPORTER_LISTEN (the image sets it) beats the config's `listen:`, which
    would otherwise be ignored without a word; --listen on the command line is explicit. (A
    config without `listen:` has the default: nothing to warn about.)"""
    from_environment = bool(args.listen_from_environment)
    written = (file.listen_host, file.listen_port)
    moved = written != parse_listen(DEFAULT_LISTEN) and written != (
        used.listen_host,
        used.listen_port,
    )
    if from_environment and moved:
        log.warning(
            "%s=%s overrides the config's listen (%s:%s); unset the variable (or set it to "
            "the same address) to serve where the config says",
            LISTEN_ENV, args.listen, file.listen_host, file.listen_port,
        )  # fmt: skip


def _flag_errors(args: argparse.Namespace) -> tuple[Overrides, list[str]]:
    """The flags' problems; --listen may come from $ROCKETCHAT_EXPORTER_LISTEN (the image
    sets it, and its HEALTHCHECK reads the same variable)."""
    problems = []
    listen = shard = None
    if args.listen:
        try:
            listen = parse_listen(args.listen)
        except ValueError as exc:
            source = LISTEN_ENV if args.listen_from_environment else "--listen"
            problems.append(f"{source}: {exc}")
    if args.shard:
        try:
            shard = parse_shard(args.shard)
        except ValueError as exc:
            problems.append(f"--shard: {exc}")
    return Overrides(listen, shard), problems


def example_config() -> str:
    """config.example.yaml: inside the installed package (the wheel carries it), else next to
    the package in a source checkout."""
    from importlib import resources  # only for this flag: not imported at every start

    packaged = resources.files("exporter").joinpath("config.example.yaml")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "config.example.yaml").read_text("utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.listen_from_environment = args.listen is None and bool(os.environ.get(LISTEN_ENV))
    if args.listen_from_environment:
        args.listen = os.environ[LISTEN_ENV]
    setup_logging(args.log_level, args.log_format)
    if args.print_example_config:
        sys.stdout.write(example_config())
        return EXIT_OK
    if args.print_rules:
        base = args.runbook_base_url
        if not re.fullmatch(r"https?://[^\s#\"]+", base):
            parser.error("--runbook-base-url: expected an http(s) URL without # or spaces")
        sys.stdout.write(rules_file(base.rstrip("/")))
        return EXIT_OK
    if args.runbook_base_url != RUNBOOKS_URL:
        parser.error("--runbook-base-url goes with --print-rules")
    if args.demo and args.config:
        parser.error("--demo runs without a config; give either --demo or --config")
    if args.demo_token is not None and not args.demo:
        parser.error("--demo-token goes with --demo")
    if args.demo_token is not None and secret_problem(args.demo_token, header=True):
        parser.error(f"--demo-token {secret_problem(args.demo_token, header=True)}")
    if not args.demo and not args.config:
        parser.error("--config PATH is required (or --demo to try it without Rocket.Chat)")
    overrides, problems = _flag_errors(args)
    config: Config | None = None
    web_config: WebConfig | None = None
    if args.config:
        try:
            loaded = load_config(args.config)
            config = overrides.apply(loaded)
            _warn_if_environment_moves_listen(args, loaded, config)
        except ConfigError as exc:
            problems += exc.problems
    if args.web_config:
        try:
            web_config = load_web_config(args.web_config)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    if args.check_config:
        unusable = config.secret_problems if config is not None else ()
        for problem in unusable:  # at a start these only fail their workspace
            print(problem, file=sys.stderr)
        if unusable:
            return EXIT_CONFIG
        print("ok")
        return EXIT_OK
    for problem in config.secret_problems if config is not None else ():
        log.warning("%s; its workspace is down (unauthorized) until the file is fixed", problem)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_run(args, config, web_config, overrides))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
