"""Bad input, end to end: files for the first frame through the "Make a video" shortcut (30
MB, corrupt, HTML login pages, zips, bombs, external hosts, files that are not images, files
Slack will not share). The machinery is in tests/badinput.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from badinput import Ctx, image, not_offered, open_options, raw, run_group
from test_slack_shortcut import as_submitted, huge_png_header, picture

IMAGES = [
    image("png-30mb", "it is larger than 20 MB", size=30 * 1024 * 1024, head=picture(8, 8)),
    image("corrupt-png", "the image is damaged", content=picture(64, 64)[:60] + b"\0" * 100),
    image("text-named-png", "the file is not a PNG, JPEG or WebP image",
          name="notes.png", content=b"just some text, honest"),
    image("html-page-named-png", "web page instead of the image",
          content=b"<!DOCTYPE html><html><body>Sign in</body></html>"),
    image("zip-named-png", "the file is not a PNG, JPEG or WebP image",
          content=b"PK\x03\x04" + b"\0" * 200),
    image("empty-png", "the file is not a PNG, JPEG or WebP image", content=b""),
    image("bomb-50000x50000", "too large to use", content=huge_png_header(50_000, 50_000)),
    image("truncated-jpeg", "the image is damaged", name="cut.jpg", mimetype="image/jpeg",
          content=picture(64, 64, "JPEG")[:200]),
    image("external-host", "stored outside Slack", content=picture(32, 32), is_external=True),
    not_offered("zip-file", "photos.zip", "application/zip", b"PK\x03\x04" + b"\0" * 100),
    not_offered("html-file", "page.html", "text/html", b"<html></html>"),
    not_offered("gif", "anim.gif", "image/gif", b"GIF89a" + b"\0" * 100),
    not_offered("svg", "logo.svg", "image/svg+xml", b"<svg xmlns='x'></svg>"),
    not_offered("text-file-png-name", "fake.png", "text/plain", b"hello"),
    raw("unknown-file-stub", "interactive", lambda c: _stub_submission(c, "F404404"),
        ":frame_with_picture: Can't use that image: Slack would not share the file"),
    raw("deleted-file", "interactive", lambda c: _deleted_submission(c),
        ":frame_with_picture: Can't use that image: Slack would not share the file"),
]  # fmt: skip


async def _stub_submission(c: Ctx, file_id: str) -> dict[str, Any]:
    view = await open_options(c, [{"id": file_id, "file_access": "check_file_info"}])
    payload: dict[str, Any] = c.fake.view_submission(view, "U1", as_submitted(view))
    return payload


async def _deleted_submission(c: Ctx) -> dict[str, Any]:
    f = c.fake.add_user_file("gone.png", mimetype="image/png", content=picture(32, 32))
    view = await open_options(c, [f])
    c.fake.files[f["id"]].deleted = True  # deleted between the shortcut and the submission
    payload: dict[str, Any] = c.fake.view_submission(view, "U1", as_submitted(view))
    return payload


async def test_the_images_corpus(tmp_path: Path) -> None:
    await run_group("images", IMAGES, tmp_path)
