"""Whether one Sora backend is in rotation: the rules, with no I/O (issue 15).

A backend goes **out of rotation** at once when it answers "deployment not found" (on any
route) or refuses the credentials (401/403), and when it has failed without a single
success in between (connection refused or timed out, 5xx, an answer that is not the API's)
for ``down_after`` seconds and at least ``down_failures`` times. It comes **back** only
after every probe and request has succeeded for ``recover_after`` seconds: a backend that
flaps stays out, so one outage is one notice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sora import (
    AuthenticationError,
    DeploymentNotFoundError,
    InvalidResponseError,
    ServerError,
    SoraError,
    TransportError,
)

DEPLOYMENT_GONE = "its deployment was not found (retired?)"
CREDENTIALS = "it refused the bot's credentials"


@dataclass(frozen=True)
class HealthPolicy:
    down_after: float = 30.0  # failing, with no success, for this long ...
    down_failures: int = 3  # ... and at least this many times: out of rotation
    recover_after: float = 60.0  # healthy for this long: back in rotation
    probe_interval: float = 15.0  # how often every backend is probed
    probe_ceiling: float = 120.0  # a down backend's probes back off up to this
    probe_timeout: float = 10.0  # a probe that takes longer failed


def fatal_reason(exc: SoraError) -> str | None:
    """An answer that takes a backend out of rotation at once, in words; else None."""
    if isinstance(exc, DeploymentNotFoundError):
        return f"{DEPLOYMENT_GONE}: {exc.message}"
    if isinstance(exc, AuthenticationError):
        return f"{CREDENTIALS} ({exc.status})"
    return None


def unreachable_reason(exc: BaseException) -> str | None:
    """A failure that says the backend may be unreachable or broken; else None (a 400, a
    404 of one video, a 429 are answers from a working backend)."""
    if isinstance(exc, TransportError):
        return f"it cannot be reached ({exc})"
    if isinstance(exc, ServerError):
        return f"it fails ({exc.status})"
    if isinstance(exc, InvalidResponseError):
        return "it answers something that is not the Videos API"
    if isinstance(exc, TimeoutError):
        return "it does not answer"
    return None


class BackendHealth:
    """The state of one backend. ``success``/``failure`` return True when the backend
    changed between in and out of rotation (the caller then tells admins and moves jobs)."""

    def __init__(self, policy: HealthPolicy) -> None:
        self.policy = policy
        self.up = True
        self.reason = ""  # why it is out of rotation
        self.down_since: float | None = None
        self._failing_since: float | None = None
        self._failures = 0
        self._healthy_since: float | None = None

    def success(self, now: float) -> bool:
        self._failing_since, self._failures = None, 0
        if self.up:
            return False
        if self._healthy_since is None:
            self._healthy_since = now
        if now - self._healthy_since >= self.policy.recover_after:
            self.up, self.reason, self.down_since, self._healthy_since = True, "", None, None
            return True
        return False

    def failure(
        self, now: float, *, fatal: str | None = None, unreachable: str | None = None
    ) -> bool:
        if fatal is None and unreachable is None:
            return False
        self._healthy_since = None
        if not self.up:
            return False
        if fatal is not None:
            return self._down(now, fatal)
        if self._failing_since is None:
            self._failing_since = now
        self._failures += 1
        long_enough = now - self._failing_since >= self.policy.down_after
        if long_enough and self._failures >= self.policy.down_failures:
            secs = round(now - self._failing_since)
            return self._down(now, f"{unreachable}, for {secs} s ({self._failures} failures)")
        return False

    def _down(self, now: float, reason: str) -> bool:
        self.up, self.reason, self.down_since = False, reason, now
        self._failing_since, self._failures, self._healthy_since = None, 0, None
        return True
