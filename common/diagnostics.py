"""Diagnostics files (GOVPULSE_OFFSET_TRACE, GOVPULSE_LATENCY_LOG, GOVPULSE_SINK_TRACE): each is
opened once per process, line-buffered and append-only, however many parts of the worker write to
it (the consumer's fence and the agent both write the offset trace)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

_open: dict[Path, TextIO] = {}
_lock = threading.Lock()


def trace_file(path: Path | None) -> TextIO | None:
    """The one open handle of a diagnostics file, or None when that diagnostic is off."""
    if path is None:
        return None
    key = path.resolve()
    with _lock:
        fh = _open.get(key)
        if fh is None:
            fh = _open[key] = open(key, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        return fh
