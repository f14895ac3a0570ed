"""sora-bot check behind a gateway that cannot list videos (LiteLLM answers GET /videos
with 400, others with 405): a wrong key and a missing deployment must still FAIL, and a
working setup must pass, all without making a video. The real LiteLLM proxy is exercised
in tests/test_litellm.py; here the emulator answers the list as LiteLLM 1.106.2 does."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_check import check, settings, world

from bot.config import Secret
from bot.emulator import Emulator

LITELLM_LIST = {  # what LiteLLM 1.106.2 answers GET /videos, whatever the key
    "error": {
        "message": "litellm.BadRequestError: LLM Provider NOT provided. Pass in the LLM "
        "provider you are trying to call. You passed model=",
        "type": "invalid_request_error",
        "param": None,
        "code": "400",
    }
}


def cannot_list(emulator: Emulator, status: int) -> None:
    body = LITELLM_LIST if status == 400 else None
    emulator.fail_next(status, times=50, method="GET", path_prefix="/openai/v1/videos", body=body)


@pytest.mark.parametrize("status", [400, 405])
async def test_a_gateway_that_cannot_list_still_tells_every_case(
    tmp_path: Path, status: int
) -> None:
    async with world() as (api_url, videos, emulator):
        cannot_list(emulator, status)
        code, text = await check(settings(tmp_path, api_url, videos))
        assert code == 0, text
        assert "credentials accepted; it cannot list videos" in text
        assert "exists (asked without making a video)" in text

        code, text = await check(
            settings(tmp_path, api_url, videos, azure_openai_api_key=Secret("wrong-key"))
        )
        assert code == 1, text
        failed = [line for line in text.splitlines() if line.startswith("FAIL")]
        assert len(failed) == 1, text
        assert "Videos endpoint: the endpoint refused the credentials" in failed[0]
        assert "Ready" not in text

        code, text = await check(settings(tmp_path, api_url, videos, sora_deployment="sora-nope"))
        assert code == 1, text
        failed = [line for line in text.splitlines() if line.startswith("FAIL")]
        assert len(failed) == 1, text
        assert "deployment 'sora-nope': not found" in failed[0]
        assert emulator.create_calls == 0  # no probe ever made a video
