"""The one error a scenario file raises: it names the file and the YAML key."""

from __future__ import annotations

from pathlib import Path


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the YAML key."""

    def __init__(self, key: str, message: str, source: str | Path | None = None) -> None:
        self.key = key
        self.reason = message
        self.source = str(source) if source else None
        where = f"{self.source}: " if self.source else ""
        super().__init__(f"{where}{key}: {message}" if key else f"{where}{message}")
