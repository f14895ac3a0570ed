"""The values .env.example ships with, recognised: an untouched copy is not "valid"."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

_PLACEHOLDERS = {
    "SLACK_BOT_TOKEN": ("xoxb-", "the Bot User OAuth Token (OAuth & Permissions)"),
    "SLACK_APP_TOKEN": (
        "xapp-",
        "the app-level token (Basic Information -> App-Level Tokens), or leave it empty "
        "for HTTP mode",
    ),
}
_PLACEHOLDER_HOSTS = ("my-resource.openai.azure.com", "resource.openai.azure.com")


def placeholder_problems(values: Mapping[str, str], *, emulator: bool) -> list[str]:
    """Problems for placeholder values (the endpoint's only matters without the emulator)."""
    found = []
    for name, (prefix, what) in _PLACEHOLDERS.items():
        raw = values.get(name, "")
        rest = raw[len(prefix) :] if raw.startswith(prefix) else None
        if rest is not None and rest.strip(".…") == "":  # "xoxb-...", "xoxb-…", "xoxb-"
            found.append(f"{name} is still the placeholder {raw!r} from .env.example: set {what}")
    endpoint = values.get("AZURE_OPENAI_ENDPOINT", "")
    host = (urlsplit(endpoint).hostname or "") if "://" in endpoint else ""
    if host in _PLACEHOLDER_HOSTS and not emulator:
        found.append(
            f"AZURE_OPENAI_ENDPOINT is still the placeholder {endpoint!r} from .env.example: "
            "set your resource's endpoint (Azure portal -> the resource -> Keys and Endpoint), "
            "or SORA_EMULATOR=1 for a dry run"
        )
    return found
