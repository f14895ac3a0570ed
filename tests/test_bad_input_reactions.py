"""Bad input, end to end: reactions (other emoji, on messages that are not the bot's, on
files, missing fields, the wastebasket by someone who may not delete). The machinery is in
tests/badinput.py."""

from __future__ import annotations

from pathlib import Path

from badinput import reaction, run_group

ONLY_REQUESTER = "Only <@U1> (who asked for it) or a Sora admin"
REACTIONS = [
    reaction("other-emoji", "thumbsup", user="U1"),
    reaction("other-emoji-someone-else", "tada"),
    reaction("on-a-person-message", "wastebasket", on="person", user="U1"),
    reaction("on-an-unknown-message", "wastebasket", on="unknown", user="U1"),
    reaction("off-channel", "wastebasket", on="off", user="U1"),
    reaction("on-a-file", "wastebasket", item={"type": "file", "file": "F1"}, user="U1"),
    reaction("on-a-file-comment", "wastebasket",
             item={"type": "file_comment", "file_comment": "Fc1", "file": "F1"}, user="U1"),
    reaction("no-item", "wastebasket", drop=("item",), user="U1"),
    reaction("empty-name", "", user="U1"),
    reaction("no-name", "wastebasket", drop=("reaction",), user="U1"),
    reaction("similar-name", "wastebasket_2", user="U1"),
    reaction("by-the-bot", "wastebasket", user="UBOT"),
    reaction("someone-else-on-card", "wastebasket", ONLY_REQUESTER),
    reaction("someone-else-on-video", "wastebasket", ONLY_REQUESTER, on="video"),
    reaction("someone-else-skin-tone", "wastebasket::skin-tone-2", ONLY_REQUESTER),
    reaction("someone-else-upper-case", "WASTEBASKET", ONLY_REQUESTER),
    reaction("someone-else-no-item-user", "wastebasket", ONLY_REQUESTER, drop=("item_user",)),
    reaction("no-user", "wastebasket", drop=("user",)),
]  # fmt: skip


async def test_the_reactions_corpus(tmp_path: Path) -> None:
    await run_group("reactions", REACTIONS, tmp_path)
