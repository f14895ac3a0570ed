"""Error bodies of the Videos API (sora-v1-api.md §9), raised as `ApiError` by the handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

GATEWAY_401_MESSAGE = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your "
    "resource."
)
MODERATION_INPUT_MESSAGE = (
    "The request is blocked by our moderation system when checking inputs. "
    "Possible reasons: people-in-user-uploads."
)
INVALID_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
    "help center at help.openai.com.)"
)
SERVER_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"
STATUS_MESSAGES: Final = MappingProxyType(
    {
        400: ("Bad request.", "invalid_request_error"),
        401: ("Unauthorized.", "invalid_request_error"),
        403: ("Forbidden.", "invalid_request_error"),
        404: ("Resource not found.", "invalid_request_error"),
        408: ("Request timed out.", "timeout"),
        409: ("Conflict.", "invalid_request_error"),
        413: ("Request entity too large.", "invalid_request_error"),
        429: ("Rate limit reached for requests.", "requests"),
        500: (SERVER_ERROR_MESSAGE, "server_error"),
        502: ("Bad gateway.", "server_error"),
        503: ("The service is temporarily unavailable. Please try again later.", "server_error"),
        504: ("Gateway timeout.", "server_error"),
    }
)


class ApiError(Exception):
    """An HTTP error answer: status, JSON body and extra headers."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = dict(body)
        self.headers = dict(headers or {})


def envelope(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, envelope(message, param=param, code=code))


def quote_list(values: Sequence[str], conjunction: str = "and") -> str:
    """`'a'`, `'a' and 'b'`, `'a', 'b', and 'c'` (the API's Oxford-comma style)."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return f" {conjunction} ".join(quoted)
    return ", ".join(quoted[:-1]) + f", {conjunction} " + quoted[-1]


def invalid_value(value: str, supported: Sequence[str], param: str) -> ApiError:
    message = f"Invalid value: '{value}'. Supported values are: {quote_list(supported)}."
    return bad_request(message, param=param, code="invalid_value")


def json_type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    return "a file"


def invalid_type(param: str, expected: str, value: object) -> ApiError:
    message = (
        f"Invalid type for '{param}': expected {expected}, but got {json_type_name(value)} instead."
    )
    return bad_request(message, param=param, code="invalid_type")


def missing_parameter(param: str) -> ApiError:
    return bad_request(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def unknown_parameter(param: str) -> ApiError:
    return bad_request(f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def gateway_401() -> ApiError:
    return ApiError(401, {"error": {"code": "401", "message": GATEWAY_401_MESSAGE}})


def gateway_404() -> ApiError:
    return ApiError(404, {"error": {"code": "404", "message": "Resource not found"}})


def deployment_404(name: str) -> ApiError:
    message = (
        f"The API deployment '{name}' for this resource does not exist. If you created the "
        "deployment within the last 5 minutes, please wait a moment and try again."
    )
    return ApiError(404, envelope(message, type_="video_generation_user_error"))


def video_not_found(video_id: str) -> ApiError:
    return ApiError(404, envelope(f"Video with id '{video_id}' not found."))


def moderation_input() -> ApiError:
    return bad_request(MODERATION_INPUT_MESSAGE, code="moderation_blocked")


def too_many_running(retry_after: int) -> ApiError:
    body = envelope("Too many running tasks", type_="video_generation_user_error")
    return ApiError(429, body, {"Retry-After": str(retry_after)})


def rate_limited(rpm: int, retry_after: int) -> ApiError:
    message = (
        f"Rate limit reached for video generation requests: Limit {rpm} / min. "
        f"Please try again in {retry_after}s."
    )
    body = envelope(message, type_="requests", code="rate_limit_exceeded")
    return ApiError(429, body, {"Retry-After": str(retry_after)})


def generic(status: int) -> dict[str, Any]:
    """Default body for injected faults and unexpected HTTP errors."""
    fallback = (
        ("Server error.", "server_error")
        if status >= 500
        else ("Request failed.", "invalid_request_error")
    )
    message, type_ = STATUS_MESSAGES.get(status, fallback)
    return envelope(message, type_=type_, code="rate_limit_exceeded" if status == 429 else None)
