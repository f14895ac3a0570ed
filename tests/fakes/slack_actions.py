"""block_actions payloads from a modal (an input with dispatch_action) and from an
ephemeral message, as Slack sends them."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .slack_payloads import PayloadsMixin


class ActionsMixin(PayloadsMixin):
    def view_block_action(
        self,
        view_id: str,
        block: tuple[str, str],
        value: str,
        *,
        user: str = "U1",
        values: dict[str, Any] | None = None,
        element: str = "static_select",
    ) -> dict[str, Any]:
        """A choice (``value``) made in input ``block`` (block_id, action_id) of a view the
        fake holds, with dispatch_action on: the view as it is now (its ``hash`` too, which
        views.update checks) and the state of its inputs, ``values`` plus this choice."""
        stored = self.views[view_id]
        option = {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value}
        state = {
            **(values or {}),
            block[0]: {block[1]: {"type": element, "selected_option": option}},
        }
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "container": {"type": "view", "view_id": view_id},
            "trigger_id": self.new_trigger_id(user),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": {**stored, "state": {"values": state}},
            "actions": [
                {
                    "type": element,
                    "action_id": block[1],
                    "block_id": block[0],
                    "selected_option": option,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    def ephemeral_block_action(
        self, action_id: str, value: str, *, user: str = "U1", channel: str = "C1"
    ) -> dict[str, Any]:
        """A button pressed on an ephemeral message (Slack sends no message body for it,
        only the container and a response_url to replace it through)."""
        return {
            "type": "block_actions",
            "user": self._user(user),
            "api_app_id": self.app_id,
            "token": "legacy-verification-token",
            "container": {
                "type": "message",
                "message_ts": self._next_ts(),
                "channel_id": channel,
                "is_ephemeral": True,
            },
            "trigger_id": self.new_trigger_id(user),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": self._channel_ref(channel),
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
