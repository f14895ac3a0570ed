"""The bad-input corpus as a whole (its groups are tests/test_bad_input_*.py): at least 100
cases with unique ids across every group, and the cases marked ``bug`` run one by one as
strict xfails (fix the bug, then drop the mark)."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput import SETTINGS, Case, Ctx, run_case
from slackrig import slack_rig
from test_bad_input_commands import COMMANDS
from test_bad_input_images import IMAGES
from test_bad_input_malformed import MALFORMED
from test_bad_input_modals import MODALS
from test_bad_input_reactions import REACTIONS
from test_bad_input_threads import THREADS

GROUPS: dict[str, list[Case]] = {
    "commands": COMMANDS,
    "modals": MODALS,
    "threads": THREADS,
    "images": IMAGES,
    "reactions": REACTIONS,
    "malformed": MALFORMED,
}
ALL = [(group, case) for group, cases in GROUPS.items() for case in cases]


def test_the_corpus_has_at_least_100_cases_with_unique_ids() -> None:
    ids = [f"{group}/{case.id}" for group, case in ALL]
    assert len(ids) == len(set(ids))
    bugs = sum(1 for _, case in ALL if case.bug)
    print(f"\n{len(ids)} bad-input cases ({bugs} show known bugs)")
    assert len(ids) >= 100


@pytest.mark.parametrize(
    ("group", "case"),
    [
        pytest.param(
            group,
            case,
            id=f"{group}/{case.id}",
            marks=pytest.mark.xfail(strict=True, reason=case.bug or ""),
        )
        for group, case in ALL
        if case.bug
    ],
)
async def test_known_bug(group: str, case: Case, tmp_path: Path) -> None:
    async with slack_rig(tmp_path, **SETTINGS) as rig:
        problems = await run_case(Ctx(rig), case, patience=1.0)  # a fixed bot acks in ms
    assert not problems, f"{group}/{case.id}: " + "; ".join(problems)
