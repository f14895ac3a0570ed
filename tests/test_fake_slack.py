"""The fake Slack (tests/fakes/slack.py) driven by the real slack_sdk and slack_bolt clients."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fakes.slack import FakeSlack
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from slackrig import until

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (360).to_bytes(4, "big")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def fake(clock: Clock) -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(member_channels={"C1", "G1"}, clock=clock)
    async with slack.serve():
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=f"{fake.base_url}/api/")


async def refused(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


def error_of(e: SlackApiError) -> str:
    return str(e.response["error"])


async def get(url: str, token: str | None = None) -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as r:
        return r.status, r.content_type, await r.read()


async def test_auth_test_identity_scopes_and_token_rules(fake: FakeSlack, client: AsyncWebClient):
    me = await client.auth_test()
    assert (me["user_id"], me["bot_id"], me["team_id"]) == ("UBOT", "BBOT", "T1")
    assert "files:read" in me.headers["x-oauth-scopes"].split(",")
    url = f"{fake.base_url}/api/"
    wrong = AsyncWebClient(token="xoxb-other", base_url=url)
    assert error_of(await refused(wrong.auth_test())) == "invalid_auth"
    assert error_of(await refused(AsyncWebClient(base_url=url).auth_test())) == "not_authed"
    app = AsyncWebClient(token="xapp-test", base_url=url)
    assert error_of(await refused(app.auth_test())) == "not_allowed_token_type"
    unknown = await refused(client.api_call("sora.dance"))
    assert (error_of(unknown), unknown.response["req_method"]) == ("unknown_method", "sora.dance")
    assert [c.method for c in fake.calls][-1] == "sora.dance"


async def test_post_message_threads_and_refusals(fake: FakeSlack, client: AsyncWebClient):
    root = await client.chat_postMessage(channel="C1", text="card")
    reply = await client.chat_postMessage(channel="C1", text="progress", thread_ts=root["ts"])
    assert float(reply["ts"]) > float(root["ts"])
    assert reply["message"]["thread_ts"] == root["ts"]
    assert [m.text for m in fake.thread("C1", root["ts"])] == ["progress"]
    assert fake.messages[("C1", root["ts"])].reply_count == 1
    # A reply's ts files the message in the same thread.
    again = await client.chat_postMessage(channel="C1", text="more", thread_ts=reply["ts"])
    assert again["message"]["thread_ts"] == root["ts"]
    # Unknown thread_ts: Slack answers ok, but the reply is invisible (python-slack-sdk #840).
    lost = await client.chat_postMessage(channel="C1", text="lost", thread_ts="1.000001")
    assert fake.messages[("C1", lost["ts"])].orphan
    for kwargs, error in [
        ({"channel": "C404", "text": "x"}, "channel_not_found"),
        ({"channel": "C2", "text": "x"}, "not_in_channel"),
        ({"channel": "C1", "text": "x", "blocks": [{"text": "no type"}]}, "invalid_blocks"),
        ({"channel": "C1", "text": "x" * 40_001}, "msg_too_long"),
    ]:
        assert error_of(await refused(client.chat_postMessage(**kwargs))) == error
    no_text = client.api_call("chat.postMessage", json={"channel": "C1"})
    assert error_of(await refused(no_text)) == "no_text"
    bare = FakeSlack(scopes=("commands",))
    async with bare.serve() as url:
        e = await refused(
            AsyncWebClient(token="xoxb-test", base_url=url).chat_postMessage(channel="C1", text="x")
        )
    assert (error_of(e), e.response["needed"]) == ("missing_scope", "chat:write")


async def test_update_delete_and_ephemeral(fake: FakeSlack, client: AsyncWebClient):
    card = await client.chat_postMessage(channel="C1", text="queued")
    await client.chat_update(channel="C1", ts=card["ts"], text="running 50%")
    assert [v["text"] for v in fake.message_history("C1", card["ts"])] == ["queued", "running 50%"]
    human = fake.message_event("hi", user="U1")["event"]["ts"]
    assert error_of(await refused(client.chat_update(channel="C1", ts=human, text="x"))) == (
        "cant_update_message"
    )
    assert error_of(await refused(client.chat_update(channel="C1", ts="9.9", text="x"))) == (
        "message_not_found"
    )
    assert error_of(await refused(client.chat_delete(channel="C1", ts=human))) == (
        "cant_delete_message"
    )
    await client.chat_postMessage(channel="C1", text="reply", thread_ts=card["ts"])
    await client.chat_delete(channel="C1", ts=card["ts"])  # has a reply: becomes a tombstone
    assert fake.messages[("C1", card["ts"])].tombstone
    assert error_of(await refused(client.chat_delete(channel="C1", ts=card["ts"]))) == (
        "message_not_found"
    )
    sent = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert fake.ephemerals("U1")[0]["message_ts"] == sent["message_ts"]
    fake.set_channel_members("C1", {"U2"})
    e = await refused(client.chat_postEphemeral(channel="C1", user="U1", text="x"))
    assert error_of(e) == "user_not_in_channel"


MODAL = {
    "type": "modal",
    "callback_id": "sora_modal",
    "title": {"type": "plain_text", "text": "New video"},
    "submit": {"type": "plain_text", "text": "Create"},
    "blocks": [
        {
            "type": "input",
            "block_id": "prompt",
            "label": {"type": "plain_text", "text": "Prompt"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}


async def test_views_open_trigger_rules(fake: FakeSlack, client: AsyncWebClient, clock: Clock):
    trigger = fake.new_trigger_id("U1")
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    assert fake.views[opened["view"]["id"]]["callback_id"] == "sora_modal"
    assert error_of(await refused(client.views_open(trigger_id=trigger, view=MODAL))) == (
        "exchanged_trigger_id"
    )
    assert error_of(await refused(client.views_open(trigger_id="1.2.3", view=MODAL))) == (
        "invalid_trigger_id"
    )
    late = fake.new_trigger_id()
    clock.now += 3.1
    assert error_of(await refused(client.views_open(trigger_id=late, view=MODAL))) == (
        "expired_trigger_id"
    )
    no_submit = {k: v for k, v in MODAL.items() if k != "submit"}
    e = await refused(client.views_open(trigger_id=fake.new_trigger_id(), view=no_submit))
    assert error_of(e) == "invalid_arguments"
    assert e.response["response_metadata"]["messages"]
    updated = await client.views_update(view_id=opened["view"]["id"], view=MODAL)
    assert updated["view"]["id"] == opened["view"]["id"]


async def _now(value: Any) -> Any:
    return value


async def wait_for_share(client: AsyncWebClient, file_id: str) -> dict[str, Any]:
    async def shared() -> dict[str, Any] | None:
        info = await client.files_info(file=file_id)
        return dict(info["file"]) if info["file"]["shares"] else None

    return await until(shared, 10, "never shared")


async def test_files_upload_v2_end_to_end(fake: FakeSlack, client: AsyncWebClient):
    root = await client.chat_postMessage(channel="C1", text="card")
    body = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400
    done = await client.files_upload_v2(
        content=body, filename="v1.mp4", title="v1", channel="C1", thread_ts=root["ts"],
        initial_comment="Here it is",
    )  # fmt: skip
    fid = done["file"]["id"]
    assert done["file"]["shares"] == {}  # the share is asynchronous
    stored = fake.files[fid]
    assert (stored.size, stored.head) == (len(body), body[:64])
    assert stored.sha256 == hashlib.sha256(body).hexdigest()
    assert fake.calls_to("files.getUploadURLExternal")[0].args["length"] == str(len(body))
    info = await wait_for_share(client, fid)
    share = info["shares"]["public"]["C1"][0]
    assert (share["thread_ts"], share["channel_name"], info["mimetype"]) == (
        root["ts"], "general", "video/mp4"
    )  # fmt: skip
    message = fake.messages[("C1", share["ts"])]
    assert (message.text, message.files, message.user) == ("Here it is", [fid], "UBOT")
    assert fake.thread("C1", root["ts"]) == [message]
    # Deleting leaves the share message with a tombstone in place of the file.
    await client.files_delete(file=fid)
    assert error_of(await refused(client.files_delete(file=fid))) == "file_deleted"
    assert error_of(await refused(client.files_info(file=fid))) == "file_deleted"
    assert fake._message_json(message)["files"] == [{"id": fid, "mode": "tombstone"}]
    theirs = fake.add_user_file("cat.png", content=PNG, user="U1")
    assert error_of(await refused(client.files_delete(file=theirs["id"]))) == "cant_delete_file"
    assert error_of(await refused(client.files_delete(file="F404"))) == "file_not_found"


async def test_upload_protocol_refusals(fake: FakeSlack, client: AsyncWebClient):
    root = await client.chat_postMessage(channel="C1", text="card")
    reply = await client.chat_postMessage(channel="C1", text="r", thread_ts=root["ts"])

    async def ticket(length: int, sent: bytes) -> str:
        got = await client.files_getUploadURLExternal(filename="a.mp4", length=length)
        async with aiohttp.ClientSession() as s, s.post(got["upload_url"], data=sent) as r:
            assert (r.status, await r.text()) == (200, f"OK - {len(sent)}")
        return str(got["file_id"])

    def complete(fid: str, **kw: Any) -> Any:
        return client.files_completeUploadExternal(files=[{"id": fid, "title": "a"}], **kw)

    fid = await ticket(3, b"abc")
    for kw, error in [
        ({"channel_id": "C1", "thread_ts": reply["ts"]}, "invalid_thread_ts"),
        ({"channel_id": "C2"}, "not_in_channel"),
        ({"channel_id": "CNOPE1234"}, "invalid_channel"),
        ({"channel_id": "U1"}, "invalid_arguments"),
    ]:
        assert error_of(await refused(complete(fid, **kw))) == error
    await complete(fid, channel_id="G1")  # a private channel: the share lands under "private"
    assert error_of(await refused(complete(fid, channel_id="G1"))) == "file_not_found"
    assert (await wait_for_share(client, fid))["shares"]["private"]["G1"][0]["channel_name"] == "g1"
    short = await ticket(10, b"abc")
    assert error_of(await refused(complete(short, channel_id="C1"))) == "file_update_failed"
    e = await refused(client.files_getUploadURLExternal(filename="a.mp4", length=0))
    assert error_of(e) == "missing_argument"


async def test_rate_limit_is_retried_by_the_sdk_handler(
    fake: FakeSlack, client: AsyncWebClient, monkeypatch: pytest.MonkeyPatch
):
    fake.fail_next("chat.postMessage", retry_after=1)
    e = await refused(client.chat_postMessage(channel="C1", text="x"))
    assert (e.response.status_code, e.response.headers["Retry-After"]) == (429, "1")
    assert error_of(e) == "ratelimited"
    monkeypatch.setattr(random, "random", lambda: 0.0)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    fake.fail_next("chat.postMessage", retry_after=1)
    started = time.monotonic()
    await client.chat_postMessage(channel="C1", text="x")
    assert time.monotonic() - started >= 1.0
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_tier3_window(fake: FakeSlack, client: AsyncWebClient, clock: Clock):
    fake.enforce_tier3 = True
    card = await client.chat_postMessage(channel="C1", text="x")
    for i in range(50):
        await client.chat_update(channel="C1", ts=card["ts"], text=f"{i}")
        clock.now += 0.5
    e = await refused(client.chat_update(channel="C1", ts=card["ts"], text="51"))
    assert (e.response.status_code, e.response.headers["Retry-After"]) == (429, "35")
    clock.now += 35
    await client.chat_update(channel="C1", ts=card["ts"], text="ok again")


async def test_faults(fake: FakeSlack, client: AsyncWebClient):
    fake.fail_next("chat.postMessage", status=503)
    assert (
        await refused(client.chat_postMessage(channel="C1", text="x"))
    ).response.status_code == 503
    fake.fail_next("chat.postMessage", status=200, error="fatal_error")
    assert error_of(await refused(client.chat_postMessage(channel="C1", text="x"))) == "fatal_error"
    fake.fail_next("upload", status=500)
    with pytest.raises(SlackRequestError):
        await client.files_upload_v2(content=b"abc", filename="a.mp4", channel="C1")
    fake.slow_next("auth.test", 0.2)
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.2
    # Timed out after succeeding: the SDK's connection-error retry repeats the completion.
    fake.fail_after_success("files.completeUploadExternal")
    e = await refused(client.files_upload_v2(content=b"abc", filename="a.mp4", channel="C1"))
    assert error_of(e) == "file_not_found"
    assert len(fake.calls_to("files.completeUploadExternal")) == 2  # call + retry
    await wait_for_share(client, next(reversed(fake.files)))  # the share happened anyway


async def test_user_file_downloads(fake: FakeSlack):
    small = fake.add_user_file("cat.png", content=PNG, original_w=640, original_h=360)
    assert (small["original_w"], small["mimetype"], small["filetype"]) == (640, "image/png", "png")
    url = small["url_private_download"]
    assert await get(url, "xoxb-test") == (200, "image/png", PNG)
    status, ctype, page = await get(url)
    assert (status, ctype) == (200, "text/html")
    assert b"Sign in" in page
    assert (await get(url, "xoxb-wrong"))[1] == "text/html"
    fake.files_read_missing = True
    assert (await get(url, "xoxb-test"))[1] == "text/html"
    fake.files_read_missing = False
    big = fake.add_user_file("clip.mp4", size=3_000_001, head=b"\x00\x00\x00\x18ftypmp42")
    status, ctype, data = await get(big["url_private_download"], "xoxb-test")
    assert (status, ctype, len(data), data[4:8]) == (200, "video/mp4", 3_000_001, b"ftyp")
    ext = fake.add_user_file("doc.png", content=PNG, is_external=True)
    assert ext["is_external"]
    assert ext["url_private"].startswith("http://localhost:")
    assert (await get(ext["url_private"]))[2] == PNG
    assert fake.external_requests[-1]["authorization"] is None
    assert [d["authorized"] for d in fake.downloads] == [True, False, False, False, True]


async def test_response_url_and_users(fake: FakeSlack, client: AsyncWebClient):
    url = fake.new_response_url()
    hook = AsyncWebhookClient(url)
    for i in range(5):
        assert (await hook.send(text=f"{i}")).status_code == 200
    assert (await hook.send(text="6th")).status_code == 404
    assert [r["text"] for r in fake.responses(url)] == ["0", "1", "2", "3", "4"]
    assert error_of(await refused(client.users_info(user="U1"))) == "missing_scope"
    admin = FakeSlack(scopes=("users:read",))
    admin.add_user("U9", "boss", is_admin=True)
    async with admin.serve() as api:
        users = AsyncWebClient(token="xoxb-test", base_url=api)
        assert (await users.users_info(user="U9"))["user"]["is_admin"] is True
        assert error_of(await refused(users.users_info(user="U404"))) == "user_not_found"


async def test_socket_mode_end_to_end_with_bolt(fake: FakeSlack):
    app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=f"{fake.base_url}/api/"))
    seen: list[dict[str, Any]] = []

    @app.command("/sora")
    async def sora(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack("queued")
        seen.append(command)
        await client.views_open(trigger_id=command["trigger_id"], view=MODAL)

    handler = AsyncSocketModeHandler(app, "xapp-test")
    try:
        await handler.connect_async()
        await asyncio.wait_for(fake.socket_connected.wait(), 5)
        eid = await fake.send_envelope("slash_commands", fake.slash_command("a corgi"))
        ack, latency = await fake.wait_ack(eid)
        assert ack == {"envelope_id": eid, "payload": {"text": "queued"}}
        assert latency < 1.0
        await until(lambda: _now(fake.views), 10, "no modal opened")
        assert seen[0]["text"] == "a corgi"
        assert len(fake.views) == 1
        # No listener for reaction_added: Bolt answers 404 internally and never acks.
        unhandled = await fake.send_envelope(
            "events_api", fake.reaction_added("U1", "wastebasket", "C1", "1.2")
        )
        with pytest.raises(TimeoutError):
            await fake.wait_ack(unhandled, timeout=0.5)
        await fake.disconnect_socket()
        await until(
            lambda: _now(fake.connections_opened >= 2 and fake.socket_connected.is_set()),
            10,
            "the SDK never reconnected",
        )
        assert fake.connections_opened == 2  # waited for >= 2: exactly one reconnection
        again = await fake.send_envelope("slash_commands", fake.slash_command("again"))
        assert (await fake.wait_ack(again))[0]["envelope_id"] == again
        await fake.disconnect_socket(graceful=True)  # Slack's "disconnect" message first
        assert fake.connections_opened == 3
        last = await fake.send_envelope("slash_commands", fake.slash_command("last"))
        assert (await fake.wait_ack(last))[0]["envelope_id"] == last
    finally:
        await handler.close_async()


async def test_payload_builders(fake: FakeSlack):
    envelope = fake.message_event("remix: faster", user="U2", channel="C1")
    event = envelope["event"]
    assert envelope["type"] == "event_callback"
    assert envelope["event_id"].startswith("Ev")
    assert fake.messages[("C1", event["ts"])].user == "U2"
    reply = fake.message_event("remix: slower", user="U2", thread_ts=event["ts"])["event"]
    assert reply["thread_ts"] == event["ts"]
    assert reply["parent_user_id"] == "U2"
    reaction = fake.reaction_added("U1", "wastebasket", "C1", event["ts"])["event"]
    assert reaction["item_user"] == "U2"
    shortcut = fake.message_shortcut("sora_from_message", event)
    assert shortcut["message_ts"] == event["ts"]
    assert shortcut["trigger_id"] in fake._triggers
    command = fake.slash_command("hello", user="U3")
    assert command["user_name"] == "u3"
    assert command["response_url"].startswith(fake.base_url)
    submitted = fake.view_submission(MODAL, values={"prompt": {"value": {"value": "x"}}})
    assert submitted["view"]["state"]["values"]["prompt"]["value"]["value"] == "x"
    action = fake.block_action("cancel", "42", "U1", "C1", event["ts"])
    assert action["actions"][0]["value"] == "42"
    assert action["message"]["ts"] == event["ts"]


@pytest.mark.parametrize("visible", [True, False])
async def test_files_info_before_the_upload_is_completed(
    fake: FakeSlack, client: AsyncWebClient, visible: bool
) -> None:
    """A bot upload exists from files.getUploadURLExternal on. Whether files.info shows it
    before completion (with no shares) or says file_not_found is not documented: the fake
    does either, and never shows a share before completeUploadExternal."""
    fake.pending_files_visible = visible
    got = await client.files_getUploadURLExternal(filename="a.mp4", length=3)
    fid = str(got["file_id"])

    async def info() -> dict[str, Any] | None:
        if not visible:
            assert error_of(await refused(client.files_info(file=fid))) == "file_not_found"
            return None
        return dict((await client.files_info(file=fid))["file"])

    pending = await info()
    assert (pending is not None) == visible
    assert pending is None or (pending["shares"], pending["size"]) == ({}, 0)
    async with aiohttp.ClientSession() as s, s.post(got["upload_url"], data=b"abc") as r:
        assert r.status == 200
    uploaded = await info()
    assert uploaded is None or (uploaded["shares"], uploaded["size"]) == ({}, 3)
    await client.files_completeUploadExternal(files=[{"id": fid, "title": "a"}], channel_id="C1")
    assert (await wait_for_share(client, fid))["shares"]["public"]["C1"]


async def test_upload_faults_before_and_after_the_bytes_arrive(fake: FakeSlack) -> None:
    async with aiohttp.ClientSession() as session:

        async def post(fid: str) -> int:
            url = f"{fake.base_url}/upload/{fid}"
            try:
                async with session.post(url, data=b"abc") as r:
                    return r.status
            except aiohttp.ClientError:
                return 0  # the connection was dropped

        async def ticket() -> str:
            async with session.post(
                f"{fake.base_url}/api/files.getUploadURLExternal",
                params={"filename": "a.mp4", "length": "3"},
                headers={"Authorization": f"Bearer {fake.bot_token}"},
            ) as r:
                return str((await r.json())["file_id"])

        fake.drop_next("upload")
        fid = await ticket()
        assert (await post(fid), fake.files[fid].received) == (0, 0)  # nothing taken
        fake.fail_after_success("upload", mode="drop")
        assert (await post(fid), fake.files[fid].received) == (0, 3)  # taken, answer lost
        fake.fail_after_success("upload", mode="500")
        fid = await ticket()
        assert (await post(fid), fake.files[fid].state) == (500, "uploaded")
