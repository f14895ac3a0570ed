"""The "Make a video" message shortcut end to end: the prefilled modal, the thread it answers
in, and the message's image as the first frame (fetched safely, fitted exactly)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

from fakes.slack import FakeSlack
from PIL import Image
from slackrig import SlackRig, manifest_scopes, slack_rig, until
from test_slack_conversation import delivered, eventually, modals, quiet, said, sora_calls

from bot.slack import blocks as ui
from bot.store import JobKind, JobState

S = JobState
RED, BLUE, GREEN = (220, 20, 20), (20, 20, 220), (20, 200, 20)


def picture(width: int, height: int, fmt: str = "PNG") -> bytes:
    """Left half red, right half blue, and a green band along the top eighth."""
    img = Image.new("RGB", (width, height), RED)
    img.paste(BLUE, (width // 2, 0, width, height))
    img.paste(GREEN, (0, 0, width, height // 8))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def huge_png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    real = picture(8, 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    patched = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[:8] + patched + real[8 + 25 :]


def person_message(
    rig: SlackRig, text: str, files: list[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    """A message a person posted (stored in the fake Slack), as a shortcut payload sees it."""
    event: dict[str, Any] = rig.fake.message_event(text, files=files, **kw)["event"]
    return event


async def open_modal(rig: SlackRig, message: dict[str, Any], user: str = "U1") -> dict[str, Any]:
    payload = rig.fake.message_shortcut(ui.SHORTCUT_FROM_MESSAGE, message, user=user)
    before = len(modals(rig, ui.VIEW_OPTIONS))
    await rig.send("interactive", payload)
    # A new modal, not the last one opened: taking views[-1] as soon as any modal existed
    # submitted an earlier person's modal (their file) when this one was slow to open.
    views = await eventually(lambda: modals(rig, ui.VIEW_OPTIONS)[before:], "no options modal")
    (view,) = views
    return dict(view)


def as_submitted(view: dict[str, Any], **changes: dict[str, Any]) -> dict[str, Any]:
    """The modal's state as Slack submits it when the person keeps the initial values
    (``changes`` replace the state of whole blocks, by block id)."""
    values: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        state: dict[str, Any] = {"type": element.get("type")}
        if "initial_value" in element:
            state["value"] = element["initial_value"]
        if "initial_option" in element:
            state["selected_option"] = element["initial_option"]
        if element.get("type") == "checkboxes":
            state["selected_options"] = element.get("initial_options", [])
        values[block["block_id"]] = {element.get("action_id"): state}
    for block_id, state in changes.items():
        action = next(
            b["element"]["action_id"] for b in view["blocks"] if b["block_id"] == block_id
        )
        values[block_id] = {action: state}
    return values


async def submit(rig: SlackRig, view: dict[str, Any], user: str = "U1", **changes: Any) -> None:
    ack = await rig.send(
        "interactive", rig.fake.view_submission(view, user, as_submitted(view, **changes))
    )
    assert not (ack.get("payload") or {}).get("errors"), ack


def first_frame_offered(view: dict[str, Any]) -> str | None:
    for block in view["blocks"]:
        if block["block_id"] == ui.FIRST_FRAME[0]:
            return str(block["element"]["initial_options"][0]["text"]["text"])
    return None


def initial(view: dict[str, Any], block_id: str) -> Any:
    element = next(b["element"] for b in view["blocks"] if b["block_id"] == block_id)
    return element.get("initial_value") or element["initial_option"]["value"]


async def first_frame(rig: SlackRig, job_id: int) -> bytes:
    """The image Sora (the emulator) received as the job's input_reference."""

    async def created() -> Any:
        job = await rig.store.get_job(job_id)
        return job if job is not None and job.video_id else None

    job = await until(created, 10, f"job {job_id} never reached Azure")
    reference = rig.emulator.videos[job.video_id].reference
    assert reference is not None, "the job has no first frame"
    return reference


async def refused(rig: SlackRig, user: str = "U1") -> str:
    return said(await eventually(lambda: rig.fake.ephemerals(user), "no private answer"))


# -- the modal and the thread -----------------------------------------------------------------


