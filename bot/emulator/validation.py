"""Request parsing and validation for create and remix (sora-v1-api.md §2, §5, §9)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import warnings
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from .config import ALL_SIZES, DEFAULT_SECONDS, DEFAULT_SIZE, SECONDS_VALUES
from .errors import (
    INVALID_JSON_MESSAGE,
    bad_request,
    invalid_type,
    invalid_value,
    missing_parameter,
    quote_list,
    unknown_parameter,
)

PROMPT_MAX = 32000
IMAGE_URL_MAX = 20_971_520
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
_DATA_URL = re.compile(
    r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<b64>.*)", re.S
)
MISMATCH_MESSAGE = "Inpaint image must match the requested width and height"


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart body (or a decoded data URL)."""

    data: bytes
    filename: str | None


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request body as a dict: JSON values, or multipart strings and `Upload`s."""
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = json.loads(await request.read())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise bad_request(INVALID_JSON_MESSAGE) from None
        if not isinstance(body, dict):
            raise bad_request(INVALID_JSON_MESSAGE)
        return body
    if ctype == "multipart/form-data":
        try:
            form = await request.post()
        except ValueError:
            raise bad_request("Invalid multipart/form-data body.") from None
        out: dict[str, Any] = {}
        for name, value in form.items():
            if isinstance(value, web.FileField):
                with value.file:
                    out[name] = Upload(value.file.read(), value.filename)
            elif isinstance(value, (bytes, bytearray)):
                out[name] = Upload(bytes(value), None)
            else:
                out[name] = value
        return _nest_brackets(out)
    raise bad_request(
        f"Unsupported content type: '{ctype}'. Send 'application/json' or 'multipart/form-data'."
    )


def _nest_brackets(fields: dict[str, Any]) -> dict[str, Any]:
    """`input_reference[image_url]=…` (the SDK's multipart encoding) -> nested dicts."""
    out: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        match = re.fullmatch(r"([^\[\]]+)\[([^\[\]]+)\]", name)
        if match is None:
            out[name] = value
        else:
            nested.setdefault(match.group(1), {})[match.group(2)] = value
    for outer, inner in nested.items():
        if outer in out:
            raise bad_request(
                f"Invalid '{outer}': give either a file or an object, not both.", param=outer
            )
        out[outer] = inner
    return out


def check_unknown(body: dict[str, Any], allowed: Set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise unknown_parameter(key)


def check_prompt(body: dict[str, Any]) -> str:
    if "prompt" not in body:
        raise missing_parameter("prompt")
    prompt = body["prompt"]
    if not isinstance(prompt, str):
        raise invalid_type("prompt", "a string", prompt)
    if not prompt:
        raise bad_request(
            "Invalid 'prompt': string too short. Expected a string with minimum length 1, "
            "but got an empty string instead.",
            param="prompt",
            code="string_below_min_length",
        )
    if len(prompt) > PROMPT_MAX:
        raise bad_request(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{PROMPT_MAX}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    return prompt


def check_enum(body: dict[str, Any], param: str, allowed: tuple[str, ...], default: str) -> str:
    if param not in body:
        return default
    value = body[param]
    if not isinstance(value, str):
        raise invalid_type(param, f"one of {quote_list(allowed, 'or')}", value)
    if value not in allowed:
        raise invalid_value(value, allowed, param)
    return value


def check_seconds(body: dict[str, Any]) -> str:
    return check_enum(body, "seconds", SECONDS_VALUES, DEFAULT_SECONDS)


def check_size(body: dict[str, Any]) -> str:
    return check_enum(body, "size", ALL_SIZES, DEFAULT_SIZE)


def reference_upload(body: dict[str, Any]) -> Upload | None:
    """The reference image from a file part or an `{image_url}`/`{file_id}` object."""
    if "input_reference" not in body:
        return None
    ref = body["input_reference"]
    if isinstance(ref, Upload):
        return ref
    if not isinstance(ref, dict):
        raise invalid_type("input_reference", "a file or an object", ref)
    for key in ref:
        if key not in ("image_url", "file_id"):
            raise unknown_parameter(f"input_reference.{key}")
    if len(ref) != 1:
        raise bad_request(
            "Invalid 'input_reference': provide exactly one of 'image_url' or 'file_id'.",
            param="input_reference",
            code="invalid_value",
        )
    if "file_id" in ref:
        file_id = ref["file_id"]
        if not isinstance(file_id, str):
            raise invalid_type("input_reference.file_id", "a string", file_id)
        raise bad_request(
            f"Invalid 'input_reference.file_id': no file with id '{file_id}' was found.",
            param="input_reference.file_id",
            code="invalid_value",
        )
    return _decode_image_url(ref["image_url"])


def _decode_image_url(url: object) -> Upload:
    param = "input_reference.image_url"
    if not isinstance(url, str):
        raise invalid_type(param, "a string", url)
    if len(url) > IMAGE_URL_MAX:
        raise bad_request(
            f"Invalid '{param}': string too long. Expected a string with maximum length "
            f"{IMAGE_URL_MAX}, but got a string with length {len(url)} instead.",
            param=param,
            code="string_above_max_length",
        )
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise bad_request(
            f"Invalid '{param}': expected a base64 data URL (the emulator fetches no URLs).",
            param=param,
            code="invalid_value",
        )
    try:
        data = base64.b64decode(match.group("b64"), validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(
            f"Invalid '{param}': the data URL is not valid base64.",
            param=param,
            code="invalid_value",
        ) from None
    return Upload(data, None)


def sniff_image(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check_image(upload: Upload, size: str) -> None:
    """PNG/JPEG/WEBP by magic bytes, fully decodable, and exactly `size` pixels."""
    fmt = sniff_image(upload.data)
    if fmt is None:
        raise bad_request(
            "Invalid file format for 'input_reference'. Supported formats are: "
            f"{quote_list(IMAGE_TYPES)}.",
            param="input_reference",
            code="invalid_image_format",
        )
    width, height = (int(v) for v in size.split("x"))
    mismatch = bad_request(MISMATCH_MESSAGE, param="input_reference")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(upload.data), formats=[fmt]) as image:
                if image.size != (width, height):
                    raise mismatch
                image.load()  # bounded: the pixel size equals a video size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise mismatch from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise bad_request(
            "Invalid 'input_reference': the image could not be decoded.",
            param="input_reference",
            code="invalid_image",
        ) from None
