"""Importing exports: files → rows → events → Kafka (:class:`~producers.kafka_sink.KafkaSink`) or
an archive file (:class:`~producers.records.RecordWriter`, read by ``govpulse replay``).

Bad rows never stop an import: each becomes a line of the rejects CSV (the row's own columns,
personal-data columns emptied, then ``_file, _sheet, _row, _column, _reason, _detail``), which the
user can correct and import again (the ``_`` columns are not mapped, so they are ignored then).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from producers.importer.convert import Columns, Converter, Reject, header_score, resolve_header
from producers.importer.mapping import Mapping, norm
from producers.importer.readers import Cell, Sheet, UnreadableFile, cell_text, expand, read_file
from producers.records import Record, RecordWriter
from schemas import TOPIC_OF_TYPE, Event, dump_event

if TYPE_CHECKING:
    from common.settings import Settings
    from producers.kafka_sink import KafkaSink

REJECT_COLUMNS = ["_file", "_sheet", "_row", "_column", "_reason", "_detail"]


@dataclass
class FileSummary:
    path: str
    sheets: int = 0
    rows: int = 0
    blank: int = 0
    events: int = 0
    rejected: int = 0
    encoding: str | None = None
    personal_columns: list[str] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)
    problem: str | None = None  # the file (or a sheet) could not be read


@dataclass
class ImportSummary:
    rows: int = 0
    blank: int = 0
    events: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    files: list[FileSummary] = field(default_factory=list)
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def rate(self) -> float:
        el = self.seconds or (time.monotonic() - self.started)
        return self.rows / el if el > 0 else 0.0


class Output:
    """Where events go: Kafka or an archive file (or both)."""

    def __init__(self, settings: Settings, sink: KafkaSink | None = None, writer: RecordWriter | None = None) -> None:
        self.sink = sink
        self.writer = writer
        self._topics = {short: settings.topic(short) for short in set(TOPIC_OF_TYPE.values())}

    def send(self, event: Event) -> None:
        if self.sink is not None:
            self.sink.send(event)
        if self.writer is not None:
            self.writer.write(
                Record(
                    self._topics[TOPIC_OF_TYPE[event.event_type]],
                    None,
                    None,
                    int(event.occurred_at.timestamp() * 1000),
                    event.unit_key.encode("utf-8"),
                    dump_event(event),
                )
            )


class RejectsWriter:
    """The rejects CSV (UTF-8 with BOM, so Excel opens it with the accents right). One header per
    distinct column set: files with other columns start a new header block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by close()
        self._w = csv.writer(self._f)
        self._header: tuple[str, ...] | None = None
        self.count = 0

    def write(self, file: str, sheet: str, cols: Columns, row_no: int, row: tuple[Cell, ...], rej: Reject) -> None:
        if cols.header != self._header:
            if self._header is not None:
                self._w.writerow([])
            self._w.writerow([*cols.header, *REJECT_COLUMNS])
            self._header = cols.header
        personal = {i for i, h in enumerate(cols.header) if h in cols.personal}
        values = [
            ("" if i in personal else cell_text(row[i] if i < len(row) else None)) for i in range(len(cols.header))
        ]
        self._w.writerow([*values, file, sheet, row_no, rej.column, rej.reason, rej.detail])
        self.count += 1

    def close(self) -> None:
        self._f.close()


Progress = Callable[[ImportSummary, str], None]


def _find_header(mapping: Mapping, sheet: Sheet) -> tuple[int, tuple[Cell, ...]] | None:
    best: tuple[int, int, tuple[Cell, ...]] | None = None
    for n, row in sheet.rows:
        score = header_score(mapping, row)
        if score >= 2 and (best is None or score > best[0]):
            best = (score, n, row)
            if score >= 3:
                break
        if n >= mapping.header_search_rows:
            break
    return (best[1], best[2]) if best else None


def import_sheet(
    mapping: Mapping,
    sheet: Sheet,
    file: str,
    source_system: str,
    out: Output,
    summary: ImportSummary,
    fs: FileSummary,
    rejects: RejectsWriter | None,
    on_reject: Callable[[str, str, int, Reject], None] | None = None,
    progress: Progress | None = None,
) -> None:
    found = _find_header(mapping, sheet)
    if found is None:
        fs.problem = (
            f"sheet {sheet.name!r}: no header row with the mapping's column names in the first "
            f"{mapping.header_search_rows} rows (try `govpulse import --inspect`)"
        )
        return
    header_row, header = found
    cols = resolve_header(mapping, header, header_row)
    missing = [f for f in ("dossier_code", "received_at", "due_at") if f not in cols.index]
    fs.personal_columns += [c for c in cols.personal if c not in fs.personal_columns]
    fs.unmapped_columns += [c for c in cols.unmapped if c not in fs.unmapped_columns]
    if missing:
        fs.problem = f"sheet {sheet.name!r}: the header row {header_row} has no column for {missing}"
        return
    fs.sheets += 1
    conv = Converter(mapping, cols, source_system)
    last = time.monotonic()
    for n, row in sheet.rows:
        if not any(v is not None and v != "" for v in row):
            summary.blank += 1
            fs.blank += 1
            continue
        summary.rows += 1
        fs.rows += 1
        result = conv.convert(row)
        if isinstance(result, Reject):
            summary.rejected[result.reason] += 1
            fs.rejected += 1
            if rejects is not None:
                rejects.write(file, sheet.name, cols, n, row, result)
            if on_reject is not None:
                on_reject(file, sheet.name, n, result)
        else:
            for ev in result:
                out.send(ev)
                summary.by_type[ev.event_type] += 1
            summary.events += len(result)
            fs.events += len(result)
        if progress is not None and summary.rows % 1000 == 0:
            now = time.monotonic()
            if now - last > 0.2:
                last = now
                progress(summary, file)


