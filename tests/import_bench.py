"""Speed and memory of `govpulse import` on a large tracking book (not a pytest test).

    python -m tests.import_bench --rows 600000 --dir /tmp/import-bench [--kafka]

Writes (once) an N-row tracking-book XLSX by repeating the Mỹ Tho 2022 simulated dossiers under new
dossier codes, then imports it in this process into an archive file (default) or Kafka, and prints
rows/s and the peak RSS (ru_maxrss)."""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from tests.import_exporter import BOOK_HEADER, book_row, dossiers, write_mapping

REPO = Path(__file__).resolve().parents[1]
GOVPULSE = [sys.executable, "-m", "govpulse.cli"]


def generate(path: Path, rows: int, sim: Path) -> dict:
    from openpyxl import Workbook

    items, unit_table = dossiers(sim)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("So theo doi ho so")
    ws.append(["SỔ THEO DÕI HỒ SƠ"])
    ws.append(BOOK_HEADER)
    code_col = BOOK_HEADER.index("Mã hồ sơ")
    for i in range(rows):
        cycle, k = divmod(i, len(items))
        r = book_row(i + 1, items[k])
        if cycle:
            r[code_col] = f"{r[code_col]}-{cycle}"
        ws.append(r)
    wb.save(path)
    return unit_table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/import-bench"))
    ap.add_argument("--kafka", action="store_true", help="import into Kafka (GOVPULSE_* settings) instead of a file")
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    sim = a.dir / "mytho.jsonl.gz"
    if not sim.exists():
        subprocess.run(
            [*GOVPULSE, "simulate", "producers/scenarios/mytho_2022.yaml", "--out", str(sim), "--no-kafka"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
    book = a.dir / f"book-{a.rows}.xlsx"
    mapping = a.dir / "book.yaml"
    if not book.exists():
        t = time.monotonic()
        unit_table = generate(book, a.rows, sim)
        write_mapping(mapping, "tracking_book", unit_table, "bench")
        print(f"wrote {book} ({book.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t:.0f} s")

    from common.settings import get_settings
    from producers.importer.mapping import load_mapping
    from producers.importer.run import Output, import_files
    from producers.records import RecordWriter
    from schemas import units

    settings = get_settings()
    units.load_units_files(settings.extra_units_file)
    m = load_mapping(mapping)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sink = writer = None
    if a.kafka:
        from producers.kafka_sink import KafkaSink
        from producers.topics import EVENT_TOPICS, ensure_topics

        ensure_topics(settings, names=EVENT_TOPICS)
        sink = KafkaSink(settings, client_id="govpulse-import-bench")
    else:
        writer = RecordWriter(a.dir / "out.jsonl.gz")
    t = time.monotonic()
    s = import_files([book], m, "bench", Output(settings, sink, writer))
    if sink is not None:
        sink.close()
    if writer is not None:
        writer.close()
    el = time.monotonic() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{s.rows:,} rows, {s.events:,} events, {s.rows_rejected} rejected in {el:.1f} s: {s.rows / el:,.0f} rows/s, "
        f"{s.events / el:,.0f} events/s; peak RSS {rss / 1024:.0f} MB (before the import {rss0 / 1024:.0f} MB)"
        f" -> {'Kafka ' + settings.topic_prefix if a.kafka else a.dir / 'out.jsonl.gz'}"
    )


if __name__ == "__main__":
    main()
