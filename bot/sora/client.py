"""SoraClient: a thin typed client over ``httpx.AsyncClient`` for the six Videos endpoints."""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from bot.sizes import DEFAULT_SECONDS, DEFAULT_SIZE
from bot.sora.auth import Auth, TokenAuth
from bot.sora.download import fetch_content
from bot.sora.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    InvalidResponseError,
    SoraError,
    SoraValidationError,
    TransportError,
    error_from_response,
)
from bot.sora.models import (
    VARIANTS,
    ReferenceImage,
    Video,
    VideoPage,
    validate_create,
    validate_prompt,
)
from bot.sora.retry import (
    RetryPolicy,
    parse_retry_after,
    retry_never,
    retryable_create,
    retryable_read,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class Poll:
    """A retrieved video and the server's hint (``openai-poll-after-ms``) for the next poll."""

    video: Video
    poll_after: float | None


class SoraClient:
    """Create, retrieve, remix, download, list and delete videos.

    ``base_url`` is the API root (``https://RES.openai.azure.com/openai/v1`` or any base
    ending in ``/v1``); ``deployment`` is sent as ``model``. ``sleep`` and ``rand`` are the
    seams tests use to check retry timing without waiting.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        deployment: str,
        auth: Auth,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        on_error: Callable[[SoraError], None] | None = None,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self.deployment = deployment
        self._auth = auth
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        self._on_error = on_error  # sees every failed attempt (metrics)
        self._watchers: list[tuple[Callable[[], None], Callable[[SoraError], None]]] = []

    def watch(self, *, on_ok: Callable[[], None], on_error: Callable[[SoraError], None]) -> None:
        """Also tell ``on_ok`` of every answered request and ``on_error`` of every failed
        attempt (a pool's health of this backend)."""
        self._watchers.append((on_ok, on_error))

    # -- the six endpoints ---------------------------------------------------------------

    async def create(
        self,
        prompt: str,
        *,
        size: str = DEFAULT_SIZE,
        seconds: int = DEFAULT_SECONDS,
        input_reference: ReferenceImage | None = None,
    ) -> Video:
        """Start a job. Retried only when it surely created nothing (see ``retry``)."""
        validate_create(prompt, size, seconds, input_reference)
        fields: dict[str, Any] = {
            "model": (None, self.deployment),
            "prompt": (None, prompt),
            "size": (None, size),
            "seconds": (None, str(seconds)),
        }
        if input_reference is not None:
            ref = input_reference
            fields["input_reference"] = (ref.filename, ref.data, ref.content_type)

        async def once() -> Video:
            resp = await self._send("POST", "/videos", files=fields)
            return Video.from_json(_json(resp))

        return await self._retrying(once, retryable_create, "create")

    async def retrieve(self, video_id: str) -> Video:
        return (await self.poll(video_id)).video

    async def poll(self, video_id: str) -> Poll:
        """Retrieve a video, with the server's advice on when to ask again."""

        async def once() -> Poll:
            resp = await self._send("GET", f"/videos/{_seg(video_id)}")
            hint = resp.headers.get("openai-poll-after-ms")
            try:
                after = float(hint) / 1000.0 if hint else None
            except ValueError:
                after = None
            return Poll(Video.from_json(_json(resp)), after)

        return await self._retrying(once, retryable_read, "retrieve")

    async def remix(self, video_id: str, prompt: str) -> Video:
        """A new video from a completed one; ``prompt`` says only what to change."""
        validate_prompt(prompt)

        async def once() -> Video:
            resp = await self._send(
                "POST", f"/videos/{_seg(video_id)}/remix", json={"prompt": prompt}
            )
            return Video.from_json(_json(resp))

        return await self._retrying(once, retryable_create, "remix")

    async def list_page(
        self, *, limit: int = 20, order: str = "desc", after: str | None = None
    ) -> VideoPage:
        if not 1 <= limit <= 100:
            raise SoraValidationError("limit must be between 1 and 100", field="limit")
        if order not in ("asc", "desc"):
            raise SoraValidationError("order must be 'asc' or 'desc'", field="order")
        params: dict[str, str] = {"limit": str(limit), "order": order}
        if after:
            params["after"] = after

        async def once() -> VideoPage:
            return VideoPage.from_json(_json(await self._send("GET", "/videos", params=params)))

        return await self._retrying(once, retryable_read, "list")

    async def iter_videos(
        self, *, order: str = "desc", page_size: int = 100
    ) -> AsyncIterator[Video]:
        """Every video, page after page, following ``last_id`` until ``has_more`` is false."""
        after: str | None = None
        while True:
            page = await self.list_page(limit=page_size, order=order, after=after)
            for video in page.data:
                yield video
            if not page.has_more or not page.last_id or page.last_id == after:
                return
            after = page.last_id

    async def delete(self, video_id: str) -> None:
        """Delete a completed or failed video. A missing video raises ``NotFoundError``."""

        async def once() -> None:
            resp = await self._send("DELETE", f"/videos/{_seg(video_id)}")
            body = _json(resp)
            if not isinstance(body, dict) or body.get("deleted") is not True:
                raise InvalidResponseError(f"delete did not confirm: {str(body)[:200]}")

        await self._retrying(once, retryable_read, "delete")

    async def download(self, video_id: str, dest: str | Path, *, variant: str = "video") -> int:
        """Stream a video's content to ``dest``; returns the byte count.

        Memory stays bounded (at most about 1 MiB buffered), file writes run off the event
        loop, and ``dest`` appears only once the whole body has arrived: a cut stream never
        leaves a partial file behind. Tried once: the caller retries (the job pipeline,
        which counts how downloads fail and waits in a way a cancel can end).
        """
        if variant not in VARIANTS:
            raise SoraValidationError(f"variant must be one of {', '.join(VARIANTS)}")
        target = Path(dest)
        part = target.with_name(target.name + ".part")

        async def once() -> int:
            try:
                return await self._download_once(video_id, variant, target, part)
            finally:
                await asyncio.to_thread(part.unlink, True)

        return await self._retrying(once, retry_never, "download")

    async def check_deployment(self) -> InvalidRequestError:
        """Ask about the deployment without making a video: a create that cannot succeed
        (an empty prompt, zero seconds). Returns the 400 that refused it (which says what
        it objected to: the fields when the deployment exists, the model behind some
        gateways when it does not); raises the API's error otherwise (a 404 for a
        deployment that does not exist at Azure, a 401 for refused credentials)."""
        fields = {
            "model": (None, self.deployment),
            "prompt": (None, ""),
            "seconds": (None, "0"),
        }
        try:
            await self._send("POST", "/videos", files=fields)
        except InvalidRequestError as refusal:
            return refusal
        raise InvalidResponseError("the endpoint accepted an impossible request")

    # -- plumbing -----------------------------------------------------------------------

    async def _download_once(self, video_id: str, variant: str, target: Path, part: Path) -> int:
        url = f"{self._base}/videos/{_seg(video_id)}/content"
        try:
            written = await fetch_content(
                self._http,
                url,
                params={"variant": variant},
                headers=await self._auth.headers(),
                variant=variant,
                part=part,
            )
        except httpx.TransportError as exc:
            raise _transport(exc) from exc
        await asyncio.to_thread(os.replace, part, target)
        return written

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        files: Any = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request: auth headers, transport errors mapped, error answers raised."""
        for attempt in (1, 2):
            headers = await self._auth.headers()
            try:
                resp = await self._http.request(
                    method,
                    self._base + path,
                    json=json,
                    files=files,
                    params=params,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                raise _transport(exc) from exc
            if resp.status_code < 400:
                return resp
            error = self._error(resp, resp.content)
            # An expired or revoked token: fetch a new one, once.
            auth = self._auth
            first = attempt == 1
            if first and isinstance(error, AuthenticationError) and isinstance(auth, TokenAuth):
                auth.invalidate()
                continue
            raise error
        raise AssertionError("unreachable")

    def _error(self, resp: httpx.Response, raw: bytes) -> APIError:
        return error_from_response(
            resp.status_code, raw, resp.headers, parse_retry_after(resp.headers)
        )

    async def _retrying(
        self,
        fn: Callable[[], Awaitable[T]],
        predicate: Callable[[BaseException], bool],
        what: str,
    ) -> T:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, APIError) and exc.retry_after is not None:
                return exc.retry_after
            return self._retry.backoff(state.attempt_number, self._rand)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "sora %s failed (%s); retry %d in %.1fs", what, exc, state.attempt_number, delay
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=wait,
            retry=retry_if_exception(predicate),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    result = await fn()
                except SoraError as exc:
                    if self._on_error is not None:
                        self._on_error(exc)
                    for _, on_error in self._watchers:
                        on_error(exc)
                    raise
                for on_ok, _ in self._watchers:
                    on_ok()
                return result
        raise AssertionError("unreachable")


def _seg(video_id: str) -> str:
    """A video id as one path segment. Ids are opaque (proxies use long base64 strings)."""
    if not video_id:
        raise SoraValidationError("a video id is required", field="video_id")
    return quote(video_id, safe="")


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        snippet = resp.text[:200]
        raise InvalidResponseError(f"expected JSON, got {snippet!r}") from exc


def _transport(exc: httpx.TransportError) -> TransportError:
    sent = not isinstance(exc, _NOT_SENT)
    return TransportError(f"{type(exc).__name__}: {exc}".rstrip(": "), sent=sent)