def import_files(
    paths: Iterable[str | Path],
    mapping: Mapping,
    source_system: str,
    out: Output,
    rejects: RejectsWriter | None = None,
    on_reject: Callable[[str, str, int, Reject], None] | None = None,
    progress: Progress | None = None,
    summary: ImportSummary | None = None,
) -> ImportSummary:
    """Import every file (directories expanded); a file that cannot be read is reported, not fatal."""
    summary = summary or ImportSummary()
    for path in expand(list(paths)):
        fs = FileSummary(str(path))
        summary.files.append(fs)
        try:
            for sheet in read_file(path, mapping.sheets, mapping.csv_delimiter):
                fs.encoding = sheet.encoding
                import_sheet(mapping, sheet, str(path), source_system, out, summary, fs, rejects, on_reject, progress)
        except (UnreadableFile, OSError, ValueError) as e:
            fs.problem = str(e)
        if progress is not None:
            progress(summary, str(path))
    summary.seconds = time.monotonic() - summary.started
    return summary


# ---------------------------------------------------------------------------------------------
# --inspect
# ---------------------------------------------------------------------------------------------
@dataclass
class Inspection:
    sheet: str
    header_row: int | None
    header: list[str]
    sample: list[list[str]]
    columns: list[tuple[str, str]]  # (header, what: field name / "personal data (ignored)" / "")
    missing_required: list[str]
    encoding: str | None


def inspect_file(path: str | Path, mappings: list[Mapping], sample_rows: int = 5) -> list[Inspection]:
    """Header, a sample (personal data masked) and what each column maps to, per sheet.

    With several mappings (the shipped ones, when no --mapping is given) a column takes the first
    mapping's field that knows its header."""
    out: list[Inspection] = []
    primary = mappings[0]
    for sheet in read_file(path, primary.sheets, primary.csv_delimiter):
        buffered = list(_head(sheet, primary.header_search_rows + sample_rows))
        best: tuple[int, int] | None = None
        for idx, (_n, row) in enumerate(buffered):
            score = max(header_score(m, row) for m in mappings)
            if score >= 2 and (best is None or score > best[0]):
                best = (score, idx)
        if best is None:
            out.append(
                Inspection(
                    sheet.name,
                    None,
                    [],
                    [[cell_text(v) for v in r] for _, r in buffered[:sample_rows]],
                    [],
                    [],
                    sheet.encoding,
                )
            )
            continue
        hidx = best[1]
        header = ["" if v is None else str(v) for v in buffered[hidx][1]]
        cols: list[tuple[str, str]] = []
        personal_idx: set[int] = set()
        mapped: set[str] = set()
        for i, h in enumerate(header):
            if not h:
                continue
            if any(m.is_personal(h) for m in mappings):
                cols.append((h, "personal data (ignored)"))
                personal_idx.add(i)
                continue
            f = next((fm for m in mappings if (fm := m.field_of(h)) is not None), None)
            cols.append((h, f or ""))
            if f:
                mapped.add(f)
        sample = [
            [("•••" if i in personal_idx else cell_text(v)) for i, v in enumerate(r)]
            for _, r in buffered[hidx + 1 : hidx + 1 + sample_rows]
        ]
        missing = [f for f in ("dossier_code", "received_at", "due_at") if f not in mapped]
        out.append(Inspection(sheet.name, buffered[hidx][0], header, sample, cols, missing, sheet.encoding))
    return out


def _head(sheet: Sheet, n: int) -> Iterable[tuple[int, tuple[Cell, ...]]]:
    for i, item in enumerate(sheet.rows):
        if i >= n:
            break
        yield item


# ---------------------------------------------------------------------------------------------
# --follow: remember what was imported (path, size, mtime, sha256)
# ---------------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_state_path(home: Path, folder: Path) -> Path:
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return home / "import" / f"follow-{norm(folder.resolve().name).replace(' ', '-') or 'root'}-{key}.json"


class FollowState:
    """``{path: {size, mtime_ns, sha256, rows, events, rejected, imported_at}}`` in a JSON file, written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        if path.exists():
            self.files = json.loads(path.read_text(encoding="utf-8")).get("files", {})

    def changed(self, p: Path) -> tuple[bool, os.stat_result]:
        st = p.stat()
        known = self.files.get(str(p.resolve()))
        if known and known["size"] == st.st_size and known["mtime_ns"] == st.st_mtime_ns:
            return False, st
        return True, st

    def same_content(self, p: Path, digest: str) -> bool:
        known = self.files.get(str(p.resolve()))
        return bool(known and known["sha256"] == digest)

    def remember(self, p: Path, st: os.stat_result, digest: str, **info: Any) -> None:
        self.files[str(p.resolve())] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": digest,
            "imported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **info,
        }
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(
            json.dumps({"format": "govpulse-import-state/1", "files": self.files}, indent=1), encoding="utf-8"
        )
        os.replace(tmp, self.path)


def pending_files(
    folder: Path, state: FollowState, settle: dict[str, tuple[int, int]]
) -> list[tuple[Path, os.stat_result]]:
    """Files new or changed since they were imported, whose size and mtime held still since the last
    poll (``settle`` carries the previous poll's view), so a file still being written waits."""
    out = []
    for p in expand([folder]):
        changed, st = state.changed(p)
        key = str(p)
        now = (st.st_size, st.st_mtime_ns)
        if not changed:
            settle.pop(key, None)
            continue
        if settle.get(key) == now:
            out.append((p, st))
            settle.pop(key, None)
        else:
            settle[key] = now
    return out
