"""Realistic Socket Mode payloads and `response_url`s for the fake Slack."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

from .slack_socket import SocketMixin

RESPONSE_URL_USES = 5  # Slack: 5 responses within 30 minutes
RESPONSE_URL_TTL = 30 * 60


class PayloadsMixin(SocketMixin):
    def _init_payloads(self) -> None:
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._response_issued: dict[str, float] = {}

    # -- response_url ----------------------------------------------------------------------------
    def new_response_url(self) -> str:
        rid = uuid.uuid4().hex
        self._responses[rid] = []
        self._response_issued[rid] = self.clock()
        return f"{self.base_url}/respond/{rid}"

    def responses(self, response_url_or_id: str) -> list[dict[str, Any]]:
        return list(self._responses[response_url_or_id.rstrip("/").rsplit("/", 1)[-1]])

    async def _respond(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        if rid not in self._responses:
            return web.Response(status=404, text="no_service")
        used = self._responses[rid]
        if (
            len(used) >= RESPONSE_URL_USES
            or self.clock() - self._response_issued[rid] > RESPONSE_URL_TTL
        ):
            return web.Response(status=404, text="expired_url")
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        if not (body.get("text") or body.get("blocks") or body.get("delete_original")):
            return web.Response(status=400, text="no_text")
        used.append(body)
        return web.Response(text="ok")

    # -- shared parts ----------------------------------------------------------------------------
    def _team(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": "fake-workspace"}

    def _user(self, user: str) -> dict[str, Any]:
        self._ensure_user(user)
        name = self.users[user]["name"]
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _channel_ref(self, channel: str) -> dict[str, Any]:
        known = self.channels.get(channel)
        return {"id": channel, "name": known.name if known else channel.lower()}

    def _event_envelope(self, event: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        event.setdefault("event_ts", event.get("ts") or f"{now}.000100")
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": self._new_id("Ev"),
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-fake-{uuid.uuid4().hex[:12]}",
        }

    # -- payloads --------------------------------------------------------------------------------
    def slash_command(
        self, text: str, user: str = "U1", channel: str = "C1", command: str = "/sora"
    ) -> dict[str, Any]:
        """A `slash_commands` payload with a fresh trigger_id and response_url."""
        ref = self._channel_ref(channel)
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake-workspace",
            "channel_id": channel,
            "channel_name": ref["name"],
            "user_id": user,
            "user_name": self._user(user)["name"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.new_response_url(),
            "trigger_id": self.new_trigger_id(user),
        }

    def message_shortcut(
        self, callback_id: str, message: dict[str, Any], *, user: str = "U1", channel: str = "C1"
    ) -> dict[str, Any]:
        """An `interactive` message_action payload on `message` (a message JSON)."""
        return {
            "type": "message_action",
            "token": "legacy-verification-token",
            "action_ts": f"{time.time():.6f}",
            "team": self._team(),
            "user": self._user(user),
            "channel": self._channel_ref(channel),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self.new_trigger_id(user),
            "response_url": self.new_response_url(),
            "message_ts": message["ts"],
            "message": message,
        }

    def message_event(
        self,
        text: str,
        user: str = "U1",
        channel: str = "C1",
        thread_ts: str | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """An `events_api` payload for a message; a plain message (no subtype, or file_share /
        thread_broadcast) is also stored, so the bot can reply to it or thread under it."""
        chan = self.channels.get(channel) or self.add_channel(channel)
        if subtype in (None, "file_share", "thread_broadcast"):
            m = self._store_message(
                chan, text, None, thread_ts, user=user, bot_id=bot_id, subtype=subtype
            )
            ts, thread_ts = m.ts, m.thread_ts
        else:
            ts = self._next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "channel_type": chan.channel_type,
            "user": user,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "client_msg_id": str(uuid.uuid4()),
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": uuid.uuid4().hex[:5],
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
        }
        if thread_ts:
            parent = self.messages.get((channel, thread_ts))
            event.update(thread_ts=thread_ts, parent_user_id=parent.user if parent else None)
        if subtype:
            event["subtype"] = subtype
        if bot_id:
            event.update(bot_id=bot_id)
            event.pop("client_msg_id")
        if files:
            event.update(files=files, upload=False, display_as_bot=False)
        return self._event_envelope(event)

    def reaction_added(
        self, user: str, reaction: str, channel: str, ts: str, item_user: str | None = None
    ) -> dict[str, Any]:
        author = self.messages.get((channel, ts))
        event: dict[str, Any] = {
            "type": "reaction_added",
            "user": user,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time():.6f}",
        }
        owner = item_user or (author.user if author else None)
        if owner:
            event["item_user"] = owner
        return self._event_envelope(event)

    def view_submission(
        self, view: dict[str, Any], user: str = "U1", values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`values` is Slack's `state.values`: {block_id: {action_id: {type, value...}}}."""
        stored = self.views.get(str(view.get("id")), view)
        submitted = {**stored, "state": {"values": values or {}}}
        return {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "trigger_id": self.new_trigger_id(user),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def block_action(
        self, action_id: str, value: str, user: str, channel: str, message_ts: str
    ) -> dict[str, Any]:
        stored = self.messages.get((channel, message_ts))
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": self.new_trigger_id(user),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": self._channel_ref(channel),
            "message": self._message_json(stored) if stored else {"ts": message_ts},
            "response_url": self.new_response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": uuid.uuid4().hex[:5],
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def app_home_opened(self, user: str = "U1", tab: str = "home") -> dict[str, Any]:
        """An `app_home_opened` event envelope body; `view` once a Home was published."""
        self._ensure_user(user)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user[1:],
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        published = self.views.get(f"VHOME{user}")
        if published is not None:
            event["view"] = published
        return self._event_envelope(event)

    def home_action(self, action_id: str, value: str, user: str = "U1") -> dict[str, Any]:
        """A button press on the person's published Home tab (no channel, no message)."""
        view = self.views.get(f"VHOME{user}") or {"id": f"VHOME{user}", "type": "home"}
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view["id"]},
            "trigger_id": self.new_trigger_id(user),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": view,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": uuid.uuid4().hex[:5],
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
