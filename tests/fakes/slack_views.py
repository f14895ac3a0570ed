"""views.open / views.update / views.publish of the fake Slack, with Slack's trigger rules."""

from __future__ import annotations

from typing import Any, ClassVar

from .slack_chat import ChatMixin, check_blocks
from .slack_state import SlackError, invalid_arguments, parse_json_arg

TRIGGER_TTL = 3.0  # seconds; single use (https://api.slack.com/docs/triggers)


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
        view = self._check_view(args.get("view"), kinds=("home",))
        stored = self._store_view(view, f"VHOME{args['user_id']}")
        stored["user"] = args["user_id"]
        return {"view": stored}
