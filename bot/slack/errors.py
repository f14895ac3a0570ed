"""Slack errors that no retry can fix, with what each means for a person: one list for
posting a card and for delivering a video."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

PERMANENT = {
    "not_in_channel": "the bot is no longer in the channel (invite it and start again)",
    "channel_not_found": "the channel is gone or the bot cannot see it",
    "is_archived": "the channel was archived",
    "restricted_action": "the workspace does not let the bot post in that channel",
    "invalid_thread_ts": "the video's thread is gone",
    "thread_not_found": "the video's thread is gone",
    "message_not_found": "the video's card was deleted",
    "invalid_auth": "the bot's Slack token is not valid",
    "account_inactive": "the bot's Slack token was revoked",
    "missing_scope": "the app lacks a permission; reinstall it from manifest.yml",
}
# The bot is not a member (or cannot see the channel): the person is told how to invite it.
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})


def error_code(exc: SlackApiError) -> str:
    """Slack's error code, or the HTTP status when the answer had none."""
    return str(exc.response.get("error") or exc.response.status_code)
