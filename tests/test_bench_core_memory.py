"""`govpulse bench --core-memory`: the breakdown of an open dossier's bytes runs without servers and
names the lines that keep memory (its figures are benchmarks, never asserted)."""

from __future__ import annotations

import re

from govpulse import bench
from schemas import DossierReceived, parse_event


def test_the_throughput_input_is_valid_receptions_due_a_year_later_over_the_wards():
    records = list(bench.open_dossiers(10, wards=4))
    events = [parse_event(value) for _key, value, _ts in records]
    assert all(isinstance(e, DossierReceived) for e in events)
    assert {key for key, _v, _ts in records} == {e.unit_key.encode() for e in events}
    assert len({e.unit_key for e in events}) == 4
    assert all((e.due_at - e.received_at).days == 365 for e in events)
    assert len({e.event_id for e in events}) == 10


def test_the_core_memory_breakdown_counts_bytes_per_dossier_and_names_the_stored_record():
    result = bench.Result()
    bench.core_memory(result, 3000, wards=30, top=8)
    (what, total, _goal), *sites = result.rows
    assert what == "core alone: bytes per open dossier (3,000, tracemalloc)"
    assert int(re.fullmatch(r"([\d,]+) B", total)[1].replace(",", "")) > 0
    assert len(sites) == 8
    # the stored records are the largest thing an open dossier keeps (BENCHMARKS.md)
    assert any("streams/domain/record_codec.py" in where for where, _v, _g in sites), sites
