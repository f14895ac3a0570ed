"""Parsing what people type after ``/sora``: pure, no I/O.

``/sora PROMPT [--landscape|--portrait|--size WxH] [--seconds 4|8|12] [--variants N]``;
flags may stand anywhere in the text (``--seconds=8`` works too, and so do the en and em dashes some
keyboards turn ``--`` into). A subcommand is the whole text (``/sora list``); blank text
(spaces, zero-width characters) opens the modal. The prompt is the rest of the text, with
Slack's ``&amp;``/``&lt;``/``&gt;`` escapes undone, kept otherwise as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.sizes import DEFAULT_SECONDS, DEFAULT_SIZE, LANDSCAPE, PORTRAIT, SECONDS, SIZES
from bot.sora.models import PROMPT_MAX

SUBCOMMANDS = ("help", "list", "usage", "queue")
EXAMPLE = "/sora a corgi surfing at sunset --landscape --seconds 8"
_INVISIBLE = re.compile(
    r"[\s\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202f\u2060-\u2064\ufeff\u00ad]+"
)
_SMALL_INT = re.compile(r"[0-9]{1,9}")
OPTIONS = ("landscape", "portrait", "size", "seconds", "variants")
_FLAG = re.compile(r"(?:(?<=\s)|^)(?:--|[\u2013\u2014])([A-Za-z][\w-]*)(?:=(\S*))?(?=\s|$)")


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    size: str = DEFAULT_SIZE
    seconds: int = DEFAULT_SECONDS
    variants: int = 1  # `--variants N`: N videos of the same request (the cap is config)


@dataclass(frozen=True)
class Subcommand:
    name: str


@dataclass(frozen=True)
class OpenModal:
    """Blank text: open the options modal."""


@dataclass(frozen=True)
class Invalid:
    problem: str
    example: str = EXAMPLE


Parsed = VideoRequest | Subcommand | OpenModal | Invalid


def small_int(value: object) -> int | None:
    """A plain ASCII whole number of at most nine digits, else None (never raises)."""
    text = str(value) if value is not None else ""
    return int(text) if _SMALL_INT.fullmatch(text) else None


def unescape(text: str) -> str:
    """Undo Slack's three escapes (``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def is_blank(text: str) -> bool:
    return not _INVISIBLE.sub("", text)


def prompt_too_long(prompt: str) -> str | None:
    """The one answer, on every surface, to a prompt or remix change over Sora's limit."""
    if len(prompt) <= PROMPT_MAX:
        return None
    return f"The prompt is {len(prompt):,} characters; the limit is {PROMPT_MAX:,}."


@dataclass(frozen=True)
class FormErrors:
    """What is wrong with a submitted form, by field ("prompt", "shape", "seconds")."""

    fields: dict[str, str]


def parse_form(prompt: str, shape: str | None, seconds: str | None) -> VideoRequest | FormErrors:
    """The options form as a request; a value the form cannot offer is refused, never
    silently replaced by a default."""
    errors: dict[str, str] = {}
    if is_blank(prompt):
        errors["prompt"] = "Say what the video should show."
    elif (too_long := prompt_too_long(prompt)) is not None:
        errors["prompt"] = too_long
    if shape is not None and shape not in ("portrait", "landscape"):
        errors["shape"] = "Pick an orientation: portrait or landscape."
    number = small_int(seconds) if seconds is not None else DEFAULT_SECONDS
    if number not in SECONDS:
        errors["seconds"] = "Pick 4, 8 or 12."
    if errors:
        return FormErrors(errors)
    size = LANDSCAPE if shape == "landscape" else PORTRAIT
    return VideoRequest(prompt, size, number or DEFAULT_SECONDS)


def change_problem(change: str) -> str | None:
    """Why the remix form's change cannot be used, or None."""
    if is_blank(change):
        return "Say what should change."
    return prompt_too_long(change)


