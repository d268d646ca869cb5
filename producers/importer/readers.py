"""Streaming readers of one-stop exports: XLSX (openpyxl read-only), XLS (xlrd), CSV.

Each yields :class:`Sheet` objects whose ``rows`` iterate ``(row_number, cells)`` one row at a
time (bounded memory): ``row_number`` is what the user sees (Excel row, CSV line), ``cells`` a
tuple of raw values: ``str``, ``int``/``float``, ``datetime``/``date`` (spreadsheet date cells),
``bool`` or ``None``.

CSV encodings: a UTF-8 byte-order mark means UTF-8; otherwise the first 4 MiB decide between
UTF-8 and Windows-1258 (cp1258, what Vietnamese Excel writes with "CSV"): text that is not
valid UTF-8 is read as cp1258. Windows-1258 writes most tone marks as combining characters;
every text cell is normalised to NFC, so "Đã trả kết quả" compares equal however it was spelt.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

Cell = str | int | float | datetime | date | time | bool | None
SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")
_SNIFF_BYTES = 4 * 1024 * 1024


class UnreadableFile(ValueError):
    """A file that is not a readable spreadsheet or CSV; the message names it and why."""


@dataclass
class Sheet:
    name: str
    rows: Iterator[tuple[int, tuple[Cell, ...]]]
    total_rows: int | None = None  # when the format says (progress)
    encoding: str | None = None  # CSV only


def nfc(v: Cell) -> Cell:
    if isinstance(v, str):
        v = v.strip()
        if not v.isascii():
            v = unicodedata.normalize("NFC", v)
        return v or None
    return v


def detect_encoding(head: bytes) -> str:
    """'utf-8-sig', 'utf-8' or 'cp1258' for the first bytes of a CSV file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1258"
    return "utf-8"


def read_csv(path: Path, delimiter: str | None = None, encoding: str | None = None) -> Iterator[Sheet]:
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    enc = encoding or detect_encoding(head)
    if delimiter is None:
        first = head.decode(enc, errors="replace").splitlines()[:5]
        sample = "\n".join(first)
        counts = {d: sample.count(d) for d in (",", ";", "\t")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","

    def rows() -> Iterator[tuple[int, tuple[Cell, ...]]]:
        # newline="" as the csv module requires; errors="replace" keeps a stray byte from stopping the import
        with open(path, encoding=enc, errors="replace", newline="") as text:
            reader = csv.reader(text, delimiter=delimiter)
            line = 1
            for values in reader:
                yield line, tuple(nfc(v) for v in values)
                line = reader.line_num + 1

    yield Sheet(path.stem, rows(), None, enc)


def read_xlsx(path: Path, sheets: list[str] | None = None) -> Iterator[Sheet]:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise UnreadableFile(f"{path}: not a readable XLSX workbook ({type(e).__name__}: {e})") from e
    try:
        for ws in wb.worksheets:
            if sheets and ws.title not in sheets:
                continue

            def rows(ws: Any = ws) -> Iterator[tuple[int, tuple[Cell, ...]]]:
                for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
                    yield n, tuple(nfc(v) for v in values)

            # no total: ws.max_row parses the whole sheet first when the file has no <dimension>
            yield Sheet(ws.title, rows(), None)
    finally:
        wb.close()


def read_xls(path: Path, sheets: list[str] | None = None) -> Iterator[Sheet]:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError) as e:
        raise UnreadableFile(f"{path}: not a readable XLS workbook ({type(e).__name__}: {e})") from e
    try:
        for name in book.sheet_names():
            if sheets and name not in sheets:
                continue
            sh = book.sheet_by_name(name)

            def rows(sh: Any = sh) -> Iterator[tuple[int, tuple[Cell, ...]]]:
                for r in range(sh.nrows):
                    out: list[Cell] = []
                    for c in sh.row(r):
                        if c.ctype == xlrd.XL_CELL_DATE:
                            out.append(xlrd.xldate_as_datetime(c.value, book.datemode))
                        elif c.ctype == xlrd.XL_CELL_BOOLEAN:
                            out.append(bool(c.value))
                        elif c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                            out.append(None)
                        else:
                            out.append(nfc(c.value))
                    yield r + 1, tuple(out)

            yield Sheet(name, rows(), sh.nrows)
            book.unload_sheet(name)
    finally:
        book.release_resources()


def read_file(path: str | Path, sheets: list[str] | None = None, delimiter: str | None = None) -> Iterator[Sheet]:
    """The sheets of one export, by its suffix."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(p, sheets)
    if suffix == ".xls":
        return read_xls(p, sheets)
    if suffix == ".csv":
        return read_csv(p, delimiter)
    raise UnreadableFile(f"{p}: unsupported file type {suffix!r} (expected {', '.join(SUFFIXES)})")


def expand(paths: list[str | Path]) -> list[Path]:
    """Files as given; directories contribute their exports (sorted, hidden files and ~$ lock files skipped)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                sorted(
                    x
                    for x in p.rglob("*")
                    if x.is_file() and x.suffix.lower() in SUFFIXES and not x.name.startswith((".", "~$"))
                )
            )
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or directory")
    return out


def cell_text(v: Cell) -> str:
    """A cell as the text a rejects CSV shows (dates as dd/mm/yyyy HH:MM:SS)."""
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(v, date):
        return v.strftime("%d/%m/%Y")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def to_csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerow(values)
    return buf.getvalue()
