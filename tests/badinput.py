"""Bad input, end to end: the machinery behind the corpus (tests/test_bad_input_*.py).

Every case is one envelope sent through the whole bot (fake Slack over Socket Mode with the
real Bolt handler, the real runner, the emulator): slash commands, modal submissions, thread
replies, images for the "Make a video" shortcut, reactions, and payloads Slack would never
send. For each one the bot must ack the envelope, answer with a clear phrase where the
person will see it (or say nothing when the input is not for it), create no job and make no
Sora request when the input is invalid, and stay alive: every group ends with a valid
``/sora`` that is delivered.

The cases of one group run in one bot, one after the other (``run_group``), and the
failures are collected into one readable report. Cases that show a bug are in the same
tables, marked with ``bug``: they run one by one as strict xfails in
tests/test_bad_input_corpus.py (fix the bug, then drop the mark).

Here: the bot's world for one group (``Ctx``), a case (``Case``), observing what the bot
did, running a case and a group, and the payload builders the tables are written with.
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

from slackrig import SlackRig, slack_rig, until
from test_slack_shortcut import as_submitted

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
                lambda: soon(case.says in said(rig, before, payload)[case.where]),
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


async def soon(value: bool) -> bool | None:
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
    await until(lambda: soon(len(c.fake.views) > opened), 3, "the modal did not open")
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


# -- phrases more than one group expects ------------------------------------------------------

LIMIT = "the limit is 32,000"
OFF_HERE = "isn't enabled in this channel"


# -- running a group ----------------------------------------------------------------------------


async def run_group(group: str, cases: list[Case], tmp_path: Path) -> None:
    """Every case of ``group`` not marked ``bug``, in one bot, then a valid ``/sora``;
    fails with one report of every problem."""
    cases = [case for case in cases if not case.bug]
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
