"""Request limits: a token bucket per bearer token, and the nesting depth of a JSON document."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; each request takes one. ``rate`` 0 = unlimited."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    def take(self, n: float = 1.0) -> float:
        """0 if granted, else the seconds to wait until ``n`` tokens are there (nothing taken)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= n:
            self._tokens -= n
            return 0.0
        return (n - self._tokens) / self.rate


def retry_after(wait_seconds: float) -> int:
    """A Retry-After header value: whole seconds, at least 1."""
    return max(1, math.ceil(wait_seconds))


def json_depth_exceeds(doc: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than ``limit`` (a scalar is depth 0, ``[]`` is 1)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False
