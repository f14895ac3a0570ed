"""Security, in one place for an auditor: who may talk to the bot (HTTP signatures), who may
delete or cancel, where the bot token may go, what a hostile image can cost, how user text is
stored and echoed, and what reaches the logs.

Everything runs offline against the fake Slack and the emulator (``slackrig``,
``test_http_mode.http_bot``); related checks elsewhere: signatures (test_http_mode.py),
redaction of a formatted log line (test_logs.py), image refusals (test_slack_shortcut.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import pytest
from aiohttp import web
from fakes.slack import FakeSlack
from PIL import ImageFile
from rig import fast_emulator_config
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.signature import SignatureVerifier
from slackrig import SlackRig, fast_tuning, manifest_scopes, slack_rig, until
from test_http_mode import SECRET, command_body, http_bot, signed
from test_slack_conversation import delivered, eventually, quiet, said, video
from test_slack_shortcut import huge_png_header, open_modal, person_message, picture, refused

from bot.__main__ import _secrets
from bot.config import Secret, Settings
from bot.emulator import Emulator
from bot.logs import setup_logging
from bot.media import MediaError, fit_image
from bot.runtime import open_runtime
from bot.slack import blocks as ui
from bot.slack.files import MAX_BYTES, ImageFetcher
from bot.store import JobState

S = JobState


# -- HTTP mode: only Slack, signed, fresh ----------------------------------------------------


def _headers(body: str, timestamp: str, signed_timestamp: str | None = None) -> dict[str, str]:
    signature = SignatureVerifier(SECRET).generate_signature(
        timestamp=signed_timestamp or timestamp, body=body
    )
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature or "",
    }


async def test_http_mode_refuses_forged_stale_and_tampered_requests(tmp_path: Path) -> None:
    async with http_bot(tmp_path) as (base, fake, runtime), httpx.AsyncClient() as http:
        url = f"{base}/slack/events"
        body = command_body(fake, "a signed cat")
        now = str(int(time.time()))
        good = _headers(body, now)
        forged: dict[str, tuple[str, dict[str, str]]] = {
            "signed for another timestamp": (body, _headers(body, now, str(int(now) - 10))),
            "timestamp 6 minutes in the future": (body, signed(body, age=-360)),
            "timestamp 6 minutes old": (body, signed(body, age=360)),
            "one byte added to the body": (body + "x", good),
            "one byte removed from the body": (body[:-1], good),
            "no timestamp header": (
                body,
                {k: v for k, v in good.items() if k != "x-slack-request-timestamp"},
            ),
            "no signature header": (
                body,
                {k: v for k, v in good.items() if k != "x-slack-signature"},
            ),
            "empty signature": (body, {**good, "x-slack-signature": ""}),
            "another signature version": (
                body,
                {**good, "x-slack-signature": good["x-slack-signature"].replace("v0=", "v1=")},
            ),
            "signed with the wrong secret": (body, signed(body, secret=SECRET + "x")),
        }
        for case, (content, headers) in forged.items():
            resp = await http.post(url, content=content, headers=headers)
            assert resp.status_code == 401, case
        assert await runtime.store.get_job(1) is None
        assert fake.calls_to("chat.postMessage") == []

        # The genuine request works, and replaying it (inside the 5 minutes, so the signature
        # still holds) is answered but makes no second video.
        for _ in range(2):
            resp = await http.post(url, content=body, headers=good)
            assert resp.status_code == 200

        async def done() -> Any:
            job = await runtime.store.get_job(1)
            return job if job and job.state == S.DELIVERED else None

        job = await until(done, 20, "the signed command was not delivered")
        assert await runtime.store.get_job(2) is None

        # A Delete button press that Slack did not sign is refused before any listener runs.
        press = fake.block_action(ui.ACTION_DELETE, str(job.id), "U1", "C1", job.card_ts)
        form = urlencode({"payload": json.dumps(press)})
        for headers in (
            {"content-type": "application/x-www-form-urlencoded"},
            signed(form, secret="not-the-secret"),
            signed(form, age=400),
        ):
            resp = await http.post(url, content=form, headers=headers)
            assert resp.status_code == 401
        assert (await runtime.store.get_job(1)).state == S.DELIVERED  # type: ignore[union-attr]

        big = "text=" + "a" * (2 * 1024 * 1024)  # over the 1 MB body cap: never parsed
        resp = await http.post(url, content=big, headers=signed(big))
        assert resp.status_code == 413


@pytest.mark.parametrize("case", ["timestamp-not-a-number", "timestamp-empty", "body-not-utf8"])
async def test_malformed_unsigned_requests_are_refused_without_a_traceback(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with http_bot(tmp_path) as (base, fake, _), httpx.AsyncClient() as http:
        body: str | bytes = command_body(fake, "a cat")
        headers = _headers(str(body), "1700000000")
        if case == "timestamp-not-a-number":
            headers = _headers(str(body), "soon")
        elif case == "timestamp-empty":
            headers["x-slack-request-timestamp"] = ""
        else:
            body = b"text=\xff\xfe" + str(body).encode()
        resp = await http.post(f"{base}/slack/events", content=body, headers=headers)
        assert resp.status_code in (400, 401)
        assert "Traceback" not in caplog.text


# -- who may delete or cancel -------------------------------------------------------------------


async def test_only_the_requester_or_an_admin_deletes_or_cancels(tmp_path: Path) -> None:
    config = fast_emulator_config()
    async with slack_rig(
        tmp_path, emulator_config=config, admin_user_ids=frozenset({"UADMIN"})
    ) as rig:
        done = await video(rig, "mine, not yours")
        card, posted = done.card_ts or "", done.video_message_ts or ""
        attempts = [
            ("interactive", rig.fake.block_action(ui.ACTION_DELETE, "1", "U2", "C1", card)),
            ("events_api", rig.fake.reaction_added("U2", "wastebasket", "C1", card)),
            ("events_api", rig.fake.reaction_added("U2", "wastebasket::skin-tone-4", "C1", posted)),
        ]
        for kind, payload in attempts:
            await rig.send(kind, payload)
        refusals = await eventually(
            lambda: len(rig.fake.ephemerals("U2")) >= 3 and rig.fake.ephemerals("U2"), "refusals"
        )
        assert len(refusals) == 3
        assert all("Only <@U1> (who asked for it) or a Sora admin" in r["text"] for r in refusals)
        await quiet(rig)
        after = await rig.job(1)
        assert (after.state, after.deleted_by) == (S.DELIVERED, None)
        assert not rig.emulator.videos[done.video_id or ""].deleted
        assert not rig.fake.files[done.slack_file_id or ""].deleted
        assert rig.fake.calls_to("files.delete") == []
        assert not any(r.method == "DELETE" for r in rig.emulator.requests)

        config.generation_seconds_per_video_second = 30.0  # the next video takes a while
        await rig.command("slow and mine")
        running = await rig.wait_state(2, S.RUNNING)
        slow_card = running.card_ts or ""
        await rig.send(
            "interactive",
            rig.fake.block_action(ui.ACTION_CANCEL, "2", "U2", "C1", slow_card),
        )
        await rig.send("events_api", rig.fake.reaction_added("U2", "wastebasket", "C1", slow_card))
        await eventually(lambda: len(rig.fake.ephemerals("U2")) >= 5, "no refusal of the cancel")
        assert (await rig.job(2)).state == S.RUNNING
        await rig.send(
            "interactive",
            rig.fake.block_action(ui.ACTION_CANCEL, "2", "UADMIN", "C1", slow_card),
        )
        canceled = await rig.wait_state(2, S.CANCELED)
        assert canceled.deleted_by == "UADMIN"  # the rule is who, not that it can't be done


# -- the bot token stays with Slack -------------------------------------------------------------


@contextlib.asynccontextmanager
async def file_host() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback server standing for Slack's file host and for foreign hosts; records every
    request with its Authorization header. /endless streams until the client gives up."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        record = {"path": request.path, "authorization": request.headers.get("Authorization")}
        seen.append(record)
        if request.path.startswith("/redirect"):
            raise web.HTTPFound(f"http://localhost:{port}/elsewhere/x.png")
        if request.path.startswith("/endless"):
            response = web.StreamResponse(headers={"Content-Type": "image/png"})
            await response.prepare(request)
            chunk, sent = b"\x89PNG\r\n\x1a\n" + b"\0" * (64 * 1024 - 8), 0
            with contextlib.suppress(ConnectionError, RuntimeError):
                while sent < 200 * 1024 * 1024:
                    await response.write(chunk)
                    sent += len(chunk)
            record["sent"] = sent  # what left this server before the client hung up
            return response
        return web.Response(body=picture(16, 16), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


class FilesInfo:
    """Stands for the Web API client: files.info answers ``info``."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    async def files_info(self, file: str) -> dict[str, Any]:
        return {"ok": True, "file": {"id": file, **self.info}}


