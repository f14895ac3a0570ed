"""A few hundred jobs through the whole bot and the fake Slack (Socket Mode, 30 channels,
chat.postMessage limited per channel, card edits at a real-ish rate): every card posted
once and showing its place from its first post, no edit that changes nothing, started jobs
shown within seconds, acks unaffected, transitions counted once per state change."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path

from fakes.slack import FakeSlack
from prometheus_client import generate_latest
from rig import fast_emulator_config
from slackrig import manifest_scopes, slack_rig, until

from bot.store import JobState

S = JobState
JOBS = 300
CHANNELS = [f"C{n}" for n in range(1, 31)]
USERS = 100
SHORT = 6  # the first jobs finish in the test; the others outlast it


def is_queued(version: dict[str, object]) -> bool:
    return "Queued" in str(version["text"])


async def test_hundreds_of_jobs_cards_tell_the_truth(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels=set(CHANNELS), scopes=manifest_scopes(), clock=time.time)
    config = fast_emulator_config(max_running=2)
    async with slack_rig(
        tmp_path,
        fake=fake,
        emulator_config=config,
        cards_per_minute=120,
        max_running_jobs=2,
        max_queued_per_user=10,
    ) as rig:
        latencies: list[float] = []
        for start in range(0, JOBS, 50):
            payloads = []
            for i in range(start, start + 50):
                gen = 1.0 if i < SHORT else 3600
                payloads.append(
                    fake.slash_command(
                        f"load clip {i} [[gen={gen}]]",
                        user=f"U{i % USERS}",
                        channel=CHANNELS[i % len(CHANNELS)],
                    )
                )
            envelopes = [await fake.send_envelope("slash_commands", p) for p in payloads]
            acks = await asyncio.gather(*(fake.wait_ack(e, 10) for e in envelopes))
            latencies += [latency for _, latency in acks]
        assert max(latencies) < 3.0  # the acks never wait for a card's turn

        def cards() -> list[object]:
            return [m for m in fake.messages.values() if m.bot_id and not m.is_reply]

        seen: list[str] = []

        async def settled() -> bool:
            jobs = await rig.store.jobs_in_states(*S)
            done = [j for j in jobs if j.state == S.DELIVERED]
            running = [j for j in jobs if j.state == S.RUNNING]
            behind = [j.id for j in done + running if j.card_shown != j.state]
            seen[:] = [
                f"{len(cards())} cards, {len(done)} done, {len(running)} running, "
                f"cards behind: {behind}, edits waiting {rig.runtime.cards.throttle.pending}"
            ]
            return len(cards()) == JOBS and len(done) >= 4 and len(running) == 2 and not behind

        try:
            await until(settled, 40, "cards never caught up")
        except AssertionError:
            raise AssertionError(seen) from None

        jobs = {j.id: j for j in await rig.store.jobs_in_states(*S)}
        assert len(jobs) == JOBS
        by_ts = {(j.channel_id, j.card_ts): j for j in jobs.values()}
        assert len(by_ts) == JOBS  # one card per job
        posted = [c for c in fake.calls_to("chat.postMessage") if "blocks" in c.args]
        assert len({c.args["text"] for c in posted}) == JOBS  # no card posted twice
        assert len(cards()) == JOBS
        assert fake.post_refusals == [] or len(cards()) == JOBS  # a 429 lost nothing

        started = []
        for (channel, ts), job in by_ts.items():
            history = fake.message_history(channel, ts or "")
            first = history[0]
            if is_queued(first):  # the first post shows the place: no edit needed for it
                assert "in line" in str(first["text"])
                assert "waiting in line" not in str(first["text"])
            for before, after in itertools.pairwise(history):
                same = (before["text"], before["blocks"]) == (after["text"], after["blocks"])
                assert not same, f"job {job.id}: an edit that changed nothing"
            for version in history:
                if is_queued(version):
                    assert "in line" in json.dumps(version["blocks"])
            if job.submitted_at is not None:
                shown = next(v["time"] for v in history if not is_queued(v))
                started.append(max(0.0, float(str(shown)) - job.submitted_at))
        assert len(started) >= 6
        assert max(started) <= 10.0, started  # a start is on its card within seconds

        scrape = generate_latest(rig.runtime.metrics.registry).decode()
        queued = _sample(scrape, 'sora_job_transitions_total{state="queued"}')
        running = _sample(scrape, 'sora_job_transitions_total{state="running"}')
        assert queued <= JOBS  # places in line are not transitions
        assert running == len(started)  # nor are progress ticks
        assert _sample(scrape, "sora_card_edits_total") == len(fake.calls_to("chat.update"))
        assert _sample(scrape, "sora_card_edits_skipped_total") > 0


def _sample(scrape: str, name: str) -> float:
    for line in scrape.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in the scrape")
