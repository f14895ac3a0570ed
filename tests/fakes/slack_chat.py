"""chat.*, views.*, users.info, conversations.info and auth.test of the fake Slack."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .slack_state import (
    Channel,
    FakeSlackBase,
    Message,
    SlackError,
    invalid_arguments,
    parse_json_arg,
)

MAX_TEXT = 40_000


def check_blocks(value: Any, *, limit: int = 50) -> list[dict[str, Any]]:
    blocks = parse_json_arg(value, name="blocks", error="invalid_blocks_format")
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > limit:
        raise SlackError("invalid_blocks", response_metadata={"messages": ["[ERROR] too many"]})
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            msg = f"[ERROR] missing required field: type [json-pointer:/blocks/{i}/type]"
            raise SlackError("invalid_blocks", response_metadata={"messages": [msg]})
        text = block.get("text")
        cap = {"section": 3000, "header": 150}.get(block["type"])
        if cap and isinstance(text, dict) and len(str(text.get("text", ""))) > cap:
            msg = f"[ERROR] must be less than {cap + 1} characters [json-pointer:/blocks/{i}/text]"
            raise SlackError("invalid_blocks", response_metadata={"messages": [msg]})
    return blocks


class ChatMixin(FakeSlackBase):
    METHODS_CHAT: ClassVar[dict[str, tuple[str, str | None]]] = {
        "auth.test": ("_auth_test", None),
        "chat.postMessage": ("_chat_post_message", "chat:write"),
        "chat.update": ("_chat_update", "chat:write"),
        "chat.delete": ("_chat_delete", "chat:write"),
        "chat.postEphemeral": ("_chat_post_ephemeral", "chat:write"),
        "users.info": ("_users_info", "users:read"),
        "conversations.info": ("_conversations_info", None),
    }

    # -- helpers ---------------------------------------------------------------------------------
    def _channel(self, args: dict[str, Any], *, key: str = "channel") -> Channel:
        cid = str(args.get(key) or "")
        if cid.startswith("#"):
            cid = next((c.id for c in self.channels.values() if c.name == cid[1:]), "")
        if cid[:1] in ("U", "W") and cid in self.users:  # posting to a user id opens the DM
            dm = "D" + cid[1:]
            if dm not in self.channels:
                self.add_channel(dm, dm.lower(), members={cid}, bot_member=True)
            cid = dm
        if cid not in self.channels:
            raise SlackError("channel_not_found")
        return self.channels[cid]

    def _member_channel(self, args: dict[str, Any]) -> Channel:
        channel = self._channel(args)
        if channel.id not in self.member_channels:
            raise SlackError("not_in_channel")
        return channel

    def _content(self, args: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
        text = args.get("text")
        blocks = check_blocks(args["blocks"]) if args.get("blocks") is not None else None
        if not text and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT:
            raise SlackError("msg_too_long")
        return (None if text is None else str(text)), blocks

    def _message_json(self, m: Message) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "user": m.user}
        if m.bot_id:
            out.update(bot_id=m.bot_id, app_id=self.app_id, team=self.team_id)
        if m.blocks is not None:
            out["blocks"] = m.blocks
        if m.subtype:
            out["subtype"] = m.subtype
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
            if m.is_reply:
                parent = self.messages.get((m.channel, m.thread_ts))
                out["parent_user_id"] = parent.user if parent else None
            else:
                out["reply_count"] = m.reply_count
        if m.files:
            out["files"] = [self._file_stub(fid) for fid in m.files]
            out["upload"] = True
        return out

    def _file_stub(self, file_id: str) -> dict[str, Any]:
        return {"id": file_id}  # replaced by the files mixin

    def _store_message(
        self,
        channel: Channel,
        text: str,
        blocks: list[dict[str, Any]] | None,
        thread_ts: str | None,
        *,
        user: str,
        bot_id: str | None,
        subtype: str | None = None,
        files: list[str] | None = None,
    ) -> Message:
        ts, orphan = self._next_ts(), False
        if thread_ts:
            parent = self.messages.get((channel.id, thread_ts))
            if parent is None:
                orphan = True  # Slack answers ok; the reply never shows (python-slack-sdk #840)
            else:
                if parent.is_reply:  # a reply's ts files the message into that reply's thread
                    thread_ts = parent.thread_ts
                    parent = self.messages[(channel.id, str(thread_ts))]
                parent.thread_ts = parent.ts
                parent.reply_count += 1
        m = Message(channel.id, ts, text, blocks, thread_ts, user, bot_id, subtype, files or [])
        m.orphan = orphan
        m.history.append({"text": text, "blocks": blocks, "time": self.clock()})
        self.messages[(channel.id, ts)] = m
        return m

    def _own_message(self, args: dict[str, Any], refusal: str) -> tuple[Channel, Message]:
        channel = self._channel(args)
        if not args.get("ts"):
            raise invalid_arguments("missing required field: ts")
        m = self.messages.get((channel.id, str(args["ts"])))
        if m is None or m.tombstone:
            raise SlackError("message_not_found")
        if m.user != self.bot_user_id:
            raise SlackError(refusal)
        return channel, m

    # -- methods ---------------------------------------------------------------------------------
    async def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake-workspace.slack.com/",
            "team": "Fake Workspace",
            "user": "sora",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(args)
        text, blocks = self._content(args)
        self._post_rate_check(channel.id)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        m = self._store_message(
            channel, text or "", blocks, thread_ts, user=self.bot_user_id, bot_id=self.bot_id
        )
        return {"channel": channel.id, "ts": m.ts, "message": self._message_json(m)}

    async def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, m = self._own_message(args, "cant_update_message")
        text, blocks = self._content(args)
        # chat.update keeps what is omitted; `blocks=[]` removes the blocks.
        m.text = m.text if text is None else text
        m.blocks = m.blocks if blocks is None else (blocks or None)
        m.history.append({"text": m.text, "blocks": m.blocks, "time": self.clock()})
        msg = self._message_json(m)
        return {"channel": channel.id, "ts": m.ts, "text": m.text, "message": msg}

    async def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, m = self._own_message(args, "cant_delete_message")
        if m.reply_count > 0 and not m.is_reply:
            m.tombstone, m.subtype, m.text, m.blocks = (
                True,
                "tombstone",
                "This message was deleted.",
                None,
            )
        else:
            del self.messages[(channel.id, m.ts)]
            parent = self.messages.get((channel.id, str(m.thread_ts))) if m.is_reply else None
            if parent is not None and not m.orphan:
                parent.reply_count -= 1
        self.deleted_messages.append(m)
        return {"channel": channel.id, "ts": m.ts}

    async def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._member_channel(args)
        user = str(args.get("user") or "")
        if not user:
            raise invalid_arguments("missing required field: user")
        text, blocks = self._content(args)
        if channel.members is not None and user not in channel.members:
            raise SlackError("user_not_in_channel")
        ts = self._next_ts()
        record: dict[str, Any] = {"channel": channel.id, "user": user, "text": text or ""}
        record["blocks"] = blocks
        record.update(thread_ts=args.get("thread_ts"), message_ts=ts, time=self.clock())
        self._ephemerals.setdefault(user, []).append(record)
        return {"message_ts": ts}

    async def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    async def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        needed = {"im": "im:read", "group": "groups:read"}.get(
            channel.channel_type, "channels:read"
        )
        if needed not in self.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(self.scopes))
        out = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": channel.channel_type == "channel",
            "is_group": channel.channel_type == "group",
            "is_im": channel.is_im,
            "is_private": channel.is_private or channel.is_im,
            "is_archived": False,
            "is_member": channel.id in self.member_channels,
            "context_team_id": self.team_id,
        }
        return {"channel": out}


CHANNEL_ID = re.compile(r"^[CGDZ][A-Z0-9]+$")
