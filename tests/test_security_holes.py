"""The smaller holes of issue 13: the bot token only to an exact scheme, host and port;
configuration problems that never quote a credential; private files (0600 in 0700 folders,
whatever the umask) removed when their job ends and swept at start-up; flag values
escaped in replies. Real loopback servers, a real SQLite file, the emulator."""

from __future__ import annotations

import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rig import make_rig
from slackrig import slack_rig
from test_security import TOKEN, fetch, file_host
from test_slack_conversation import delivered, quiet
from test_slack_shortcut import as_submitted, open_modal, person_message, picture

from bot.config import ConfigError, Settings
from bot.jobs.delivery import Artifacts, DeliveryRefused, LocalDirectoryDelivery, Remember
from bot.jobs.workfiles import sweep_work_dir
from bot.slack.parse import Invalid, parse_command
from bot.store import Job, JobState

S = JobState


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default, under which plain open() makes files others can read."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- the bot token: exact scheme, host and port ---------------------------------------------


async def test_the_token_needs_the_exact_scheme_host_and_port(tmp_path: Path) -> None:
    png = {"mimetype": "image/png", "size": 1000}
    async with file_host() as (slack, seen), file_host() as (other, seen_other):
        port, other_port = slack.rsplit(":", 1)[1], other.rsplit(":", 1)[1]
        api_url = f"http://localhost:{port}/api/"  # SLACK_API_URL: http, localhost, port
        for url in (
            f"http://localhost:{other_port}/x.png",  # same host, another port (Redis, say)
            f"https://localhost:{port}/x.png",  # same host and port, another scheme
        ):
            result = await fetch({**png, "url_private": url}, api_url, tmp_path)
            assert "stored outside Slack" in str(result), url
        # An https SLACK_API_URL does not let the token travel over plain http.
        https_api = f"https://localhost:{port}/api/"
        result = await fetch(
            {**png, "url_private": f"http://localhost:{port}/x.png"}, https_api, tmp_path
        )
        assert "stored outside Slack" in str(result)
        assert seen == []
        assert seen_other == []

        result = await fetch(
            {**png, "url_private": f"http://localhost:{port}/x.png"}, api_url, tmp_path
        )
        assert Path(result).is_file()  # the control: SLACK_API_URL's own origin works
        assert seen == [{"path": "/x.png", "authorization": f"Bearer {TOKEN}"}]

    # Slack's own hosts: files.slack.com only over https on 443, slack.com only as configured.
    for url in (
        "https://files.slack.com:8443/x.png",
        "http://files.slack.com:443/x.png",
        "http://slack.com/x.png",
        "https://slack.com:8443/x.png",
    ):
        result = await fetch({**png, "url_private": url}, "https://slack.com/api/", tmp_path)
        assert "stored outside Slack" in str(result), url  # not a failed download


# -- configuration problems never quote a credential ----------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/openai/v1?api-key=SEKRET1"),
        ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/#key=SEKRET1"),
        ("AZURE_OPENAI_ENDPOINT", "http://res.openai.azure.com/token=SEKRET1"),
        ("AZURE_OPENAI_ENDPOINT", "https://x.example/sig=SEKRET1/v2"),
        ("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com:99999/?key=SEKRET1"),
        ("AZURE_OPENAI_ENDPOINT", "ftp://x.example/?token=SEKRET1"),
        ("SLACK_API_URL", "https://slack.com/api/?token=xoxb-SEKRET1"),
        ("SLACK_API_URL", "slack.com/api/token=SEKRET1"),
        ("SLACK_API_URL", "https://u:SEKRET1@slack.com/api/"),
    ],
)
def test_configuration_problems_never_echo_what_may_be_a_credential(name: str, value: str) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1-abc",
        "SLACK_APP_TOKEN": "xapp-1-def",
        "AZURE_OPENAI_ENDPOINT": "https://my-res.openai.azure.com",
        name: value,
    }
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env, dotenv_path=None)
    problems = info.value.problems
    assert len(problems) == 1
    assert problems[0].startswith(name)
    assert "SEKRET1" not in problems[0]


def test_a_harmless_bad_url_is_still_quoted() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_API_URL": "ftp://s"}
    env["AZURE_OPENAI_ENDPOINT"] = "https://my-res.openai.azure.com"
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env, dotenv_path=None)
    assert "'ftp://s'" in info.value.problems[0]  # what was typed helps, when it is safe


# -- flag values in replies -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a cat --seconds <!here>", "a cat --size <!channel>", "a cat --seconds=<@U2>"],
)
def test_a_flag_value_is_escaped_in_the_reply(text: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, Invalid)
    assert "<" not in parsed.problem
    assert ">" not in parsed.problem
    assert "&lt;" in parsed.problem  # shown as text, mentions no one


