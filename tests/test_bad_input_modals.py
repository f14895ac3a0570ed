"""Bad input, end to end: submissions of the options modal (blank, missing or impossible
values, garbage metadata, replays) and of the remix modal. The machinery is in
tests/badinput.py."""

from __future__ import annotations

from pathlib import Path

from badinput import LIMIT, OFF_HERE, form, modal, remix_modal, run_group

MODALS = [
    modal("blank-prompt", values=form(prompt=" \n ")),
    modal("zero-width-prompt", values=form(prompt="\u200b\u2060")),
    modal("prompt-null", values=form(prompt=None)),
    modal("no-prompt-block", values=form(drop=("prompt",))),
    modal("no-state-at-all", values={}),
    modal("seconds-7", "Pick 4, 8 or 12.", values=form(seconds="7")),
    modal("seconds-0", "Pick 4, 8 or 12.", values=form(seconds="0")),
    modal("seconds-huge", "Pick 4, 8 or 12.", values=form(seconds="99999")),
    modal("seconds-abc", "Pick 4, 8 or 12.", values=form(seconds="abc")),
    modal("seconds-negative", "Pick 4, 8 or 12.", values=form(seconds="-4")),
    modal("seconds-superscript", "Pick 4, 8 or 12.", values=form(seconds="\u00b2")),
    modal("shape-square", "orientation", values=form(shape="square")),
    modal("prompt-100k", LIMIT, values=form(prompt="z" * 100_000)),
    modal("metadata-not-json", "Open the form again from a channel.", meta="garbage"),
    modal("metadata-empty", "Open the form again from a channel.", meta=""),
    modal("metadata-missing", "Open the form again from a channel.", meta=None),
    modal("metadata-list", "Open the form again from a channel.", meta="[1, 2]"),
    modal("metadata-string", "Open the form again from a channel.", meta='"C1"'),
    modal("metadata-no-channel", "Open the form again from a channel.", meta="{}"),
    modal("metadata-null-channel", "Open the form again from a channel.", meta='{"c":null}'),
    modal("metadata-3000-chars", "Open the form again from a channel.", meta="{" * 3000),
    modal("metadata-off-channel", OFF_HERE, "private", meta='{"c":"C3"}'),
    modal("metadata-unknown-file", "Can't use that image", "private",
          meta='{"c":"C1","f":"F404"}', values=form(frame=True)),
    modal("no-user", None, "any", drop=("user",), values=form(prompt="nobody")),
    modal("first-submission", where="job", view_id="VREPLAY", values=form(prompt="once"),
          prompt="once"),
    modal("view-id-replayed", None, view_id="VREPLAY", values=form(prompt="twice")),
    modal("mention-in-prompt", where="job", values=form(prompt="<!channel> <@U999> hi"),
          prompt="<!channel> <@U999> hi"),
    remix_modal("remix-blank", "  ", "Say what should change."),
    remix_modal("remix-zero-width", "\u200b", "Say what should change."),
    remix_modal("remix-null", None, "Say what should change."),
    remix_modal("remix-metadata-garbage", "at night", meta="garbage"),
    remix_modal("remix-unknown-job", "at night", meta='{"job": 99999}'),
    remix_modal("remix-job-not-a-number", "at night", meta='{"job": "1; DROP TABLE jobs"}'),
    remix_modal("remix-job-20-digits", "at night", meta='{"job": 99999999999999999999}'),
    remix_modal("remix-valid-with-mention", "<@U999> at night", where="job",
                prompt="<@U999> at night"),
]  # fmt: skip


async def test_the_modals_corpus(tmp_path: Path) -> None:
    await run_group("modals", MODALS, tmp_path)
