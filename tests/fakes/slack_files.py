"""files.* of the fake Slack: v2 uploads with an asynchronous share, downloads, external files."""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from aiohttp import BodyPartReader, web

from .slack_chat import CHANNEL_ID, check_blocks
from .slack_state import LOGIN_PAGE, SlackError, StoredFile, invalid_arguments, parse_json_arg
from .slack_views import ViewsMixin

CHUNK = 64 * 1024
PRETTY = {"mp4": "MPEG 4 Video", "png": "PNG", "jpg": "JPEG", "gif": "GIF", "txt": "Plain Text"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _kind(name: str, mimetype: str | None) -> tuple[str, str]:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ext = {"jpeg": "jpg"}.get(ext, ext)
    guessed = mimetypes.guess_type(name)[0]
    return mimetype or guessed or "application/octet-stream", ext or "binary"


class FilesMixin(ViewsMixin):
    METHODS_FILES: ClassVar[dict[str, tuple[str, str | None]]] = {
        "files.getUploadURLExternal": ("_files_get_upload_url", "files:write"),
        "files.completeUploadExternal": ("_files_complete_upload", "files:write"),
        "files.info": ("_files_info", "files:read"),
        "files.delete": ("_files_delete", "files:write"),
    }

    def _init_files(self) -> None:
        self.downloads: list[dict[str, Any]] = []
        self.external_requests: list[dict[str, Any]] = []
        # files.info on a bot upload that is not completed yet: True answers the file (it
        # exists from files.getUploadURLExternal on, with no shares); False file_not_found.
        # Which one Slack does is not documented: the bot must be right with either.
        self.pending_files_visible = True

    # -- file objects ----------------------------------------------------------------------------
    def _file_json(self, f: StoredFile) -> dict[str, Any]:
        private = f"{self.base_url}/files-pri/{self.team_id}-{f.id}"
        url, download = f"{private}/{f.name}", f"{private}/download/{f.name}"
        if f.is_external:
            url = download = f"http://localhost:{self._port}/external/{f.id}/{f.name}"
        public = f.shares.get("public", {})
        private_shares = f.shares.get("private", {})
        out: dict[str, Any] = {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.name,
            "title": f.title,
            "mimetype": f.mimetype,
            "filetype": f.filetype,
            "pretty_type": PRETTY.get(f.filetype, f.filetype.upper()),
            "user": f.user,
            "user_team": self.team_id,
            "editable": False,
            "size": f.size,
            "mode": "external" if f.is_external else "hosted",
            "is_external": f.is_external,
            "external_type": "gdrive" if f.is_external else "",
            "is_public": bool(public),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": download,
            "permalink": f"https://fake-workspace.slack.com/files/{f.user}/{f.id}/{f.name}",
            "channels": list(public),
            "groups": [c for c in private_shares if not c.startswith("D")],
            "ims": [c for c in private_shares if c.startswith("D")],
            "comments_count": 0,
            "shares": {
                k: {c: [dict(s) for s in v] for c, v in m.items()} for k, m in f.shares.items()
            },
            "file_access": "visible",
            "has_rich_preview": False,
        }
        if f.original_w and f.original_h:
            out.update(original_w=f.original_w, original_h=f.original_h)
        if f.alt_txt:
            out["alt_txt"] = f.alt_txt
        return out

    def _file_stub(self, file_id: str) -> dict[str, Any]:
        f = self.files[file_id]
        return {"id": f.id, "mode": "tombstone"} if f.deleted else self._file_json(f)

    def add_user_file(
        self,
        name: str,
        *,
        mimetype: str | None = None,
        content: bytes | None = None,
        size: int | None = None,
        head: bytes = b"",
        user: str = "U1",
        original_w: int | None = None,
        original_h: int | None = None,
        title: str | None = None,
        is_external: bool = False,
    ) -> dict[str, Any]:
        """A file a person uploaded; returns its file object. Give `content`, or `size` for a
        generated body (starting with `head`). `is_external` serves it from another host."""
        if (content is None) == (size is None):
            raise ValueError("give exactly one of content and size")
        mime, filetype = _kind(name, mimetype)
        self._ensure_user(user)
        f = StoredFile(
            self._new_id("F"), name, title or name, mime, filetype, user, int(time.time())
        )
        f.size = len(content) if content is not None else int(size or 0)
        f.content, f.head = content, (content[:64] if content is not None else head)
        f.original_w, f.original_h, f.is_external = original_w, original_h, is_external
        f.sha256 = hashlib.sha256(content).hexdigest() if content is not None else None
        self.files[f.id] = f
        return self._file_json(f)

    # -- methods ---------------------------------------------------------------------------------
    async def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        if not filename:
            raise invalid_arguments("missing required field: filename")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError):
            raise invalid_arguments("length must be an integer") from None
        if length <= 0:
            raise SlackError("missing_argument")
        if len(str(args.get("alt_txt") or "")) > 1000:
            raise SlackError("alt_txt_too_large")
        if args.get("snippet_type") and length > 1_000_000:
            raise SlackError("snippet_too_large")
        mime, filetype = _kind(filename, None)
        f = StoredFile(self._new_id("F"), filename, filename, mime, filetype, self.bot_user_id, 0)
        f.bot_upload, f.state, f.declared_length = True, "pending", length
        f.alt_txt = args.get("alt_txt")
        self.files[f.id] = f
        return {"upload_url": f"{self.base_url}/upload/{f.id}", "file_id": f.id}

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        slow = self._take_fault("upload", "slow")
        if slow is not None:
            await asyncio.sleep(slow.seconds)
        if self._take_fault("upload", "drop") is not None and request.transport is not None:
            request.transport.close()  # before the bytes were taken
            return web.Response(status=499)
        fault = self._take_fault("upload", "fail")
        if fault is not None:
            return web.Response(status=fault.status, text=f"fault {fault.status}")
        f = self.files.get(request.match_info["file_id"])
        if f is None or not f.bot_upload or f.state == "completed" or f.deleted:
            return web.Response(status=404, text="Not Found")
        digest, count, head = hashlib.sha256(), 0, b""
        read: Callable[[int], Awaitable[bytes]] = request.content.read
        if request.content_type == "multipart/form-data":  # what other SDKs send
            part = await (await request.multipart()).next()
            if not isinstance(part, BodyPartReader):
                return web.Response(status=400, text="Bad Request")
            read = part.read_chunk
        while chunk := await read(CHUNK):
            digest.update(chunk)
            head = head if len(head) >= 64 else (head + chunk)[:64]
            count += len(chunk)
        f.received = f.size = count
        f.sha256, f.head, f.state = digest.hexdigest(), head, "uploaded"
        if head.startswith(PNG_MAGIC) and len(head) >= 24:
            f.original_w = int.from_bytes(head[16:20], "big")
            f.original_h = int.from_bytes(head[20:24], "big")
        after = self._take_fault("upload", "after_success")
        if after is not None and after.mode == "drop" and request.transport is not None:
            request.transport.close()  # the bytes arrived; the answer is lost
            return web.Response(status=499)
        if after is not None:
            return web.Response(status=500, text="fault 500")
        return web.Response(text=f"OK - {count}", content_type="text/plain")

    async def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("files") is None:
            raise invalid_arguments("missing required field: files")
        items = parse_json_arg(args["files"], name="files")
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, dict) and i.get("id") for i in items)
        ):
            raise invalid_arguments("files must be a non-empty array of {id, title}")
        raw = str(args.get("channel_id") or args.get("channels") or "")
        channel_ids = [c.strip() for c in raw.split(",") if c.strip()]
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts and len(channel_ids) != 1:
            raise invalid_arguments("thread_ts requires exactly one channel")
        channels = []
        for cid in channel_ids:
            if not CHANNEL_ID.match(cid):
                msg = "input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$"
                raise invalid_arguments(f"{msg} [json-pointer:/channel_id]")
            if cid not in self.channels:
                raise SlackError("invalid_channel")
            if cid not in self.member_channels:
                raise SlackError("not_in_channel")
            channels.append(self.channels[cid])
        if thread_ts:
            parent = self.messages.get((channel_ids[0], thread_ts))
            if parent is None or parent.is_reply or parent.tombstone:
                raise SlackError("invalid_thread_ts")
        files = []
        for item in items:
            f = self.files.get(str(item["id"]))
            if f is None or not f.bot_upload or f.state != "uploaded" or f.deleted:
                raise SlackError("file_not_found")  # unknown, never uploaded, or completed already
            if f.received != f.declared_length:
                raise SlackError("file_update_failed")
            files.append(f)
        for f, item in zip(files, items, strict=True):
            f.state, f.created = "completed", int(time.time())
            f.title = str(item.get("title") or f.name)
        comment = str(args.get("initial_comment") or "")
        blocks = check_blocks(args["blocks"]) if args.get("blocks") and not comment else None
        for channel in channels:
            self._spawn(
                self._share_later([f.id for f in files], channel, thread_ts, comment, blocks)
            )
        return {"files": [self._file_json(f) for f in files]}

    async def _share_later(
        self, file_ids: list[str], channel: Any, thread_ts: str | None, comment: str, blocks: Any
    ) -> None:
        await asyncio.sleep(self.share_delay)
        m = self._store_message(
            channel,
            comment,
            blocks,
            thread_ts,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            subtype="file_share",
            files=file_ids,
        )
        share: dict[str, Any] = {
            "reply_users": [],
            "reply_users_count": 0,
            "reply_count": 0,
            "ts": m.ts,
            "channel_name": channel.name,
            "team_id": self.team_id,
            "share_user_id": self.bot_user_id,
            "source": "UNKNOWN",
            "is_silent_share": False,
        }
        if thread_ts:
            share.update(thread_ts=thread_ts, latest_reply=m.ts)
        for fid in file_ids:
            shares = self.files[fid].shares.setdefault(channel.share_kind, {})
            shares.setdefault(channel.id, []).append(dict(share))

    def _live_file(self, args: dict[str, Any]) -> StoredFile:
        f = self.files.get(str(args.get("file") or ""))
        pending = f is not None and f.bot_upload and f.state != "completed" and not f.deleted
        if f is None or (pending and not self.pending_files_visible):
            raise SlackError("file_not_found")
        if f.deleted:
            raise SlackError("file_deleted")
        return f

    async def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        f = self._live_file(args)
        return {
            "file": self._file_json(f),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    async def _files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        f = self.files.get(str(args.get("file") or ""))
        if f is None:
            raise SlackError("file_not_found")
        if f.deleted:
            raise SlackError("file_deleted")
        if f.user != self.bot_user_id:
            raise SlackError("cant_delete_file")
        f.deleted = True  # share messages stay, showing a tombstone in place of the file
        return {}

    # -- downloads -------------------------------------------------------------------------------
    async def _download(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        fid = key.split("-", 1)[1] if "-" in key else ""
        auth = request.headers.get("Authorization")
        authorized = auth == f"Bearer {self.bot_token}" and not self.files_read_missing
        self.downloads.append({"file": fid, "authorized": authorized, "path": request.path})
        if not authorized:  # Slack answers a sign-in page, not a 401
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        f = self.files.get(fid)
        if f is None or f.deleted or f.is_external or f.bot_upload:
            return web.Response(status=404, text="<html>Not Found</html>", content_type="text/html")
        return await self._stream(request, f)

    async def _external(self, request: web.Request) -> web.StreamResponse:
        fid = request.match_info["file_id"]
        auth = request.headers.get("Authorization")
        self.external_requests.append({"file": fid, "authorization": auth, "path": request.path})
        f = self.files.get(fid)
        if f is None or not f.is_external:
            return web.Response(status=404, text="Not Found")
        return await self._stream(request, f)

    async def _stream(self, request: web.Request, f: StoredFile) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": f.mimetype})
        response.content_length = f.size
        await response.prepare(request)
        if f.content is not None:
            for start in range(0, f.size, CHUNK):
                await response.write(f.content[start : start + CHUNK])
        else:
            head = f.head[: f.size]
            await response.write(head)
            filler = bytes(range(256)) * (CHUNK // 256)
            left = f.size - len(head)
            while left > 0:
                await response.write(filler[: min(left, CHUNK)])
                left -= CHUNK
        await response.write_eof()
        return response
