"""Local emulator of the Azure OpenAI Sora 2 Videos API (v1).

See /work/shared/reference/sora-v1-api.md §12. Serve it with `Emulator(...).serve()` (tests) or
`run_forever` (the `sora-bot emulator` CLI); the API lives under `<base_url>/openai/v1`.
Several resources, one server each: `EmulatorResources` (resources.py).
"""

from .clock import ManualClock
from .config import EmulatorConfig
from .resources import EmulatorResources
from .server import Emulator
from .state import RecordedRequest, VideoRecord

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorResources",
    "ManualClock",
    "RecordedRequest",
    "VideoRecord",
]