TOKEN = "xoxb-never-leaves-slack"


async def fetch(info: dict[str, Any], api_url: str, tmp_path: Path) -> Any:
    async with aiohttp.ClientSession() as session:
        fetcher = ImageFetcher(
            FilesInfo(info),  # type: ignore[arg-type]
            session,
            TOKEN,
            api_url=api_url,
            work_dir=tmp_path,
        )
        return await fetcher.first_frame("F1", "720x1280")


async def test_the_bot_token_is_only_sent_to_slacks_file_host(tmp_path: Path) -> None:
    async with file_host() as (slack, seen):
        api_url = f"{slack}/api/"  # SLACK_API_URL: its host counts as Slack's file host
        port = slack.rsplit(":", 1)[1]
        png = {"mimetype": "image/png", "size": 1000}
        refused_urls = {
            "external file": ({"is_external": True, "url_private": f"{slack}/x.png"}),
            "another host": {"url_private": f"http://localhost:{port}/x.png"},
            "look-alike host": {"url_private": "https://files.slack.com.evil.example/x.png"},
            "host in the path": {"url_private": "https://evil.example/files.slack.com/x.png"},
            "user-info trick": {"url_private": "https://files.slack.com@evil.example/x.png"},
            "plain http to files.slack.com": {"url_private": "http://files.slack.com/x.png"},
            "no url at all": {},
        }
        for case, urls in refused_urls.items():
            result = await fetch({**png, **urls}, api_url, tmp_path)
            assert isinstance(result, MediaError), case  # refused, not a fitted file
        assert seen == []  # not one request: the token had nowhere to go

        result = await fetch({**png, "url_private": f"{slack}/redirect/x.png"}, api_url, tmp_path)
        assert "web page instead of the image" in str(result)
        assert [s["path"] for s in seen] == ["/redirect/x.png"]  # the redirect is not followed
        assert seen[0]["authorization"] == f"Bearer {TOKEN}"

        seen.clear()
        result = await fetch({**png, "url_private": f"{slack}/ok/x.png"}, api_url, tmp_path)
        assert Path(result).is_file()  # the control: Slack's own host gets the token and works
        assert seen == [{"path": "/ok/x.png", "authorization": f"Bearer {TOKEN}"}]