async def test_the_modal_is_prefilled_with_plain_words_and_answers_in_the_thread(
    tmp_path: Path,
) -> None:
    async with slack_rig(tmp_path) as rig:
        text = (
            "<@U2> look at <#C2|random> and <https://example.com|this site> &amp; "
            "<https://x.io> <!here>"
        )
        root = person_message(rig, text)
        view = await open_modal(rig, root)
        assert initial(view, ui.PROMPT[0]) == "look at #random and this site & https://x.io"
        assert initial(view, ui.SHAPE[0]) == "portrait"
        assert first_frame_offered(view) is None  # no image on the message
        await submit(rig, view)
        job = await delivered(rig, 1)
        assert job.prompt == "look at #random and this site & https://x.io"
        assert job.thread_ts == root["ts"]  # a root message: its own thread
        card = rig.fake.messages[("C1", job.card_ts or "")]
        assert card.thread_ts == root["ts"]
        assert card.is_reply
        assert len(rig.shares("C1", root["ts"])) == 1

        inner = person_message(rig, "a fox in the snow", thread_ts=root["ts"], user="U2")
        await submit(rig, await open_modal(rig, inner, user="U3"), user="U3")
        second = await delivered(rig, 2)
        assert second.thread_ts == root["ts"]  # a reply: the thread it is in
        assert (second.requester_id, second.version_label) == ("U3", "v2")
        await rig.send("events_api", rig.fake.message_event("remix: redder", thread_ts=root["ts"]))
        third = await delivered(rig, 3)  # a thread the bot did not start remixes just the same
        assert (third.parent_job_id, third.version_label, third.thread_ts) == (2, "v3", root["ts"])
        assert len(rig.shares("C1", root["ts"])) == 3


