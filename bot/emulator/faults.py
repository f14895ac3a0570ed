"""Fault injection: N-shot failures, delays, drops, lost answers and cut downloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["fail", "delay", "drop", "lose", "cut"]
#: A lasting misbehaviour of the whole resource (until turned off), unlike the N-shot faults:
#: ``garbage`` answers every API request 200 with an HTML page (a captive portal, a broken
#: gateway); ``hang`` accepts every request and never answers it; ``flap`` is down (the
#: connection closed unanswered) and up by turns, ``period`` seconds each, down first.
Misbehaviour = Literal["garbage", "hang", "flap"]
MISBEHAVIOURS: tuple[str, ...] = ("garbage", "hang", "flap")


@dataclass
class Fault:
    kind: FaultKind
    remaining: int
    method: str | None = None
    path_prefix: str | None = None
    status: int = 500
    delay: float = 0.0
    after_bytes: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)


class FaultQueue:
    """Pending faults, consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be >= 1")
        self._faults.append(fault)

    def take(self, kinds: tuple[FaultKind, ...], method: str, path: str) -> Fault | None:
        """Consume one use of the first pending fault of those kinds that matches the request."""
        for fault in self._faults:
            if fault.kind in kinds and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)
