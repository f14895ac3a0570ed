"""Control routes of the emulator, outside the API (not under /openai or /v1).

``POST /emulator/deployments/{name}/retire`` retires a deployment of this resource and
``POST /emulator/deployments/{name}/restore`` brings it back; both answer
``{"deployment": name, "retired": bool}`` and need the resource's API key like the API does.
"""

from __future__ import annotations

from aiohttp import web

from .store import VideoStore

CONTROL_PREFIX = "/emulator"


def add_control_routes(app: web.Application, store: VideoStore) -> None:
    async def retire(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        store.retire(name)
        return web.json_response({"deployment": name, "retired": True})

    async def restore(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        store.retire(name, retired=False)
        return web.json_response({"deployment": name, "retired": False})

    app.router.add_post(f"{CONTROL_PREFIX}/deployments/{{name}}/retire", retire)
    app.router.add_post(f"{CONTROL_PREFIX}/deployments/{{name}}/restore", restore)
