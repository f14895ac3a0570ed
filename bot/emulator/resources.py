"""Several independent Azure resources from one emulator process (issue 15).

Real Azure has one host per resource, so each resource here is a whole :class:`Emulator` on
its own port: its own API keys, deployments, running-jobs cap, progress shape and video ids
(an id made at one resource is a 404 at another). ``sora-bot emulator --resource SPEC``
(repeatable) serves them from the command line; see :func:`parse_resource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

from .config import PROGRESS_SHAPES, EmulatorConfig, ProgressShape
from .server import Emulator
from .store import base_model

_SPEC_KEYS = ("port", "key", "deployments", "max-running", "progress")


@dataclass(frozen=True)
class ResourceSpec:
    """One resource of ``sora-bot emulator --resource``: a name, a port and its config."""

    name: str
    port: int
    config: EmulatorConfig


def parse_resource(spec: str) -> ResourceSpec:
    """``NAME,port=P,key=K,deployments=a+b,max-running=N,progress=SHAPE`` (all but NAME and
    port optional).
    Raises ValueError with a message that names the bad part."""
    name, *options = [part.strip() for part in spec.split(",")]
    if not name or "=" in name:
        raise ValueError(f"{spec!r}: start with the resource's name, e.g. east,port=8766")
    values: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or key not in _SPEC_KEYS or not value:
            raise ValueError(f"{spec!r}: {option!r} is not one of {', '.join(_SPEC_KEYS)}=VALUE")
        values[key] = value
    if "port" not in values:
        raise ValueError(f"{spec!r}: give the resource its own port=P")
    try:
        port, cap = int(values["port"]), int(values.get("max-running", "2"))
    except ValueError:
        raise ValueError(f"{spec!r}: port and max-running are whole numbers") from None
    if cap < 1 or not 0 <= port < 65536:
        raise ValueError(f"{spec!r}: max-running must be 1 or more and port 0-65535")
    shape = values.get("progress", "linear")
    if shape not in PROGRESS_SHAPES:
        raise ValueError(f"{spec!r}: progress is one of {', '.join(PROGRESS_SHAPES)}")
    deployments = values.get("deployments", "sora-2").split("+")
    config = EmulatorConfig(
        api_keys=frozenset({values.get("key", "emulator-key")}),
        deployments={d: base_model(d) for d in deployments},
        max_running=cap,
        progress_shape=cast(ProgressShape, shape),
    )
    return ResourceSpec(name, port, config)


class EmulatorResources:
    """Named, independent resources; ``serve`` starts one loopback server per resource."""

    def __init__(
        self, configs: Mapping[str, EmulatorConfig], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.resources = {name: Emulator(config, clock=clock) for name, config in configs.items()}

    def __getitem__(self, name: str) -> Emulator:
        return self.resources[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.resources)

    @asynccontextmanager
    async def serve(
        self, host: str = "127.0.0.1", ports: Mapping[str, int] | None = None
    ) -> AsyncIterator[dict[str, str]]:
        """Serve every resource; yields ``{name: base_url}`` (the API is under /openai/v1)."""
        async with contextlib.AsyncExitStack() as stack:
            urls: dict[str, str] = {}
            for name, emulator in self.resources.items():
                port = (ports or {}).get(name, 0)
                urls[name] = await stack.enter_async_context(emulator.serve(host, port))
            yield urls


async def serve_specs(parsed: list[ResourceSpec], *, host: str, fast: bool) -> None:
    """``sora-bot emulator --resource ...``: serve until SIGINT/SIGTERM, one line each."""
    names = [p.name for p in parsed]
    for p in parsed:
        if fast:
            p.config.queue_seconds = 0.5
            p.config.generation_seconds_per_video_second = 0.25
    resources = EmulatorResources({p.name: p.config for p in parsed})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with resources.serve(host, {p.name: p.port for p in parsed}) as urls:
        for p in parsed:
            env = f"SORA_BACKEND_{p.name.upper()}"
            print(f"Sora emulator resource {p.name} listening on {urls[p.name]}/openai/v1")
            print(
                f"  {env}_ENDPOINT={urls[p.name]}  {env}_API_KEY={min(p.config.api_keys)}  "
                f"{env}_DEPLOYMENT={next(iter(p.config.deployments))}",
                flush=True,
            )
        print(f"  SORA_BACKENDS={','.join(names)}", flush=True)
        await stop.wait()
