"""Socket Mode of the fake Slack: apps.connections.open, the WebSocket, envelopes and acks."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, ClassVar

from aiohttp import WSCloseCode, WSMsgType, web

from .slack_files import FilesMixin
from .slack_state import Ack

ACCEPTS_RESPONSE = {"slash_commands": True, "interactive": True, "events_api": False}


class SocketMixin(FilesMixin):
    METHODS_SOCKET: ClassVar[dict[str, tuple[str, str | None]]] = {
        "apps.connections.open": ("_connections_open", None),
    }

    def _init_socket(self) -> None:
        self.socket_connected = asyncio.Event()
        self.connections_opened = 0
        self.acks: dict[str, Ack] = {}
        self.socket_messages: list[Any] = []  # anything the client sent that is not an ack
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._sent: dict[str, float] = {}
        self._ack_events: dict[str, asyncio.Event] = {}
        self._new_connection = asyncio.Event()

    async def _connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return {"url": f"ws://127.0.0.1:{self._port}/link/?ticket={ticket}&app_id={self.app_id}"}

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:  # tickets are single use
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)  # answers the SDK's pings with pongs
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections_opened += 1
        self._new_connection.set()
        hello = {
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {
                "host": "applink-fake",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_json(hello)
        self.socket_connected.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_client_text(msg.data)
        finally:
            self._sockets.remove(ws)
            if not self._sockets:
                self.socket_connected.clear()
        return ws

    def _on_client_text(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            self.socket_messages.append(data)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if envelope_id not in self._sent:
            self.socket_messages.append(message)
            return
        if envelope_id in self.acks:
            self.acks[envelope_id].count += 1
            return
        latency = time.monotonic() - self._sent[envelope_id]
        self.acks[envelope_id] = Ack(envelope_id, message, latency)
        self._ack_events[envelope_id].set()

    async def send_envelope(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        connect_timeout: float = 5.0,
    ) -> str:
        """Sends an envelope on the newest connection (waiting for one); returns its id."""
        await asyncio.wait_for(self.socket_connected.wait(), connect_timeout)
        envelope_id = str(uuid.uuid4())
        accepts = ACCEPTS_RESPONSE.get(type, False)
        envelope = {
            "envelope_id": envelope_id,
            "type": type,
            "payload": payload,
            "accepts_response_payload": accepts
            if accepts_response_payload is None
            else accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        self._ack_events[envelope_id] = asyncio.Event()
        self._sent[envelope_id] = time.monotonic()
        await self._sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def wait_ack(
        self,
        envelope_id: str,
        timeout: float = 10.0,
    ) -> tuple[dict[str, Any], float]:
        """The client's ack of an envelope and its latency in seconds; TimeoutError if none.

        Slack's own deadline is 3 s; how fast the bot acks is a figure (bench/ack_latency.py,
        side by side with a bare Bolt app), not a test bound: a loaded stress run once took
        over 3 s to ack a form submission whose listener acks before any I/O."""
        event = self._ack_events[envelope_id]
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"envelope {envelope_id} not acked within {timeout} s") from None
        ack = self.acks[envelope_id]
        return ack.message, ack.latency

    async def disconnect_socket(self, *, graceful: bool = False) -> None:
        """Closes the open connections (the SDK reconnects). `graceful` first sends Slack's
        `{"type": "disconnect", "reason": "refresh_requested"}` and waits for the new connection."""
        old = list(self._sockets)
        if graceful:
            self._new_connection.clear()
            notice = {"type": "disconnect", "reason": "refresh_requested"}
            for ws in old:
                await ws.send_json({**notice, "debug_info": {"host": "applink-fake"}})
            await asyncio.wait_for(self._new_connection.wait(), 5.0)
        for ws in old:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"bye")

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
