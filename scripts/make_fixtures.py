"""Regenerate the tiny H.264 MP4 fixtures served by the Sora emulator.

Not run by CI; kept for reproducibility. PyAV is not a project dependency, so use a throwaway venv:

    python -m venv /tmp/avenv && /tmp/avenv/bin/pip install av numpy
    /tmp/avenv/bin/python scripts/make_fixtures.py

Writes bot/assets/sample-720x1280.mp4 and bot/assets/sample-1280x720.mp4: 1 s, 24 fps, a simple
vertical gradient that drifts in colour, H.264 (yuv420p), with the moov box at the front.
Then decodes both back and checks frame size and count.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 24
SECONDS = 1
ASSETS = Path(__file__).resolve().parent.parent / "bot" / "assets"
SIZES = [(720, 1280), (1280, 720)]


def frame_rgb(width: int, height: int, index: int) -> np.ndarray:
    ramp = np.linspace(40, 200, height, dtype=np.float32)[:, None]
    shift = index * 4.0
    r = np.broadcast_to(ramp, (height, width))
    g = np.full((height, width), 60.0 + shift, dtype=np.float32)
    b = np.broadcast_to(255.0 - ramp, (height, width))
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def write(path: Path, width: int, height: int) -> None:
    with av.open(str(path), mode="w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(
            "libx264", rate=FPS, options={"crf": "40", "preset": "veryslow", "tune": "stillimage"}
        )
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, FPS)
        for i in range(FPS * SECONDS):
            frame = av.VideoFrame.from_ndarray(frame_rgb(width, height, i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def verify(path: Path, width: int, height: int) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264", stream.codec_context.name
        frames = 0
        for frame in container.decode(stream):
            assert (frame.width, frame.height) == (width, height), (frame.width, frame.height)
            frames += 1
        assert frames == FPS * SECONDS, frames
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
    data = path.read_bytes()
    assert data[4:8] == b"ftyp", "ftyp is not the first box"
    assert b"moov" in data[:4096], "moov is not at the front"
    print(f"{path.name}: {len(data)} bytes, {width}x{height}, {frames} frames, {duration:.2f} s")


def main() -> int:
    ASSETS.mkdir(parents=True, exist_ok=True)
    for width, height in SIZES:
        path = ASSETS / f"sample-{width}x{height}.mp4"
        write(path, width, height)
        verify(path, width, height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
