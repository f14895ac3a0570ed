"""Bad input, end to end: a corpus of cases through the whole bot (fake Slack over Socket
Mode with the real Bolt handler, the real runner, the emulator).

Every case is one envelope: slash commands, modal submissions, thread replies, images for the
"Make a video" shortcut, reactions, and payloads Slack would never send. For each one the bot
must ack the envelope, answer with a clear phrase where the person will see it (or say
nothing when the input is not for it), create no job and make no Sora request when the input
is invalid, and stay alive: every group ends with a valid ``/sora`` that is delivered.

The cases of one group run in one bot, one after the other, and the failures are collected
into one readable report. Cases that show a bug are in the same tables, marked with ``bug``:
they run one by one as strict xfails in ``test_known_bug`` (fix the bug, then drop the mark).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slackrig import SlackRig, slack_rig, until
from test_slack_shortcut import as_submitted, huge_png_header, picture

from bot.slack import blocks as ui
from bot.store import Job, JobState

S = JobState
OFF = "C3"  # Sora is not enabled there (and the bot is not a member)
USERS = ("U1", "U2", "U3", "UADMIN")
SETTINGS: dict[str, Any] = {
    "allowed_channel_ids": frozenset({"C1"}),
    "admin_user_ids": frozenset({"UADMIN"}),
    "max_queued_per_user": 1000,
}
IGNORE_WAIT = 0.1  # how long a case that must be ignored gets to (wrongly) say something
_ids = itertools.count(1)


# -- the bot's world for one group ----------------------------------------------------------


@dataclass
class Ctx:
    """One bot and the threads the cases need, made on first use (before the case's
    snapshot, so they never count against it)."""

    rig: SlackRig
    sora_expected: int = 0  # Sora create/remix requests the fixtures and valid cases made
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def fake(self) -> Any:
        return self.rig.fake

    async def video(self) -> Job:
        """A delivered video by U1 in C1; its thread is its card."""
        if "video" not in self._cache:
            self._cache["video"] = await self._make("the sea at dawn")
        job: Job = self._cache["video"]
        return job

    async def deleted(self) -> Job:
        """A video its requester deleted (by reaction)."""
        if "deleted" not in self._cache:
            job = await self._make("a paper boat")
            payload = self.fake.reaction_added("U1", "wastebasket", "C1", job.card_ts or "")
            await self.rig.send("events_api", payload)
            self._cache["deleted"] = await self.rig.wait_state(job.id, S.DELETED)
        job = self._cache["deleted"]
        return job

    async def running(self) -> Job:
        """A video still being made (canceled by its requester when the group ends)."""
        if "running" not in self._cache:
            config = self.rig.emulator.config
            speed = config.generation_seconds_per_video_second
            config.generation_seconds_per_video_second = 30.0  # fixed when the video is made
            try:
                newest = await self._last_job()
                await self.rig.command("a very slow glacier")
                job = await until(lambda: self._new_job(newest), 5, "no slow job")
                self._cache["running"] = await self.rig.wait_state(job.id, S.RUNNING)
                self.sora_expected += 1
            finally:
                config.generation_seconds_per_video_second = speed
        job = self._cache["running"]
        return job

    async def plain(self) -> str:
        """The ts of a person's message with replies, and no video anywhere in its thread."""
        if "plain" not in self._cache:
            root = self.fake.message_event("lunch, anyone?", user="U2")["event"]
            self.fake.message_event("yes!", user="U3", thread_ts=root["ts"])
            self._cache["plain"] = root["ts"]
        ts: str = self._cache["plain"]
        return ts

    async def off_thread(self) -> str:
        """The ts of a thread in a channel where Sora is not enabled."""
        if "off" not in self._cache:
            self._cache["off"] = self.fake.message_event("hello", channel=OFF)["event"]["ts"]
        ts: str = self._cache["off"]
        return ts

    async def _make(self, prompt: str) -> Job:
        newest = await self._last_job()
        await self.rig.command(prompt)
        job = await until(lambda: self._new_job(newest), 5, f"no job for {prompt!r}")
        self.sora_expected += 1
        await self.rig.wait_state(job.id, S.DELIVERED)

        async def shared() -> Job | None:
            done = await self.rig.job(job.id)
            return done if done.video_message_ts else None

        return await until(shared, 5, "the video message is not known")

    async def _last_job(self) -> Job | None:
        jobs = await self.rig.store.recent_jobs_for_user("U1", limit=1)
        return jobs[0] if jobs else None

    async def _new_job(self, newest: Job | None) -> Job | None:
        """U1's job written after ``newest``: the listener writes it after the ack, so the
        newest job until then is an earlier one (taking it made a fixture of the wrong job)."""
        job = await self._last_job()
        return job if job is not None and (newest is None or job.id > newest.id) else None


