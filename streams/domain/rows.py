"""What the domain answers with: rows to write (measurement, tags, fields, time) and their tag sets
(no I/O)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from schemas import units
from streams.domain.records import Record


class Row(NamedTuple):
    """One point to write: measurement, tag set, fields and time (epoch ms). A tuple, so rows stay
    as small and cheap to build as before; the names are for readers and mypy."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, object]
    time_ms: int


class Tags(dict[str, str]):
    """A tag set reused across many rows; caches its sort key and escaped line-protocol prefix.
    Treat as immutable once rows reference it."""

    __slots__ = ("_key", "_prefix")
    _key: tuple[tuple[str, str], ...]
    _prefix: dict[str, str]  # measurement -> escaped line-protocol prefix

    def key(self) -> tuple[tuple[str, str], ...]:
        try:
            return self._key
        except AttributeError:
            self._key = tuple(sorted(self.items()))
            return self._key

    def prefix(self, measurement: str, build: Callable[[str, Tags], str]) -> str:
        try:
            cached = self._prefix
        except AttributeError:
            cached = self._prefix = {}
        p = cached.get(measurement)
        if p is None:
            p = cached[measurement] = build(measurement, self)
        return p


def unit_tags(rec: Record) -> dict[str, str]:
    code = rec["u"]
    tags = {"province_code": rec["pc"], "unit_code": code}
    if rec.get("wc"):
        tags["ward_code"] = rec["wc"]
    if rec.get("dc"):
        tags["district_code"] = rec["dc"]
    u = units.lookup(code)
    tags["unit_level"] = u.level if u else "other"
    tags["unit_name"] = u.name if u else code
    return tags
