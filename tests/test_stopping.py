"""``sora-bot run`` stops on SIGTERM in every state, as a subprocess the way a user runs it:
connecting to an unreachable Slack, reconnecting after Slack dropped the socket, Slack
answering 5xx, Azure unreachable, mid-download, mid-upload; a refused token is fatal."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slackrig import manifest_scopes, until
from test_cli import BOT, clean_env, free_port

from bot.emulator import Emulator


class Bot:
    """``sora-bot run`` as a subprocess; its log read as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process, db: Path) -> None:
        self.proc = proc
        self.db = db
        self.lines: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace"))

    @property
    def log(self) -> str:
        return "".join(self.lines)

    async def logged(self, text: str, timeout: float = 30.0) -> str:
        """A bound, not a wait: on a loaded machine a cold start can take many seconds."""

        async def found() -> str | None:
            return next((line for line in self.lines if text in line), None)

        try:
            return await until(found, timeout, f"never logged {text!r}")
        except AssertionError as exc:  # say what the process was doing, for the next reader
            state = f"exit {self.proc.returncode}" if self.proc.returncode is not None else "alive"
            raise AssertionError(f"{exc} in {timeout:.0f} s ({state}):\n{self.log}") from None

    async def connected(self, fake: FakeSlack, timeout: float = 60.0) -> None:
        """Until the bot opened its Socket Mode connection. A bound, not a wait: a cold start
        took over 20 s in a stress run with four test processes on two cores."""
        try:
            await asyncio.wait_for(fake.socket_connected.wait(), timeout)
        except TimeoutError:
            state = f"exit {self.proc.returncode}" if self.proc.returncode is not None else "alive"
            raise AssertionError(
                f"no Socket Mode connection in {timeout:.0f} s ({state}):\n{self.log}"
            ) from None

    def read_state(self, job_id: int) -> str | None:
        if not self.db.exists():
            return None
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as db:
            try:
                row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            except sqlite3.OperationalError:  # the schema is not there yet
                return None
        return str(row[0]) if row else None

    async def job_state(self, job_id: int, state: str, timeout: float = 15.0) -> None:
        async def reached() -> bool:
            return self.read_state(job_id) == state

        await until(reached, timeout, f"job {job_id} never became {state}:\n{self.log}")

    async def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit status and how long it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 15)
        await asyncio.wait_for(self._reader, 5)
        return code, time.monotonic() - started

    async def exited(self, timeout: float = 15.0) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.wait_for(self._reader, 5)
        return code


@contextlib.asynccontextmanager
async def bot(tmp_path: Path, **env: str) -> AsyncIterator[Bot]:
    db = tmp_path / "data" / "bot.db"
    full = clean_env(tmp_path) | {"SORA_DB_PATH": str(db), "SLACK_BOT_TOKEN": "xoxb-test"}
    full |= env
    proc = await asyncio.create_subprocess_exec(
        *BOT, "run", cwd=tmp_path, env=full, stderr=asyncio.subprocess.PIPE
    )
    running = Bot(proc, db)
    try:
        yield running
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        running._reader.cancel()


# Ports held bound but not listening for the whole test session: a connection is refused,
# and no other process (the bot's own emulator, say) can take the port meanwhile. A port
# found free and let go was once taken by the bot's emulator, which then answered "Slack".
_HELD: list[socket.socket] = []


def closed_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    _HELD.append(sock)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def assert_clean(log: str) -> None:
    assert "Traceback" not in log, log
    assert "xoxb-test" not in log


async def health(port: int) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"http://127.0.0.1:{port}/healthz")


async def test_stops_while_connecting_to_an_unreachable_slack(tmp_path: Path) -> None:
    metrics = free_port()
    async with bot(
        tmp_path,
        SLACK_APP_TOKEN="xapp-test",
        SLACK_API_URL=f"{closed_url()}/api/",
        SORA_EMULATOR="1",
        SORA_METRICS_PORT=str(metrics),
    ) as run:
        line = await run.logged("attempt 2 failed")
        assert "cannot connect to 127.0.0.1" in line
        assert "next in 2 s" in line
        resp = await health(metrics)
        assert resp.status_code == 503
        assert resp.json() == {"ok": False, "store": "ok", "slack": "disconnected"}
        code, took = await run.stop()
    assert code == 0
    assert took < 10
    assert_clean(run.log)
    # One line per attempt, nothing else from the connection attempts.
    assert run.log.count("Slack Socket Mode:") == run.log.count("failed, next in")


async def test_stops_while_reconnecting_after_slack_dropped_the_socket(tmp_path: Path) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    metrics = free_port()
    async with (
        fake.serve() as api_url,
        bot(
            tmp_path,
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=api_url,
            SORA_EMULATOR="1",
            SORA_METRICS_PORT=str(metrics),
        ) as run,
    ):
        await run.connected(fake)
        await run.logged("connected to Slack in Socket Mode")
        assert (await health(metrics)).status_code == 200
        fake.fail_next("apps.connections.open", status=503, times=1000)
        await fake.disconnect_socket()
        line = await run.logged("attempt 1 failed")
        assert "Slack answered HTTP 503" in line
        assert (await health(metrics)).status_code == 503
        code, took = await run.stop()
    assert code == 0
    assert took < 10
    assert_clean(run.log)


