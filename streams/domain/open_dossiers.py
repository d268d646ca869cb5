"""Open dossiers (hồ sơ đang giải quyết) of a unit and their running gauges (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field


def open_entry(due_ms: int, status: int, apology: bool) -> int:
    """An open dossier's entry: due_ms, status (0 open, 1 due soon, 2 overdue) and apology in one int."""
    return (due_ms << 3) | (status << 1) | int(apology)


def open_fields(entry: int) -> tuple[int, int, bool]:
    return entry >> 3, (entry >> 1) & 3, bool(entry & 1)


@dataclass(kw_only=True)
class OpenDossiers:
    """A unit's open dossiers: key -> entry (see :func:`open_entry`), and the gauges written to
    ``open_dossiers`` (open, overdue, due soon, overdue without an apology), kept up to date."""

    # open dossiers (đang giải quyết): key -> entry, one int packing due_ms, status (0 open, 1 due soon,
    # 2 overdue) and apology (see open_entry): a list of three took 88 bytes more per open dossier
    open: dict[str, int] = field(default_factory=dict)
    gauges_dirty: bool = True

    # open-dossier gauges kept up to date as entries change: recounting every open dossier of a
    # unit at each flush cost a tenth of the worker's time with a million open dossiers
    _overdue: int = 0
    _due_soon: int = 0
    _no_apology: int = 0

    def _count(self, entry: int, sign: int) -> None:
        status, apo = (entry >> 1) & 3, entry & 1
        if status == 2:
            self._overdue += sign
            if not apo:
                self._no_apology += sign
        elif status == 1:
            self._due_soon += sign

    def open_put(self, key: str, entry: int) -> None:
        old = self.open.get(key)
        if old is not None:
            self._count(old, -1)
        self.open[key] = entry
        self._count(entry, 1)
        self.gauges_dirty = True

    def open_drop(self, key: str) -> None:
        self._count(self.open.pop(key), -1)
        self.gauges_dirty = True

    def open_update(self, key: str, status: int | None = None, apology: bool | None = None) -> None:
        entry = self.open[key]
        self._count(entry, -1)
        due, old_status, old_apology = open_fields(entry)
        entry = self.open[key] = open_entry(
            due, old_status if status is None else status, old_apology if apology is None else apology
        )
        self._count(entry, 1)
        self.gauges_dirty = True

    def gauges(self) -> dict[str, int]:
        return {
            "open": len(self.open),
            "overdue": self._overdue,
            "due_soon": self._due_soon,
            "overdue_without_apology": self._no_apology,
        }

    def gauges_recounted(self) -> dict[str, int]:
        """The gauges counted from scratch (tests check the running counts against this)."""
        overdue = due_soon = no_apology = 0
        for _due, status, apo in map(open_fields, self.open.values()):
            if status == 2:
                overdue += 1
                if not apo:
                    no_apology += 1
            elif status == 1:
                due_soon += 1
        return {"open": len(self.open), "overdue": overdue, "due_soon": due_soon, "overdue_without_apology": no_apology}
