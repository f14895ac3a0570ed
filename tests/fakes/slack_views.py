"""views.open / views.update / views.publish of the fake Slack, with Slack's trigger rules."""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any, ClassVar

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from .slack_chat import ChatMixin, check_blocks
from .slack_state import RateLimited, SlackError, invalid_arguments, parse_json_arg

TRIGGER_TTL = 3.0  # seconds; single use (https://api.slack.com/docs/triggers)
PUBLISH_PER_MINUTE = 100  # views.publish is Tier 4 (100+ a minute): the fake holds it to 100
VIEW_MAX_BYTES = 250_000  # a larger view is refused (view_too_large)
IMAGE_TYPES = ("png", "jpg", "jpeg", "gif")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


class ViewsMixin(ChatMixin):
    METHODS_VIEWS: ClassVar[dict[str, tuple[str, str | None]]] = {
        "views.open": ("_views_open", None),
        "views.update": ("_views_update", None),
        "views.publish": ("_views_publish", None),
    }

    def _check_view(self, value: Any, *, kinds: tuple[str, ...] = ("modal",)) -> dict[str, Any]:
        if value is None:
            raise invalid_arguments("missing required field: view")
        view = parse_json_arg(value, name="view")
        if not isinstance(view, dict) or view.get("type") not in kinds:
            raise invalid_arguments(f"type must be one of {list(kinds)} [json-pointer:/view/type]")
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise invalid_arguments("missing required field: blocks [json-pointer:/view/blocks]")
        check_blocks(blocks, limit=100)
        for name, cap in (("title", 24), ("submit", 24), ("close", 24)):
            part = view.get(name)
            if name == "title" and view["type"] == "modal" and part is None:
                raise invalid_arguments("missing required field: title [json-pointer:/view/title]")
            if part is not None and (
                not isinstance(part, dict)
                or part.get("type") != "plain_text"
                or not 0 < len(str(part.get("text", ""))) <= cap
            ):
                msg = f"must be plain_text of 1 to {cap} characters [json-pointer:/view/{name}]"
                raise invalid_arguments(msg)
        if any(b.get("type") == "input" for b in blocks) and "submit" not in view:
            raise invalid_arguments("must provide submit argument when using input blocks")
        if len(str(view.get("callback_id", ""))) > 255:
            raise invalid_arguments(
                "must be less than 256 characters [json-pointer:/view/callback_id]"
            )
        if len(str(view.get("private_metadata", ""))) > 3000:
            raise invalid_arguments(
                "must be less than 3001 characters [json-pointer:/view/private_metadata]"
            )
        return view

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or self._new_id("V")
        stored = {
            "callback_id": "",
            "private_metadata": "",
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
            **view,
            "id": view_id,
            "team_id": self.team_id,
            "state": {"values": {}},
            "hash": f"{int(self.clock() * 1000)}.{next(self._ids):08x}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return stored

    async def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(args.get("trigger_id") or "")
        if not trigger_id:
            raise invalid_arguments("missing required field: trigger_id")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        issued, user, used = trigger
        if used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - issued > TRIGGER_TTL:
            raise SlackError("expired_trigger_id")
        view = self._check_view(args.get("view"))
        self._triggers[trigger_id] = (issued, user, True)
        stored = self._store_view(view)
        stored["user"] = user
        return {"view": stored}

    async def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id") or next(
            (k for k, v in self.views.items() if args.get("external_id") == v["external_id"]), None
        )
        if view_id is None or view_id not in self.views:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != self.views[view_id]["hash"]:
            raise SlackError("hash_conflict")
        view = self._check_view(args.get("view"), kinds=(self.views[view_id]["type"],))
        user = self.views[view_id].get("user")
        stored = self._store_view(view, view_id)
        stored["user"] = user
        return {"view": stored}

    async def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("user_id"):
            raise invalid_arguments("missing required field: user_id")
        if not getattr(self, "home_tab_enabled", True):
            raise SlackError("not_enabled")
        self._publish_rate_check()
        view = self._check_view(args.get("view"), kinds=("home",))
        if len(json.dumps(view)) > VIEW_MAX_BYTES:
            raise SlackError("view_too_large")
        self._check_models(view["blocks"])
        self._check_slack_files(view["blocks"])
        user = str(args["user_id"])
        if user not in self.users:
            raise SlackError("user_not_found")
        published = self.views.get(f"VHOME{user}")
        if args.get("hash") and published is not None and args["hash"] != published["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(view, f"VHOME{args['user_id']}")
        stored["user"] = args["user_id"]
        return {"view": stored}

    # -- the strict parts of views.publish -------------------------------------------------------
    def _publish_rate_check(self) -> None:
        window: deque[float] = self.__dict__.setdefault("_publishes", deque())
        now = self.clock()
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= PUBLISH_PER_MINUTE:
            raise RateLimited(max(1, int(window[0] + 60.0 - now) + 1))
        window.append(now)

    @staticmethod
    def _check_models(blocks: list[dict[str, Any]]) -> None:
        """Block Kit as slack_sdk's models know it (types, lengths, required fields)."""
        for i, raw in enumerate(blocks):
            try:
                block = Block.parse(raw)
                if block is None:
                    raise SlackObjectFormationError(f"unknown block {raw.get('type')}")
                block.to_dict()  # validates the block and everything in it
            except (SlackObjectFormationError, TypeError, KeyError) as exc:
                msg = f"[ERROR] {exc} [json-pointer:/view/blocks/{i}]"
                raise SlackError("invalid_blocks", response_metadata={"messages": [msg]}) from None

    def _check_slack_files(self, blocks: list[dict[str, Any]]) -> None:
        """Every ``slack_file`` image names a live image file the bot can see."""
        for i, image in _images(blocks):
            ref = image.get("slack_file")
            if ref is None:
                if str(image.get("image_url", "")).startswith("http"):
                    continue
                raise invalid_arguments(f"image needs image_url or slack_file [/blocks/{i}]")
            if not isinstance(ref, dict) or bool(ref.get("id")) == bool(ref.get("url")):
                raise invalid_arguments(f"slack_file needs exactly one of id, url [/blocks/{i}]")
            files = getattr(self, "files", {})
            f = files.get(str(ref.get("id"))) if ref.get("id") else None
            if f is None or f.deleted or f.state != "completed":
                msg = f"[ERROR] invalid slack file [json-pointer:/view/blocks/{i}]"
                raise SlackError("invalid_blocks", response_metadata={"messages": [msg]})
            if f.filetype not in IMAGE_TYPES or f.user != self.bot_user_id:
                msg = f"[ERROR] unsupported image [json-pointer:/view/blocks/{i}]"
                raise SlackError("invalid_blocks", response_metadata={"messages": [msg]})

    # -- what tests read -----------------------------------------------------------------------
    def home_of(self, user: str) -> dict[str, Any] | None:
        return self.views.get(f"VHOME{user}")

    def notifications(self, user: str) -> list[Any]:
        """The bot's messages that notified ``user``: a mention in a message as first posted
        (a share's comment too). A mention added by an edit notifies nobody, as in Slack."""
        seen, out = set(), []
        for m in [*self.messages.values(), *self.deleted_messages]:
            if (m.channel, m.ts) in seen or m.user != self.bot_user_id or not m.history:
                continue
            seen.add((m.channel, m.ts))
            first = m.history[0]
            body = (first.get("text") or "") + json.dumps(first.get("blocks") or [])
            if user in MENTION.findall(body):
                out.append(m)
        return out


def _images(blocks: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    found = []
    for i, block in enumerate(blocks):
        if block.get("type") == "image":
            found.append((i, block))
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "image":
            found.append((i, accessory))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") == "image":
                found.append((i, element))
    return found