async def test_a_resubmitted_modal_makes_one_job(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        view = await open_modal(rig, person_message(rig, "a tiny robot"))
        submission = rig.fake.view_submission(view, "U1", as_submitted(view))
        await rig.send("interactive", submission)
        await rig.send("interactive", submission, retry_attempt=1, retry_reason="timeout")
        await delivered(rig, 1)
        await quiet(rig)
        assert await rig.store.get_job(2) is None
        assert rig.emulator.create_calls == 1


# -- the image as first frame -----------------------------------------------------------------


async def test_a_png_becomes_a_fitted_landscape_first_frame(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        pdf = rig.fake.add_user_file("notes.pdf", content=b"%PDF-1.4 not an image")
        png = rig.fake.add_user_file(
            "garden.png", content=picture(1000, 800), original_w=1000, original_h=800
        )
        other = rig.fake.add_user_file("other.jpg", content=picture(800, 1000, "JPEG"))
        message = person_message(rig, "make the garden bloom", files=[pdf, png, other])
        view = await open_modal(rig, message)
        assert first_frame_offered(view) == "Start from the image (garden.png)"  # first wins
        assert initial(view, ui.SHAPE[0]) == "landscape"  # from the image's aspect
        await submit(rig, view)
        sent_bytes = await first_frame(rig, 1)
        job = await delivered(rig, 1)
        assert (job.kind, job.size) == (JobKind.IMAGE, "1280x720")

        assert rig.fake.downloads == [
            {"file": png["id"], "authorized": True, "path": rig.fake.downloads[0]["path"]}
        ]  # only the chosen file, with the bot token
        with Image.open(io.BytesIO(sent_bytes)) as sent:
            assert (sent.format, sent.size) == ("PNG", (1280, 720))
            rgb = sent.convert("RGB")
            # Covered and center-cropped: halves stay halves, the top band is cut off.
            assert _near(rgb.getpixel((300, 400)), RED)
            assert _near(rgb.getpixel((980, 400)), BLUE)
            assert _near(rgb.getpixel((300, 2)), RED)
        made = rig.emulator.videos[job.video_id or ""]
        assert (made.has_reference, made.size) == (True, "1280x720")  # the emulator took it
        assert job.input_image_path
        assert not Path(job.input_image_path).exists()  # removed once Azure had it


def _near(pixel: Any, color: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(pixel, color, strict=True))


async def test_a_webp_in_portrait_and_the_box_can_be_unticked(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        webp = rig.fake.add_user_file(
            "tall.webp", content=picture(600, 900, "WEBP"), original_w=600, original_h=900
        )
        message = person_message(rig, "a tall tower", files=[webp])
        view = await open_modal(rig, message)
        assert initial(view, ui.SHAPE[0]) == "portrait"
        await submit(rig, view)
        with Image.open(io.BytesIO(await first_frame(rig, 1))) as sent:
            assert sent.size == (720, 1280)
        job = await delivered(rig, 1)
        assert rig.emulator.videos[job.video_id or ""].has_reference

        untick = {"type": "checkboxes", "selected_options": []}
        await submit(rig, await open_modal(rig, message), first_frame=untick)
        text_only = await delivered(rig, 2)
        assert (text_only.kind, text_only.input_image_path) == (JobKind.TEXT, None)
        assert len(rig.fake.downloads) == 1


async def test_an_image_without_its_size_in_the_message_still_sets_the_orientation(
    tmp_path: Path,
) -> None:
    async with slack_rig(tmp_path) as rig:
        wide = rig.fake.add_user_file(
            "wide.jpg", content=picture(1600, 900, "JPEG"), original_w=1600, original_h=900
        )
        stub = {"id": wide["id"], "mode": "hosted", "file_access": "check_file_info"}
        view = await open_modal(rig, person_message(rig, "a wide river", files=[stub]))
        assert first_frame_offered(view) is not None
        assert initial(view, ui.SHAPE[0]) == "landscape"
        await submit(rig, view)
        job = await delivered(rig, 1)
        assert (job.kind, job.size) == (JobKind.IMAGE, "1280x720")


async def test_input_moderation_on_the_image_is_explained_on_the_card(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        png = rig.fake.add_user_file("me.png", content=picture(720, 1280))
        message = person_message(rig, "[[face]] my selfie, waving", files=[png])
        await submit(rig, await open_modal(rig, message))
        job = await rig.wait_state(1, S.FAILED)
        assert job.error_code == "input_moderation"
        await rig.settle_cards()
        card = said([rig.fake.messages[("C1", job.card_ts or "")]])
        assert "blocked by the content policy" in card
        assert "faces are refused" in card
        assert rig.shares("C1", message["ts"]) == []


async def test_images_that_cannot_be_used_are_refused_privately_before_sora(
    tmp_path: Path,
) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    async with slack_rig(tmp_path, fake=fake) as rig:
        files = [
            ("big.png", {"size": 30 * 1024 * 1024, "head": picture(8, 8)}, "larger than 20 MB"),
            ("broken.png", {"content": picture(64, 64)[:40] + b"\0" * 200}, "is damaged"),
            ("fake.jpg", {"content": b"GIF89a not really a jpeg"}, "not a PNG, JPEG or WebP"),
            ("bomb.png", {"content": huge_png_header(8000, 8000)}, "too large to use"),
            ("doc.png", {"content": picture(64, 64), "is_external": True}, "stored outside Slack"),
        ]
        ids = {}
        for n, (name, body, why) in enumerate(files, start=1):
            user = f"U{n + 1}"
            f = rig.fake.add_user_file(name, mimetype="image/png", user=user, **body)
            ids[name] = f["id"]
            await submit(rig, await open_modal(rig, person_message(rig, "go", files=[f])), user)
            assert why in await refused(rig, user), name
        assert rig.fake.external_requests == []  # the token never left Slack's hosts
        fetched = [d["file"] for d in rig.fake.downloads]
        assert fetched == [ids["broken.png"], ids["fake.jpg"], ids["bomb.png"]]  # not 30 MB
        assert all(d["authorized"] for d in rig.fake.downloads)

        fake.files_read_missing = True  # Slack answers its sign-in page with status 200
        png = rig.fake.add_user_file("ok.png", content=picture(64, 64), user="U9")
        await submit(rig, await open_modal(rig, person_message(rig, "go", files=[png])), "U9")
        assert "web page instead of the image" in await refused(rig, "U9")
        assert "files:read" in await refused(rig, "U9")
        await quiet(rig)
        assert await rig.store.get_job(1) is None
        assert sora_calls(rig) == 0


async def test_without_files_read_the_person_is_told_what_to_ask_for(tmp_path: Path) -> None:
    scopes = tuple(s for s in manifest_scopes() if s != "files:read")
    async with slack_rig(tmp_path, fake=FakeSlack(member_channels={"C1"}, scopes=scopes)) as rig:
        png = rig.fake.add_user_file("ok.png", content=picture(64, 64))
        await submit(rig, await open_modal(rig, person_message(rig, "go", files=[png])))
        answer = await refused(rig)
        assert "files:read" in answer
        assert "manifest.yml" in answer
        assert sora_calls(rig) == 0
