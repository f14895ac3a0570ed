"""manifest.yml: valid for Slack, and exactly what the code registers and needs."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bot.slack import blocks as ui

ROOT = Path(__file__).resolve().parents[1]
LISTENERS = ROOT / "bot" / "slack" / "listeners"
# Which bot scope each Web API method needs (Slack's method reference).
METHOD_SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "chat_postEphemeral": "chat:write",
    "files_getUploadURLExternal": "files:write",
    "files_completeUploadExternal": "files:write",
    "files_delete": "files:write",
    "files_info": "files:read",
    "conversations_info": "channels:read",  # public channels; others fail closed
    "views_open": None,  # any interaction's trigger
    "views_update": None,  # the options form follows its choices (cost before spend)
    "functions_completeSuccess": None,  # the Workflow step, with the bot token
    "functions_completeError": None,
    "views_publish": None,  # the Home tab (features.app_home.home_tab_enabled)
    "auth_test": None,  # any token (check, health)
    "apps_connections_open": None,  # the app-level token's connections:write, not a bot scope
}
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "reaction_added": "reactions:read",
    "function_executed": None,  # the Workflow Builder step: no scope
    "app_home_opened": None,  # no scope: the Home tab being enabled is enough
}
# Slack's parameter types a custom step may use here (docs.slack.dev/reference/types).
STEP_TYPES = {"string", "integer", "boolean", "slack#/types/channel_id", "slack#/types/user_id",
              "slack#/types/file_id", "slack#/types/message_context"}  # fmt: skip


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return data


def registrations() -> dict[str, set[str]]:
    """What the listeners register: app.command("/x"), app.shortcut(ID), app.event("y"),
    app.function("step")."""
    found: dict[str, set[str]] = {
        "command": set(),
        "shortcut": set(),
        "event": set(),
        "function": set(),
    }
    for path in LISTENERS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            kind = node.func.attr
            if kind not in found or not node.args:
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                found[kind].add(str(arg.value))
            elif isinstance(arg, ast.Attribute):  # ui.CONSTANT
                found[kind].add(str(getattr(ui, arg.attr)))
    return found


def methods_called() -> set[str]:
    pattern = re.compile(r"\bclient\.([a-z]+(?:_[A-Za-z]+)+)\(")
    return {m for path in (ROOT / "bot").rglob("*.py") for m in pattern.findall(path.read_text())}


def test_manifest_is_valid_for_slack() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "slack-app-manifest.schema.json").read_text())
    # SchemaStore's schema predates custom steps: ``functions`` is checked on its own below.
    jsonschema.validate({k: v for k, v in manifest().items() if k != "functions"}, schema)
    settings = manifest()["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True


def test_every_surface_in_code_is_in_the_manifest_and_back() -> None:
    code = registrations()
    features = manifest()["features"]
    assert code["command"] == {c["command"] for c in features["slash_commands"]} == {"/sora"}
    assert code["shortcut"] == {s["callback_id"] for s in features["shortcuts"]}
    assert code["shortcut"] == {"sora_from_message", "sora_remix"}
    bot_events = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    as_events = {event.split(".")[0] for event in bot_events} - {"function_executed"}
    assert code["event"] == as_events == {"message", "reaction_added", "app_home_opened"}
    assert code["function"] == set(manifest()["functions"]) == {"sora_make_video"}
    assert "function_executed" in bot_events


def test_the_workflow_step_is_declared_as_slack_wants_it() -> None:
    """An org-ready app; inputs and outputs with Slack types; what the code reads and
    writes is exactly what the manifest declares."""
    from bot.slack.steps import step_outputs
    from bot.store import Job, JobKind, JobState

    assert manifest()["settings"]["org_deploy_enabled"] is True
    step = manifest()["functions"]["sora_make_video"]
    assert set(step) == {"title", "description", "input_parameters", "output_parameters"}
    assert 0 < len(step["title"]) <= 255
    inputs, outputs = step["input_parameters"], step["output_parameters"]
    for part in (inputs, outputs):
        assert set(part) == {"properties", "required"}
        assert set(part["required"]) <= set(part["properties"])
        for name, spec in part["properties"].items():
            assert spec["type"] in STEP_TYPES, name
            assert spec.get("title"), name
            assert spec.get("description"), name
    assert set(inputs["properties"]) == {
        "prompt", "channel", "requester", "orientation", "seconds", "image"
    }  # fmt: skip
    source = (ROOT / "bot" / "slack" / "intake" / "step.py").read_text()
    for name in inputs["properties"]:
        assert f'inputs.get("{name}")' in source, name
    fields = {f: None for f in Job.__dataclass_fields__}
    job = Job(**{**fields, "id": 1, "kind": JobKind.TEXT, "state": JobState.DELIVERED,
                 "channel_id": "C1", "thread_ts": "1.2", "video_id": "video_1"})  # fmt: skip
    assert (
        set(step_outputs(job, "https://x"))
        == set(outputs["properties"])
        == set(outputs["required"])
    )


def test_the_home_tab_is_enabled_and_listened_to() -> None:
    """views.publish answers `not_enabled` unless the manifest enables the Home tab, and
    the bot publishes only on `app_home_opened`, which must be subscribed to."""
    home = manifest()["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    assert home["messages_tab_enabled"] is True  # Home answers go by DM
    assert "app_home_opened" in manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert "app_home_opened" in registrations()["event"]
    assert "views_publish" in methods_called()


def test_scopes_are_exactly_what_the_code_needs() -> None:
    called = methods_called()
    assert called <= set(METHOD_SCOPES), f"add the scope of {called - set(METHOD_SCOPES)}"
    needed = {METHOD_SCOPES[m] for m in called} - {None}
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    needed |= {EVENT_SCOPES[e] for e in events} - {None}
    needed.add("commands")  # the slash command and the shortcuts
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed


def test_check_asks_for_exactly_the_manifest_scopes() -> None:
    from bot.check import REQUIRED_SCOPES

    assert set(REQUIRED_SCOPES) == set(manifest()["oauth_config"]["scopes"]["bot"])


def test_the_invite_names_the_bot_as_the_manifest_does() -> None:
    """README and the bot's own reply say `/invite @Sora`: the bot user must be called that."""
    name = manifest()["features"]["bot_user"]["display_name"]
    invite = f"/invite @{name}"
    assert invite in (ROOT / "README.md").read_text()
    assert invite in (ROOT / "bot" / "slack" / "blocks.py").read_text()
    assert not re.search(
        r"/invite @(?!" + re.escape(name) + r"\b)", (ROOT / "README.md").read_text()
    )