async def test_end_to_end_foreign_file_urls_never_get_the_token(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        fake = rig.fake
        external = fake.add_user_file("drive.png", content=picture(32, 32), is_external=True)
        await _submit(rig, external, "U2")
        assert "stored outside Slack" in await refused(rig, "U2")

        moved = fake.add_user_file("moved.png", content=picture(32, 32))
        json_of = fake._file_json

        def elsewhere(f: Any) -> dict[str, Any]:  # files.info names another host
            out = json_of(f)
            if f.id == moved["id"]:
                url = f"http://localhost:{fake._port}/external/{f.id}/{f.name}"
                out.update(url_private=url, url_private_download=url)
            return out

        fake._file_json = elsewhere  # type: ignore[method-assign]
        await _submit(rig, moved, "U3")
        assert "stored outside Slack" in await refused(rig, "U3")
        await quiet(rig)
        assert fake.external_requests == []
        assert fake.downloads == []
        assert await rig.store.get_job(1) is None


async def _submit(rig: SlackRig, file: dict[str, Any], user: str) -> None:
    view = await open_modal(rig, person_message(rig, "go", files=[file]), user=user)
    values = {
        "prompt": {"prompt_input": {"type": "plain_text_input", "value": "go"}},
        "first_frame": {
            "first_frame_input": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}
        },
    }
    await rig.send("interactive", rig.fake.view_submission(view, user, values))


# -- hostile images -----------------------------------------------------------------------------


