"""Records and shared state of the fake Slack (see `slack.py` for the public class)."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head><body>"
    "<h1>Sign in to your workspace</h1><form action='/signin'></form></body></html>"
)


class SlackError(Exception):
    """A Web API refusal: HTTP 200 `{"ok": false, "error": error, **extra}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


class RateLimited(Exception):
    """Answered HTTP 429 `{"ok": false, "error": "ratelimited"}` with `Retry-After`."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def invalid_arguments(message: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


@dataclass(frozen=True)
class Call:
    method: str
    args: dict[str, Any]
    time: float


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    members: set[str] | None = None  # human members; None = every user

    @property
    def is_im(self) -> bool:
        return self.id.startswith("D")

    @property
    def share_kind(self) -> str:
        return "private" if self.is_private or self.is_im else "public"

    @property
    def channel_type(self) -> str:
        return "im" if self.is_im else "group" if self.is_private else "channel"


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    user: str | None
    bot_id: str | None = None
    subtype: str | None = None
    files: list[str] = field(default_factory=list)
    orphan: bool = False  # thread_ts named no message: Slack says ok, nobody ever sees it
    tombstone: bool = False  # a deleted thread parent that still has replies
    reply_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # every version, oldest first

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class StoredFile:
    id: str
    name: str
    title: str
    mimetype: str
    filetype: str
    user: str
    created: int
    size: int = 0
    bot_upload: bool = False
    state: str = "completed"  # bot uploads: pending -> uploaded -> completed
    declared_length: int | None = None
    received: int = 0
    sha256: str | None = None
    head: bytes = b""
    content: bytes | None = None  # user files: the body, or None for a generated one
    is_external: bool = False
    original_w: int | None = None
    original_h: int | None = None
    alt_txt: str | None = None
    deleted: bool = False
    shares: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


@dataclass
class Ack:
    envelope_id: str
    message: dict[str, Any]
    latency: float
    count: int = 1


@dataclass
class Fault:
    kind: str  # fail | slow | drop | after_success
    times: int
    status: int = 429
    retry_after: int = 1
    error: str | None = None
    seconds: float = 0.0
    mode: str = "drop"


def parse_json_arg(value: Any, *, name: str, error: str | None = None) -> Any:
    """A JSON argument: already decoded (JSON bodies) or a string (query and form bodies)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        if error is not None:
            raise SlackError(error) from None
        raise invalid_arguments(f"invalid JSON for field: {name}") from None


class FakeSlackBase:
    """Configuration, state and helpers shared by the mixins of `FakeSlack`."""

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str,
        team_id: str,
        bot_user_id: str,
        bot_id: str,
        scopes: tuple[str, ...],
        member_channels: set[str],
        channels: dict[str, str] | None,
        app_id: str,
        share_delay: float,
        clock: Callable[[], float],
    ) -> None:
        self.bot_token, self.app_token, self.team_id = bot_token, app_token, team_id
        self.bot_user_id, self.bot_id, self.app_id = bot_user_id, bot_id, app_id
        self.scopes = tuple(scopes)
        self.member_channels = set(member_channels)
        self.share_delay = share_delay
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        for cid, name in {"C1": "general", "C2": "random", **(channels or {})}.items():
            self.add_channel(cid, name)
        for cid in self.member_channels - self.channels.keys():
            self.add_channel(cid)
        self.users: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.deleted_messages: list[Message] = []
        self.files: dict[str, StoredFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.enforce_tier3 = False
        self.tier3_limit = 50
        # chat.postMessage: about 1 a second per channel, short bursts pass (a token bucket
        # of post_burst refilled at post_rate a second); always enforced, as Slack does.
        self.post_rate = 1.0
        self.post_burst = 5
        self.post_refusals: list[tuple[str, float]] = []  # (channel, time) of each 429
        self._post_buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self.files_read_missing = False
        self._faults: dict[str, deque[Fault]] = {}
        self._tier3: dict[str, deque[float]] = {}
        self._triggers: dict[str, tuple[float, str, bool]] = {}  # id -> (issued, user, used)
        self._ephemerals: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._ts_base = int(time.time()) * 1_000_000
        self._tasks: set[asyncio.Task[None]] = set()
        self._port: int | None = None

    # -- identifiers ---------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09d}"

    def _next_ts(self) -> str:
        micros = self._ts_base + next(self._ids) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlack is not serving: use `async with fake.serve()`")
        return f"http://127.0.0.1:{self._port}"

    # -- workspace -----------------------------------------------------------------------------
    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool | None = None,
        members: set[str] | None = None,
        bot_member: bool | None = None,
    ) -> Channel:
        """A conversation; ids starting with G are private, with D a DM. `members` restricts which
        users are in it (default: everyone). `bot_member` adds/removes the bot."""
        private = channel_id.startswith("G") if is_private is None else is_private
        channel = Channel(channel_id, name or channel_id.lower(), private, members)
        self.channels[channel_id] = channel
        if bot_member is True:
            self.member_channels.add(channel_id)
        elif bot_member is False:
            self.member_channels.discard(channel_id)
        return channel

    def set_channel_members(self, channel_id: str, members: set[str] | None) -> None:
        self.channels[channel_id].members = None if members is None else set(members)

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": name.title(),
            "tz": "Europe/Paris",
            "tz_offset": 3600,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": {"real_name": name.title(), "display_name": name, "team": self.team_id},
        }
        self.users[user_id] = user
        return user

    def _ensure_user(self, user_id: str) -> None:
        if user_id not in self.users:
            self.add_user(user_id)

    # -- inspection ----------------------------------------------------------------------------
    def _post_rate_check(self, channel_id: str) -> None:
        now = self.clock()
        tokens, at = self._post_buckets.get(channel_id, (float(self.post_burst), now))
        tokens = min(float(self.post_burst), tokens + (now - at) * self.post_rate)
        if tokens < 1:
            self._post_buckets[channel_id] = (tokens, now)
            self.post_refusals.append((channel_id, now))
            raise RateLimited(max(1, math.ceil((1 - tokens) / self.post_rate)))
        self._post_buckets[channel_id] = (tokens - 1, now)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def message_history(self, channel: str, ts: str) -> list[dict[str, Any]]:
        return list(self.messages[(channel, ts)].history)

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """The visible replies of a thread, oldest first."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.channel == channel and m.thread_ts == thread_ts and m.is_reply and not m.orphan
            ),
            key=lambda m: m.ts,
        )

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        return list(self._ephemerals.get(user, []))

    def new_trigger_id(self, user: str = "U1") -> str:
        trigger = f"{next(self._ids)}.{self.team_id}.{next(self._ids):032x}"
        self._triggers[trigger] = (self.clock(), user, False)
        return trigger

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take_fault(self, method: str, kind: str) -> Fault | None:
        queue = self._faults.get(method, deque())
        for fault in queue:
            if fault.kind == kind:
                fault.times -= 1
                if fault.times <= 0:
                    queue.remove(fault)
                return fault
        return None

    @staticmethod
    def _json(
        body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.json_response(body, status=status, headers=headers)
