"""Acceptance of `govpulse import` (issue 10) on the real Kafka and InfluxDB.

The Mỹ Tho 2022 scenario's simulated dossiers are exported as a tracking-book XLSX (form 06 plus
the columns one-stop systems append) and as a vendor CSV in Windows-1258, each with made-up
personal data; each export is imported into fresh topics and the worker runs on it. Every dossier
figure (every calendar-window point of every dossier field, for every unit) must equal the figures the worker wrote
for the simulator's own events (the ``pipeline_influx`` bucket), and no personal value may be
found in any topic.
"""

from __future__ import annotations

import re

import pytest

from common.measurements import CALENDAR_WINDOWS, COUNT_FIELDS, RATE_FIELDS
from tests.conftest import GOVPULSE, REPO, flux, make_settings, run_govpulse, run_worker, settings_env
from tests.import_exporter import write_mapping, write_tracking_book, write_vendor_csv
from tests.test_pipeline_integration import assert_same

pytestmark = pytest.mark.integration

IMPORT = [*GOVPULSE, "import"]
DOSSIER_FIELDS = tuple(
    f
    for f in (*COUNT_FIELDS, *RATE_FIELDS)
    # one-stop exports hold dossiers only: no documents, meetings or citizen feedback
    if not any(w in f for w in ("document", "meeting", "signature", "signed", "smooth", "uninterrupted", "feedback"))
)
WINDOWS = CALENDAR_WINDOWS  # month, year, report year / month / quarter / half


def run_import(args: list[str], settings, timeout: float = 900):
    import subprocess

    env = {**settings_env(settings), "COLUMNS": "400"}  # rich: one line per summary line
    proc = subprocess.run(IMPORT + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"import {args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def dossier_figures(settings, bucket: str) -> dict:
    fields = " or ".join(f'r._field == "{f}"' for f in DOSSIER_FIELDS)
    windows = " or ".join(f'r.window == "{w}"' for w in WINDOWS)
    rows = flux(
        settings,
        f"""from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "unit_rates") |> filter(fn: (r) => {windows})
        |> filter(fn: (r) => {fields})""",
        bucket,
    )
    return {(r["unit_code"], r["window"], r["_time"].isoformat(), r["_field"]): r["_value"] for r in rows}


def all_values(settings, shorts=("dossier-events", "document-events", "meeting-events", "dead-letter")) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    out: dict[str, list[bytes]] = {}
    for short in shorts:
        topic = settings.topic(short)
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        out[short] = []
        if not tps:
            continue
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        while any(c.position(tp) < end[tp] for tp in tps):
            for msgs in c.poll(timeout_ms=2000, max_records=50000).values():
                out[short].extend(m.value for m in msgs)
    c.close()
    return out


PERSONAL = [re.compile(rb"Zq\d{6}"), re.compile(rb"(?<![0-9a-f])09\d{8}(?![0-9a-f])"), re.compile(rb"0820\d{8}")]


def assert_no_personal_data(values: dict) -> None:
    for short, vals in values.items():
        for v in vals:
            for pat in PERSONAL:
                assert not pat.search(v), f"personal data in {short}: {v[:300]!r}"


@pytest.fixture(scope="module")
def exports(pipeline_influx, tmp_path_factory):
    """The same simulated stream as the pipeline_influx bucket (same scenario and seed, byte for byte)."""
    d = tmp_path_factory.mktemp("import-exports")
    sim = d / "mytho.jsonl.gz"
    run_govpulse(["simulate", str(pipeline_influx.scenario), "--out", str(sim), "--no-kafka"], pipeline_influx.settings)
    book, vendor = d / "so-theo-doi-ho-so.xlsx", d / "danh-sach-ho-so.csv"
    n, unit_table = write_tracking_book(sim, book)
    assert write_vendor_csv(sim, vendor, "cp1258") == n
    with pytest.raises(UnicodeDecodeError):
        vendor.read_bytes().decode("utf-8")
    return {
        "dir": d,
        "rows": n,
        "book": book,
        "vendor": vendor,
        "book_mapping": write_mapping(d / "book.yaml", "tracking_book", unit_table, "motcua-tiengiang"),
        "vendor_mapping": write_mapping(d / "vendor.yaml", "vendor_csv", unit_table, "motcua-tiengiang"),
    }


@pytest.fixture(scope="module")
def reference(pipeline_influx):
    fig = dossier_figures(pipeline_influx.settings, pipeline_influx.bucket)
    assert {k[3] for k in fig} >= {"received_online", "resolved_late", "late_with_apology", "ratings_satisfied"}
    return fig


def test_tracking_book_xlsx_followed_from_a_folder_gives_the_simulators_figures(exports, reference, tmp_path):
    """The book is dropped into a watched folder (--follow): imported once; a second watcher with the
    same state imports nothing; the worker's dossier figures equal the simulator's."""
    s = make_settings()
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / exports["book"].name).write_bytes(exports["book"].read_bytes())
    state = tmp_path / "state.json"
    args = [
        "--mapping",
        str(exports["book_mapping"]),
        "--follow",
        str(drop),
        "--state",
        str(state),
        "--interval",
        "0.5",
    ]
    first = run_import([*args, "--max-polls", "2"], s)
    assert f"rows read {exports['rows']:,}, events produced 43,362" in first.stdout.replace("\n", " "), first.stdout
    again = run_import([*args, "--max-polls", "2"], s)
    assert "rows read 0, events produced 0" in again.stdout.replace("\n", " "), again.stdout
    run_worker(s)
    assert_same(reference, dossier_figures(s, s.influx_bucket), "tracking book XLSX import")
    values = all_values(s)
    assert len(values["dossier-events"]) == 43362 and not values["dead-letter"]
    assert_no_personal_data(values)