def test_a_png_claiming_50000x50000_is_refused_fast_without_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[object] = []
    real_load = ImageFile.ImageFile.load

    def load(self: Any) -> Any:
        decoded.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    bomb = huge_png_header(50_000, 50_000)
    started = time.monotonic()
    with pytest.raises(MediaError, match="too large to use"):
        fit_image(bomb, "720x1280")
    assert time.monotonic() - started < 0.5
    assert decoded == []
    assert len(bomb) < 1000


async def test_downloads_stop_at_the_cap_even_when_slack_lies_about_the_size(
    tmp_path: Path,
) -> None:
    async with file_host() as (slack, seen):
        info = {"mimetype": "image/png", "size": 1000, "url_private": f"{slack}/endless/x.png"}
        started = time.monotonic()
        result = await fetch(info, f"{slack}/api/", tmp_path)
        assert "larger than 20 MB" in str(result)
        assert time.monotonic() - started < 10
        await until(lambda: _now(seen and "sent" in seen[0]), 5, "the download never ended")
        assert seen[0]["sent"] < 2 * MAX_BYTES  # it hung up at the cap, not after 200 MB


async def _now(value: object) -> object | None:
    return value or None


async def test_a_30_mb_upload_is_refused_before_any_download(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        big = rig.fake.add_user_file(
            "huge.png", mimetype="image/png", size=30 * 1024 * 1024, head=picture(8, 8)
        )
        await _submit(rig, big, "U1")
        assert "larger than 20 MB" in await refused(rig, "U1")
        assert rig.fake.downloads == []  # files.info said 30 MB: not one byte fetched
        assert rig.emulator.create_calls == 0


# -- user text: stored verbatim, echoed escaped ---------------------------------------------------

INJECTIONS = {
    # what Slack sends for /sora TEXT -> what must be stored (Slack escapes &, <, >)
    "<!channel> everyone look": "<!channel> everyone look",
    "<@U999> is a dancing robot": "<@U999> is a dancing robot",
    "<!subteam^S123|@team> party": "<!subteam^S123|@team> party",
    "<https://evil.example|click me> poster": "<https://evil.example|click me> poster",
    "*bold* and _italic_": "*bold* and _italic_",
    "&amp;lt;b&amp;gt; literally": "&lt;b&gt; literally",
    "&lt;!channel&gt; typed by hand": "<!channel> typed by hand",
    "Robert'); DROP TABLE jobs;--": "Robert'); DROP TABLE jobs;--",
    '" OR 1=1; -- and %s %(x)s {0}': '" OR 1=1; -- and %s %(x)s {0}',
}


def _shown_texts(blocks: list[dict[str, Any]]) -> str:
    texts = []
    for block in blocks:
        texts.append(str((block.get("text") or {}).get("text") or ""))
        texts += [
            str(e.get("text")) for e in block.get("elements") or [] if e.get("type") == "mrkdwn"
        ]
    return "\n".join(texts)


async def test_user_text_is_stored_verbatim_and_escaped_in_cards(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_queued_per_user=100) as rig:
        for text in INJECTIONS:
            await rig.command(text)
        for job_id, stored in enumerate(INJECTIONS.values(), start=1):
            job = await delivered(rig, job_id)
            assert job.prompt == stored  # the jobs row holds exactly what was asked
            await rig.settle_cards()
            card = rig.fake.messages[("C1", job.card_ts or "")]
            shown = _shown_texts(card.blocks or []).replace("<@U1>", "")
            assert "<" not in shown, shown  # no mention, broadcast or link can be forged
            assert ui.escape(stored) in shown
        assert len(await rig.store.recent_jobs_for_user("U1", limit=50)) == len(INJECTIONS)

        _, _, payload = await rig.command("list")
        listing = await eventually(lambda: rig.fake.responses(payload["response_url"]), "no list")
        assert "<!channel>" not in said(listing)
        assert "<@U999>" not in said(listing)


async def test_card_notification_text_cannot_mention_anyone(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.command("<!channel> wake up <@U999>")
        job = await delivered(rig, 1)
        await rig.settle_cards()
        versions = rig.fake.message_history("C1", job.card_ts or "")
        for version in versions:
            text = version["text"].replace("<@U1>", "")
            assert "<!channel>" not in text
            assert "<@U999>" not in text


# -- no secret in the logs ----------------------------------------------------------------------

BOT_TOKEN = "xoxb-4242-SECRETBOTTOKEN-9f8e7d"
APP_TOKEN = "xapp-1-A42-SECRETAPPTOKEN-6c5b4a"
SIGNING = "signing-SECRET-3a2b1c0d9e8f"
AZURE_KEY = "azure-SECRET-key-0f1e2d3c4b5a"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING, AZURE_KEY)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = root.handlers[:], root.level, httpx_logger.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)


