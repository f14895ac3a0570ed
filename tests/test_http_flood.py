"""HTTP mode under a flood: refused before the body is read, one short log line per refusal,
no traceback, bounded time for slow senders, a cap on connections, and Slack's own signed
requests still acked within 3 s while 200 slow connections are open. Real loopback TCP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slackrig import until
from test_http_mode import command_body, http_bot, signed

from bot.slack.http import HttpLimits

FAKE_SIGNATURE = "v0=" + "ab" * 32  # well-formed, wrong: the body must be read to know


async def _open(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(base.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port)


def _head(headers: dict[str, str], length: int) -> bytes:
    lines = ["POST /slack/events HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _status(reader: asyncio.StreamReader, within: float = 5.0) -> int:
    line = await asyncio.wait_for(reader.readline(), within)
    assert line.startswith(b"HTTP/1.1 "), line
    return int(line.split()[1])


def _fresh(content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": FAKE_SIGNATURE,
    }


def _refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "refused a request" in r.getMessage()]


async def test_bad_headers_are_refused_before_one_byte_of_the_body_is_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    megabyte = 1000 * 1000  # announced, never sent: the answer must come without it
    stale = {**_fresh(), "X-Slack-Request-Timestamp": str(int(time.time()) - 400)}
    cases = {
        "no signature headers": ({"Content-Type": "application/json"}, megabyte, 401),
        "stale timestamp": (stale, megabyte, 401),
        "timestamp not a number": ({**_fresh(), "X-Slack-Request-Timestamp": "soon"}, 10, 401),
        "signature not v0 hex": ({**_fresh(), "X-Slack-Signature": "v0=zz"}, megabyte, 401),
        "over the 1 MiB cap": (_fresh(), 2 * 1024 * 1024, 413),
    }
    async with http_bot(tmp_path) as (base, _, runtime):
        for case, (headers, length, status) in cases.items():
            reader, writer = await _open(base)
            writer.write(_head(headers, length))
            assert await _status(reader) == status, case
            writer.close()
        assert await runtime.store.get_job(1) is None
    assert len(_refusals(caplog)) == len(cases)


async def test_a_refused_request_logs_one_short_line_that_quotes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forged = "text=hi\n2026-12-05 08:00:00 ERROR   bot.jobs: FORGED log line\n" + "x" * 5000
    async with http_bot(tmp_path) as (base, _, _), httpx.AsyncClient() as http:
        url = f"{base}/slack/events"
        bodies = [
            (forged, _fresh()),  # well-formed but wrong signature: read, checked, refused
            (forged, {**signed(forged), "x-slack-signature": FAKE_SIGNATURE}),
            (forged, {"Content-Type": "application/x-www-form-urlencoded"}),  # unsigned
            ('{"type":', {"Content-Type": "application/json"}),  # unsigned broken JSON
            ('{"type":', _fresh("application/json")),
        ]
        for body, headers in bodies:
            resp = await http.post(url, content=body, headers=headers)
            assert resp.status_code == 401, body[:20]
    refusals = _refusals(caplog)
    assert len(refusals) == len(bodies)
    for record in caplog.records:
        text = record.getMessage()
        assert "FORGED" not in text
        assert "xxxxx" not in text
        assert '{"type"' not in text
        assert record.exc_info is None, text
        assert record.levelno < logging.ERROR, text
    assert all("\n" not in r.getMessage() and len(r.getMessage()) < 200 for r in refusals)


async def test_a_body_cut_off_mid_send_is_a_400_with_one_line_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with http_bot(tmp_path) as (base, _, _):
        reader, writer = await _open(base)
        writer.write(_head(_fresh(), 1000) + b"text=only-the-start")
        writer.write_eof()  # the sender stops half-way
        # asyncio closes a socket whose peer sent EOF, so the 400 may find no one to read it
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line == b"" or line.startswith(b"HTTP/1.1 400 "), line
        writer.close()
    assert len(_refusals(caplog)) == 1
    assert "cut off" in _refusals(caplog)[0].getMessage()
    assert "(400;" in _refusals(caplog)[0].getMessage()
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@contextlib.asynccontextmanager
async def _slow_connections(base: str, count: int) -> AsyncIterator[None]:
    """``count`` connections that dribble: half never finish their headers, half send
    headers that look signed and a 1 MB body a byte at a time. All closed on exit."""
    writers: list[asyncio.StreamWriter] = []
    stop = asyncio.Event()

    async def dribble(i: int) -> None:
        _, writer = await _open(base)
        writers.append(writer)
        if i % 2:
            writer.write(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        else:
            writer.write(_head(_fresh(), 1000 * 1000) + b"t")
        with contextlib.suppress(ConnectionError):
            while not stop.is_set():
                writer.write(b"X-Slow: 1\r\n" if i % 2 else b"e")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)  # the slow sender's pace

    tasks = [asyncio.create_task(dribble(i)) for i in range(count)]
    try:
        await asyncio.wait_for(_until_opened(writers, count), 10)
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            writer.close()


async def _until_opened(writers: list[asyncio.StreamWriter], count: int) -> None:
    while len(writers) < count:
        await asyncio.sleep(0.01)


async def test_signed_requests_are_acked_within_3_s_while_200_slow_connections_are_open(
    tmp_path: Path,
) -> None:
    limits = HttpLimits(header_timeout=30, body_timeout=30)  # the slow ones stay for the test
    async with (
        http_bot(tmp_path, limits) as (base, fake, runtime),
        _slow_connections(base, 200),
        httpx.AsyncClient(timeout=10) as http,
    ):
        for i in range(5):
            payload = fake.slash_command(f"a cat number {i}", user=f"U{i + 1}")
            body = urlencode({k: str(v) for k, v in payload.items() if v is not None})
            started = time.monotonic()
            resp = await http.post(f"{base}/slack/events", content=body, headers=signed(body))
            assert resp.status_code == 200
            assert time.monotonic() - started < 3.0

        async def carded() -> list[Any]:  # each listener done: its card posted
            jobs = [await runtime.store.get_job(i) for i in range(1, 6)]
            return [j for j in jobs if j is not None and j.card_ts]

        assert len(await until(lambda: _five(carded), 10, "five commands, five cards")) == 5


async def _five(check: Callable[[], Awaitable[list[Any]]]) -> list[Any] | None:
    found = await check()
    return found if len(found) == 5 else None


async def test_idle_and_slow_connections_are_closed_in_bounded_time(tmp_path: Path) -> None:
    limits = HttpLimits(header_timeout=1.0, body_timeout=1.0)
    async with http_bot(tmp_path, limits) as (base, _, _):
        idle_reader, idle = await _open(base)  # sends nothing at all
        slow_reader, slow = await _open(base)  # headers one line at a time, never done
        slow.write(b"POST /slack/events HTTP/1.1\r\n")
        body_reader, body = await _open(base)  # headers, then a body that never comes
        body.write(_head(_fresh(), 1000) + b"text=")

        async def dribble() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(40):
                    slow.write(b"X-Slow: 1\r\n")
                    await slow.drain()
                    await asyncio.sleep(0.1)  # the slow sender's pace

        started = time.monotonic()
        sender = asyncio.create_task(dribble())
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # closed by the server
        assert await _status(body_reader) == 408
        assert await asyncio.wait_for(slow_reader.read(), 5) == b""
        assert time.monotonic() - started < 3.5
        await sender
        for writer in (idle, slow, body):
            writer.close()


async def test_large_unverified_bodies_are_read_a_few_at_a_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.slack.http")
    limits = HttpLimits(big_reads=1, body_timeout=2.0)
    big = 100 * 1000  # over small_body (64 KiB): each needs the one slot
    async with http_bot(tmp_path, limits) as (base, fake, _):
        stalled_reader, stalled = await _open(base)  # headers and a few bytes, then nothing
        stalled.write(_head(_fresh(), big) + b"text=")
        whole_reader, whole = await _open(base)  # a whole large forged body at once
        whole.write(_head(_fresh(), big) + b"x" * big)

        async def waited() -> bool:
            return any("waits for one of 1 read slots" in m for m in caplog.messages)

        await until(waited, 5, "neither large body waited for the slot")
        async with httpx.AsyncClient() as http:  # a small signed request never waits
            body = command_body(fake, "a small cat")
            started = time.monotonic()
            resp = await http.post(f"{base}/slack/events", content=body, headers=signed(body))
            assert resp.status_code == 200
            assert time.monotonic() - started < 1.0
        assert await _status(stalled_reader) == 408  # the slot is given back in time
        # the whole body is refused: read (401), or out of time while it waited (408)
        assert await _status(whole_reader) in (401, 408)
        stalled.close()
        whole.close()


async def test_connections_over_the_cap_are_turned_away(tmp_path: Path) -> None:
    limits = HttpLimits(max_connections=5)
    async with http_bot(tmp_path, limits) as (base, fake, _):
        held = [await _open(base) for _ in range(5)]
        reader, writer = await _open(base)
        assert await _status(reader) == 503
        writer.close()
        for _, w in held:
            w.close()
        body = command_body(fake, "a cat once they are gone")
        async with httpx.AsyncClient() as http:
            resp = await _until_served(http, f"{base}/slack/events", body)
        assert resp.status_code == 200


async def _until_served(http: httpx.AsyncClient, url: str, body: str) -> httpx.Response:
    """The held connections close asynchronously at the server: retry a 503 until they do."""
    deadline = time.monotonic() + 5
    while True:
        try:
            resp = await http.post(url, content=body, headers=signed(body))
            if resp.status_code != 503 or time.monotonic() > deadline:
                return resp
        except httpx.TransportError:  # turned away before the request was read
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.05)


async def test_200_unsigned_megabyte_posts_are_all_refused_with_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"text=" + b"a" * (1000 * 1000)
    async with (
        http_bot(tmp_path) as (base, _, _),
        httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=30) as http,
    ):

        async def post(i: int) -> int:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if i % 2:  # half look signed: their bodies are read, a few at a time
                headers = _fresh()
            return (
                await http.post(f"{base}/slack/events", content=body, headers=headers)
            ).status_code

        statuses = await asyncio.wait_for(asyncio.gather(*(post(i) for i in range(200))), 60)
    assert statuses == [401] * 200
    assert len(_refusals(caplog)) == 200
    ours = [r.getMessage() for r in caplog.records if r.name != "httpx"]  # httpx: the client
    assert sum(len(m) for m in ours) < 200 * 150  # one short line each, no bodies


@pytest.fixture(autouse=True)
def _info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
