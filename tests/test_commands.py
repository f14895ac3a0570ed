"""Parsing /sora text: flags anywhere, subcommands, blank text, every kind of bad input."""

from __future__ import annotations

import pytest

from bot.slack.parse import Invalid, OpenModal, Subcommand, VideoRequest, parse_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a corgi surfing", VideoRequest("a corgi surfing")),
        ("a corgi --landscape surfing", VideoRequest("a corgi surfing", "1280x720")),
        ("--seconds 8 a cat", VideoRequest("a cat", seconds=8)),
        ("a cat --seconds=12", VideoRequest("a cat", seconds=12)),
        ("a cat --portrait", VideoRequest("a cat", "720x1280")),
        ("a cat --size 1792x1024", VideoRequest("a cat", "1792x1024")),
        ("a cat --size=1280X720", VideoRequest("a cat", "1280x720")),
        ("a cat —landscape –seconds 8", VideoRequest("a cat", "1280x720", 8)),
        ("a cat --LANDSCAPE", VideoRequest("a cat", "1280x720")),
        ("Tom &amp; Jerry &lt;3 &gt;", VideoRequest("Tom & Jerry <3 >")),
        ("&amp;lt; stays", VideoRequest("&lt; stays")),
        ("two  spaces  kept", VideoRequest("two  spaces  kept")),
        ("line one\nline two --landscape", VideoRequest("line one\nline two", "1280x720")),
        ("a sign saying x--y", VideoRequest("a sign saying x--y")),
        ("'); DROP TABLE jobs; --", VideoRequest("'); DROP TABLE jobs; --")),
        ("list of dancing fruits", VideoRequest("list of dancing fruits")),
        ("emoji 🦊 and ZWJ 👩‍🚀", VideoRequest("emoji 🦊 and ZWJ 👩‍🚀")),
    ],
)
def test_requests(text: str, expected: VideoRequest) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", ["help", " LIST ", "usage", "queue"])
def test_subcommands_are_the_whole_text(text: str) -> None:
    assert parse_command(text) == Subcommand(text.strip().lower())


@pytest.mark.parametrize("text", ["", "   ", "\u200b", " \u2060\ufeff \n\t", "\u00ad"])
def test_blank_text_opens_the_modal(text: str) -> None:
    assert parse_command(text) == OpenModal()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("a --landscape --portrait", "choose one shape"),
        ("a --landscape --landscape", "choose one shape"),
        ("a --size 1280x720 --portrait", "choose one shape"),
        ("a --seconds 4 --seconds 8", "given twice"),
        ("a --seconds 5", "use 4, 8 or 12"),
        ("a --seconds eight", "use 4, 8 or 12"),
        ("a --seconds", "needs a value"),
        ("a --seconds --landscape", "needs a value"),
        ("a --size 1920x1080", "is not possible"),
        ("a --size", "needs a value"),
        ("a --foo", "is not an option"),
        ("a --landscape=yes", "takes no value"),
        ("--landscape", "the prompt is empty"),
        ("--seconds 8 \u200b", "the prompt is empty"),
        ("x" * 32001, "the limit is 32,000"),
    ],
)
def test_invalid(text: str, says: str) -> None:
    result = parse_command(text)
    assert isinstance(result, Invalid)
    assert says in result.problem
    assert result.example.startswith("/sora ")