@contextlib.asynccontextmanager
async def bot_with_secrets(tmp_path: Path) -> AsyncIterator[SlackRig]:
    fake = FakeSlack(
        bot_token=BOT_TOKEN, app_token=APP_TOKEN, member_channels={"C1"}, scopes=manifest_scopes()
    )
    emulator = Emulator(fast_emulator_config(api_keys=frozenset({AZURE_KEY})))
    async with fake.serve() as api_url, emulator.serve():
        settings = replace(
            Settings(),
            slack_bot_token=Secret(BOT_TOKEN),
            slack_app_token=Secret(APP_TOKEN),
            slack_signing_secret=Secret(SIGNING),
            slack_api_url=api_url,
            azure_openai_endpoint=emulator.base_url,
            azure_openai_api_key=Secret(AZURE_KEY),
            db_path=tmp_path / "bot.db",
            log_level="DEBUG",
        )
        assert sorted(_secrets(settings)) == sorted(SECRETS)
        stream = io.StringIO()
        setup_logging("DEBUG", "text", stream, _secrets(settings))
        async with open_runtime(settings, tuning=fast_tuning(tmp_path / "work")) as runtime:
            handler = AsyncSocketModeHandler(runtime.app, APP_TOKEN)
            await runtime.start()
            await handler.connect_async()  # type: ignore[no-untyped-call]
            try:
                rig = SlackRig(fake, emulator, runtime, handler)
                rig.log = stream  # type: ignore[attr-defined]
                yield rig
            finally:
                await handler.close_async()  # type: ignore[no-untyped-call]
                await runtime.stop(grace=1.0)


@pytest.mark.usefixtures("restore_logging")
async def test_no_secret_reaches_the_logs_on_success_or_failure(tmp_path: Path) -> None:
    raw = io.StringIO()  # unredacted too: the bot should not even try to log a secret
    async with bot_with_secrets(tmp_path) as rig:
        raw_handler = logging.StreamHandler(raw)
        raw_handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
        logging.getLogger().addHandler(raw_handler)
        log: io.StringIO = rig.log  # type: ignore[attr-defined]
        await delivered(rig, (await _job_for(rig, "a calm lake")).id)  # the happy path

        rig.emulator.fail_next(401, method="POST", body={"error": {"code": "401"}})
        await _job_for(rig, "refused by azure")  # Azure says the key is wrong
        await eventually(lambda: "refused the bot's credentials" in log.getvalue(), "no 401")

        rig.fake.fail_next("chat.postMessage", status=200, error="invalid_auth")
        job = await _job_for(rig, "refused by slack")  # Slack says the token is wrong
        await rig.wait_state(job.id, S.CANCELED)

        png = rig.fake.add_user_file("me.png", content=picture(64, 64))
        await _submit(rig, png, "U1")  # a download with the bot token in its header
        await eventually(lambda: rig.fake.downloads, "no download")
        rig.fake.files_read_missing = True
        await _submit(rig, rig.fake.add_user_file("no.png", content=picture(8, 8)), "U2")
        assert "files:read" in await refused(rig, "U2")

    text = log.getvalue()
    assert "DEBUG" in text
    assert "invalid_auth" in text  # the failures were logged...
    for secret in SECRETS:
        assert secret not in text  # ...without a secret
        assert secret not in raw.getvalue()


async def _job_for(rig: SlackRig, prompt: str) -> Any:
    before = len(await rig.store.recent_jobs_for_user("U1", limit=100))
    await rig.command(prompt)

    async def new() -> Any:
        jobs = await rig.store.recent_jobs_for_user("U1", limit=100)
        return jobs[0] if len(jobs) > before else None

    return await until(new, 5, f"no job for {prompt!r}")
