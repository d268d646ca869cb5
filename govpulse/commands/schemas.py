"""`govpulse schemas export DIR`: JSON Schema files of the event models.

Generated with pydantic's ``model_json_schema()`` (JSON Schema 2020-12), with one
addition: timezone-aware timestamps (``format: date-time``) get the ``pattern``
:data:`schemas.events.RFC3339_PATTERN` and a description of it, so validators that
assert ``format``, validators that only check ``pattern`` and ``parse_event`` accept
exactly the same spellings (RFC 3339 date-times with an offset).  Rules
that JSON Schema cannot express (cross-field order, the unit registry, the clock) are
listed under ``$comment`` in ``events.schema.json``; only ``parse_event`` enforces them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from rich.console import Console

if TYPE_CHECKING:
    from pydantic_core import core_schema

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SERVER_ONLY_RULES = [
    "unit rule: one of ward_code, district_code, unit_code is required",
    "ward_code must be an official code (vietnam-provinces) of the event's province_code",
    "district_code / unit_code must be registered (GOVPULSE_EXTRA_UNITS_FILE) in the event's province_code",
    "timestamps (except due dates) may be at most 1 day in the future",
    "dossier.received: due_at after received_at, at most 366 days later; online_service iff channel is online",
    "dossier.supplement_requested: new_due_at after requested_at",
    "dossier.resolved: resolved_at not before received_at; due_at after received_at",
    "feedback.received: due_at after received_at, at most 366 days later",
    "feedback.handled: handled_at not before received_at; due_at after received_at",
    "document.issued: certificate_kind iff digitally_signed",
    "meeting.ended: ended_at after started_at; uninterrupted implies connection_drops = 0",
]


class _AwareDatetimeSchema(GenerateJsonSchema):
    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        out = super().datetime_schema(schema)
        if schema.get("tz_constraint") == "aware":
            from schemas.events import RFC3339_PATTERN  # RFC 3339 with an offset, as parse_event checks it

            out["pattern"] = RFC3339_PATTERN
        return out


def render_all() -> dict[str, str]:
    """File name -> JSON text, for every event type plus ``events.schema.json``."""
    from schemas.events import ALL_EVENTS, EVENT_ADAPTER, SCHEMA_VERSION

    out: dict[str, str] = {}
    for model in ALL_EVENTS:
        et = model.model_fields["event_type"].default
        sch = {
            "$schema": SCHEMA_DIALECT,
            "$id": f"https://govpulse.local/schemas/v{SCHEMA_VERSION}/{et}.schema.json",
            **_require_event_type(model.model_json_schema(schema_generator=_AwareDatetimeSchema)),
        }
        _describe_timestamps(sch)
        out[f"{et}.schema.json"] = _dump(sch)
    combined = EVENT_ADAPTER.json_schema(schema_generator=_AwareDatetimeSchema)
    for d in combined.get("$defs", {}).values():
        _require_event_type(d)
    _describe_timestamps(combined)
    combined = {
        "$schema": SCHEMA_DIALECT,
        "$id": f"https://govpulse.local/schemas/v{SCHEMA_VERSION}/events.schema.json",
        "title": "govpulse event",
        "$comment": "Also enforced by parse_event only: " + "; ".join(SERVER_ONLY_RULES),
        **combined,
    }
    out["events.schema.json"] = _dump(combined)
    return out


def _require_event_type(d: dict[str, Any]) -> dict[str, Any]:
    # event_type has a default in the models (one per class) but is mandatory on the
    # wire: parse_event needs it to pick the model.
    if "event_type" in d.get("properties", {}):
        req = d.setdefault("required", [])
        if "event_type" not in req:
            req.insert(0, "event_type")
    return d


def _describe_timestamps(node: object) -> None:
    # a field's own description replaces its type's, so the rule is appended to every
    # date-time schema after generation
    from schemas.events import DATETIME_RULES, RFC3339_PATTERN

    if isinstance(node, dict):
        if node.get("format") == "date-time" and node.get("pattern") == RFC3339_PATTERN:
            desc = node.get("description")
            node["description"] = f"{desc}. {DATETIME_RULES}" if desc else DATETIME_RULES
        for v in node.values():
            _describe_timestamps(v)
    elif isinstance(node, list):
        for v in node:
            _describe_timestamps(v)


def _dump(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


console = Console()
schemas_app = typer.Typer(help="Event schemas (JSON Schema export of the pydantic models).", no_args_is_help=True)


@schemas_app.command("export")
def export(
    directory: Path = typer.Argument(..., help="output directory, e.g. schemas/json"),
    check: bool = typer.Option(False, "--check", help="write nothing; exit 1 if DIR is not up to date"),
) -> None:
    """Write one <event_type>.schema.json per event type and a combined events.schema.json."""
    files = render_all()
    if check:
        stale = [
            n
            for n, text in files.items()
            if not (directory / n).exists() or (directory / n).read_text(encoding="utf-8") != text
        ]
        extra = (
            sorted(p.name for p in directory.glob("*.schema.json") if p.name not in files) if directory.exists() else []
        )
        if stale or extra:
            console.print(f"[red]out of date[/]: {', '.join(stale + extra)}; run `govpulse schemas export {directory}`")
            raise typer.Exit(1)
        console.print(f"[green]{directory} is up to date[/] ({len(files)} files)")
        return
    directory.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (directory / n).write_text(text, encoding="utf-8")
    console.print(f"wrote {len(files)} schema files to {directory}")


def register(app: typer.Typer) -> None:
    app.add_typer(schemas_app, name="schemas")
