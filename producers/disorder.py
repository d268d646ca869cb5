"""Controlled disorder for testing the stream side: duplicates and late arrivals.

``duplicates=0.01,late=0.02,max_delay=3d`` means: each event is re-sent once more with
probability 1% (same ``event_id``, the same bytes: a producer retry or a re-played
batch), and with probability 2% an event is held back and emitted after the events of
up to 3 days later (in event time).  Event times never change: a late event keeps its
``occurred_at`` and Kafka timestamp; only its place in the emission order moves.
Decisions come from their own ``random.Random``, so a disordered run is reproducible.
"""

from __future__ import annotations

import heapq
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, Protocol, TypedDict, TypeVar

__all__ = ["DisorderSpec", "disorder", "parse_disorder", "parse_duration"]


class _Timed(Protocol):
    @property
    def ts_ms(self) -> int: ...


T = TypeVar("T", bound=_Timed)


@dataclass(frozen=True)
class DisorderSpec:
    duplicates: float = 0.0
    late: float = 0.0
    max_delay: timedelta = timedelta(days=1)

    @property
    def active(self) -> bool:
        return self.duplicates > 0 or self.late > 0


class _SpecFields(TypedDict, total=False):
    duplicates: float
    late: float
    max_delay: timedelta


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``12h``, ``3d``, ``1w`` (also ``ms``)."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 12h, 3d")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def parse_disorder(text: str) -> DisorderSpec:
    """Parse ``duplicates=0.01,late=0.02,max_delay=3d`` (any subset, any order)."""
    values: _SpecFields = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise ValueError(f"disorder: {part!r} should be name=value (duplicates, late, max_delay)")
        name, raw = (x.strip() for x in part.split("=", 1))
        if name in ("duplicates", "late"):
            try:
                v = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
            except ValueError:
                raise ValueError(f"disorder: {name}: {raw!r} is not a probability") from None
            if not 0 <= v <= 1:
                raise ValueError(f"disorder: {name}: {raw} must be between 0 and 1")
            values[name] = v  # type: ignore[literal-required]  # name is "duplicates" or "late" here
        elif name == "max_delay":
            try:
                d = parse_duration(raw)
            except ValueError as e:
                raise ValueError(f"disorder: max_delay: {e}") from None
            if d <= timedelta(0):
                raise ValueError("disorder: max_delay must be positive")
            values["max_delay"] = d
        else:
            raise ValueError(f"disorder: unknown option {name!r} (expected duplicates, late, max_delay)")
    return DisorderSpec(**values)


class _Held(Generic[T]):
    __slots__ = ("dup", "item", "release", "seq")

    def __init__(self, release: int, seq: int, item: T, dup: bool) -> None:
        self.release, self.seq, self.item, self.dup = release, seq, item, dup

    def __lt__(self, other: _Held[T]) -> bool:
        return (self.release, self.seq) < (other.release, other.seq)


def disorder(items: Iterable[T], spec: DisorderSpec, seed: int) -> Iterator[tuple[int, T, bool]]:
    """``(emit_ms, item, is_duplicate)``: items in order, with duplicates and late arrivals mixed in.

    ``emit_ms`` is the event-time position at which the item is emitted (its own
    ``ts_ms`` normally, later for a held-back one); live mode paces on it.
    """
    if not spec.active:
        for it in items:
            yield it.ts_ms, it, False
        return
    rng = random.Random(f"disorder:{seed}")
    max_ms = max(1, int(spec.max_delay.total_seconds() * 1000))
    held: list[_Held[T]] = []
    seq = 0
    for it in items:
        now = it.ts_ms
        while held and held[0].release <= now:
            h = heapq.heappop(held)
            yield h.release, h.item, h.dup
        if spec.late and rng.random() < spec.late:
            heapq.heappush(held, _Held(now + rng.randint(1, max_ms), seq, it, False))
            seq += 1
        else:
            yield now, it, False
        if spec.duplicates and rng.random() < spec.duplicates:
            heapq.heappush(held, _Held(now + rng.randint(0, max_ms), seq, it, True))
            seq += 1
    while held:
        h = heapq.heappop(held)
        yield h.release, h.item, h.dup
