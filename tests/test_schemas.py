"""Exported JSON Schemas (schemas/json) vs parse_event, on hand-written JSON events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from govpulse.commands.schemas import render_all
from schemas import EVENT_TYPES, InvalidEvent, parse_event

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "schemas" / "json"

# --- hand-written events: JSON text, not built through the models ------------------------------
VALID = {
    "dossier.received": """{"event_type": "dossier.received", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c101",
        "occurred_at": "2022-03-15T08:12:00+07:00", "source_system": "motcua-tiengiang", "province_code": "82",
        "district_code": "815", "ward_code": "28261", "dossier_id": "28261-220315-00001",
        "procedure_code": "1.001193", "procedure_name": "Thủ tục đăng ký khai sinh", "field": "Hộ tịch",
        "channel": "online", "online_service": "full",
        "received_at": "2022-03-15T08:12:00+07:00", "due_at": "2022-03-16T08:12:00+07:00"}""",
    "dossier.supplement_requested": """{"event_type": "dossier.supplement_requested",
        "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c102", "occurred_at": "2022-03-15T10:00:00+07:00",
        "source_system": "motcua", "province_code": "82", "ward_code": "28261", "dossier_id": "D1",
        "requested_at": "2022-03-15T10:00:00+07:00", "reason": "Bổ sung bản sao",
        "new_due_at": "2022-03-16T10:00:00+07:00"}""",
    "dossier.transferred": """{"event_type": "dossier.transferred", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c103",
        "occurred_at": "2022-03-15T10:00:00Z", "source_system": "motcua", "province_code": "82",
        "ward_code": "28261", "dossier_id": "D1", "transferred_at": "2022-03-15T10:00:00Z",
        "to_unit_code": "28249"}""",
    "dossier.resolved": """{"event_type": "dossier.resolved", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c104",
        "occurred_at": "2022-03-16T09:00:00+07:00", "source_system": "motcua", "province_code": "82",
        "district_code": "815", "dossier_id": "D1", "received_at": "2022-03-15T08:12:00+07:00",
        "due_at": "2022-03-16T08:12:00+07:00", "resolved_at": "2022-03-16T09:00:00+07:00", "outcome": "approved",
        "result_digitised": true, "fee_paid_online": null, "channel": "in_person"}""",
    "dossier.withdrawn": """{"event_type": "dossier.withdrawn", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c105",
        "occurred_at": "2022-03-16T09:00:00+07:00", "source_system": "motcua", "province_code": "82",
        "ward_code": "28261", "dossier_id": "D2", "withdrawn_at": "2022-03-16T09:00:00+07:00"}""",
    "dossier.refused": """{"event_type": "dossier.refused", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c106",
        "occurred_at": "2022-03-16T09:00:00+07:00", "source_system": "motcua", "province_code": "82",
        "ward_code": "28261", "dossier_id": "D3", "refused_at": "2022-03-16T09:00:00+07:00",
        "reason": "Hồ sơ không thuộc thẩm quyền giải quyết"}""",
    "dossier.apology_issued": """{"event_type": "dossier.apology_issued",
        "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c107", "occurred_at": "2022-03-17T09:00:00+07:00",
        "source_system": "motcua", "province_code": "82", "ward_code": "28261", "dossier_id": "D1",
        "issued_at": "2022-03-17T09:00:00+07:00", "new_due_at": "2022-03-18T17:00:00+07:00"}""",
    "dossier.rated": """{"event_type": "dossier.rated", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c108",
        "occurred_at": "2022-03-17T20:00:00+07:00", "source_system": "motcua", "province_code": "82",
        "ward_code": "28261", "rating_id": "R1", "dossier_id": "D1", "rated_at": "2022-03-17T20:00:00+07:00",
        "rating": "very_satisfied"}""",
    "feedback.received": """{"event_type": "feedback.received", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10e",
        "occurred_at": "2022-03-15T09:00:00+07:00", "source_system": "pakn-tiengiang", "province_code": "82",
        "district_code": "815", "feedback_id": "PAKN-815-0001", "channel": "national_portal",
        "subject": "procedure_handling", "field": "Đất đai", "related_dossier_id": "28261-220315-00001",
        "received_at": "2022-03-15T09:00:00+07:00", "due_at": "2022-04-05T09:00:00+07:00"}""",
    "feedback.transferred": """{"event_type": "feedback.transferred",
        "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10f", "occurred_at": "2022-03-16T09:00:00+07:00",
        "source_system": "pakn-tiengiang", "province_code": "82", "district_code": "815",
        "feedback_id": "PAKN-815-0001", "transferred_at": "2022-03-16T09:00:00+07:00", "to_unit_code": "28261"}""",
    "feedback.handled": """{"event_type": "feedback.handled", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c110",
        "occurred_at": "2022-03-30T15:00:00+07:00", "source_system": "pakn-tiengiang", "province_code": "82",
        "district_code": "815", "feedback_id": "PAKN-815-0001", "received_at": "2022-03-15T09:00:00+07:00",
        "due_at": "2022-04-05T09:00:00+07:00", "handled_at": "2022-03-30T15:00:00+07:00", "outcome": "answered"}""",
    "feedback.rated": """{"event_type": "feedback.rated", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c111",
        "occurred_at": "2022-03-31T20:00:00+07:00", "source_system": "pakn-tiengiang", "province_code": "82",
        "district_code": "815", "feedback_id": "PAKN-815-0001", "rated_at": "2022-03-31T20:00:00+07:00",
        "rating": "satisfied"}""",
    "document.issued": """{"event_type": "document.issued", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c109",
        "occurred_at": "2022-03-17T10:00:00+07:00", "source_system": "qlvb", "province_code": "82",
        "district_code": "815", "document_id": "VB-1", "issued_at": "2022-03-17T10:00:00+07:00",
        "digitally_signed": true, "certificate_kind": "organisation", "signer_is_leader": true}""",
    "document.received": """{"event_type": "document.received", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10a",
        "occurred_at": "2022-03-17T10:00:00+07:00", "source_system": "qlvb", "province_code": "82",
        "district_code": "815", "document_id": "VB-2", "received_at": "2022-03-17T10:00:00+07:00",
        "processed_online": true}""",
    "meeting.scheduled": """{"event_type": "meeting.scheduled", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10b",
        "occurred_at": "2022-03-14T10:00:00+07:00", "source_system": "hop", "province_code": "82",
        "district_code": "815", "meeting_id": "M1", "title": "Họp trực tuyến",
        "scheduled_start": "2022-03-17T08:00:00+07:00", "endpoints": ["815", "815.phuong-1"]}""",
    "meeting.started": """{"event_type": "meeting.started", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10c",
        "occurred_at": "2022-03-17T08:00:00+07:00", "source_system": "hop", "province_code": "82",
        "district_code": "815", "meeting_id": "M1", "started_at": "2022-03-17T08:00:00+07:00"}""",
    "meeting.ended": """{"event_type": "meeting.ended", "event_id": "5f0c6a43-4c69-4f7e-9d39-0b6fa3b4c10d",
        "occurred_at": "2022-03-17T10:00:00+07:00", "source_system": "hop", "province_code": "82",
        "district_code": "815", "meeting_id": "M1", "started_at": "2022-03-17T08:00:00+07:00",
        "ended_at": "2022-03-17T10:00:00+07:00", "endpoints_connected": 18, "connection_drops": 0,
        "late_start_minutes": 0, "uninterrupted": true}""",
}


@pytest.fixture(autouse=True)
def _units(scenario_units_loaded):
    """District 815 (former Mỹ Tho city) is a registered unit."""


def validator(name: str = "events") -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    # formats (uuid) are checked too; date-time offsets are enforced by the exported pattern
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_error_fields(v: Draft202012Validator, instance: dict) -> set[str]:
    """Every field a JSON Schema error points at (path, or the property a required/extra error names)."""
    out: set[str] = set()

    def walk(errors):
        for e in errors:
            if e.path:
                out.add(".".join(str(p) for p in e.path))
            if e.validator == "required":
                out.add(e.message.split("'")[1])
            if e.validator == "additionalProperties":
                out.update(p for p in instance if p in e.message)
            if e.validator == "const" and list(e.path) == ["event_type"]:
                continue
            walk(e.context or [])

    walk(v.iter_errors(instance))
    return out


def pydantic_fields(raw: str) -> set[str]:
    with pytest.raises(InvalidEvent) as e:
        parse_event(raw)
    return {f for f, _ in e.value.errors}


def mutate(base_type: str, **changes) -> str:
    d = json.loads(VALID[base_type])
    for k, v in changes.items():
        if v is DROP:
            d.pop(k)
        else:
            d[k] = v
    return json.dumps(d, ensure_ascii=False)


DROP = object()


# --- the exported files ---------------------------------------------------------------------------
def test_exported_schemas_are_fresh():
    files = render_all()
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == set(files), "run `govpulse schemas export schemas/json`"
    for name, text in files.items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, f"{name} is stale: run make schemas"


def test_one_file_per_event_type_plus_combined():
    assert {f"{t}.schema.json" for t in EVENT_TYPES} | {"events.schema.json"} == set(render_all())
    combined = json.loads((SCHEMA_DIR / "events.schema.json").read_text(encoding="utf-8"))
    assert len(combined["oneOf"]) == len(EVENT_TYPES)
    assert combined["discriminator"]["propertyName"] == "event_type"


# --- valid events pass both sides -----------------------------------------------------------------
def test_every_type_has_a_hand_written_example():
    assert set(VALID) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_valid_event_passes_json_schema_and_parse_event(event_type):
    raw = VALID[event_type]
    instance = json.loads(raw)
    assert not list(validator().iter_errors(instance))
    assert not list(validator(event_type).iter_errors(instance))
    ev = parse_event(raw)
    assert ev.event_type == event_type


# --- structural errors: both sides fail and name the field ---------------------------------------------
STRUCTURAL = [
    ("missing due_at", "dossier.received", {"due_at": DROP}, "due_at"),
    ("missing event_id", "dossier.rated", {"event_id": DROP}, "event_id"),
    ("bad channel", "dossier.received", {"channel": "fax"}, "channel"),
    ("bad rating", "dossier.rated", {"rating": "meh"}, "rating"),
    ("ward code pattern", "dossier.withdrawn", {"ward_code": "2826"}, "ward_code"),
    ("province code pattern", "dossier.withdrawn", {"province_code": "8"}, "province_code"),
    ("negative endpoints", "meeting.ended", {"endpoints_connected": -1}, "endpoints_connected"),
    ("negative drops", "meeting.ended", {"connection_drops": -2, "uninterrupted": False}, "connection_drops"),
    ("negative late start", "meeting.started", {"late_start_minutes": -5}, "late_start_minutes"),
    ("naive timestamp", "dossier.refused", {"occurred_at": "2022-03-16T09:00:00"}, "occurred_at"),
    ("naive due date", "dossier.received", {"due_at": "2022-03-16T08:12:00"}, "due_at"),
    ("unknown field", "document.received", {"priority": "high"}, "priority"),
    ("empty dossier id", "dossier.withdrawn", {"dossier_id": ""}, "dossier_id"),
    ("bad uuid", "dossier.withdrawn", {"event_id": "not-a-uuid"}, "event_id"),
    ("wrong type", "document.issued", {"digitally_signed": "maybe"}, "digitally_signed"),
    ("feedback without due date", "feedback.received", {"due_at": DROP}, "due_at"),
    ("feedback without id", "feedback.handled", {"feedback_id": DROP}, "feedback_id"),
    ("empty feedback id", "feedback.transferred", {"feedback_id": ""}, "feedback_id"),
    ("bad feedback channel", "feedback.received", {"channel": "fax"}, "channel"),
    ("bad feedback subject", "feedback.received", {"subject": "gossip"}, "subject"),
    ("bad feedback outcome", "feedback.handled", {"outcome": "ignored"}, "outcome"),
    ("bad feedback rating", "feedback.rated", {"rating": 5}, "rating"),
    ("naive handled_at", "feedback.handled", {"handled_at": "2022-03-30T15:00:00"}, "handled_at"),
    # no personal data and no free text: such fields are unknown, hence refused
    ("citizen name", "feedback.received", {"citizen_name": "Nguyễn Văn A"}, "citizen_name"),
    ("citizen phone", "feedback.received", {"phone": "0903123456"}, "phone"),
    ("complaint text", "feedback.received", {"content": "Hồ sơ của tôi bị trễ"}, "content"),
    ("answer text", "feedback.handled", {"answer": "Đã giải quyết"}, "answer"),
    ("rater id number", "feedback.rated", {"citizen_id": "082123456789"}, "citizen_id"),
]


@pytest.mark.parametrize("why, event_type, changes, field", STRUCTURAL, ids=[s[0] for s in STRUCTURAL])
def test_structural_errors_fail_on_both_sides(why, event_type, changes, field):
    raw = mutate(event_type, **changes)
    instance = json.loads(raw)
    assert field in schema_error_fields(validator(event_type), instance)
    assert list(validator().iter_errors(instance)), "combined schema must reject it too"
    assert field in pydantic_fields(raw)


def test_unknown_event_type():
    raw = mutate("dossier.rated", event_type="dossier.lost")
    assert list(validator().iter_errors(json.loads(raw)))
    assert pydantic_fields(raw) == {"event_type"}


# --- rules only parse_event enforces (JSON Schema cannot express them) ----------------------------------
SERVER_ONLY = [
    ("due_at before received_at", "dossier.received", {"due_at": "2022-03-14T08:12:00+07:00"}, "due_at"),
    (
        "resolved before received",
        "dossier.resolved",
        {"resolved_at": "2022-03-14T09:00:00+07:00", "occurred_at": "2022-03-14T09:00:00+07:00"},
        "resolved_at",
    ),
    ("ended before started", "meeting.ended", {"ended_at": "2022-03-17T07:00:00+07:00"}, "ended_at"),
    ("future timestamp", "dossier.withdrawn", {"occurred_at": "2999-01-01T00:00:00+07:00"}, "occurred_at"),
    ("unknown ward", "dossier.withdrawn", {"ward_code": "99999"}, "ward_code"),
    ("ward in wrong province", "dossier.withdrawn", {"province_code": "86"}, "ward_code"),
    ("unregistered district", "document.received", {"district_code": "999"}, "district_code"),
    ("district in wrong province", "document.received", {"province_code": "86"}, "district_code"),
    ("no unit at all", "document.received", {"district_code": DROP}, "ward_code"),
    ("online without service", "dossier.received", {"online_service": DROP}, "online_service"),
    ("signed without certificate", "document.issued", {"certificate_kind": DROP}, "certificate_kind"),
    ("smooth with drops", "meeting.ended", {"connection_drops": 2}, "uninterrupted"),
    ("feedback due before received", "feedback.received", {"due_at": "2022-03-14T09:00:00+07:00"}, "due_at"),
    ("feedback due years ahead", "feedback.received", {"due_at": "2024-03-15T09:00:00+07:00"}, "due_at"),
    (
        "feedback handled before received",
        "feedback.handled",
        {"handled_at": "2022-03-14T15:00:00+07:00", "occurred_at": "2022-03-14T15:00:00+07:00"},
        "handled_at",
    ),
    ("feedback in an unknown ward", "feedback.rated", {"district_code": DROP, "ward_code": "99999"}, "ward_code"),
    (
        "supplement due before request",
        "dossier.supplement_requested",
        {"new_due_at": "2022-03-15T09:00:00+07:00"},
        "new_due_at",
    ),
]


@pytest.mark.parametrize("why, event_type, changes, field", SERVER_ONLY, ids=[s[0] for s in SERVER_ONLY])
def test_cross_field_rules_fail_in_parse_event_with_the_field(why, event_type, changes, field):
    raw = mutate(event_type, **changes)
    assert field in pydantic_fields(raw)
    # JSON Schema has no cross-field, registry or clock rules: it accepts these, as documented
    # in events.schema.json's $comment
    assert not list(validator(event_type).iter_errors(json.loads(raw)))


def test_server_only_rules_are_documented():
    combined = json.loads((SCHEMA_DIR / "events.schema.json").read_text(encoding="utf-8"))
    for word in (
        "due_at after received_at",
        "resolved_at not before received_at",
        "ended_at after started_at",
        "handled_at not before received_at",
        "1 day in the future",
        "registered",
    ):
        assert word in combined["$comment"]


def test_invalid_json_text():
    assert pydantic_fields('{"event_type": "dossier.rated",') == {""}
