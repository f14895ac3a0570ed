"""How each way a job can end is said to a person, with a code the UI can branch on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.sora import (
    APIError,
    DeploymentNotFoundError,
    InputModerationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    SoraError,
    SoraValidationError,
    TransportError,
    Video,
)


@dataclass(frozen=True)
class Outcome:
    code: str
    message: str


MODERATION = "moderation"
INPUT_MODERATION = "input_moderation"
INVALID_REQUEST = "invalid_request"
DEPLOYMENT_NOT_FOUND = "deployment_not_found"
TIMEOUT = "timeout"
PROVIDER_FAILED = "provider_failed"
EXPIRED = "expired"
PARENT_UNAVAILABLE = "parent_unavailable"
BACKEND_LOST = "backend_lost"
UNCONFIRMED = "unconfirmed"
INPUT_MISSING = "input_missing"
DELIVERY_REFUSED = "delivery_refused"
DOWNLOAD_FAILED = "download_failed"
# Not a failure: a deleted job whose video the provider keeps until it expires (it refused
# DELETE), so its card can say so.
PROVIDER_KEEPS = "provider_keeps"


def from_video(video: Video) -> Outcome:
    """A job Azure reports as failed."""
    if video.moderation_blocked:
        return Outcome(
            MODERATION,
            "The video was blocked by the content policy while it was being made. "
            "Try a prompt without real people, copyrighted characters or mature themes.",
        )
    detail = video.error.message if video.error and video.error.message else "no reason given"
    code = video.error.code if video.error and video.error.code else "unknown"
    return Outcome(
        PROVIDER_FAILED, f"The video service could not make this video ({code}: {detail})."
    )


def from_error(exc: SoraError) -> Outcome:
    """A request Azure refused for good (not worth trying again as it is)."""
    if isinstance(exc, InputModerationError):
        return Outcome(
            INPUT_MODERATION,
            "The request was blocked by the content policy before it started "
            f"({exc.message}). Images with people's faces are refused; try another image "
            "or prompt.",
        )
    if isinstance(exc, DeploymentNotFoundError):
        return Outcome(
            DEPLOYMENT_NOT_FOUND,
            "The bot's Sora deployment was not found (it may have been retired). "
            "An admin has been told; try again later.",
        )
    if isinstance(exc, SoraValidationError):
        return Outcome(INVALID_REQUEST, f"The request is not valid: {exc.message}.")
    if isinstance(exc, InvalidRequestError):
        return Outcome(INVALID_REQUEST, f"The video service refused the request: {exc.message}")
    if isinstance(exc, NotFoundError):
        return Outcome(EXPIRED, "The video is no longer available at the video service.")
    if isinstance(exc, APIError):
        return Outcome(PROVIDER_FAILED, f"The video service failed: {exc.message}")
    return Outcome(PROVIDER_FAILED, f"The video service failed: {exc}")


def timeout(limit: float) -> Outcome:
    minutes = max(1, round(limit / 60))
    return Outcome(
        TIMEOUT,
        f"The video was not ready after {minutes} minutes, so the bot gave up on it. "
        "Try again; shorter clips finish sooner.",
    )


def expired() -> Outcome:
    return Outcome(
        EXPIRED, "The video expired at the video service (it keeps videos for 24 hours)."
    )


def parent_unavailable(label: str, why: str) -> Outcome:
    return Outcome(PARENT_UNAVAILABLE, f"Cannot remix {label}: it {why}.")


def backend_gone(label: str, backend: str, why: str) -> Outcome:
    """A remix whose parent's video is at a backend the bot cannot use."""
    return Outcome(
        PARENT_UNAVAILABLE,
        f"Cannot remix {label}: it was made by the video service region `{backend}`, which "
        f"{why}, and a video can only be remixed where it was made. Start a new video from "
        "the same prompt instead (nothing was spent on this remix).",
    )


def backend_lost(first: str, second: str, why: str) -> Outcome:
    """A job moved once whose second backend went out of service too."""
    return Outcome(
        BACKEND_LOST,
        f"The video service region `{first}` went out of service while making this video, "
        f"and so did `{second}`, where it was started again ({why}). The bot stopped here; "
        "try again in a while.",
    )


def unconfirmed() -> Outcome:
    return Outcome(
        UNCONFIRMED,
        "The video service did not confirm the request and cannot be asked whether it "
        "started, so the bot did not send it again (to avoid paying twice). Try again.",
    )


def input_missing() -> Outcome:
    return Outcome(INPUT_MISSING, "The first-frame image is missing; start the video again.")


def gave_up(attempts: int) -> Outcome:
    return Outcome(
        PROVIDER_FAILED,
        f"The video service failed {attempts} times in a row, so the bot stopped trying. "
        "Try again later.",
    )


def delivery_refused(why: str) -> Outcome:
    return Outcome(DELIVERY_REFUSED, f"The video was made but could not be posted: {why}")


def download_failed(tries: int, why: str) -> Outcome:
    return Outcome(
        DOWNLOAD_FAILED,
        f"The video was made but its download failed {tries} times the same way ({why}), "
        "so the bot stopped trying. An admin can run `sora-bot check`; a gateway in front "
        "of the video service may be changing the answer.",
    )


def failure_kind(exc: SoraError) -> str | None:
    """How a download failed, to tell "the same way again" (figures left out). None for an
    endpoint that is down or busy (never reached, 429): the job waits for it, as a create
    does, until the video expires."""
    if isinstance(exc, RateLimitError) or (isinstance(exc, TransportError) and not exc.sent):
        return None
    return f"{type(exc).__name__}: {re.sub(r'[0-9]+', 'N', str(exc))}"
