"""Bad input, end to end: replies in threads (``remix:`` with nothing, a missing version, no
video, a deleted or unfinished one, edits, bots, missing fields). The machinery is in
tests/badinput.py."""

from __future__ import annotations

from pathlib import Path

from badinput import LIMIT, OFF_HERE, reply, run_group

NO_CHANGE = "Say what should change"
THREADS = [
    reply("remix-nothing", "remix:", NO_CHANGE),
    reply("remix-word-only", "remix", NO_CHANGE),
    reply("remix-version-nothing", "remix v1:", NO_CHANGE),
    reply("remix-dash-nothing", "remix \u2014   ", NO_CHANGE),
    reply("remix-zero-width", "remix: \u200b\u2060", NO_CHANGE),
    reply("remix-missing-version", "remix v9: at night", "There is no v9 in this thread"),
    reply("remix-v0", "remix v0: at night", "There is no v0 in this thread"),
    reply("remix-upper-case-version", "REMIX V7: at night", "There is no v7 in this thread"),
    reply("remix-huge-version", "remix v99999999999999999999: x", "There is no v9999"),
    reply("remix-no-video-in-thread", "remix: at night", "There is no video in this thread",
          thread="plain"),
    reply("remix-version-no-video", "remix v1: at night", "There is no video in this thread",
          thread="plain"),
    reply("remix-deleted-video", "remix: at night", "it was deleted", thread="deleted"),
    reply("remix-deleted-version", "remix v1: at night", "it was deleted", thread="deleted"),
    reply("remix-unfinished", "remix: at night", "No video in this thread is finished yet",
          thread="running"),
    reply("remix-off-channel", "remix: at night", OFF_HERE, "private", thread="off"),
    reply("remix-100k", "remix: " + "w" * 100_000, LIMIT),
    reply("remix-top-level", "remix: at night", thread="none"),
    reply("remix-root-is-thread", "remix: at night", thread="root"),
    reply("not-a-remix", "please remix this later"),
    reply("remix-edited", "remix: at night", subtype="message_changed"),
    reply("remix-deleted-message", "remix: at night", subtype="message_deleted"),
    reply("channel-join", "remix: joined", subtype="channel_join"),
    reply("bot-message", "remix: at night", bot_id="B999", subtype="bot_message"),
    reply("bot-id-without-subtype", "remix: at night", bot_id="B999"),
    reply("own-message", "remix: at night", user="UBOT"),
    reply("no-text", None),
    reply("no-channel", "remix: at night", None, "any", drop=("channel",)),
    reply("no-thread-ts", "remix: at night", drop=("thread_ts",)),
    reply("no-user", "remix: by nobody", None, "any", drop=("user",)),
    reply("broadcast-nothing", "remix:", NO_CHANGE, subtype="thread_broadcast"),
    reply("remix-with-mention", "remix: <!channel> at night", where="job",
          prompt="<!channel> at night"),
]  # fmt: skip


async def test_the_threads_corpus(tmp_path: Path) -> None:
    await run_group("threads", THREADS, tmp_path)
