"""What the domain answers with: rows to write (measurement, tags, fields, time) and their tag sets
(no I/O)."""

from __future__ import annotations

from typing import NamedTuple

from schemas import units
from streams.domain.records import Record

# InfluxDB keeps nanoseconds; rows count in milliseconds plus, where needed, nanoseconds within one
NS_PER_MS = 1_000_000


class Row(NamedTuple):
    """One point to write: measurement, tag set, fields and time (epoch ms, plus ``ns_in_ms``
    nanoseconds). A tuple, so rows stay as small and cheap to build as before; the names are for
    readers and mypy.

    ``ns_in_ms`` (0..999,999) keeps points of one series apart that share a millisecond: the
    alerts of a unit's dossiers, which are not a tag (``dossier_alerts``), often fall due at the
    same instant. Every other measurement has one point per series and instant and leaves it 0."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, object]
    time_ms: int
    ns_in_ms: int = 0

    def time_ns(self) -> int:
        """The point's time as InfluxDB stores it (epoch ns): with the series, its identity."""
        return self.time_ms * NS_PER_MS + self.ns_in_ms


class Tags(dict[str, str]):
    """A tag set reused across many rows (a unit's window, a unit's report group). Treat as
    immutable once rows reference it: its sort key is computed once, and ``writer_cache`` is a slot
    the writer keeps what it derives from the tag set in (the sink: escaped line-protocol prefixes);
    the domain never reads it."""

    __slots__ = ("_key", "writer_cache")
    _key: tuple[tuple[str, str], ...]
    writer_cache: dict[str, str]

    def key(self) -> tuple[tuple[str, str], ...]:
        try:
            return self._key
        except AttributeError:
            self._key = tuple(sorted(self.items()))
            return self._key


def unit_tags(rec: Record) -> dict[str, str]:
    code = rec["unit"]
    tags = {"province_code": rec["province_code"], "unit_code": code}
    if ward := rec.get("ward_code"):
        tags["ward_code"] = ward
    if district := rec.get("district_code"):
        tags["district_code"] = district
    u = units.lookup(code)
    tags["unit_level"] = u.level if u else "other"
    tags["unit_name"] = u.name if u else code
    return tags