def parse_command(text: str) -> Parsed:
    if is_blank(text):
        return OpenModal()
    stripped = text.strip()
    if stripped.lower() in SUBCOMMANDS:
        return Subcommand(stripped.lower())

    size: str | None = None
    seconds: int | None = None
    variants: int | None = None
    pieces: list[str] = []
    position = 0
    matches = list(_FLAG.finditer(text))
    for match in matches:
        pieces.append(text[position : match.start()])
        position = match.end()
        name, value = match.group(1).lower(), match.group(2)
        if name not in OPTIONS:
            return Invalid(
                f"`--{name}` is not an option; the options are `--landscape`, `--portrait`, "
                "`--size WxH`, `--seconds 4|8|12` and `--variants N`"
            )
        takes_value = name in ("size", "seconds", "variants")
        if takes_value and value is None:
            value, position = _next_word(text, position)
            if value is None or _starts_flag(value):
                return Invalid(f"`--{name}` needs a value, for example `--{name} {_sample(name)}`")
        elif not takes_value and value is not None:
            return Invalid(f"`--{name}` takes no value")
        if name in ("landscape", "portrait") or name == "size":
            chosen = _size_for(name, value)
            if isinstance(chosen, Invalid):
                return chosen
            if size is not None:
                return Invalid(
                    "choose one shape: `--landscape`, `--portrait` or `--size WxH`, once"
                )
            size = chosen
        elif name == "seconds":
            if seconds is not None:
                return Invalid("`--seconds` is given twice; give it once")
            number = small_int(value)
            if number is None or number not in SECONDS:
                shown = _shown(value) if value is not None and len(value) <= 20 else "that"
                return Invalid(f"`--seconds {shown}` is not possible; use 4, 8 or 12")
            seconds = number
        elif name == "variants":
            if variants is not None:
                return Invalid("`--variants` is given twice; give it once")
            number = small_int(value)
            if number is None or number < 1:
                shown = _shown(value) if value is not None and len(value) <= 20 else "that"
                return Invalid(
                    f"`--variants {shown}` is not possible; ask for a number of videos, "
                    "for example `--variants 2`"
                )
            variants = number
    pieces.append(text[position:])
    prompt = unescape(_join(pieces))
    if is_blank(prompt):
        return Invalid("the prompt is empty: say what the video should show")
    too_long = prompt_too_long(prompt)
    if too_long is not None:
        return Invalid(too_long)
    return VideoRequest(prompt, size or DEFAULT_SIZE, seconds or DEFAULT_SECONDS, variants or 1)


def _shown(value: str) -> str:
    """A flag's value as a reply may quote it: as typed (Slack's escapes undone), then
    escaped again, so ``<!here>`` shows as text and mentions no one."""
    return unescape(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sample(name: str) -> str:
    return {"seconds": "8", "variants": "2"}.get(name, LANDSCAPE)


def _starts_flag(word: str) -> bool:
    return word.startswith(("--", "\u2013", "\u2014"))


def _next_word(text: str, position: int) -> tuple[str | None, int]:
    match = re.compile(r"\s+(\S+)").match(text, position)
    if match is None:
        return None, position
    return match.group(1), match.end()


def _size_for(name: str, value: str | None) -> str | Invalid:
    if name == "landscape":
        return LANDSCAPE
    if name == "portrait":
        return PORTRAIT
    assert value is not None
    size = value.lower().replace("×", "x")
    if size not in SIZES:
        shown = _shown(value) if len(value) <= 20 else "that"
        return Invalid(f"`--size {shown}` is not possible; use one of {', '.join(SIZES)}")
    return size


def _join(pieces: list[str]) -> str:
    """Glue the text around removed flags, leaving one space where a flag stood."""
    out = ""
    for piece in pieces:
        if out and not out[-1].isspace() and piece and not piece[0].isspace():
            out += " "
        elif out and out[-1].isspace() and piece and piece[0].isspace():
            piece = piece.lstrip()
        out += piece
    return out.strip()


_REMIX = re.compile(r"^\s*remix\b(?:\s*(v\d+)\b)?\s*[:\-\u2013\u2014]?\s*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class RemixReply:
    change: str  # "" when the reply named no change
    version: str | None = None  # "v2" for `remix v2: ...`; None means the latest


def parse_remix(text: str) -> RemixReply | None:
    """``remix: CHANGE``, ``remix CHANGE``, ``remix v2: CHANGE`` (any case); else None."""
    match = _REMIX.match(unescape(text or ""))
    if match is None:
        return None
    version = match.group(1).lower() if match.group(1) else None
    return RemixReply(match.group(2).strip(), version)