Build = Callable[[Ctx], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    """One bad input. ``says``: a phrase the bot must answer with, ``where`` it must appear
    (``ack``: in the ack itself; ``errors``: a modal field error; ``private``: an ephemeral,
    a DM or a response_url answer; ``thread``: a reply in the thread; ``modal``: a modal was
    opened; ``any``: whatever it says, as long as nothing starts); ``None`` means the bot must
    say nothing. ``where="job"`` marks valid input that
    must start a job (``prompt``/``size`` stored verbatim; the card must escape it)."""

    id: str
    kind: str  # the Socket Mode envelope type
    build: Build
    says: str | None = None
    where: str = "ack"
    prompt: str | None = None
    size: str | None = None
    frame: bool | None = None  # modal cases: must the first-frame box be offered?
    bug: str | None = None  # a strict xfail, with what is wrong


# -- observing what the bot did ---------------------------------------------------------------


@dataclass
class Snapshot:
    messages: set[tuple[str, str]]
    ephemerals: dict[str, int]
    views: int
    sora: int
    jobs: int


def sora_calls(rig: SlackRig) -> int:
    """Create and remix requests (the ones that cost money)."""
    return sum(1 for r in rig.emulator.requests if r.method == "POST")


async def job_count(rig: SlackRig) -> int:
    return int(await rig.store.count_in_state(*JobState))


async def snapshot(rig: SlackRig) -> Snapshot:
    return Snapshot(
        set(rig.fake.messages),
        {u: len(rig.fake.ephemerals(u)) for u in USERS},
        len(rig.fake.views),
        sora_calls(rig),
        await job_count(rig),
    )


def dump(items: list[Any]) -> str:
    return json.dumps(
        [i if isinstance(i, dict) else [i.text, i.blocks] for i in items], ensure_ascii=False
    )


def new_bot_messages(rig: SlackRig, before: Snapshot) -> list[Any]:
    """The bot's new messages, but not the shares of delivered videos (earlier valid cases
    deliver theirs whenever they are ready)."""
    return [
        m
        for k, m in rig.fake.messages.items()
        if k not in before.messages and m.bot_id and not m.files
    ]


def said(rig: SlackRig, before: Snapshot, payload: dict[str, Any]) -> dict[str, str]:
    """What the bot said since ``before``, by where it said it."""
    messages = new_bot_messages(rig, before)
    private: list[Any] = [e for u in USERS for e in rig.fake.ephemerals(u)[before.ephemerals[u] :]]
    private += [m for m in messages if m.channel.startswith("D")]  # a DM
    url = payload.get("response_url")
    if isinstance(url, str):
        private += rig.fake.responses(url)
    views = list(rig.fake.views.values())[before.views :]
    return {
        "private": dump(private) if private else "",
        "thread": dump([m for m in messages if not m.channel.startswith("D")]) if messages else "",
        "modal": json.dumps(views, ensure_ascii=False) if views else "",
    }


def card_is_safe(rig: SlackRig, job: Job) -> str | None:
    """None when the card's blocks show the prompt escaped (no mention or link can be forged
    through it); else what is wrong."""
    card = rig.fake.messages.get((job.channel_id, job.card_ts or ""))
    if card is None:
        return "no card"
    texts = []
    for block in card.blocks or []:
        texts.append(str((block.get("text") or {}).get("text") or ""))
        for element in block.get("elements") or []:
            text = element.get("text")
            texts.append(str(text.get("text") if isinstance(text, dict) else text or ""))
    shown = "\n".join(texts).replace(f"<@{job.requester_id}>", "")
    if "<" in shown:
        return f"the card shows unescaped mrkdwn: {shown[:200]!r}"
    return None


# -- running a case -------------------------------------------------------------------------


async def run_case(ctx: Ctx, case: Case, patience: float = 3.5) -> list[str]:
    """The problems with how the bot handled ``case`` (an empty list when all is well);
    ``patience``: how long to wait for the ack and for an answer."""
    rig = ctx.rig
    try:
        payload = await case.build(ctx)
    except (AssertionError, TimeoutError) as exc:
        return [f"could not prepare the case: {exc}"]
    before = await snapshot(rig)
    envelope = await rig.fake.send_envelope(case.kind, payload)
    try:
        ack, _ = await rig.fake.wait_ack(envelope, timeout=patience)
    except TimeoutError:
        return ["the envelope was never acked (the person sees an error; Slack retries)"]
    answer = ack.get("payload") or {}
    if case.where == "job":
        return await _valid(ctx, case, before)
    problems: list[str] = []
    if case.where == "any":
        await asyncio.sleep(IGNORE_WAIT)
    elif case.says is None:
        await asyncio.sleep(IGNORE_WAIT)
        if answer:
            problems.append(f"must be ignored, but the ack says {json.dumps(answer)[:200]}")
        problems += [
            f"must be ignored, but said ({where}) {text[:200]}"
            for where, text in said(rig, before, payload).items()
            if text
        ]
    elif case.where in ("ack", "errors"):
        shown = json.dumps(answer, ensure_ascii=False)
        if case.says not in shown:
            problems.append(f"the ack does not say {case.says!r}: {shown[:300]}")
        if case.where == "errors" and answer.get("response_action") != "errors":
            problems.append("no field errors in the ack")
        await asyncio.sleep(0.02)
    else:
        try:
            await until(
                lambda: _soon(case.says in said(rig, before, payload)[case.where]),
                patience,
                "silence",
            )
        except AssertionError:
            everything = json.dumps(said(rig, before, payload), ensure_ascii=False)
            problems.append(f"no {case.where} answer saying {case.says!r}; said {everything}")
        if case.where == "modal" and case.frame is not None:
            view = list(rig.fake.views.values())[-1]
            offered = any(b.get("block_id") == ui.FIRST_FRAME[0] for b in view["blocks"])
            if offered != case.frame:
                problems.append(f"first frame offered: {offered}, expected {case.frame}")
    after = await snapshot(rig)
    if after.sora != before.sora:
        problems.append(f"invalid input reached Sora ({after.sora - before.sora} requests)")
    if after.jobs != before.jobs:
        problems.append(f"invalid input created {after.jobs - before.jobs} job(s)")
    return problems


async def _soon(value: bool) -> bool | None:
    return True if value else None


async def _valid(ctx: Ctx, case: Case, before: Snapshot) -> list[str]:
    rig = ctx.rig
    job_id = before.jobs + 1

    async def at_sora() -> Job | None:
        job = await rig.store.get_job(job_id)
        return job if job is not None and job.video_id and job.card_ts else None

    try:
        job = await until(at_sora, 10, "no job reached Sora with its card posted")
    except AssertionError as exc:
        return [f"valid input: {exc}"]
    ctx.sora_expected += 1
    problems = []
    if case.prompt is not None and job.prompt != case.prompt:
        problems.append(f"prompt stored as {job.prompt!r}, not {case.prompt!r}")
    if case.size is not None and job.size != case.size:
        problems.append(f"size {job.size}, not {case.size}")
    unsafe = card_is_safe(rig, job)
    if unsafe:
        problems.append(unsafe)
    return problems


# -- building payloads ------------------------------------------------------------------------


def slash(
    id: str,
    text: str,
    says: str | None = None,
    where: str = "ack",
    *,
    channel: str = "C1",
    drop: tuple[str, ...] = (),
    **kw: Any,
) -> Case:
    async def build(c: Ctx) -> dict[str, Any]:
        payload: dict[str, Any] = c.fake.slash_command(text, channel=channel)
        for key in drop:
            payload.pop(key)
        return payload

    return Case(id, "slash_commands", build, says, where, **kw)


def valid(id: str, text: str, prompt: str | None = None, size: str | None = None) -> Case:
    return slash(id, text, where="job", prompt=text if prompt is None else prompt, size=size)


def options_view(meta: str | None) -> dict[str, Any]:
    view = {"type": "modal", "callback_id": ui.VIEW_OPTIONS, "blocks": []}
    if meta is not None:
        view["private_metadata"] = meta
    return view


def form(
    prompt: str | None = "a red kite",
    shape: str | None = "portrait",
    seconds: str | None = "4",
    frame: bool = False,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The state.values of a submitted options modal."""
    values: dict[str, Any] = {
        "prompt": {"prompt_input": {"type": "plain_text_input", "value": prompt}},
        "shape": {"shape_input": {"type": "radio_buttons", "selected_option": {"value": shape}}},
        "seconds": {
            "seconds_input": {"type": "static_select", "selected_option": {"value": seconds}}
        },
    }
    if frame:
        box = {"text": {"type": "plain_text", "text": "x"}, "value": "yes"}
        values["first_frame"] = {
            "first_frame_input": {"type": "checkboxes", "selected_options": [box]}
        }
    for key in drop:
        values.pop(key)
    return values


def modal(
    id: str,
    says: str | None = "Say what the video should show.",
    where: str = "errors",
    *,
    meta: str | None = '{"c":"C1"}',
    values: dict[str, Any] | None = None,
    view_id: str | None = None,
    drop: tuple[str, ...] = (),
    **kw: Any,
) -> Case:
    async def build(c: Ctx) -> dict[str, Any]:
        view = {**options_view(meta), "id": view_id or f"VBAD{next(_ids)}"}
        payload: dict[str, Any] = c.fake.view_submission(
            view, "U1", form() if values is None else values
        )
        for key in drop:
            payload.pop(key)
        return payload

    return Case(id, "interactive", build, says, where, **kw)


def remix_modal(
    id: str,
    change: str | None,
    says: str | None = None,
    where: str = "errors",
    *,
    meta: str | None = None,
    **kw: Any,
) -> Case:
    async def build(c: Ctx) -> dict[str, Any]:
        data = meta if meta is not None else json.dumps({"job": (await c.video()).id})
        view = {
            "id": f"VBAD{next(_ids)}",
            "type": "modal",
            "callback_id": ui.VIEW_REMIX,
            "private_metadata": data,
            "blocks": [],
        }
        values = {"change": {"change_input": {"type": "plain_text_input", "value": change}}}
        payload: dict[str, Any] = c.fake.view_submission(view, "U2", values)
        return payload

    return Case(id, "interactive", build, says, where, **kw)


async def _thread_ts(c: Ctx, thread: str) -> str | None:
    if thread == "video":
        return (await c.video()).card_ts
    if thread == "deleted":
        return (await c.deleted()).card_ts
    if thread == "running":
        return (await c.running()).card_ts
    if thread == "plain":
        return await c.plain()
    if thread == "off":
        return await c.off_thread()
    return None


def reply(
    id: str,
    text: str | None,
    says: str | None = None,
    where: str = "thread",
    *,
    thread: str = "video",
    subtype: str | None = None,
    bot_id: str | None = None,
    user: str = "U1",
    drop: tuple[str, ...] = (),
    **kw: Any,
) -> Case:
    """A message event: a reply in one of the context's threads (``thread``), a top-level
    message (``none``), or a root message claiming to be its own thread (``root``)."""

    async def build(c: Ctx) -> dict[str, Any]:
        channel = OFF if thread == "off" else "C1"
        ts = await _thread_ts(c, thread)
        payload: dict[str, Any] = c.fake.message_event(
            text or "", user=user, channel=channel, thread_ts=ts, subtype=subtype, bot_id=bot_id
        )
        event = payload["event"]
        if thread == "root":
            event["thread_ts"] = event["ts"]
        if text is None:
            event.pop("text")
        for key in drop:
            event.pop(key, None)
        return payload

    return Case(id, "events_api", build, says, where, **kw)


def reaction(
    id: str,
    name: str,
    says: str | None = None,
    where: str = "private",
    *,
    on: str = "card",
    user: str = "U2",
    item: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **kw: Any,
) -> Case:
    """A reaction_added on the context video's card or video message, a person's message,
    a message nobody knows, or a message in a channel where Sora is off."""

    async def build(c: Ctx) -> dict[str, Any]:
        channel, ts = "C1", "1000000000.000100"
        if on in ("card", "video"):
            job = await c.video()
            ts = (job.card_ts if on == "card" else job.video_message_ts) or ""
        elif on == "person":
            ts = await c.plain()
        elif on == "off":
            channel, ts = OFF, await c.off_thread()
        payload: dict[str, Any] = c.fake.reaction_added(user, name, channel, ts)
        event = payload["event"]
        if item is not None:
            event["item"] = item
        for key in drop:
            event.pop(key, None)
        return payload

    return Case(id, "events_api", build, says, where, **kw)


def image(id: str, says: str | None, name: str = "photo.png", **file: Any) -> Case:
    """The "Make a video" shortcut on a message with one file, then the modal submitted as
    offered (first frame ticked): the submission is the case."""

    async def build(c: Ctx) -> dict[str, Any]:
        file.setdefault("mimetype", "image/png")
        f = c.fake.add_user_file(name, **file)
        view = await open_options(c, [f])
        frame = any(b.get("block_id") == ui.FIRST_FRAME[0] for b in view["blocks"])
        assert frame, "the image was not offered as a first frame"
        payload: dict[str, Any] = c.fake.view_submission(view, "U1", as_submitted(view))
        return payload

    return Case(id, "interactive", build, says, "private")


def not_offered(id: str, name: str, mimetype: str, content: bytes) -> Case:
    """A file that is not a usable image: the modal opens without the first-frame box."""

    async def build(c: Ctx) -> dict[str, Any]:
        f = c.fake.add_user_file(name, mimetype=mimetype, content=content)
        message = c.fake.message_event("make it move", files=[f])["event"]
        payload: dict[str, Any] = c.fake.message_shortcut(
            ui.SHORTCUT_FROM_MESSAGE, message, user="U1"
        )
        return payload

    return Case(id, "interactive", build, ui.VIEW_OPTIONS, "modal", frame=False)


async def open_options(c: Ctx, files: list[dict[str, Any]]) -> dict[str, Any]:
    message = c.fake.message_event("make it move", files=files)["event"]
    opened = len(c.fake.views)
    payload = c.fake.message_shortcut(ui.SHORTCUT_FROM_MESSAGE, message, user="U1")
    await c.rig.send("interactive", payload)
    await until(lambda: _soon(len(c.fake.views) > opened), 3, "the modal did not open")
    view: dict[str, Any] = list(c.fake.views.values())[-1]
    return view


def raw(
    id: str,
    kind: str,
    make: Callable[[Ctx], Awaitable[dict[str, Any]]],
    says: str | None = None,
    where: str = "private",
    **kw: Any,
) -> Case:
    return Case(id, kind, make, says, where, **kw)


def button(
    id: str, action: str, value: str, *, user: str = "U1", on: str = "card", **kw: Any
) -> Case:
    async def build(c: Ctx) -> dict[str, Any]:
        ts = ((await c.video()).card_ts or "") if on == "card" else "1000000000.000200"
        payload: dict[str, Any] = c.fake.block_action(action, value, user, "C1", ts)
        return payload

    return Case(id, "interactive", build, kw.pop("says", None), kw.pop("where", "private"), **kw)


# -- the corpus ---------------------------------------------------------------------------------

NOT_OPTION = "is not an option"
SECONDS = "use 4, 8 or 12"
NEEDS = "needs a value"
SHAPE = "choose one shape"
EMPTY = "the prompt is empty"
LIMIT = "the limit is 32,000"
OFF_HERE = "isn't enabled in this channel"

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

IMAGES = [
    image("png-30mb", "it is larger than 20 MB", size=30 * 1024 * 1024, head=picture(8, 8)),
    image("corrupt-png", "the image is damaged", content=picture(64, 64)[:60] + b"\0" * 100),
    image("text-named-png", "the file is not a PNG, JPEG or WebP image",
          name="notes.png", content=b"just some text, honest"),
    image("html-page-named-png", "web page instead of the image",
          content=b"<!DOCTYPE html><html><body>Sign in</body></html>"),
    image("zip-named-png", "the file is not a PNG, JPEG or WebP image",
          content=b"PK\x03\x04" + b"\0" * 200),
    image("empty-png", "the file is not a PNG, JPEG or WebP image", content=b""),
    image("bomb-50000x50000", "too large to use", content=huge_png_header(50_000, 50_000)),
    image("truncated-jpeg", "the image is damaged", name="cut.jpg", mimetype="image/jpeg",
          content=picture(64, 64, "JPEG")[:200]),
    image("external-host", "stored outside Slack", content=picture(32, 32), is_external=True),
    not_offered("zip-file", "photos.zip", "application/zip", b"PK\x03\x04" + b"\0" * 100),
    not_offered("html-file", "page.html", "text/html", b"<html></html>"),
    not_offered("gif", "anim.gif", "image/gif", b"GIF89a" + b"\0" * 100),
    not_offered("svg", "logo.svg", "image/svg+xml", b"<svg xmlns='x'></svg>"),
    not_offered("text-file-png-name", "fake.png", "text/plain", b"hello"),
    raw("unknown-file-stub", "interactive", lambda c: _stub_submission(c, "F404404"),
        ":frame_with_picture: Can't use that image: Slack would not share the file"),
    raw("deleted-file", "interactive", lambda c: _deleted_submission(c),
        ":frame_with_picture: Can't use that image: Slack would not share the file"),
]  # fmt: skip


async def _stub_submission(c: Ctx, file_id: str) -> dict[str, Any]:
    view = await open_options(c, [{"id": file_id, "file_access": "check_file_info"}])
    payload: dict[str, Any] = c.fake.view_submission(view, "U1", as_submitted(view))
    return payload


async def _deleted_submission(c: Ctx) -> dict[str, Any]:
    f = c.fake.add_user_file("gone.png", mimetype="image/png", content=picture(32, 32))
    view = await open_options(c, [f])
    c.fake.files[f["id"]].deleted = True  # deleted between the shortcut and the submission
    payload: dict[str, Any] = c.fake.view_submission(view, "U1", as_submitted(view))
    return payload


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


async def _block_action_without_actions(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.block_action(
        ui.ACTION_DELETE, "1", "U1", "C1", (await c.video()).card_ts or ""
    )
    payload["actions"] = []
    return payload


async def _unknown_event(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.message_event("hi")
    payload["event"] = {"type": "app_home_opened", "user": "U1", "tab": "home"}
    return payload


async def _no_event(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.message_event("hi")
    payload.pop("event")
    return payload


async def _shortcut(
    c: Ctx, callback: str, message: dict[str, Any] | None, channel: str = "C1"
) -> dict[str, Any]:
    message = message or {"type": "message", "ts": "1000000000.000300", "text": ""}
    payload: dict[str, Any] = c.fake.message_shortcut(callback, message, channel=channel)
    return payload


async def _no_message_shortcut(c: Ctx) -> dict[str, Any]:
    payload = await _shortcut(c, ui.SHORTCUT_REMIX, None)
    payload.pop("message")
    payload.pop("message_ts")
    return payload


async def _unknown_view(c: Ctx) -> dict[str, Any]:
    view = {"id": "VUNKNOWN", "type": "modal", "callback_id": "nope", "blocks": []}
    payload: dict[str, Any] = c.fake.view_submission(view, "U1", form())
    return payload


async def _other_command(c: Ctx) -> dict[str, Any]:
    payload: dict[str, Any] = c.fake.slash_command("a cat", command="/other")
    return payload


REMIX_ON_VIDEO = "Use *Remix* on a video the bot posted"
MALFORMED = [
    slash("command-without-text", "", "sora_options", "modal", drop=("text",)),
    slash("command-without-trigger", "a cat without a trigger", where="job",
          prompt="a cat without a trigger", drop=("trigger_id",)),
    # No trigger, no modal can open: the help says how to use /sora instead.
    slash("command-without-trigger-blank", "", "Make short videos", drop=("trigger_id",)),
    slash("command-without-channel", "a cat from nowhere", "which channel", drop=("channel_id",)),
    slash("command-without-user", "a cat by nobody", None, "any", drop=("user_id",)),
    button("delete-non-numeric", ui.ACTION_DELETE, "abc"),
    button("delete-empty-value", ui.ACTION_DELETE, ""),
    button("delete-negative", ui.ACTION_DELETE, "-1"),
    button("delete-sql", ui.ACTION_DELETE, "1 OR 1=1"),
    button("delete-unknown-job", ui.ACTION_DELETE, "99999"),
    button("delete-unknown-message", ui.ACTION_DELETE, "99999", on="unknown"),
    button("cancel-unknown-job", ui.ACTION_CANCEL, "99999"),
    button("remix-unknown-job", ui.ACTION_REMIX, "99999"),
    button("remix-non-numeric", ui.ACTION_REMIX, "v1"),
    button("delete-20-digits", ui.ACTION_DELETE, "99999999999999999999"),
    button("delete-superscript", ui.ACTION_DELETE, "\u00b2"),
    button("unknown-action", "nope_button", "1"),
    raw("block-action-without-actions", "interactive", _block_action_without_actions),
    raw("remix-shortcut-on-person-message", "interactive",
        lambda c: _shortcut(c, ui.SHORTCUT_REMIX, None), REMIX_ON_VIDEO),
    raw("remix-shortcut-without-message", "interactive", _no_message_shortcut, REMIX_ON_VIDEO),
    raw("make-shortcut-on-empty-message", "interactive",
        lambda c: _shortcut(c, ui.SHORTCUT_FROM_MESSAGE, None), "sora_options", "modal"),
    raw("make-shortcut-off-channel", "interactive",
        lambda c: _shortcut(c, ui.SHORTCUT_FROM_MESSAGE, None, OFF), OFF_HERE),
    raw("unknown-shortcut", "interactive", lambda c: _shortcut(c, "nope", None)),
    raw("unknown-view", "interactive", _unknown_view),
    raw("unknown-event-type", "events_api", _unknown_event),
    raw("event-envelope-without-event", "events_api", _no_event),
    raw("other-slash-command", "slash_commands", _other_command),
]  # fmt: skip

GROUPS: dict[str, list[Case]] = {
    "commands": COMMANDS,
    "modals": MODALS,
    "threads": THREADS,
    "images": IMAGES,
    "reactions": REACTIONS,
    "malformed": MALFORMED,
}
ALL = [(group, case) for group, cases in GROUPS.items() for case in cases]


def test_the_corpus_has_at_least_100_cases_with_unique_ids() -> None:
    ids = [f"{group}/{case.id}" for group, case in ALL]
    assert len(ids) == len(set(ids))
    bugs = sum(1 for _, case in ALL if case.bug)
    print(f"\n{len(ids)} bad-input cases ({bugs} show known bugs)")
    assert len(ids) >= 100


@pytest.mark.parametrize("group", list(GROUPS))
async def test_bad_input_corpus(group: str, tmp_path: Path) -> None:
    cases = [case for case in GROUPS[group] if not case.bug]
    started = time.monotonic()
    async with slack_rig(tmp_path, **SETTINGS) as rig:
        ctx = Ctx(rig)
        failures = []
        for case in cases:
            failures += [f"{group}/{case.id}: {p}" for p in await run_case(ctx, case)]
        if "running" in ctx._cache:
            job = ctx._cache["running"]
            cancel = rig.fake.block_action(
                ui.ACTION_CANCEL, str(job.id), "U1", "C1", job.card_ts or ""
            )
            await rig.send("interactive", cancel)
            await rig.wait_state(job.id, S.CANCELED)
        failures += await still_alive(ctx)
    print(f"\n{group}: {len(cases)} cases in {time.monotonic() - started:.1f} s")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


async def still_alive(ctx: Ctx) -> list[str]:
    """A valid /sora after the whole group: acked, delivered, and the only Sora requests
    ever made were for valid input."""
    rig = ctx.rig
    problems = []
    if sora_calls(rig) != ctx.sora_expected:
        problems.append(f"{sora_calls(rig)} Sora requests, {ctx.sora_expected} expected")
    before = await job_count(rig)
    _, latency, _ = await rig.command("still alive --landscape")
    if latency > 3.0:
        problems.append(f"the last command was acked after {latency:.1f} s")

    async def written() -> int | None:  # the listener writes the job after the ack
        count = await job_count(rig)
        return count if count > before else None

    job_id = await until(written, 10, "the last command made no job")
    job = await rig.wait_state(job_id, S.DELIVERED)
    if job.prompt != "still alive":
        problems.append(f"the last job is {job.prompt!r}")
    return problems


@pytest.mark.parametrize(
    ("group", "case"),
    [
        pytest.param(
            group,
            case,
            id=f"{group}/{case.id}",
            marks=pytest.mark.xfail(strict=True, reason=case.bug or ""),
        )
        for group, case in ALL
        if case.bug
    ],
)
async def test_known_bug(group: str, case: Case, tmp_path: Path) -> None:
    async with slack_rig(tmp_path, **SETTINGS) as rig:
        problems = await run_case(Ctx(rig), case, patience=1.0)  # a fixed bot acks in ms
    assert not problems, f"{group}/{case.id}: " + "; ".join(problems)


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

        await until(lambda: _soon(invited()), 3, "the person was not told to invite the bot")
        await rig.runtime.runner.run_until_idle(limit=5)
        assert job.video_id is None
        assert sora_calls(rig) == 0
