"""Block Kit builders: valid for slack_sdk.models, inside Slack's limits, user text escaped."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.slack import blocks as ui
from bot.store import Job, JobKind, JobState

S = JobState


def job(**overrides: Any) -> Job:
    base: dict[str, Any] = dict(
        id=7, team_id="T1", channel_id="C1", thread_ts=None, card_ts="1.1", requester_id="U1",
        kind=JobKind.TEXT, prompt="a corgi surfing", model="sora-2", size="720x1280", seconds=4,
        input_image_path=None, parent_job_id=None, parent_video_id=None, video_id="video_1",
        state=S.QUEUED, progress=0, error_code=None, error_message=None, created_at=1.0,
        updated_at=1.0, submitted_at=None, completed_at=None, delivered_at=None, attempts=0,
        slack_file_id=None, video_message_ts=None, version_label="v1", cancel_requested=False,
        deleted_by=None, dedupe_key=None,
    )  # fmt: skip
    base.update(overrides)
    return Job(**base)


def valid_blocks(blocks: list[dict[str, Any]]) -> None:
    assert 1 <= len(blocks) <= 50
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
    json.dumps(blocks)


@pytest.mark.parametrize(
    "state_fields",
    [
        {"state": S.QUEUED},
        {"state": S.SUBMITTING},
        {"state": S.RUNNING, "progress": 42},
        {"state": S.DOWNLOADING, "progress": 100},
        {"state": S.UPLOADING, "progress": 100},
        {"state": S.DELIVERED, "progress": 100},
        {"state": S.FAILED, "error_code": "moderation", "error_message": "blocked <b>"},
        {"state": S.CANCELED, "deleted_by": "U2"},
        {"state": S.DELETED, "deleted_by": "U2", "error_code": "provider_keeps"},
    ],
)
def test_every_card_is_valid(state_fields: dict[str, Any]) -> None:
    card = ui.job_card(job(**state_fields), position=2)
    valid_blocks(card.blocks)
    assert card.text
    assert "a corgi surfing" in card.text


def test_card_content_per_state() -> None:
    assert "2nd in line" in ui.job_card(job(), 2).blocks[2]["text"]["text"]
    assert "next in line" in ui.job_card(job(), 1).blocks[2]["text"]["text"]
    running = ui.job_card(job(state=S.RUNNING, progress=50)).blocks[2]["text"]["text"]
    assert "`▓▓▓▓▓▓░░░░░░` 50%" in running
    done = ui.job_card(job(state=S.DELIVERED, progress=100))
    actions = [e["action_id"] for e in done.blocks[-1]["elements"]]
    assert actions == [ui.ACTION_REMIX, ui.ACTION_DELETE]
    assert done.blocks[-1]["elements"][0]["value"] == "7"
    queued = ui.job_card(job())
    assert [e["action_id"] for e in queued.blocks[-1]["elements"]] == [ui.ACTION_CANCEL]
    failed = ui.job_card(job(state=S.FAILED, error_code="moderation", error_message="no"))
    assert failed.blocks[2]["text"]["text"].startswith(":no_entry: Failed")
    deleted = ui.job_card(job(state=S.DELETED, deleted_by="U9"))
    assert "Deleted by <@U9>" in deleted.blocks[2]["text"]["text"]
    landscape = ui.job_card(job(size="1280x720", seconds=8))
    assert landscape.blocks[1]["elements"][0]["text"] == "1280x720 · landscape · 8 s · v1"


def test_user_text_is_escaped_and_mentions_cannot_be_forged() -> None:
    card = ui.job_card(job(prompt="<!channel> & <@U999> <https://evil|click>"))
    shown = card.blocks[0]["text"]["text"]
    assert "<!channel>" not in shown
    assert "&lt;!channel&gt; &amp; &lt;@U999&gt;" in shown


def test_giant_prompts_stay_inside_the_limits() -> None:
    card = ui.job_card(job(prompt="y" * 32000, state=S.FAILED, error_message="z" * 5000))
    valid_blocks(card.blocks)
    assert len(card.text) <= 3000
    modal = ui.options_modal({"c": "C1"}, prompt="p" * 32000)
    View(**modal).validate_json()


def test_options_modal_defaults_and_prefill() -> None:
    modal = ui.options_modal({"channel_id": "C1"}, prompt="hi", size="1280x720", seconds=8)
    View(**modal).validate_json()
    shape = modal["blocks"][1]["element"]["initial_option"]["value"]
    duration = modal["blocks"][2]["element"]["initial_option"]["value"]
    assert (shape, duration) == ("landscape", "8")
    assert modal["blocks"][0]["element"]["initial_value"] == "hi"
    assert json.loads(modal["private_metadata"]) == {"channel_id": "C1"}
    with_image = ui.options_modal({}, image_name="cat.png")
    View(**with_image).validate_json()
    assert with_image["blocks"][-1]["block_id"] == ui.FIRST_FRAME[0]
    assert "initial_value" not in ui.options_modal({})["blocks"][0]["element"]


def test_remix_modal_and_replies_are_valid() -> None:
    View(**ui.remix_modal({"job_id": 7}, "v12")).validate_json()
    for message in (
        ui.help_message(),
        ui.error_reply("bad"),
        ui.invite_reply("a cat --landscape"),
        ui.notice("x" * 4000),
    ):
        valid_blocks(message.blocks)
        assert len(message.text) <= 3000


def test_upload_comment_names_version_settings_and_id() -> None:
    delivered = dataclasses.replace(job(), version_label="v2", size="1280x720", seconds=8)
    comment = ui.upload_comment(delivered, parent_label="v1")
    assert "*v2* · 1280x720 · 8 s · remix of v1 · `video_1`" in comment
