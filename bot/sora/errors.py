"""The error tree of the Sora client.

Every failure the client raises is a :class:`SoraError`; callers catch the narrowest class
they can act on and let the rest reach the edge, where it becomes a message for a person.

::

    SoraError
    ├── SoraValidationError         bad input caught before any request (nothing was sent)
    ├── InvalidResponseError        the endpoint answered 2xx with something that is not the API
    ├── TransportError              no usable HTTP answer (refused, reset, timeout, cut stream)
    └── APIError                    an HTTP error answer: status, code, type, message, request id
        ├── InvalidRequestError         400
        │   └── InputModerationError        400 "blocked by our moderation system" (inputs)
        ├── AuthenticationError         401 / 403
        ├── NotFoundError               404
        │   └── DeploymentNotFoundError     404 "The API deployment '…' does not exist" (retired?)
        ├── NotSupportedError           405 / 501: the endpoint does not offer this operation
        ├── RateLimitError              429, with ``retry_after`` seconds (None when not given)
        │   └── TooManyRunningTasksError    429 "Too many running tasks": the running-jobs cap
        └── ServerError                 5xx and 408
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MODERATION_CODES = frozenset({"moderation_blocked", "content_filter", "content_policy_violation"})
_BODY_SNIPPET = 500
#: Azure's answer, on every route, for a deployment that does not exist (or was retired).
_DEPLOYMENT_GONE = re.compile(r"\bdeployment '([^']*)' for this resource does not exist", re.I)


class SoraError(Exception):
    """Base class of everything the Sora client raises."""


class SoraValidationError(SoraError, ValueError):
    """The request is invalid; it was not sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidResponseError(SoraError):
    """A success status with a body that is not what the Videos API sends."""


class TransportError(SoraError):
    """The request got no usable answer.

    ``sent`` is False only when the request surely never reached the server (connection
    refused, connect timeout, no free connection): only then is a create safe to repeat.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent


class APIError(SoraError):
    """An error answer from the endpoint (``retry_after``: the server's hint, if any)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # the server's Retry-After hint, in seconds
        self.status = status
        self.code = code
        self.type = type
        self.param = param
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [f"{self.status}"]
        if self.code:
            parts.append(self.code)
        text = f"[{' '.join(parts)}] {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class InvalidRequestError(APIError):
    """400: the endpoint refused the request's parameters."""


class InputModerationError(InvalidRequestError):
    """400: the prompt or reference image was blocked by input moderation."""


class AuthenticationError(APIError):
    """401/403: the key or token is wrong, or the identity lacks the role."""


class NotFoundError(APIError):
    """404: no such video (deleted, expired or never existed) or path."""


class DeploymentNotFoundError(NotFoundError):
    """404: the deployment does not exist on the resource (retired?), on whatever route it
    arrives: create, status, content, remix, delete or list. ``deployment``: the name Azure
    gave, if any. Distinct from a plain 404 of one video (``NotFoundError``)."""

    @property
    def deployment(self) -> str | None:
        match = _DEPLOYMENT_GONE.search(self.message)
        return match.group(1) if match else None

    hint = (
        "check SORA_DEPLOYMENT; Azure retired Sora 2 deployments during 2026, "
        "and a retired deployment answers 404"
    )


class NotSupportedError(APIError):
    """405/501: the endpoint does not offer this operation (some proxies lack list/delete)."""


class RateLimitError(APIError):
    """429: slow down; ``retry_after`` is the server's hint in seconds, if any."""


class TooManyRunningTasksError(RateLimitError):
    """429 "Too many running tasks": the deployment's cap on concurrent jobs is reached."""


class ServerError(APIError):
    """5xx (and 408): the endpoint failed; reads are retried, creates are reconciled."""


def parse_error_body(raw: bytes) -> tuple[str, str | None, str | None, str | None]:
    """Return (message, code, type, param) from an error body of any shape."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        text = raw.decode("utf-8", "replace").strip()
        return (text[:_BODY_SNIPPET] or "(empty body)", None, None, None)
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return (json.dumps(data)[:_BODY_SNIPPET], None, None, None)

    def field(name: str) -> str | None:
        value = err.get(name)
        return None if value is None else str(value)

    return (field("message") or "(no message)", field("code"), field("type"), field("param"))


def error_from_response(
    status: int, raw: bytes, headers: Mapping[str, str], retry_after: float | None
) -> APIError:
    """Build the most specific :class:`APIError` for an error answer."""
    message, code, type_, param = parse_error_body(raw)
    request_id = headers.get("x-request-id") or headers.get("apim-request-id")
    kw: dict[str, Any] = {
        "status": status,
        "code": code,
        "type": type_,
        "param": param,
        "request_id": request_id,
        "retry_after": retry_after,
    }
    lower = message.lower()
    if status == 400:
        if (code in MODERATION_CODES) or "moderation system" in lower:
            return InputModerationError(message, **kw)
        return InvalidRequestError(message, **kw)
    if status in (401, 403):
        return AuthenticationError(message, **kw)
    if status == 404:
        gone = "deployment" in lower and "does not exist" in lower
        if gone and code in (None, "DeploymentNotFound"):
            return DeploymentNotFoundError(message, **kw)
        return NotFoundError(message, **kw)
    if status in (405, 501):
        return NotSupportedError(message, **kw)
    if status == 429:
        if "too many running tasks" in lower:
            return TooManyRunningTasksError(message, **kw)
        return RateLimitError(message, **kw)
    if status >= 500 or status == 408:
        return ServerError(message, **kw)
    return APIError(message, **kw)