def test_a_flag_value_with_slacks_own_escapes_is_shown_as_typed() -> None:
    parsed = parse_command("a cat --seconds a&amp;b")
    assert isinstance(parsed, Invalid)
    assert "`--seconds a&amp;b`" in parsed.problem  # Slack shows "a&b": as typed


# -- private files, removed when their job ends ---------------------------------------------


async def test_the_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.command("a cat")
        await delivered(rig, 1)
        db = tmp_path / "bot.db"
        for path in (db, db.with_name("bot.db-wal"), db.with_name("bot.db-shm")):
            assert mode(path) == 0o600, path
        assert mode(rig.runtime.runner.config.work_dir) == 0o700


async def test_a_first_frame_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    async with file_host() as (slack, _):
        result = await fetch(
            {"mimetype": "image/png", "url_private": f"{slack}/x.png"}, f"{slack}/api/", tmp_path
        )
    assert mode(result) == 0o600
    assert mode(Path(result).parent) == 0o700


class Recording(LocalDirectoryDelivery):
    """A local delivery that notes the mode of each file it is handed, or refuses."""

    def __init__(self, directory: Path, *, refuse: bool = False) -> None:
        super().__init__(directory)
        self.refuse = refuse
        self.modes: dict[str, int] = {}

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        for path in (artifacts.video, artifacts.thumbnail):
            if path is not None:
                self.modes[path.suffix] = mode(path)
        if self.refuse:
            raise DeliveryRefused("the channel was archived")
        await super().deliver(job, artifacts, remember)


@pytest.mark.parametrize("refuse", [False, True])
async def test_downloads_are_0600_and_gone_when_the_job_ends(tmp_path: Path, refuse: bool) -> None:
    async with make_rig(tmp_path, start=False) as rig:
        recording = Recording(tmp_path / "out", refuse=refuse)
        rig.runner.pipeline.delivery = recording
        await rig.runner.start()
        job = await rig.runner.enqueue(rig.new("a cat"))
        await rig.runner.run_until_idle(limit=20)
        assert (await rig.job(job.id)).state == (S.FAILED if refuse else S.DELIVERED)
        assert recording.modes == {".mp4": 0o600, ".webp": 0o600}
        assert mode(rig.work) == 0o700
        assert [p.name for p in rig.work.iterdir()] == []  # refused at delivery: gone too


async def test_a_duplicate_image_submission_leaves_no_fitted_png(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        png = rig.fake.add_user_file("g.png", content=picture(64, 48), original_w=64, original_h=48)
        view = await open_modal(rig, person_message(rig, "bloom", files=[png]))
        submission = rig.fake.view_submission(view, "U1", as_submitted(view))
        await rig.send("interactive", submission)
        await rig.send("interactive", submission, retry_attempt=1, retry_reason="timeout")
        await delivered(rig, 1)
        await quiet(rig)
        assert await rig.store.get_job(2) is None
        assert len(rig.fake.downloads) == 2  # both submissions fitted an image
        inputs = rig.runtime.runner.config.work_dir / "inputs"
        assert list(inputs.iterdir()) == []


async def test_files_no_unfinished_job_needs_are_swept_at_start_up(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start=False) as rig:
        rig.work.mkdir(mode=0o755)
        (rig.work / "inputs").mkdir(mode=0o755)
        orphans = [
            rig.work / "job-41.mp4",
            rig.work / "job-41.webp",
            rig.work / "job-42.mp4.part",
            rig.work / "inputs" / f"{uuid.uuid4().hex}.png",
        ]
        foreign = rig.work / "README.txt"  # not a name the bot makes: left alone
        fresh = rig.work / "job-43.mp4.part"  # being written by another process, maybe
        for path in [*orphans, foreign, fresh]:
            path.write_bytes(b"x")
            if path != fresh:
                os.utime(path, (time.time() - 120, time.time() - 120))  # left long ago
        await rig.runner.start()
        assert [p for p in orphans if p.exists()] == []
        assert foreign.exists()
        assert fresh.exists()
        assert mode(rig.work) == 0o700
        assert mode(rig.work / "inputs") == 0o700


def test_the_sweep_keeps_what_unfinished_jobs_need(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "inputs").mkdir(parents=True)
    kept = [work / "job-7.mp4", work / "inputs" / f"{uuid.uuid4().hex}.png"]
    gone = [work / "job-8.mp4", work / "inputs" / f"{uuid.uuid4().hex}.png"]
    for path in [*kept, *gone]:
        path.write_bytes(b"x")
    assert sweep_work_dir(work, kept, older_than=-1) == 2
    assert [p.exists() for p in kept] == [True, True]
    assert [p.exists() for p in gone] == [False, False]
    assert [mode(p) for p in kept] == [0o600, 0o600]  # files from an older version, too
