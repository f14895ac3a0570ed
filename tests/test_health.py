"""The rules of a backend's health (bot.jobs.health): pure, on a made-up clock."""

from __future__ import annotations

from bot.jobs.health import BackendHealth, HealthPolicy, fatal_reason, unreachable_reason
from bot.sora import (
    AuthenticationError,
    DeploymentNotFoundError,
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)

POLICY = HealthPolicy(down_after=30, down_failures=3, recover_after=60)
GONE = DeploymentNotFoundError("The API deployment 'x' does not exist.", status=404)


def test_what_takes_a_backend_out() -> None:
    assert fatal_reason(GONE) is not None
    assert "credentials" in (fatal_reason(AuthenticationError("no", status=401)) or "")
    assert fatal_reason(ServerError("boom", status=503)) is None
    assert unreachable_reason(TransportError("ConnectError", sent=False)) is not None
    assert unreachable_reason(ServerError("boom", status=502)) is not None
    assert unreachable_reason(InvalidResponseError("expected JSON")) is not None
    assert unreachable_reason(TimeoutError()) is not None
    # Answers of a working backend: a 400, a 404 of one video, a 429.
    for answer in (
        InvalidRequestError("bad", status=400),
        NotFoundError("no such video", status=404),
        RateLimitError("slow down", status=429),
    ):
        assert fatal_reason(answer) is None
        assert unreachable_reason(answer) is None


def test_a_fatal_answer_is_out_at_once() -> None:
    health = BackendHealth(POLICY)
    assert health.failure(0, fatal="its deployment was not found")
    assert not health.up
    assert health.reason == "its deployment was not found"
    assert not health.failure(1, fatal="again")  # already out: no second change


def test_failures_take_it_out_only_after_a_while_without_success() -> None:
    health = BackendHealth(POLICY)
    assert not health.failure(0, unreachable="it cannot be reached")
    assert not health.failure(20, unreachable="it cannot be reached")
    health.success(25)  # one success starts the count again
    assert not health.failure(26, unreachable="x")
    assert not health.failure(50, unreachable="x")  # 24 s of failures: not yet
    assert health.failure(56, unreachable="x")  # 30 s and 3 failures: out, one change
    assert not health.up
    assert "for 30 s (3 failures)" in health.reason
    # Many failures in a short time are not enough either.
    burst = BackendHealth(POLICY)
    assert not any(burst.failure(t / 10, unreachable="x") for t in range(100))
    assert burst.up


def test_back_only_after_a_healthy_while_so_flapping_is_one_outage() -> None:
    health = BackendHealth(POLICY)
    health.failure(0, fatal="gone")
    changes = []
    for t in range(0, 300, 10):  # healthy 40 s, failing 10 s, by turns: never 60 s healthy
        if t % 50 == 40:
            changes.append(health.failure(t, unreachable="x"))
        else:
            changes.append(health.success(t))
    assert not any(changes)
    assert not health.up
    assert not health.success(300)
    assert health.success(360)  # 60 s healthy: back, one change
    assert health.up
    assert health.reason == ""
