"""``sora-bot healthcheck``: ask the running bot's ``/healthz``; exit 0 if it is healthy.

The Docker image's HEALTHCHECK. It asks SORA_METRICS_PORT when set (both modes), else PORT
in HTTP mode; in Socket Mode without SORA_METRICS_PORT there is nothing to ask, and it says
so instead of failing without a word.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import TextIO

from bot.config import Settings


def healthcheck(settings: Settings, out: TextIO = sys.stdout, timeout: float = 4.0) -> int:
    if settings.metrics_port is not None:
        port = settings.metrics_port
    elif not settings.socket_mode:
        port = settings.port
    else:
        out.write(
            "unhealthy: Socket Mode with SORA_METRICS_PORT unset serves no /healthz; "
            "set SORA_METRICS_PORT (the Docker image sets 9100)\n"
        )
        return 1
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:  # 503: the body says which part is down
        out.write(f"unhealthy ({exc.code}): {exc.read().decode('utf-8', 'replace')}\n")
        return 1
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        out.write(f"unhealthy: nothing answers {url} ({reason})\n")
        return 1
    try:
        ok = bool(json.loads(body).get("ok"))
    except (ValueError, AttributeError):
        ok = False
    out.write(("healthy: " if ok else "unhealthy: ") + body + "\n")
    return 0 if ok else 1