async def test_reconnects_when_slack_comes_back(tmp_path: Path) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    async with (
        fake.serve() as api_url,
        bot(tmp_path, SLACK_APP_TOKEN="xapp-test", SLACK_API_URL=api_url, SORA_EMULATOR="1") as run,
    ):
        await run.connected(fake)
        fake.fail_next("auth.test", status=500, times=1)
        await fake.disconnect_socket()
        await run.logged("Slack answered HTTP 500")
        await run.logged("connected to Slack in Socket Mode again")
        assert fake.connections_opened == 2
        await fake.disconnect_socket(graceful=True)  # Slack's refresh: a new connection
        assert fake.connections_opened == 3
        code, _ = await run.stop()
    assert code == 0
    assert_clean(run.log)


async def test_a_refused_token_is_fatal_and_says_so(tmp_path: Path) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    async with fake.serve() as api_url:
        for env, says in (
            ({"SLACK_BOT_TOKEN": "xoxb-revoked"}, "Slack refused SLACK_BOT_TOKEN"),
            ({"SLACK_APP_TOKEN": "xapp-revoked"}, "Slack refused SLACK_APP_TOKEN"),
        ):
            base = {"SLACK_APP_TOKEN": "xapp-test", "SLACK_API_URL": api_url, "SORA_EMULATOR": "1"}
            async with bot(tmp_path, **(base | env)) as run:
                assert await run.exited() == 1
            assert says in run.log
            assert "invalid_auth" in run.log
            assert "Not retrying" in run.log
            assert "revoked" not in run.log.replace("wrong, revoked", "")  # no token echoed
            assert_clean(run.log)


@pytest.mark.parametrize("slack", ["unreachable", "5xx"])
async def test_http_mode_healthz_is_one_answer_on_both_ports_and_stops(
    tmp_path: Path, slack: str
) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    port, metrics = free_port(), free_port()
    async with fake.serve() as api_url:
        fake.fail_next("auth.test", status=503, times=1000)
        async with bot(
            tmp_path,
            SLACK_SIGNING_SECRET="secret",
            SLACK_API_URL=api_url if slack == "5xx" else f"{closed_url()}/api/",
            SORA_EMULATOR="1",
            PORT=str(port),
            SORA_METRICS_PORT=str(metrics),
        ) as run:
            await run.logged("Slack answered HTTP 503" if slack == "5xx" else "cannot connect")
            on_port, on_metrics = await health(port), await health(metrics)
            assert on_port.status_code == on_metrics.status_code == 503
            assert (
                on_port.json()
                == on_metrics.json()
                == {
                    "ok": False,
                    "store": "ok",
                    "slack": "disconnected",
                }
            )
            code, took = await run.stop()
    assert code == 0
    assert took < 10
    assert_clean(run.log)


async def test_stops_with_azure_unreachable_and_keeps_the_job(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    async with (
        fake.serve() as api_url,
        bot(
            tmp_path,
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=api_url,
            AZURE_OPENAI_ENDPOINT=f"{closed_url()}/v1",
            AZURE_OPENAI_API_KEY="emulator-key",
        ) as run,
    ):
        await run.connected(fake)
        await fake.wait_ack(await fake.send_envelope("slash_commands", fake.slash_command("x")))
        await run.job_state(1, "submitting")
        code, took = await run.stop()
        assert code == 0
        assert took < 10
        assert run.read_state(1) in ("queued", "submitting")  # kept for the next start
    assert_clean(run.log)


async def _stop_mid(tmp_path: Path, state: str) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config(queue_seconds=0.3, poll_after_ms=100))
    async with (
        fake.serve() as api_url,
        emulator.serve() as videos,
        bot(
            tmp_path,
            SLACK_APP_TOKEN="xapp-test",
            SLACK_API_URL=api_url,
            AZURE_OPENAI_ENDPOINT=videos,
            AZURE_OPENAI_API_KEY="emulator-key",
        ) as run,
    ):
        await run.connected(fake)
        if state == "uploading":
            fake.slow_next("files.getUploadURLExternal", 1.5)
        await fake.wait_ack(await fake.send_envelope("slash_commands", fake.slash_command("x")))

        async def created() -> list[str]:
            return list(emulator.videos)

        (video_id,) = await until(created, 15, "no video was created")
        if state == "downloading":  # the content request hangs for longer than a stop takes
            emulator.delay_next(6.0, method="GET", path_prefix=f"/openai/v1/videos/{video_id}/")
        await run.job_state(1, state)
        code, took = await run.stop()
        assert code == 0
        # A download is not waited for: waiting would take the content's 6 s hang at least.
        # (4 s, not less: on a loaded machine the stop itself took 1.9 s once.)
        assert took < (4 if state == "downloading" else 10)
        shares = [m for m in fake.messages.values() if m.files]
        assert len(shares) <= 1  # an upload in flight may finish, never twice
    assert_clean(run.log)
    assert "runner stopped" in run.log


async def test_stops_mid_download(tmp_path: Path) -> None:
    await _stop_mid(tmp_path, "downloading")


async def test_stops_mid_upload(tmp_path: Path) -> None:
    await _stop_mid(tmp_path, "uploading")
