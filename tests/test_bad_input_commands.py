"""Bad input, end to end: ``/sora`` text (unknown, repeated and conflicting flags, bad
values, empty and 100,000-character prompts, NUL, RTL, ZWJ and combining characters), valid
odd prompts that must be stored verbatim and shown escaped, and a command whose card cannot
be posted. The machinery is in tests/badinput.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput import (
    LIMIT,
    OFF,
    OFF_HERE,
    S,
    dump,
    form,
    options_view,
    run_group,
    slash,
    soon,
    sora_calls,
    valid,
)
from slackrig import slack_rig, until

NOT_OPTION = "is not an option"
SECONDS = "use 4, 8 or 12"
NEEDS = "needs a value"
SHAPE = "choose one shape"
EMPTY = "the prompt is empty"

COMMANDS = [
    slash("unknown-flag", "a cat --foo", "`--foo` " + NOT_OPTION),
    slash(
        "unknown-flag-with-value",
        "a cat --style=noir",
        "`--style` " + NOT_OPTION,
    ),
    slash("unknown-flag-first", "--fast a cat", "`--fast` " + NOT_OPTION),
    slash("unknown-flag-upper-case", "a cat --LOOP", "`--loop` " + NOT_OPTION),
    slash("unknown-flag-after-tab", "a cat\t--foo", NOT_OPTION),
    slash("seconds-5", "a cat --seconds 5", SECONDS),
    slash("seconds-0", "a cat --seconds 0", SECONDS),
    slash("seconds-negative", "a cat --seconds -4", SECONDS),
    slash("seconds-word", "a cat --seconds eight", SECONDS),
    slash("seconds-decimal", "a cat --seconds 4.0", SECONDS),
    slash("seconds-20-digits", "a cat --seconds 99999999999999999999", SECONDS),
    slash("seconds-equals-5", "a cat --seconds=5", SECONDS),
    slash("seconds-equals-nothing", "a cat --seconds=", SECONDS),
    slash("seconds-upper-case", "a cat --SECONDS 5", SECONDS),
    slash("seconds-after-newline", "a cat\n--seconds 5", SECONDS),
    slash("seconds-nul-byte", "a cat --seconds 5\x00", SECONDS),
    slash("seconds-superscript", "a cat --seconds \u00b2", SECONDS),
    slash("seconds-5000-digits", "a cat --seconds " + "9" * 5000, SECONDS),
    slash("seconds-missing", "a cat --seconds", "`--seconds` " + NEEDS),
    slash("seconds-then-flag", "a cat --seconds --landscape", "`--seconds` " + NEEDS),
    slash("seconds-twice", "a cat --seconds 4 --seconds 8", "given twice"),
    slash("seconds-twice-equals", "a cat --seconds 4 --seconds=4", "given twice"),
    slash("size-missing", "a cat --size", "`--size` " + NEEDS),
    slash("size-then-flag", "a cat --size --portrait", "`--size` " + NEEDS),
    slash("size-640x480", "a cat --size 640x480", "is not possible; use one of"),
    slash("size-word", "a cat --size big", "is not possible; use one of"),
    slash("size-equals-nothing", "a cat --size=", "is not possible; use one of"),
    slash("size-three-numbers", "a cat --size 1x2x3", "is not possible; use one of"),
    slash("landscape-and-portrait", "a cat --landscape --portrait", SHAPE),
    slash("landscape-twice", "a cat --landscape --landscape", SHAPE),
    slash("size-and-portrait", "a cat --size 1280x720 --portrait", SHAPE),
    slash("portrait-and-size", "a cat --portrait --size 720x1280", SHAPE),
    slash("landscape-with-value", "a cat --landscape=yes", "`--landscape` takes no value"),
    slash("portrait-with-value", "a cat --portrait=1", "`--portrait` takes no value"),
    slash("en-dash-seconds", "a cat \u2013seconds 5", SECONDS),
    slash("em-dash-unknown", "a cat \u2014foo", NOT_OPTION),
    slash("em-dash-conflict", "a cat \u2014landscape \u2014portrait", SHAPE),
    slash("flags-only", "--landscape", EMPTY),
    slash("flags-only-two", "--landscape --seconds 8", EMPTY),
    slash("flags-and-zero-width", " --portrait \u200b\u200d ", EMPTY),
    slash("flags-and-nbsp", "\u00a0--size 1280x720\u00a0", EMPTY),
    slash("prompt-32001", "x" * 32001, LIMIT),
    slash("prompt-100k", "y" * 100_000, LIMIT),
    slash("prompt-40k-emoji", "\U0001f436" * 40_000, LIMIT),
    slash("prompt-100k-flags", "--x " * 25_000, NOT_OPTION),
    slash(
        "nul-only",
        "\x00\x00",
        "sora_options",
        "modal",
    ),
    slash("off-channel", "a cat", OFF_HERE, channel=OFF),
    slash("off-channel-blank", "", OFF_HERE, channel=OFF),
    slash("blank-opens-modal", "", "sora_options", "modal"),
    slash("spaces-open-modal", "   \t ", "sora_options", "modal"),
    slash("zero-width-opens-modal", "\u200b\u200c\u2060\ufeff", "sora_options", "modal"),
    valid("emoji-only", "\U0001f436\U0001f3c4\U0001f305"),
    valid("zwj-emoji", "\U0001f468\u200d\U0001f469\u200d\U0001f467 at the beach"),
    valid("combining-marks", "Z\u0334\u0321a\u0338l\u0337g\u0336o\u0335 text rising"),
    valid("rtl-arabic-landscape", "قطة تركب الأمواج --landscape", "قطة تركب الأمواج", "1280x720"),
    valid("rtl-hebrew-override", "\u202eחתול על גלשן"),
    valid("user-mention", "<@U123> dancing in the rain"),
    valid("channel-mention", "<!channel> a party in the office"),
    valid("here-with-label", "<!here|here> fireworks"),
    valid("link", "<https://x.example|y> as a movie poster"),
    valid("escaped-html", "&lt;b&gt;bold&lt;/b&gt; &amp; co", "<b>bold</b> & co"),
    valid("double-escaped", "&amp;lt;not a tag&amp;gt;", "&lt;not a tag&gt;"),
    valid("sql", "Robert'); DROP TABLE jobs;--"),
    valid("mrkdwn", "*bold* _it_ ~strike~ `code` ```block``` > quote"),
    valid("nul-inside", "a cat\x00 surfing"),
    valid("size-times-sign", "a cat --size 1280\u00d7720", "a cat", "1280x720"),
    valid("size-upper-x", "a cat --size 1280X720", "a cat", "1280x720"),
    valid("subcommand-words", "list of dancing fruits"),
    valid("bare-double-dash", "a cat -- on a mat"),
]


async def test_the_commands_corpus(tmp_path: Path) -> None:
    await run_group("commands", COMMANDS, tmp_path)


@pytest.mark.parametrize("where", ["bot-not-in-channel", "unknown-channel"])
async def test_a_job_whose_card_cannot_be_posted_never_reaches_sora(
    where: str, tmp_path: Path
) -> None:
    async with slack_rig(tmp_path, max_queued_per_user=1000) as rig:
        rig.fake.slow_next("chat.postMessage", 0.3)  # Slack takes its time to refuse
        if where == "unknown-channel":
            view = {**options_view('{"c":"C404"}'), "id": "VNOWHERE"}
            payload = rig.fake.view_submission(view, "U1", form())
            await rig.send("interactive", payload)
        else:
            payload = rig.fake.slash_command("a cat", channel="C2")
            await rig.send("slash_commands", payload)
        job = await rig.wait_state(1, S.CANCELED)
        url = payload.get("response_url")

        def invited() -> bool:
            answers = rig.fake.responses(url) if url else []
            answers += [m for m in rig.fake.messages.values() if m.channel.startswith("D")]
            return "/invite @Sora" in dump(answers)

        await until(lambda: soon(invited()), 3, "the person was not told to invite the bot")
        await rig.runtime.runner.run_until_idle(limit=5)
        assert job.video_id is None
        assert sora_calls(rig) == 0
