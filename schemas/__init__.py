"""Event schemas (pydantic v2), one model per event type, exported as JSON Schema.

Use :func:`parse_event` to decode bytes from Kafka or a file: it raises
:class:`InvalidEvent` whose message names each failing field and the reason.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import (
    ALL_EVENTS,
    DOCUMENT_EVENTS,
    DOSSIER_EVENTS,
    EVENT_ADAPTER,
    EVENT_TYPES,
    FEEDBACK_EVENTS,
    MEETING_EVENTS,
    SCHEMA_VERSION,
    TIMESTAMP_FIELDS,
    TOPIC_OF_TYPE,
    ApologyIssued,
    CertificateKind,
    Channel,
    DocumentIssued,
    DocumentReceived,
    DossierReceived,
    DossierRefused,
    DossierResolved,
    DossierTransferred,
    DossierWithdrawn,
    Envelope,
    Event,
    FeedbackChannel,
    FeedbackHandled,
    FeedbackOutcome,
    FeedbackRated,
    FeedbackReceived,
    FeedbackSubject,
    FeedbackTransferred,
    MeetingEnded,
    MeetingScheduled,
    MeetingStarted,
    OnlineService,
    Outcome,
    Rating,
    SatisfactionRated,
    SupplementRequested,
    timestamp_problems,
)

__all__ = [
    "ALL_EVENTS",
    "DOCUMENT_EVENTS",
    "DOSSIER_EVENTS",
    "EVENT_ADAPTER",
    "EVENT_TYPES",
    "FEEDBACK_EVENTS",
    "MEETING_EVENTS",
    "SCHEMA_VERSION",
    "TIMESTAMP_FIELDS",
    "TOPIC_OF_TYPE",
    "ApologyIssued",
    "CertificateKind",
    "Channel",
    "DocumentIssued",
    "DocumentReceived",
    "DossierReceived",
    "DossierRefused",
    "DossierResolved",
    "DossierTransferred",
    "DossierWithdrawn",
    "Envelope",
    "Event",
    "FeedbackChannel",
    "FeedbackHandled",
    "FeedbackOutcome",
    "FeedbackRated",
    "FeedbackReceived",
    "FeedbackSubject",
    "FeedbackTransferred",
    "InvalidEvent",
    "MeetingEnded",
    "MeetingScheduled",
    "MeetingStarted",
    "OnlineService",
    "Outcome",
    "Rating",
    "SatisfactionRated",
    "SupplementRequested",
    "dump_event",
    "parse_event",
    "timestamp_problems",
]


class InvalidEvent(ValueError):
    """An event that fails its schema; ``errors`` lists (field, reason) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{f}: {r}" if f else r for f, r in errors))


def _explain(e: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in e.errors(include_url=False):
        loc = [str(x) for x in err["loc"]]
        # drop the discriminator tag pydantic puts first ("dossier.received.due_at")
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        msg = err["msg"].removeprefix("Value error, ")
        field = ".".join(loc)
        # model-level validators report "field: reason"; lift the field out
        if not field and ": " in msg and msg.split(": ", 1)[0].isidentifier():
            field, msg = msg.split(": ", 1)
        out.append((field, msg))
    return out


def parse_event(raw: bytes | str | dict[str, Any]) -> Event:
    """Decode and validate one event (JSON bytes/str or an already-decoded dict)."""
    if isinstance(raw, (bytes, bytearray, memoryview, str)):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise InvalidEvent([("", f"not valid JSON: {e}")]) from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise InvalidEvent([("", f"an event must be a JSON object, not {type(data).__name__}")])
    et = data.get("event_type")
    if et not in EVENT_TYPES:
        raise InvalidEvent([("event_type", f"unknown event type {et!r}; expected one of {sorted(EVENT_TYPES)}")])
    if not isinstance(raw, (bytes, bytearray, memoryview, str)):
        raw = orjson.dumps(data)
    # Timestamps: pydantic parses more spellings than RFC 3339 (a space for "T", no seconds,
    # +0700, ...); the exported schema's pattern and format: date-time accept exactly these.
    bad = timestamp_problems(et, data)
    try:
        # Strict JSON validation: exactly what the exported JSON Schema accepts ("yes" is not a
        # boolean, 1 is not a string), so producers validating against it and the worker agree.
        event = EVENT_TYPES[et].model_validate_json(raw, strict=True)
    except ValidationError as e:
        if not bad:
            raise InvalidEvent(_explain(e)) from None
        named = {f for f, _ in bad}
        raise InvalidEvent(bad + [(f, r) for f, r in _explain(e) if f not in named]) from None
    if bad:
        raise InvalidEvent(bad)
    return event


def dump_event(event: Envelope) -> bytes:
    """Canonical JSON bytes of an event (what producers put on Kafka)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))
