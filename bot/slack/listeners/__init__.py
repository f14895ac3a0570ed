"""Slack listeners, one module per surface, each with ``register(app, *, intake)``.

Listeners ack first (Slack's 3 s rule), read Slack's payload, call one intake action and
carry out its answer; they never reach the store, the runner or Sora. Each callback is a
method of a small class holding the intake, so a test can call it by name. Every
subscribed event type has a listener that always matches, so Socket Mode acks every
envelope.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.intake import Intake
from bot.slack.listeners import (
    actions,
    command,
    events,
    home,
    shortcuts,
    spend,
    steps,
    variants,
    views,
)


def register_all(app: AsyncApp, *, intake: Intake) -> None:
    for module in (command, views, actions, shortcuts, events, home, spend, steps, variants):
        module.register(app, intake=intake)
