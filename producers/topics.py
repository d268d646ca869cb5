"""Kafka topics of govpulse, by short name under ``settings.topic_prefix``.

``settings.topic("dossier-events")`` -> ``govpulse.dossier-events``.  Producers key
every record by the receiving unit (``Envelope.unit_key``), so one unit's events stay
in one partition, in order; the partition count therefore bounds the worker's
parallelism and must not shrink once data is in (Kafka cannot shrink it anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.settings import Settings
from common.topics import ALERTS, DEAD_LETTER, DOCUMENT_EVENTS, DOSSIER_EVENTS, EVENT_TOPICS, MEETING_EVENTS, TOPICS
from producers.kafka_common import DEFAULT_CONNECT_TIMEOUT_S, admin_client

__all__ = ["EVENT_TOPICS", "TOPICS", "ensure_topics", "full_name", "list_topics", "partition_counts", "short_name"]

# Record timestamps are business times (CreateTime = occurred_at), and history can be
# years old; Kafka's time retention measures from the record timestamp, so any finite
# retention.ms would delete a replayed 2022 year as soon as it lands.  Event topics
# therefore keep records by size only (broker retention.bytes); alerts age out normally.
EVENT_TOPIC_CONFIGS = {"retention.ms": "-1", "message.timestamp.type": "CreateTime"}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    DOSSIER_EVENTS: EVENT_TOPIC_CONFIGS,
    DOCUMENT_EVENTS: EVENT_TOPIC_CONFIGS,
    MEETING_EVENTS: EVENT_TOPIC_CONFIGS,
    DEAD_LETTER: EVENT_TOPIC_CONFIGS,
    ALERTS: {"message.timestamp.type": "CreateTime"},
}


@dataclass(frozen=True)
class TopicStatus:
    short_name: str
    name: str
    partitions: int
    replication: int
    created: bool  # False: it already existed

    @property
    def note(self) -> str:
        return "created" if self.created else "already existed"


def full_name(settings: Settings, name: str) -> str:
    """A short name (``dossier-events``) under the prefix; a name already prefixed is kept."""
    if name in TOPICS:
        return settings.topic(name)
    if name.startswith(settings.topic_prefix + "."):
        return name
    raise ValueError(
        f"unknown topic {name!r}: expected one of {', '.join(TOPICS)} "
        f"(or a full name under prefix {settings.topic_prefix!r})"
    )


def short_name(topic: str) -> str | None:
    """The govpulse short name a full topic name ends with, whatever its prefix."""
    for name in TOPICS:
        if topic == name or topic.endswith("." + name):
            return name
    return None


def ensure_topics(
    settings: Settings,
    partitions: int | None = None,
    replication: int | None = None,
    names: tuple[str, ...] = TOPICS,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
) -> list[TopicStatus]:
    """Create the topics that are missing (idempotent); report each one's partition count.

    Existing topics are left as they are: a different partition count is reported, not
    changed, because re-partitioning moves keys between partitions.
    """
    from kafka.errors import TopicAlreadyExistsError

    partitions = partitions or settings.topic_partitions
    replication = replication or settings.topic_replication
    admin = admin_client(settings, connect_timeout_s)
    try:
        spec = {
            settings.topic(n): {
                "num_partitions": partitions,
                "replication_factor": replication,
                "configs": TOPIC_CONFIGS.get(n, {}),
            }
            for n in names
        }
        result = admin.create_topics(spec, raise_errors=False, wait_for_metadata=True)
        created = set()
        for t in result.get("topics", []):
            code = t.get("error_code", 0)
            if code == 0:
                created.add(t["name"])
            elif code != TopicAlreadyExistsError.errno:
                raise RuntimeError(f"creating topic {t['name']}: error {code} {t.get('error_message') or ''}".strip())
        described = {t["name"]: t for t in admin.describe_topics(list(spec))}
        out = []
        for n in names:
            full = settings.topic(n)
            parts = described.get(full, {}).get("partitions") or []
            repl = len(parts[0].get("replica_nodes", [])) if parts else 0
            out.append(TopicStatus(n, full, len(parts), repl, full in created))
        return out
    finally:
        admin.close()


def list_topics(
    settings: Settings, all_prefixes: bool = False, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
) -> list[tuple[str, int, int]]:
    """(name, partitions, replication) of govpulse topics under this prefix (or every prefix)."""
    admin = admin_client(settings, connect_timeout_s)
    try:
        names = [n for n in admin.list_topics() if not n.startswith("__")]
        if all_prefixes:
            names = [n for n in names if short_name(n)]
        else:
            names = [n for n in names if n.startswith(settings.topic_prefix + ".")]
        out = []
        for t in admin.describe_topics(sorted(names)) if names else []:
            parts = t.get("partitions") or []
            out.append((t["name"], len(parts), len(parts[0].get("replica_nodes", [])) if parts else 0))
        return sorted(out)
    finally:
        admin.close()


def partition_counts(
    settings: Settings, topics: list[str], connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
) -> dict[str, int]:
    """Full topic name -> partition count (0 when missing)."""
    admin = admin_client(settings, connect_timeout_s)
    try:
        return {
            t["name"]: len(t.get("partitions") or [])
            for t in admin.describe_topics(topics)
            if t.get("error_code", 0) == 0
        }
    finally:
        admin.close()
