"""Typed async client for the Azure OpenAI (and OpenAI-compatible) Videos API, v1.

See :mod:`bot.sora.errors` for the error tree.
"""

from bot.sizes import (
    DEFAULT_SECONDS,
    DEFAULT_SIZE,
    LANDSCAPE,
    PORTRAIT,
    PRO_SIZES,
    SECONDS,
    SIZES,
    STANDARD_SIZES,
)
from bot.sora.auth import ApiKeyAuth, Auth, TokenAuth, auth_for
from bot.sora.client import Poll, SoraClient
from bot.sora.errors import (
    APIError,
    AuthenticationError,
    DeploymentNotFoundError,
    InputModerationError,
    InvalidRequestError,
    InvalidResponseError,
    NotFoundError,
    NotSupportedError,
    RateLimitError,
    ServerError,
    SoraError,
    SoraValidationError,
    TooManyRunningTasksError,
    TransportError,
)
from bot.sora.models import ReferenceImage, Video, VideoError, VideoPage, VideoStatus
from bot.sora.retry import RetryPolicy, parse_retry_after

__all__ = [
    "DEFAULT_SECONDS",
    "DEFAULT_SIZE",
    "LANDSCAPE",
    "PORTRAIT",
    "PRO_SIZES",
    "SECONDS",
    "SIZES",
    "STANDARD_SIZES",
    "APIError",
    "ApiKeyAuth",
    "Auth",
    "AuthenticationError",
    "DeploymentNotFoundError",
    "InputModerationError",
    "InvalidRequestError",
    "InvalidResponseError",
    "NotFoundError",
    "NotSupportedError",
    "Poll",
    "RateLimitError",
    "ReferenceImage",
    "RetryPolicy",
    "ServerError",
    "SoraClient",
    "SoraError",
    "SoraValidationError",
    "TokenAuth",
    "TooManyRunningTasksError",
    "TransportError",
    "Video",
    "VideoError",
    "VideoPage",
    "VideoStatus",
    "auth_for",
    "parse_retry_after",
]
