"""Workflow Builder custom steps in the fake Slack: the `function_executed` event (with its
short-lived `xwfp-` workflow token), and functions.completeSuccess / completeError with
Slack's rules: an execution completes once (`execution_not_in_running_state` after),
unknown ids are `function_execution_not_found`, and outputs must be the declared ones
(`parameter_validation_failed`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from .slack_actions import ActionsMixin
from .slack_state import SlackError, invalid_arguments, parse_json_arg

WORKFLOW_TOKEN_TTL = 15 * 60  # seconds; the token also dies when its step completes


@dataclass
class Execution:
    id: str
    callback_id: str
    inputs: dict[str, Any]
    token: str
    issued: float
    outputs_declared: frozenset[str] | None
    state: str = "running"  # running | completed | failed
    outputs: dict[str, Any] | None = None
    error: str | None = None


class FunctionsMixin(ActionsMixin):
    METHODS_FUNCTIONS: ClassVar[dict[str, tuple[str, str | None]]] = {
        "functions.completeSuccess": ("_functions_complete_success", None),
        "functions.completeError": ("_functions_complete_error", None),
    }

    def _init_functions(self) -> None:
        self.executions: dict[str, Execution] = {}

    def function_executed(
        self,
        callback_id: str,
        inputs: dict[str, Any],
        *,
        outputs: Iterable[str] | None = None,
        execution_id: str | None = None,
    ) -> dict[str, Any]:
        """An `events_api` payload running the app's step ``callback_id`` with ``inputs``;
        ``outputs``: the declared output names completeSuccess must give (None: any).
        The same ``execution_id`` again is Slack retrying the delivery."""
        known = self.executions.get(execution_id or "")
        if known is None:
            known = Execution(
                id=execution_id or self._new_id("Fx"),
                callback_id=callback_id,
                inputs=inputs,
                token=f"xwfp-{uuid.uuid4().hex}",
                issued=self.clock(),
                outputs_declared=frozenset(outputs) if outputs is not None else None,
            )
            self.executions[known.id] = known
        now = time.time()
        event = {
            "type": "function_executed",
            "function": {
                "id": "Fn0FAKE",
                "callback_id": callback_id,
                "title": callback_id,
                "description": "",
                "type": "app",
                "input_parameters": [],
                "output_parameters": [],
                "app_id": self.app_id,
                "date_created": int(now),
                "date_updated": int(now),
                "date_deleted": 0,
            },
            "inputs": inputs,
            "function_execution_id": known.id,
            "workflow_execution_id": f"Wx{known.id}",
            "event_ts": f"{now:.6f}",
            "bot_access_token": known.token,
        }
        return self._event_envelope(event)

    def workflow_token_ok(self, token: str) -> bool:
        """A live workflow token: its step still runs and it is under 15 minutes old."""
        return any(
            e.token == token
            and e.state == "running"
            and self.clock() - e.issued <= WORKFLOW_TOKEN_TTL
            for e in self.executions.values()
        )

    def _running(self, args: dict[str, Any]) -> Execution:
        execution_id = str(args.get("function_execution_id") or "")
        if not execution_id:
            raise invalid_arguments("missing required field: function_execution_id")
        execution = self.executions.get(execution_id)
        if execution is None:
            raise SlackError("function_execution_not_found")
        if execution.state != "running":
            raise SlackError("execution_not_in_running_state")
        return execution

    async def _functions_complete_success(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._running(args)
        outputs = parse_json_arg(args.get("outputs"), name="outputs")
        if not isinstance(outputs, dict):
            raise invalid_arguments("missing required field: outputs")
        declared = execution.outputs_declared
        if declared is not None and set(outputs) != declared:
            raise SlackError("parameter_validation_failed")
        execution.state, execution.outputs = "completed", outputs
        return {}

    async def _functions_complete_error(self, args: dict[str, Any]) -> dict[str, Any]:
        execution = self._running(args)
        error = args.get("error")
        if not isinstance(error, str) or not error:
            raise invalid_arguments("missing required field: error")
        execution.state, execution.error = "failed", error
        return {}
