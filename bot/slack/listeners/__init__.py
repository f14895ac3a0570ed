"""Slack listeners, one module per surface, each with ``register(app, services)``.

Listeners ack first (Slack's 3 s rule), validate, write, and return; they never call Sora.
Every subscribed event type has a listener that always matches, so Socket Mode acks every
envelope.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.listeners import actions, command, events, shortcuts, views
from bot.slack.services import Services


def register_all(app: AsyncApp, services: Services) -> None:
    for module in (command, views, actions, shortcuts, events):
        module.register(app, services)
