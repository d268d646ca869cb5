r"""Line protocol as the real influxd 2.7 parses it: every representable unit name and every
string round-trips byte for byte through the real sink (property-based, read back with Flux);
one invalid line costs only itself; the unit registry refuses names InfluxDB cannot hold.

Reading back: string values are compared through Flux's ``json.encode`` (exact bytes), because
Flux's annotated CSV, the transport of every query answer, turns a line feed into CR LF and
drops a carriage return (flux/csv/result.go, UseCRLF); tag values are compared both ways.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from schemas import units
from schemas.line_protocol import MAX_TAG_VALUE_BYTES, escape_tag, tag_value_problem
from streams.domain.rows import Row
from tests.conftest import REPO, flux, make_settings

PROVINCE = "82"

# Characters that matter to the parser, mixed into arbitrary Unicode (no lone surrogates: a
# Python str holding one has no UTF-8 form at all).
SPECIAL = [*"\\,= \"'#\t\x00\r\n", "\\ ", "\\,", "\\=", "\\\\", "\u2028", "\ufeff", "\U0001f600"]
_any_char = st.characters(blacklist_categories=("Cs",))
_piece = st.one_of(st.sampled_from(SPECIAL), _any_char, st.sampled_from(list("Tổ3Khuờng")))
texts = st.lists(_piece, max_size=30).map("".join)
names = texts.filter(lambda s: tag_value_problem(s) is None)


# ---------------------------------------------------------------------------------------------
# no server: what is refused, and the registry refusing it
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,why",
    [
        ("Tổ 3\\", "ends with a backslash"),
        ("\\", "ends with a backslash"),
        ("a\\\\", "ends with a backslash"),
        ("a\nb", "line feed"),
        ("a\\\nb", "line feed"),
        ("a\rb", "carriage return"),
        ("", "empty"),
        ("a\ud800b", "lone surrogate"),
        ("x" * (MAX_TAG_VALUE_BYTES + 1), "bytes escaped"),
        (" " * (MAX_TAG_VALUE_BYTES // 2 + 1), "bytes escaped"),
        ("a\\,b", "odd number of backslashes right before ','"),
        ("a\\ b", "odd number"),
        ("a\\=b", "odd number"),
        ("x\\\\\\ y", "odd number"),
        ("Khu\\ 3\\", "odd number"),
    ],
)
def test_tag_value_problem_names_the_reason(value, why):
    assert why in tag_value_problem(value)


@pytest.mark.parametrize(
    "value",
    [
        "Phường Mỹ Tho",
        "Tổ 3\\Khu 2",
        "a\\\\,b",
        "a\\\\ b",
        "a\\\\\\\\=b",
        "\\\\x",
        "=a",
        "a=",
        " a ",
        " ",
        ",",
        '"q"',
        "#1",
        "a\tb",
        "a\x00b",
        "x" * MAX_TAG_VALUE_BYTES,
    ],
)
def test_tag_value_problem_accepts_what_round_trips(value):
    assert tag_value_problem(value) is None


def test_escaping_follows_the_v2_parser():
    # a backslash is not an escape in tags: written as it is; comma, equals, space escaped
    assert escape_tag("Tổ 3\\Khu 2") == "Tổ\\ 3\\Khu\\ 2"
    assert escape_tag("a\\,b=c") == "a\\\\,b\\=c"
    from streams.sink import line

    row = ("unit rates,x", {"unit_name": "Tổ 3\\Khu 2", "k=1": "v"}, {"field": 'say "hi"\\', "n": 1}, 5)
    # time 5 ms, written with nanosecond precision
    assert line(row) == 'unit\\ rates\\,x,k\\=1=v,unit_name=Tổ\\ 3\\Khu\\ 2 field="say \\"hi\\"\\\\",n=1i 5000000'


@pytest.fixture
def clean_registry():
    from tests.conftest import load_shipped_units

    units.clear_extra_units()
    yield
    units.clear_extra_units()
    load_shipped_units()


def _units_file(tmp_path, entries, suffix=".yaml"):
    p = tmp_path / f"units{suffix}"
    if suffix == ".json":
        p.write_text(json.dumps({"units": entries}, ensure_ascii=False), encoding="utf-8")
    else:
        import yaml

        p.write_text(yaml.safe_dump({"units": entries}, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "name,why",
    [
        ("Tổ 3\\", "ends with a backslash"),
        ("Khu\nphố 2", "line feed"),
        ("Khu\rphố 2", "carriage return"),
        ("", "empty"),
    ],
)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_registry_refuses_names_influxdb_cannot_hold(tmp_path, clean_registry, name, why, suffix):
    good = {"code": "DEPT-8", "level": "department", "name": "Sở Nội vụ", "province_code": PROVINCE}
    bad = {"code": "DEPT-9", "level": "department", "name": name, "province_code": PROVINCE}
    path = _units_file(tmp_path, [good, bad], suffix)
    with pytest.raises(ValueError) as err:
        units.load_extra_units(path)
    msg = str(err.value)
    assert str(path) in msg and "units[1]" in msg and "'DEPT-9'" in msg and why in msg, msg
    assert "InfluxDB tag value" in msg
    assert units.extra_unit("DEPT-8") is None and units.extra_unit("DEPT-9") is None, "a refused file registers nothing"


def test_register_refuses_a_bad_name_or_code(clean_registry):
    with pytest.raises(ValueError, match=r"'X1'.*ends with a backslash"):
        units.register(units.Unit("X1", "other", "Ban quản lý\\", PROVINCE))
    with pytest.raises(ValueError, match=r"code cannot be an InfluxDB tag value.*line feed"):
        units.register(units.Unit("X\n2", "other", "Ban quản lý", PROVINCE))
    assert units.extra_unit("X1") is None


def test_registry_accepts_hard_but_representable_names(tmp_path, clean_registry):
    entries = [
        {"code": f"U{i}", "level": "other", "name": n, "province_code": PROVINCE}
        for i, n in enumerate(["Tổ 3\\Khu 2", "a\\\\,b", "=Khu", " Khu 1 ", '"Tổ" 5', "#7"])
    ]
    loaded = units.load_extra_units(_units_file(tmp_path, entries))
    assert [u.name for u in loaded] == [e["name"] for e in entries]
    assert units.extra_unit("U0").name == "Tổ 3\\Khu 2"


def test_no_official_or_shipped_name_is_refused(clean_registry):
    from vietnam_provinces import Province, Ward

    official = [p.name for p in Province.iter_all()] + [w.name for w in Ward.iter_all()]
    assert len(official) > 3000
    assert [n for n in official if tag_value_problem(n)] == []
    for path in sorted((REPO / "producers" / "scenarios").glob("*_units.yaml")):
        assert units.load_extra_units(path)


# ---------------------------------------------------------------------------------------------
# no server: the split, with a stand-in write API (transient failures and configuration errors)
# ---------------------------------------------------------------------------------------------
class _ApiStub:
    """Rejects (400) any body containing a line with BAD; raises ConnectionError while ``down``."""

    def __init__(self):
        self.down_after = None  # fail (connection) from this call on
        self.calls = 0
        self.written: list[str] = []
        self.precisions: set[str] = set()
        self.status = None  # raise ApiException with this status

    def write(self, *, bucket, org, record, write_precision):
        from influxdb_client.rest import ApiException

        self.calls += 1
        self.precisions.add(write_precision)
        if self.status:
            raise ApiException(status=self.status, reason="no")
        if self.down_after is not None and self.calls > self.down_after:
            raise ConnectionError("refused")
        lines = record.split("\n")
        if any("BAD" in ln for ln in lines):
            e = ApiException(status=400, reason="Bad Request")
            e.body = json.dumps({"code": "invalid", "message": "unable to parse 'x': invalid tag format"})
            raise e
        self.written += lines


def _stub_sink(monkeypatch):
    from common.settings import Settings
    from streams.sink import InfluxSink

    sink = InfluxSink(Settings(influx_token="unused"), "b", batch_size=8)
    sink.write_api = _ApiStub()
    monkeypatch.setattr("streams.sink.time.sleep", lambda s: None)
    return sink


def _rows(n, bad=()):
    return [Row("m", {"unit_name": "BAD" if i in bad else f"u{i}"}, {"n": i}, 1000 + i) for i in range(n)]


def test_split_isolates_invalid_lines_without_a_server(monkeypatch, caplog):
    sink = _stub_sink(monkeypatch)
    sink.add(_rows(20, bad={3, 17}))
    with caplog.at_level(logging.ERROR, logger="govpulse.sink"):
        assert sink.flush()
    assert sink.rejected_points == 2 and sink.points_written == 18 and sink.pending == 0
    assert len(sink.write_api.written) == 18
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 2 and all("series m,unit_name=BAD" in m and "invalid tag format" in m for m in dropped)


def test_a_transient_failure_while_splitting_keeps_the_rest_pending(monkeypatch):
    sink = _stub_sink(monkeypatch)
    sink.add(_rows(8, bad={1}))
    # batch (400) -> left half [0..3] (400) -> [0,1] (400) -> [0] ok -> [1] rejected -> [2,3]: down
    sink.write_api.down_after = 5
    assert not sink.flush(attempts=2)
    assert sink.rejected_points == 1 and sink.points_written == 1
    assert sink.pending == 6, "lines 2..7 were neither written nor rejected: they stay pending"
    sink.write_api.down_after = None
    assert sink.flush() and sink.pending == 0 and sink.rejected_points == 1 and sink.points_written == 7


def test_configuration_errors_still_stop_loudly(monkeypatch):
    from influxdb_client.rest import ApiException

    sink = _stub_sink(monkeypatch)
    sink.add(_rows(5))
    sink.write_api.status = 401
    with pytest.raises(ApiException):
        sink.flush()
    assert sink.pending == 5 and sink.rejected_points == 0


def test_a_queued_point_written_again_keeps_the_fields_the_new_row_leaves_out(monkeypatch):
    """Two rows for one point before a flush: the queue holds what InfluxDB would after both writes
    (fields merged, the later value winning), so a zero queued to take a count back is not lost
    when a sparse row for the same point follows."""
    sink = _stub_sink(monkeypatch)
    tags = {"unit_code": "U1"}
    sink.add([Row("report_counts", tags, {"received_online": 0, "resolved_late": 2}, 1000)])
    sink.add([Row("report_counts", tags, {"resolved_late": 3}, 1000)])
    sink.add([Row("report_counts", tags, {"withdrawn": 1}, 2000)])
    assert sink.pending == 2
    assert sink.flush()
    written = sorted(sink.write_api.written)
    # times 1000 and 2000 ms, written with nanosecond precision
    assert written[0].endswith("received_online=0i,resolved_late=3i 1000000000"), written
    assert written[1].endswith("withdrawn=1i 2000000000"), written
    assert sink.write_api.precisions == {"ns"}


# ---------------------------------------------------------------------------------------------
# the real InfluxDB
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def influx(services):
    from influxdb_client import InfluxDBClient

    from streams.sink import InfluxSink, ensure_bucket

    s = make_settings()
    ensure_bucket(s, s.influx_bucket)
    sink = InfluxSink(s)
    yield s, sink
    sink.close()
    with InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org) as c:
        c.buckets_api().delete_bucket(c.buckets_api().find_bucket_by_name(s.influx_bucket))


def _read_back(s, case: str) -> dict[int, dict]:
    rows = flux(
        s,
        f'''import "json"
        from(bucket: "BUCKET") |> range(start: 0)
          |> filter(fn: (r) => r._measurement == "lp_roundtrip" and r.case == "{case}")
          |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
          |> map(fn: (r) => ({{i: r.i, unit_name_csv: r.unit_name, procedure_code_csv: r.procedure_code,
              unit_name: string(v: json.encode(v: r.unit_name)),
              procedure_code: string(v: json.encode(v: r.procedure_code)),
              text: string(v: json.encode(v: r.text))}}))''',
    )
    return {r["i"]: r for r in rows}


@pytest.mark.integration
@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(names, names, texts), min_size=1, max_size=60))
@example([("Tổ 3\\Khu 2", "a\\\\,b\\\\ c\\\\=d", 'He said "ok"\\\n\r\t'), ("=x", " ", ""), ("\\\\x", "#", "\\")])
def test_names_and_strings_round_trip_byte_for_byte(influx, examples):
    s, sink = influx
    case = uuid.uuid4().hex
    rows = [
        (
            "lp_roundtrip",
            {"case": case, "unit_name": name, "procedure_code": proc},
            {"i": i, "text": text},
            1_700_000_000_000 + i,
        )
        for i, (name, proc, text) in enumerate(examples)
    ]
    before = sink.rejected_points
    sink.add(rows)
    assert sink.flush() and sink.rejected_points == before, sink.last_error
    got = _read_back(s, case)
    assert sorted(got) == list(range(len(examples)))
    for i, (name, proc, text) in enumerate(examples):
        r = got[i]
        assert json.loads(r["unit_name"]) == name and r["unit_name_csv"] == name
        assert json.loads(r["procedure_code"]) == proc and r["procedure_code_csv"] == proc
        assert json.loads(r["text"]) == text


@pytest.mark.integration
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=60))
def test_no_line_is_lost_for_a_neighbour(influx, examples):
    """Arbitrary tag values, representable or not, in one batch: each line with representable
    values is written exactly whatever its neighbours; every line missing was counted as rejected."""
    s, sink = influx
    case = uuid.uuid4().hex
    # empty tag values are left out of the line by design; give them a placeholder
    examples = [(n or "-", p or "-", text) for n, p, text in examples]
    rows = [
        (
            "lp_roundtrip",
            {"case": case, "unit_name": name, "procedure_code": proc},
            {"i": i, "text": text},
            1_700_000_000_000 + i,
        )
        for i, (name, proc, text) in enumerate(examples)
    ]
    before = sink.rejected_points
    sink.add(rows)
    assert sink.flush() and sink.pending == 0
    got = _read_back(s, case)
    missing = [i for i in range(len(examples)) if i not in got]
    assert sink.rejected_points - before == len(missing)
    for i, (name, proc, text) in enumerate(examples):
        if tag_value_problem(name) is None and tag_value_problem(proc) is None:
            r = got[i]
            assert (json.loads(r["unit_name"]), json.loads(r["procedure_code"]), json.loads(r["text"])) == (
                name,
                proc,
                text,
            )


@pytest.mark.integration
def test_one_invalid_line_costs_only_itself(influx, caplog):
    s, sink = influx
    case = uuid.uuid4().hex
    rows = [
        (
            "lp_roundtrip",
            {"case": case, "unit_name": f"Phường {i}", "procedure_code": "1.001612"},
            {"i": i, "text": "ok"},
            1_700_000_000_000 + i,
        )
        for i in range(500)
    ]
    # a name the registry would refuse, reaching the sink anyway: InfluxDB rejects its line (HTTP 400)
    rows[137] = (
        "lp_roundtrip",
        {"case": case, "unit_name": "Tổ 3\\", "procedure_code": "1.001612"},
        {"i": 137, "text": "bad"},
        1_700_000_000_137,
    )
    before, written = sink.rejected_points, sink.points_written
    sink.add(rows)
    with caplog.at_level(logging.ERROR, logger="govpulse.sink"):
        assert sink.flush()
    assert sink.rejected_points - before == 1 and sink.points_written - written == 499 and sink.pending == 0
    got = _read_back(s, case)
    assert sorted(got) == [i for i in range(500) if i != 137]
    (msg,) = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert "unit_name=Tổ\\ 3\\" in msg and "HTTP 400: invalid tag format" in msg and "text=" not in msg


@pytest.mark.integration
@pytest.mark.parametrize(
    "tags,text,answer",
    [
        ({"unit_name": "Tổ 3\\"}, "ok", "invalid tag format"),  # trailing backslash
        ({"unit_name": "Khu\nphố"}, "ok", "missing fields"),  # a line feed cuts the line
        # odd runs of backslashes before escaped characters (tags sorted: the space one first): the line
        # splitter cuts at the line feed inside the string field (accepted without the line feed)
        ({"procedure_code": "x\\ y", "unit_name": "c\\,d"}, "l1\nl2", "unbalanced quotes"),
    ],
)
def test_what_the_registry_refuses_is_really_refused_by_influxdb(influx, caplog, tags, text, answer):
    s, sink = influx
    case = uuid.uuid4().hex
    assert any(tag_value_problem(v) for v in tags.values())
    rows = [
        ("lp_roundtrip", {"case": case, **tags}, {"i": 0, "text": text}, 1_700_000_000_000),
        ("lp_roundtrip", {"case": case, "unit_name": "Phường 1"}, {"i": 1, "text": text}, 1_700_000_000_001),
    ]
    before = sink.rejected_points
    sink.add(rows)
    with caplog.at_level(logging.ERROR, logger="govpulse.sink"):
        assert sink.flush()
    assert sink.rejected_points - before == 1 and sorted(_read_back(s, case)) == [1]
    assert any(answer in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


@pytest.mark.integration
def test_a_carriage_return_in_a_tag_is_stored_but_never_reads_back_through_csv(influx):
    s, sink = influx
    case = uuid.uuid4().hex
    sink.add([Row("lp_roundtrip", {"case": case, "unit_name": "Khu\rphố"}, {"i": 0, "text": "ok"}, 1_700_000_000_000)])
    assert sink.flush()
    (r,) = _read_back(s, case).values()
    assert json.loads(r["unit_name"]) == "Khu\rphố" and r["unit_name_csv"] == "Khuphố"
    assert "carriage return" in tag_value_problem("Khu\rphố")


@pytest.mark.integration
def test_a_field_type_conflict_costs_only_its_line(influx):
    """HTTP 422 (partial write: influxd writes the others and drops the conflicting one)."""
    s, sink = influx
    case = uuid.uuid4().hex
    rows = [
        ("lp_roundtrip", {"case": case, "unit_name": "Phường 1"}, {"i": i, "text": "ok"}, 1_700_000_000_000 + i)
        for i in range(50)
    ]
    rows[20] = ("lp_roundtrip", {"case": case, "unit_name": "Phường 1"}, {"i": 20, "text": 5}, 1_700_000_000_020)
    before = sink.rejected_points
    sink.add(rows)
    assert sink.flush()
    assert sink.rejected_points - before == 1 and sink.pending == 0
    assert sorted(_read_back(s, case)) == [i for i in range(50) if i != 20]


@pytest.mark.integration
def test_the_longest_accepted_name_is_written(influx):
    """A name of MAX_TAG_VALUE_BYTES bytes fits beside the widest tag set the worker writes."""
    s, sink = influx
    case = uuid.uuid4().hex
    name = "ờ" * (MAX_TAG_VALUE_BYTES // len("ờ".encode()))
    assert tag_value_problem(name) is None and tag_value_problem(name + "xx") is not None
    tags = {
        "case": case,
        "unit_name": name,
        "province_code": PROVINCE,
        "unit_code": "U" * 40,
        "unit_level": "department",
        "district_code": "815",
        "kind": "apology_missing",
        "procedure_code": "p" * 100,
        "dossier_id": "d" * 100,
    }
    before = sink.rejected_points
    sink.add([Row("dossier_alerts", tags, {"overdue_without_apology": 1}, 1_700_000_000_000)])
    assert sink.flush() and sink.rejected_points == before, sink.last_error
    (r,) = flux(
        s,
        f'''from(bucket: "BUCKET") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "dossier_alerts" and r.case == "{case}")''',
    )
    assert r["unit_name"] == name


def test_a_refused_env_file_fails_at_start_up_and_keeps_failing(tmp_path, clean_registry):
    import os
    import subprocess

    from tests.conftest import GOVPULSE, REPO

    path = _units_file(tmp_path, [{"code": "DEPT-7", "level": "department", "name": "Sở\\", "province_code": PROVINCE}])
    for _ in range(2):
        with pytest.raises(ValueError, match=r"DEPT-7.*ends with a backslash"):
            units.load_units_files(str(path))
    assert units.extra_unit("DEPT-7") is None  # nothing of the refused file was registered
    # the govpulse command loads GOVPULSE_EXTRA_UNITS_FILE when it starts, and stops there
    env = {**os.environ, "GOVPULSE_EXTRA_UNITS_FILE": str(path)}
    out = subprocess.run([*GOVPULSE, "config"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "DEPT-7" in out.stdout + out.stderr
