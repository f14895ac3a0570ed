"""README and .env.example stay true to the code: every variable, every command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bot.__main__ import _parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
VARIABLE = re.compile(r'"((?:SLACK|AZURE_OPENAI|SORA)_[A-Z_]+|PORT)"')


def variables_in_code() -> set[str]:
    return set(VARIABLE.findall((ROOT / "bot" / "config.py").read_text()))


def test_every_variable_is_documented() -> None:
    names = variables_in_code()
    assert len(names) >= 22
    # A variable is set in the example, or shown commented out (SORA_METRICS_PORT: set, even
    # empty, it would override the Docker image's value).
    lines = (ROOT / ".env.example").read_text().splitlines()
    example = {m.group(1) for line in lines if (m := re.match(r"^(?:# )?([A-Z_]+)=", line))}
    assert names == example
    for name in names:
        assert f"`{name}`" in README, name


def commands() -> list[str]:
    # Every fenced block is matched (an ```sql one too, or the fences pair up wrongly);
    # commands are looked for in the shell ones.
    fenced = re.findall(r"```(\w*)\n(.*?)```", README, re.S)
    blocks = [body for lang, body in fenced if lang in ("", "sh")]
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    found = []
    for line in lines:
        for part in line.split("&&"):
            part = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", part.strip())  # VAR=value sora-bot ...
            if part.startswith("sora-bot"):
                found.append(part)
    return found


@pytest.mark.parametrize("line", commands())
def test_every_sora_bot_command_in_the_readme_parses(line: str) -> None:
    args = shlex.split(line.split("#", 1)[0])[1:]
    parsed = _parser().parse_args(args)
    assert parsed.command in ("run", "check", "demo", "emulator", "healthcheck", "migrate-db")


def test_readme_has_the_two_setup_commands_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^python3 -m venv \.venv .*scripts/check$", README, re.M)
    assert re.search(r"^python3 -m venv \.venv .*sora-bot demo .*$", README, re.M)
    assert "scripts/check" in ci
    assert "sora-bot demo" in ci
