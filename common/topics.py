"""Kafka topic names, by short name under ``GOVPULSE_TOPIC_PREFIX`` (``Settings.topic(name)``
gives ``<prefix>.<name>``). Producers key every record by its unit, so a unit's events share one
partition number in every event topic; the worker keeps the unit's state in that partition."""

from __future__ import annotations

DOSSIER_EVENTS = "dossier-events"
DOCUMENT_EVENTS = "document-events"
MEETING_EVENTS = "meeting-events"
ALERTS = "alerts"
DEAD_LETTER = "dead-letter"

EVENT_TOPICS = (DOSSIER_EVENTS, DOCUMENT_EVENTS, MEETING_EVENTS)
TOPICS = (*EVENT_TOPICS, ALERTS, DEAD_LETTER)


def repartition_topic(app_id: str) -> str:
    """The worker group's own topic for records a foreign partitioner put outside their unit's
    partition (named per app id, as Faust names its internal topics)."""
    return f"{app_id}-repartition"
