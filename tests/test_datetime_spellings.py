"""Date-time spellings: the worker (``parse_event``) and the exported JSON Schema, checked by
``check-jsonschema`` with format assertion on (as .NET and Java validators assert
``format: date-time``), accept exactly the same set: RFC 3339 date-times with an offset.

Decisions (stated in the schema's description, see ``schemas.events.DATETIME_RULES``):
upper-case "T" and "Z" only (RFC 3339 5.6 lets a specification require it); leap second 60
and year 0000 rejected (RFC 3339 allows them, Python datetimes cannot hold them).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import regress
from check_jsonschema.formats.implementations import validate_rfc3339
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from schemas import EVENT_TYPES, TIMESTAMP_FIELDS, InvalidEvent, parse_event
from schemas.events import DATETIME_RULES, RFC3339_PATTERN
from tests.test_schemas import VALID

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "schemas" / "json"

# (spelling, accepted?) -- every one goes into meeting.scheduled's scheduled_start, a timestamp
# with no cross-field or clock rule, so only the spelling decides.
CORPUS: list[tuple[object, bool]] = [
    # accepted: RFC 3339 section 5.6
    ("2026-11-16T08:00:00+07:00", True),
    ("2026-11-16T01:00:00Z", True),
    ("2026-11-16T08:00:00-00:00", True),  # RFC 3339 4.3: UTC, local offset unknown
    ("2026-11-16T08:00:00+00:00", True),
    ("2026-11-16T08:00:00+14:00", True),
    ("2026-11-16T08:00:00-12:00", True),
    ("2026-11-16T08:00:00+05:45", True),
    ("2026-11-16T08:00:00+23:59", True),
    ("2026-11-16T08:00:00-23:59", True),
    *((f"2026-11-16T08:00:00.{'123456789'[:n]}Z", True) for n in range(1, 10)),
    *((f"2026-11-16T08:00:00.{'987654321'[:n]}+07:00", True) for n in range(1, 10)),
    ("2026-11-16T08:00:00.000Z", True),
    ("2026-11-16T08:00:00.1234567890123Z", True),  # any number of digits; truncated to microseconds
    ("2026-12-31T23:59:59.999999999+07:00", True),
    ("2026-11-16T00:00:00Z", True),
    ("2026-11-16T23:59:59Z", True),
    ("2028-02-29T08:00:00+07:00", True),
    ("2000-02-29T00:00:00Z", True),
    ("2400-02-29T00:00:00Z", True),
    ("0004-02-29T00:00:00Z", True),
    ("2026-01-31T08:00:00Z", True),
    ("2026-04-30T08:00:00Z", True),
    ("2026-02-28T08:00:00Z", True),
    ("0001-01-01T00:00:00Z", True),
    ("9999-12-31T23:59:59Z", True),
    # rejected: not RFC 3339 (pydantic alone parses many of them)
    ("2026-11-16 08:00:00+07:00", False),  # space separator
    ("2026-11-16_08:00:00Z", False),
    ("2026-11-16T08:00+07:00", False),  # missing seconds
    ("2026-11-16T08+07:00", False),
    ("2026-11-16T08:00:00+0700", False),  # offset without colon
    ("2026-11-16T08:00:00+07", False),
    ("2026-11-16T08:00:00+7:00", False),
    ("2026-11-16T08:00:00+07:0", False),
    ("2026-11-16T08:00:00", False),  # naive
    ("2026-11-16T08:00:00.123456", False),  # naive with fraction
    ("2026-11-16T24:00:00Z", False),  # hour 24
    ("2026-11-16T08:60:00Z", False),
    ("2026-11-16T08:00:61Z", False),
    ("2026-13-16T08:00:00Z", False),  # month 13
    ("2026-00-16T08:00:00Z", False),
    ("2026-11-00T08:00:00Z", False),
    ("2026-11-31T08:00:00Z", False),
    ("2026-04-31T08:00:00Z", False),
    ("2026-01-32T08:00:00Z", False),
    ("2026-02-29T08:00:00Z", False),  # Feb 29 in a non-leap year
    ("1900-02-29T00:00:00Z", False),
    ("2100-02-29T00:00:00Z", False),
    ("2026-02-30T00:00:00Z", False),
    ("2026-11-16T08:00:00+24:00", False),
    ("2026-11-16T08:00:00+07:60", False),
    ("2026-11-16T08:00:00Zx", False),  # trailing garbage
    ("2026-11-16T08:00:00+07:00Z", False),
    ("2026-11-16T08:00:00+07:00 ", False),
    ("2026-11-16T08:00:00+07:00\n", False),
    (" 2026-11-16T08:00:00Z", False),
    ("2026-11-16T08:00:00 +07:00", False),
    ("2026-11-16T08:00:00 Z", False),
    ("2026-11-16T08:00:00.Z", False),
    ("2026-11-16T08:00:00,5Z", False),  # ISO 8601 comma fraction, not RFC 3339
    ("2026-11-16T08:00:00UTC", False),
    ("2026-11-16T08:00:00GMT+07:00", False),
    ("2026-11-16T8:00:00Z", False),
    ("2026-1-16T08:00:00Z", False),
    ("20261116T080000Z", False),  # ISO 8601 basic format
    ("2026-W47-1T08:00:00Z", False),
    ("2026-320T08:00:00Z", False),
    ("+2026-11-16T08:00:00Z", False),
    ("12026-11-16T08:00:00Z", False),
    ("\uff12\uff10\uff12\uff16-11-16T08:00:00Z", False),  # full-width digits
    ("\u0662\u0660\u0662\u0666-11-16T08:00:00Z", False),  # Arabic-Indic digits (Python's \d matches them)
    ("2026-11-16", False),
    ("08:00:00Z", False),
    ("", False),
    ("1700000000", False),  # pydantic reads a numeric string as Unix time
    (1700000000, False),
    # rejected although check-jsonschema's format check alone accepts them (see FORMAT_ONLY_EXTRA)
    ("2026-11-16t08:00:00Z", False),  # lower-case t
    ("2026-11-16T08:00:00z", False),  # lower-case z
    ("2026-11-16t08:00:00z", False),
    ("0000-01-01T00:00:00Z", False),  # year 0000: RFC 3339 allows it, Python cannot hold it
    # leap second: RFC 3339 allows 60, pydantic cannot represent it; check-jsonschema rejects it too
    ("2016-12-31T23:59:60Z", False),
    ("2026-11-16T23:59:60Z", False),
    ("2016-12-31T23:59:60.5Z", False),
]

# Spellings check-jsonschema's `format: date-time` check alone accepts and the exported
# pattern (hence check-jsonschema on our schema, and the worker) refuses, each on purpose.
FORMAT_ONLY_EXTRA = {
    "2026-11-16t08:00:00Z": "lower-case t: upper case required",
    "2026-11-16T08:00:00z": "lower-case z: upper case required",
    "2026-11-16t08:00:00z": "lower-case t and z",
    "0000-01-01T00:00:00Z": "year 0000: not representable",
    "2026-11-16T08:00:00,5Z": "comma fraction: not RFC 3339 (its check accepts ISO 8601's comma)",
    "2026-11-16T08:00:00+07:00\n": "trailing newline: its Python regex's $ matches before a final newline",
}


def event_with(value: object) -> dict:
    return {
        "event_type": "meeting.scheduled",
        "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10b",
        "occurred_at": "2022-03-14T10:00:00+07:00",
        "source_system": "hop",
        "province_code": "82",
        "ward_code": "28261",
        "meeting_id": "M1",
        "title": "Họp trực tuyến",
        "scheduled_start": value,
    }


def worker_accepts(value: object) -> bool:
    try:
        parse_event(json.dumps(event_with(value), ensure_ascii=False))
    except InvalidEvent as e:
        assert [f for f, _ in e.errors] == ["scheduled_start"], e.errors
        return False
    return True


def check_jsonschema(tmp_path: Path, schema: Path, instances: list[object]) -> list[bool]:
    """check-jsonschema (format assertion on, its default) on many instance files in one call."""
    exe = Path(sys.executable).parent / "check-jsonschema"
    exe = str(exe) if exe.exists() else shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is not installed: pip install -c constraints.txt -e '.[test]'"
    names = []
    for i, inst in enumerate(instances):
        p = tmp_path / f"i{i:03d}.json"
        p.write_text(json.dumps(inst, ensure_ascii=False), encoding="utf-8")
        names.append(p.name)
    r = subprocess.run(
        [exe, "--output-format", "json", "--schemafile", str(schema), *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(r.stdout)
    assert not out["parse_errors"], out["parse_errors"]
    assert r.returncode in (0, 1), r.stderr
    failed = {Path(e["filename"]).name for e in out["errors"]}
    return [n not in failed for n in names]


def _spellings() -> list[object]:
    return [v for v, _ in CORPUS]


def test_corpus_has_no_duplicates():
    assert len(set(map(repr, _spellings()))) == len(CORPUS)


def test_worker_accepts_exactly_the_rfc3339_spellings():
    wrong = [(v, ok) for v, ok in CORPUS if worker_accepts(v) != ok]
    assert not wrong, f"parse_event disagrees with the expected outcome (value, expected): {wrong}"


@pytest.mark.parametrize("schema_name", ["meeting.scheduled", "events"])
def test_check_jsonschema_with_format_assertion_agrees_with_worker(tmp_path, schema_name):
    values = _spellings()
    cj = check_jsonschema(tmp_path, SCHEMA_DIR / f"{schema_name}.schema.json", [event_with(v) for v in values])
    differ = [
        (v, f"check-jsonschema={c}", f"worker={worker_accepts(v)}")
        for v, c in zip(values, cj, strict=True)
        if c != worker_accepts(v)
    ]
    assert not differ, differ
    assert [v for v, c in zip(values, cj, strict=True) if c] == [v for v, ok in CORPUS if ok]


def test_format_assertion_alone_accepts_every_worker_spelling(tmp_path):
    """Validators that assert only ``format: date-time`` never reject what the worker counts."""
    schema = tmp_path / "format-only.schema.json"
    schema.write_text(
        json.dumps(
            {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string", "format": "date-time"}
        ),
        encoding="utf-8",
    )
    values = [v for v in _spellings() if isinstance(v, str)]
    fmt = check_jsonschema(tmp_path, schema, values)
    worker = [worker_accepts(v) for v in values]
    assert not [v for v, f, w in zip(values, fmt, worker, strict=True) if w and not f]
    assert {v for v, f, w in zip(values, fmt, worker, strict=True) if f and not w} == set(FORMAT_ONLY_EXTRA)


def test_pattern_alone_agrees_with_worker():
    """Validators that ignore ``format`` (annotation only in 2020-12) still apply the pattern."""
    v = Draft202012Validator(json.loads((SCHEMA_DIR / "meeting.scheduled.schema.json").read_text(encoding="utf-8")))
    differ = [x for x, _ in CORPUS if v.is_valid(event_with(x)) != worker_accepts(x)]
    assert not differ, differ


# --- every timestamp of every event type, in every exported file ----------------------------------
def _datetime_properties(node, path=""):
    if isinstance(node, dict):
        for k, sub in node.get("properties", {}).items():
            if sub.get("format") == "date-time" or any(a.get("format") == "date-time" for a in sub.get("anyOf", [])):
                yield path, k, sub
        for k, sub in node.items():
            if k != "properties":
                yield from _datetime_properties(sub, f"{path}/{k}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _datetime_properties(sub, f"{path}/{i}")


@pytest.mark.parametrize("name", sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json")))
def test_every_exported_timestamp_has_the_pattern_and_the_rules(name):
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    props = list(_datetime_properties(schema))
    assert props
    for _, field, sub in props:
        leaf = sub if "format" in sub else next(a for a in sub["anyOf"] if a.get("format") == "date-time")
        assert leaf["pattern"] == RFC3339_PATTERN, field
        assert DATETIME_RULES in leaf["description"] or DATETIME_RULES in sub.get("description", ""), field
    if name != "events.schema.json":
        et = name.removesuffix(".schema.json")
        assert {f for _, f, _ in props} == set(TIMESTAMP_FIELDS[et])


def test_rules_mention_the_decisions():
    for words in ("upper case", "leap second 60", "year 0000", "Z or +hh:mm", "truncated"):
        assert words in DATETIME_RULES


@pytest.fixture()
def _units(scenario_units_loaded):
    """District 815 (VALID's former Mỹ Tho city) is a registered unit."""


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_each_timestamp_field_rejects_a_space_separator_by_name(event_type, _units):
    base = json.loads(VALID[event_type])
    validator = Draft202012Validator(json.loads((SCHEMA_DIR / f"{event_type}.schema.json").read_text("utf-8")))
    for field in TIMESTAMP_FIELDS[event_type]:
        value = base.get(field) or "2022-03-17T09:00:00+07:00"
        bad = dict(base, **{field: value.replace("T", " ")})
        with pytest.raises(InvalidEvent) as e:
            parse_event(json.dumps(bad, ensure_ascii=False))
        assert e.value.errors[0][0] == field
        assert "is not an RFC 3339 date-time: date and time must be separated by 'T'" in e.value.errors[0][1]
        assert not validator.is_valid(bad)
        # the same instant spelt with a fraction is accepted
        ok = dict(base, **{field: value[:19] + ".000" + value[19:]})
        assert parse_event(json.dumps(ok, ensure_ascii=False)).event_type == event_type


@pytest.mark.parametrize(
    "value, reason",
    [
        ("2026-11-16 08:00:00+07:00", "date and time must be separated by 'T', not ' '"),
        ("2026-11-16T08:00+07:00", "seconds are required"),
        ("2026-11-16T08:00:00+0700", "the offset is ±hh:mm, with a colon"),
        ("2026-11-16T08:00:00", "no UTC offset: a timezone-aware timestamp ends with Z or ±hh:mm"),
        ("2026-11-16t08:00:00Z", "'T' must be upper case"),
        ("2026-11-16T08:00:00z", "'Z' must be upper case"),
        ("2026-02-29T08:00:00Z", "2026-02 has no day 29"),
        ("2026-13-16T08:00:00Z", "month 13 does not exist"),
        ("2026-11-16T24:00:00Z", "no such time of day 24:00"),
        ("2016-12-31T23:59:60Z", "leap second 60 is not accepted"),
        ("2026-11-16T08:00:00Zx", "unexpected 'x' after the offset"),
        ("2026-11-16T08:00:00,5Z", "a fraction of a second is '.' followed by digits"),
        ("1700000000", "expected YYYY-MM-DDThh:mm:ss[.fraction] then Z or ±hh:mm"),
    ],
)
def test_error_names_the_field_and_the_reason(value, reason):
    with pytest.raises(InvalidEvent) as e:
        parse_event(json.dumps(event_with(value)))
    ((field, msg),) = e.value.errors
    assert field == "scheduled_start"
    assert msg.startswith(f"{value!r} is not an RFC 3339 date-time: ") and reason in msg


def test_other_errors_are_still_reported_next_to_a_bad_timestamp():
    with pytest.raises(InvalidEvent) as e:
        parse_event(json.dumps(dict(event_with("2026-11-16 08:00:00Z"), title="", province_code="8")))
    assert {f for f, _ in e.value.errors} == {"scheduled_start", "title", "province_code"}


# --- generated near-RFC 3339 strings: worker == check-jsonschema's pattern + format checks --------
_two = st.integers(0, 99).map(lambda n: f"{n:02d}")
_spelling = st.builds(
    lambda y, mo, d, sep, h, mi, sec, frac, off, tail: f"{y}-{mo}-{d}{sep}{h}:{mi}{sec}{frac}{off}{tail}",
    st.sampled_from(["0000", "0001", "1900", "2000", "2024", "2026", "2100", "2400", "9999"])
    | st.integers(0, 9999).map(lambda n: f"{n:04d}"),
    st.sampled_from(["00", "01", "02", "04", "09", "11", "12", "13"]),
    st.sampled_from(["00", "01", "28", "29", "30", "31", "32"]),
    st.sampled_from(["T", "T", "T", "t", " ", "_"]),
    st.sampled_from(["00", "08", "23", "24"]),
    st.sampled_from(["00", "59", "60"]),
    st.sampled_from(["", ":00", ":59", ":60", ":61"]),
    st.sampled_from(["", ".", ","]).flatmap(
        lambda p: st.just("") if p == "" else st.text("0123456789", max_size=12).map(lambda ds: p + ds)
    ),
    st.sampled_from(["Z", "z", ""])
    | st.builds(
        lambda s, h, m, colon: f"{s}{h}{colon}{m}", st.sampled_from("+-"), _two, _two, st.sampled_from([":", ":", ""])
    ),
    st.sampled_from(["", "", "", "\n", " ", "x"]),
)
_ECMA = regress.Regex(RFC3339_PATTERN, flags="u")


@settings(max_examples=1500, deadline=None)
@given(_spelling)
def test_generated_spellings_worker_equals_pattern_and_format(value):
    on_schema = _ECMA.find(value) is not None and validate_rfc3339(value)
    assert worker_accepts(value) == on_schema, value
