"""Cards on their own, beyond tests/test_cards.py: one first post however often it is asked
for, a refusal surfaced to whoever asked, the version a remix came from, the edits owed
after a restart, and every message Slack received valid for slack_sdk's own Block Kit
models. The fake Slack over loopback HTTP, a real SQLite store."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from test_cards import cards_in, new, world

from bot.slack.cards import Cards
from bot.slack.errors import PERMANENT
from bot.store import JobKind, JobState, NewJob

S = JobState


def remix_of(parent_id: int, thread_ts: str) -> NewJob:
    return dataclasses.replace(
        new(2), kind=JobKind.REMIX, parent_job_id=parent_id, thread_ts=thread_ts
    )


async def test_a_card_asked_for_twice_at_once_is_posted_once(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store)
        job = await store.create_job(new(1))
        first, second = await asyncio.gather(cards.ensure(job), cards.ensure(job))
        assert first.card_ts
        assert first.card_ts == second.card_ts
        cards.ensure_soon(job)  # the runner asking later with its stale copy of the job
        late = await cards.ensure(job)
        assert late.card_ts == first.card_ts
        assert len(fake.calls_to("chat.postMessage")) == 1
        assert len(cards_in(fake)) == 1
        await cards.close()


@pytest.mark.parametrize("error", ["not_in_channel", "is_archived", "invalid_auth"])
async def test_a_card_slack_refuses_for_good_is_an_error_for_every_caller(
    tmp_path: Path, error: str
) -> None:
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store)
        job = await store.create_job(new(1))
        fake.fail_next("chat.postMessage", status=200, error=error)
        results = await asyncio.gather(cards.ensure(job), cards.ensure(job), return_exceptions=True)
        for result in results:
            assert isinstance(result, SlackApiError)
            assert result.response["error"] == error
        assert error in PERMANENT  # one the delivery turns into words
        assert len(fake.calls_to("chat.postMessage")) == 1  # refused: not tried again
        assert (await store.get_job(job.id)).card_ts is None  # type: ignore[union-attr]
        posted = await cards.ensure(job)  # asked again later: posted if Slack lets it
        assert posted.card_ts
        await cards.close()


async def test_a_card_in_a_channel_the_bot_cannot_see_is_refused_for_good(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store)
        job = await store.create_job(new(1, channel="C9"))  # not a member, unknown to Slack
        with pytest.raises(SlackApiError) as refused:
            await cards.ensure(job)
        assert refused.value.response["error"] in PERMANENT
        assert cards_in(fake, "C9") == []
        await cards.close()


async def test_a_remix_card_names_the_version_it_came_from(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store)
        parent = await cards.ensure(await store.create_job(new(1)))
        assert await cards.parent_label(parent) is None
        remix = await cards.ensure(
            await store.create_job(remix_of(parent.id, parent.card_ts or ""))
        )
        assert await cards.parent_label(remix) == "v1"
        assert remix.version_label == "v2"  # the next one in the parent's thread
        card = fake.messages[("C1", remix.card_ts or "")]
        assert card.thread_ts == parent.card_ts
        assert "a remix of v1" in json.dumps(card.blocks)
        assert "a remix of" not in json.dumps(fake.messages[("C1", parent.card_ts or "")].blocks)
        await cards.close()


async def test_after_a_restart_resync_brings_stale_cards_up_to_date_once(tmp_path: Path) -> None:
    async with world(tmp_path) as (fake, store, client):
        before = Cards(client, store, per_minute=6000)
        jobs = [await before.ensure(await store.create_job(new(i, user=f"U{i}"))) for i in range(3)]
        await before.close()
        # The process died after these moved, before their cards were edited.
        await store.transition(jobs[0].id, S.SUBMITTING)
        await store.transition(jobs[1].id, S.CANCELED)
        assert fake.calls_to("chat.update") == []

        after = Cards(client, store, per_minute=6000)
        assert await after.resync() == 2

        await after.throttle.flush(limit=5.0)  # what the bot's throttle task would send
        assert after.throttle.pending == 0
        updates = {c.args["ts"]: c.args["text"] for c in fake.calls_to("chat.update")}
        assert set(updates) == {jobs[0].card_ts, jobs[1].card_ts}
        assert "Starting" in updates[jobs[0].card_ts]
        assert "Canceled" in updates[jobs[1].card_ts]
        assert await store.jobs_with_stale_cards() == []
        again = Cards(client, store, per_minute=6000)  # a second restart owes nothing
        assert await again.resync() == 0
        assert len(fake.calls_to("chat.update")) == 2
        for cards in (after, again):
            await cards.close()


async def test_every_card_slack_receives_is_valid_block_kit(tmp_path: Path) -> None:
    """A job and its remix through every state, posted and edited by Cards: each message as
    Slack received it parses and validates with slack_sdk.models."""
    async with world(tmp_path) as (fake, store, client):
        cards = Cards(client, store, per_minute=6000)
        queued = await cards.ensure(await store.create_job(new(0, user="U0")))
        job = await cards.ensure(await store.create_job(new(1)))
        remix = await cards.ensure(await store.create_job(remix_of(job.id, job.card_ts or "")))
        path: list[tuple[JobState, dict[str, Any]]] = [
            (S.SUBMITTING, {}),
            (S.RUNNING, {"progress": 40, "video_id": "video_1"}),
            (S.DOWNLOADING, {"progress": 100}),
            (S.UPLOADING, {}),
            (S.DELIVERED, {}),
            (S.DELETED, {"deleted_by": "U1"}),
        ]
        for state, fields in path:  # each edit sent unless the card shows it already
            await cards._edit((await store.transition(job.id, state, **fields)).id, None)
        await store.transition(remix.id, S.FAILED, error_code="moderation", error_message="<b>no")
        assert await cards._edit(remix.id, None)
        assert await cards._edit(queued.id, 1) is False  # shows its place already
        sent = fake.calls_to("chat.postMessage") + fake.calls_to("chat.update")
        assert len(sent) >= 3 + 4 + 1  # each state that reads differently
        assert "Deleted" in sent[-2].args["text"]
        for call in sent:
            blocks: list[dict[str, Any]] = call.args["blocks"]  # the client sends JSON
            assert 1 <= len(blocks) <= 50
            for raw in blocks:
                block = Block.parse(raw)
                assert block is not None, raw
                block.validate_json()
                assert block.to_dict() == raw  # nothing Slack's models do not know
            assert call.args["text"]
        await cards.close()
