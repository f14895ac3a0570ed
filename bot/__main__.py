"""The ``sora-bot`` command line: run | demo | check | emulator | migrate-db | healthcheck."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.config import Command, ConfigError, Settings
from bot.logs import setup_logging
from bot.sizes import DEFAULT_SIZE, LANDSCAPE, PORTRAIT, SIZES


def _version() -> str:
    try:
        return metadata.version("sora-slack")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default where there is one worth showing (not for on/off flags)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    fmt = _Help
    parser = argparse.ArgumentParser(
        prog="sora-bot",
        description="A Slack bot that turns conversations into Sora 2 videos.",
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"sora-bot {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser(
        "run",
        help="run the bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP); the default",
        formatter_class=fmt,
    )
    check = sub.add_parser(
        "check", help="check the configuration, Slack, Azure and the database", formatter_class=fmt
    )
    check.add_argument(
        "--verbose",
        action="store_true",
        help="also show the libraries' log lines (at SORA_LOG_LEVEL)",
    )
    move = sub.add_parser(
        "migrate-db",
        help="copy every job of a SQLite file into an empty PostgreSQL database "
        "(stop the bot first)",
        formatter_class=fmt,
    )
    move.add_argument(
        "--from", dest="source", type=Path, help="the SQLite file (default: SORA_DB_PATH)"
    )
    move.add_argument(
        "--to",
        dest="target",
        metavar="URL",
        help="postgresql://... (default: SORA_DATABASE_URL; prefer that: a password on the "
        "command line is visible to other users of the machine)",
    )
    sub.add_parser(
        "healthcheck",
        help="ask the running bot's /healthz (SORA_METRICS_PORT, else PORT in HTTP mode); "
        "exit 0 if healthy (the Docker HEALTHCHECK)",
        formatter_class=fmt,
    )
    demo = sub.add_parser(
        "demo",
        help="make a placeholder video with the built-in emulator, no accounts",
        formatter_class=fmt,
    )
    demo.add_argument("prompt", help="what the video shows")
    shape = demo.add_mutually_exclusive_group()
    shape.add_argument("--landscape", action="store_true", help=LANDSCAPE)
    shape.add_argument("--portrait", action="store_true", help=f"{PORTRAIT} (the default shape)")
    shape.add_argument(
        "--size", default=DEFAULT_SIZE, help=f"WxH: {', '.join(SIZES[:-1])} or {SIZES[-1]}"
    )
    demo.add_argument(
        "--seconds", type=int, default=4, choices=(4, 8, 12), help="length of the video asked for"
    )
    demo.add_argument(
        "--remix",
        action="append",
        default=[],
        metavar="CHANGE",
        help="then remix the previous version with this change (repeat for a chain)",
    )
    demo.add_argument("--out", type=Path, default=Path("sora-demo"), help="output directory")
    demo.add_argument(
        "--fast", action="store_true", help="finish in about a second instead of Azure-like pace"
    )
    emu = sub.add_parser(
        "emulator", help="serve the local Sora API emulator on loopback", formatter_class=fmt
    )
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on")
    emu.add_argument("--port", type=int, default=8765, help="port to listen on")
    emu.add_argument("--api-key", default="emulator-key", help="the key clients must send")
    emu.add_argument(
        "--fast",
        action="store_true",
        help="finish jobs in about two seconds instead of Azure-like minutes",
    )
    emu.add_argument(
        "--max-running", type=int, default=2, help="running jobs before 429 (as Azure)"
    )
    emu.add_argument(
        "--resource",
        action="append",
        default=[],
        type=_resource,
        metavar="SPEC",
        help="serve this resource instead, on its own port (repeat for several): "
        "NAME,port=P[,key=K][,deployments=A+B][,max-running=N][,progress=SHAPE]",
    )
    return parser


def _resource(spec: str) -> Any:
    from bot.emulator.resources import parse_resource

    try:
        return parse_resource(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


async def _serve_emulator(args: argparse.Namespace) -> None:
    from bot.emulator import Emulator, EmulatorConfig

    if args.resource:
        from bot.emulator.resources import serve_specs

        names = [spec.name for spec in args.resource]
        if len(set(names)) != len(names):
            print(f"sora-bot emulator: resource names must differ: {names}", file=sys.stderr)
            raise SystemExit(2)
        await serve_specs(args.resource, host=args.host, fast=args.fast)
        return
    config = EmulatorConfig(api_keys=frozenset({args.api_key}), max_running=args.max_running)
    if args.fast:
        config.queue_seconds = 0.5
        config.generation_seconds_per_video_second = 0.25
    emulator = Emulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with emulator.serve(args.host, args.port) as base_url:
        print(f"Sora emulator listening on {base_url}/openai/v1", flush=True)
        print(
            f"  AZURE_OPENAI_ENDPOINT={base_url}  AZURE_OPENAI_API_KEY={args.api_key}  "
            f"SORA_DEPLOYMENT=sora-2",
            flush=True,
        )
        await stop.wait()


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot import demo  # imported here: the other commands need none of it

    size = LANDSCAPE if args.landscape else args.size
    return demo.main(
        args.prompt,
        size=size,
        seconds=args.seconds,
        remixes=args.remix,
        out_dir=args.out,
        deployment=settings.sora_deployment,
        fast=args.fast,
    )


async def _migrate_db(args: argparse.Namespace, settings: Settings) -> int:
    from bot.store import StoreError, redact_url, scrub
    from bot.store.copying import copy_sqlite_to_postgres

    source: Path = args.source or settings.db_path
    target = args.target or (settings.database_url.reveal() if settings.database_url else None)
    if not target:
        print("sora-bot migrate-db: give --to URL or set SORA_DATABASE_URL", file=sys.stderr)
        return 2
    if target.partition("://")[0].lower() not in ("postgresql", "postgres"):
        print(
            "sora-bot migrate-db: --to must be a postgresql:// or postgres:// URL "
            "(value not shown)",
            file=sys.stderr,
        )
        return 2
    try:
        report = await copy_sqlite_to_postgres(source, target)
    except (StoreError, OSError, ValueError) as exc:
        print(f"sora-bot migrate-db: {scrub(str(exc), target)}", file=sys.stderr)
        return 1
    print(
        f"copied {report.jobs} job(s) and {report.events} event key(s) from {source} to "
        f"PostgreSQL {redact_url(target)}; new jobs continue at id {report.next_id}. "
        "Set SORA_DATABASE_URL and start the bot."
    )
    return 0


def _secrets(settings: Settings) -> list[str]:
    values = (
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_signing_secret,
        settings.azure_openai_api_key,
        settings.database_url,
    )
    found = [v.reveal() for v in values if v is not None]
    if settings.database_url is not None:  # the URL's password alone, too
        with contextlib.suppress(ValueError):
            password = urlsplit(settings.database_url.reveal()).password
            found += [password, unquote(password)] if password else []
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command: Command = args.command or "run"
    try:
        settings = Settings.from_env(command=command)
    except ConfigError as exc:
        print(f"sora-bot {command}: {exc}", file=sys.stderr)
        return 2
    if command == "demo":
        # The terminal shows the progress bars; the log goes next to the videos.
        args.out.mkdir(parents=True, exist_ok=True)
        with open(args.out / "demo.log", "w", encoding="utf-8") as log_file:  # this run's
            setup_logging(settings.log_level, settings.log_format, log_file, _secrets(settings))
            return _demo(args, settings)
    if command == "migrate-db":
        return asyncio.run(_migrate_db(args, settings))
    if command == "healthcheck":
        from bot.healthcheck import healthcheck

        return healthcheck(settings)
    quiet = command == "check" and not args.verbose  # check's own lines, not the libraries'
    level = "CRITICAL" if quiet else settings.log_level
    setup_logging(level, settings.log_format, secrets=_secrets(settings))
    if command == "emulator":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_emulator(args))
        return 0
    if command == "check":
        from bot.check import run_checks

        return asyncio.run(run_checks(settings))
    from bot.serve import serve

    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
