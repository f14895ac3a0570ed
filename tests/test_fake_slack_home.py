"""The fake Slack's views.publish is as strict as Slack: Block Kit checked by slack_sdk's
models, at most 100 blocks, slack_file images only of live image files the bot uploaded,
Tier 4 (100 a minute), and no Home when the manifest does not enable it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from fakes.slack import FakeSlack
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.home_blocks import HomePage, Usage, home_view

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (64).to_bytes(4, "big") + (64).to_bytes(4, "big")


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack(member_channels={"C1"}, clock=Clock())
    slack.add_user("U1")
    async with slack.serve():
        yield slack


def section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if accessory:
        block["accessory"] = accessory
    return block


async def upload(fake: FakeSlack, client: AsyncWebClient, name: str, body: bytes) -> str:
    resp = await client.files_getUploadURLExternal(filename=name, length=len(body))
    async with aiohttp.ClientSession() as http, http.post(str(resp["upload_url"]), data=body):
        pass
    await client.files_completeUploadExternal(files=[{"id": resp["file_id"], "title": name}])
    return str(resp["file_id"])


async def refused(client: AsyncWebClient, view: dict[str, Any]) -> str:
    with pytest.raises(SlackApiError) as info:
        await client.views_publish(user_id="U1", view=view)
    return str(info.value.response["error"])


async def test_publish_checks_blocks_images_and_size(fake: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=f"{fake.base_url}/api/")
    page = HomePage(user="U1", videos=[], total=0, offset=0, notify=True,
                    usage=Usage(month_seconds=0, price_per_second=0.1, daily_limit=0,
                                day_used=0))  # fmt: skip
    await client.views_publish(user_id="U1", view=home_view(page))  # the bot's own view
    assert fake.home_of("U1") is not None

    frame = await upload(fake, client, "frame.png", PNG)
    movie = await upload(fake, client, "clip.mp4", b"\x00" * 32)
    image = {"type": "image", "slack_file": {"id": frame}, "alt_text": "a frame"}
    await client.views_publish(
        user_id="U1", view={"type": "home", "blocks": [section("ok", image)]}
    )
    not_image = {**image, "slack_file": {"id": movie}}
    unknown = {**image, "slack_file": {"id": "F0NOPE"}}
    both = {**image, "slack_file": {"id": frame, "url": "https://files.slack.com/x"}}
    for bad in (not_image, unknown):
        assert await refused(client, {"type": "home", "blocks": [section("x", bad)]}) == (
            "invalid_blocks"
        )
    assert await refused(client, {"type": "home", "blocks": [section("x", both)]}) == (
        "invalid_arguments"
    )
    fake.files[frame].deleted = True  # a deleted first frame is no longer shown
    assert await refused(client, {"type": "home", "blocks": [section("x", image)]}) == (
        "invalid_blocks"
    )
    too_many = {"type": "home", "blocks": [section(f"{i}") for i in range(101)]}
    assert await refused(client, too_many) == "invalid_blocks"
    long_button = {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}, "action_id": "a"}
    ]}  # fmt: skip
    assert await refused(client, {"type": "home", "blocks": [long_button]}) == "invalid_blocks"


async def test_publish_is_tier_4_and_needs_the_home_tab(fake: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=f"{fake.base_url}/api/", retry_handlers=[])
    view = {"type": "home", "blocks": [section("hello")]}
    for _ in range(100):
        await client.views_publish(user_id="U1", view=view)
    assert await refused(client, view) == "ratelimited"
    fake.clock.now += 61  # type: ignore[attr-defined]
    await client.views_publish(user_id="U1", view=view)
    fake.home_tab_enabled = False  # type: ignore[attr-defined]
    assert await refused(client, view) == "not_enabled"