def test_vendor_csv_imported_twice_gives_the_simulators_figures(exports, reference, tmp_path):
    """A vendor CSV (cp1258) imported twice: the second import's events are the same ids with the same
    content, so the worker counts them as duplicates (no conflicting_event_id dead letters)."""
    s = make_settings()
    rejects = tmp_path / "rejects.csv"
    out = run_import(
        [str(exports["vendor"]), "--mapping", str(exports["vendor_mapping"]), "--rejects", str(rejects)], s
    )
    text = out.stdout.replace("\n", " ")
    assert f"rows read {exports['rows']:,}, events produced 43,362" in text and "rows rejected 0" in text, out.stdout
    assert "Họ tên người nộp" in text  # the ignored personal-data columns are named
    run_import([str(exports["vendor"]), "--mapping", str(exports["vendor_mapping"])], s)
    run_worker(s)
    assert_same(reference, dossier_figures(s, s.influx_bucket), "vendor CSV import (twice)")
    values = all_values(s)
    assert len(values["dossier-events"]) == 2 * 43362
    assert not values["dead-letter"], values["dead-letter"][:2]
    assert_no_personal_data(values)
    dup = flux(
        s,
        """from(bucket: "BUCKET") |> range(start: 0) |> filter(fn: (r) => r._measurement == "pipeline_health"
        and r._field == "duplicates") |> last() |> group() |> sum()""",
    )
    assert dup and dup[0]["_value"] == 43362


def test_archive_output_replays(exports, tmp_path, services):
    """--out writes the archive format: `govpulse replay` sends it (same keys and values)."""
    s = make_settings()
    archive = tmp_path / "import.jsonl.gz"
    run_import(
        [str(exports["vendor"]), "--mapping", str(exports["vendor_mapping"]), "--out", str(archive), "--no-kafka"], s
    )
    run_govpulse(["topics", "create"], s)
    run_govpulse(["replay", str(archive), "--max"], s)
    values = all_values(s, ("dossier-events",))
    assert len(values["dossier-events"]) == 43362
    assert_no_personal_data(values)
