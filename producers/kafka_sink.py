"""Delivering events to Kafka without silent loss.

:class:`KafkaSink` wraps kafka-python's ``KafkaProducer`` with the settings this
project relies on:

* ``acks="all"`` and ``enable_idempotence=True``: the broker de-duplicates producer
  retries, so a retried batch never lands twice and per-partition order holds
  (kafka-python 3.0 enforces ``max_in_flight_requests_per_connection <= 5`` for it).
  The sink checks after start-up that idempotence really is on, since kafka-python
  silently turns it off for conflicting settings or old brokers.
* key = ``event.unit_key`` (UTF-8), so a unit's events share a partition and stay in
  order; value = :func:`schemas.dump_event`; record timestamp = ``occurred_at`` in ms;
  topic from :data:`schemas.TOPIC_OF_TYPE`.
* batching for throughput: ``linger_ms`` 50, 256 KiB batches, gzip (on the local broker
  gzip doubled throughput, because kafka-python's I/O path, not the CPU, limits it).

Failure bounds:

* a broker that is down at start raises :class:`BrokerUnavailable` within
  ``connect_timeout_s`` (default 30 s);
* a failure later (broker stops, topic deleted, authorisation) fails the record's
  future within ``delivery_timeout_s`` (default 60 s); every future is watched by a
  callback, the next :meth:`send` after a failure raises :class:`DeliveryError`, and
  :meth:`flush` raises it too, so the caller never believes undelivered records were
  delivered.  ``send`` itself blocks at most ``max_block_s`` when the buffer is full.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from common.settings import Settings
from producers.kafka_common import DEFAULT_CONNECT_TIMEOUT_S, BrokerUnavailable, base_config, unavailable
from schemas import TOPIC_OF_TYPE, Event, dump_event

__all__ = ["BrokerUnavailable", "DeliveryError", "KafkaSink", "SinkStats"]


class DeliveryError(RuntimeError):
    """One or more records were not acknowledged by Kafka."""

    def __init__(self, failed: int, first: BaseException, where: str) -> None:
        self.failed = failed
        self.first = first
        super().__init__(
            f"{failed} record(s) not delivered to Kafka ({where}); first error: {type(first).__name__}: {first}"
        )


@dataclass
class SinkStats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    bytes: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def in_flight(self) -> int:
        return self.sent - self.acked - self.failed

    def rate(self) -> float:
        return self.acked / max(time.monotonic() - self.started, 1e-9)


class KafkaSink:
    """Send events (or pre-encoded records) to Kafka; see the module docstring for guarantees."""

    def __init__(
        self,
        settings: Settings,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        delivery_timeout_s: float = 60.0,
        max_block_s: float = 60.0,
        linger_ms: int = 50,
        batch_size: int = 256 * 1024,
        compression: str | None = "gzip",
        client_id: str = "govpulse-producer",
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.settings = settings
        self.connect_timeout_s = connect_timeout_s
        self.stats = SinkStats()
        self._lock = threading.Lock()
        self._first_error: BaseException | None = None
        self._reported = 0  # failures already raised to the caller
        request_timeout_ms = 30_000
        config = dict(
            base_config(settings, connect_timeout_s),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,  # bounded by delivery_timeout_ms, not by a count
            max_in_flight_requests_per_connection=5,
            linger_ms=linger_ms,
            batch_size=batch_size,
            compression_type=compression,
            request_timeout_ms=request_timeout_ms,
            # the Java client's rule: delivery timeout >= linger + request timeout
            delivery_timeout_ms=max(int(delivery_timeout_s * 1000), linger_ms + request_timeout_ms),
            max_block_ms=int(max_block_s * 1000),
        )
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError as e:
            raise unavailable(settings, connect_timeout_s, e) from e
        if not self._producer.config.get("enable_idempotence"):
            self._producer.close(timeout=5)
            raise RuntimeError(
                "Kafka producer started without idempotence (broker too old or conflicting "
                "settings); refusing to run without duplicate-free retries"
            )
        self._topic_names = {short: settings.topic(short) for short in set(TOPIC_OF_TYPE.values())}

    # -- sending ---------------------------------------------------------------------
    def send(self, event: Event) -> None:
        """Queue one event (key = unit, timestamp = occurred_at)."""
        et = event.event_type
        self.send_raw(
            self._topic_names[TOPIC_OF_TYPE[et]],
            event.unit_key.encode("utf-8"),
            dump_event(event),
            int(event.occurred_at.timestamp() * 1000),
        )

    def send_raw(self, topic: str, key: bytes | None, value: bytes, timestamp_ms: int | None) -> None:
        """Queue one pre-encoded record to a full topic name (replay, re-sends)."""
        self._raise_if_failed("while sending")
        from kafka.errors import KafkaTimeoutError

        try:
            future = self._producer.send(topic, value=value, key=key, timestamp_ms=timestamp_ms)
        except KafkaTimeoutError as e:
            # buffer full or no metadata for max_block_ms: the broker is not taking records
            raise DeliveryError(self.stats.in_flight + 1, e, f"send to {topic} blocked") from e
        st = self.stats
        st.sent += 1
        st.bytes += len(value) + (len(key) if key else 0)
        st.per_topic[topic] = st.per_topic.get(topic, 0) + 1
        future.add_callback(self._on_ack)
        future.add_errback(self._on_error)

    def _on_ack(self, _metadata: object) -> None:
        with self._lock:
            self.stats.acked += 1

    def _on_error(self, exc: BaseException) -> None:
        with self._lock:
            self.stats.failed += 1
            if self._first_error is None:
                self._first_error = exc

    def _raise_if_failed(self, where: str) -> None:
        if self.stats.failed > self._reported:
            failed = self.stats.failed
            self._reported = failed
            raise DeliveryError(failed, self._first_error or RuntimeError("unknown"), where)

    # -- completion ------------------------------------------------------------------
    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued record is acknowledged; raise if any failed or timed out."""
        from kafka.errors import KafkaTimeoutError

        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaTimeoutError as e:
            raise DeliveryError(self.stats.in_flight, e, f"flush did not complete in {timeout_s} s") from e
        # callbacks run on the sender thread right after the futures resolve
        deadline = time.monotonic() + 5
        while self.stats.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        self._raise_if_failed("at flush")
        if self.stats.in_flight > 0:
            raise DeliveryError(self.stats.in_flight, RuntimeError("no acknowledgement"), "after flush")

    def idempotence_active(self) -> bool:
        """Whether the broker granted a producer id (idempotent delivery really in force)."""
        tm = getattr(self._producer, "_transaction_manager", None)
        if tm is None:
            return False
        pid = getattr(tm, "producer_id_and_epoch", None)
        return pid is not None and getattr(pid, "producer_id", -1) >= 0

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush and close; raises :class:`DeliveryError` if records were lost."""
        try:
            self.flush(timeout_s)
        finally:
            self._producer.close(timeout=timeout_s)

    def abort(self) -> None:
        """Close without waiting (after an error already reported)."""
        with contextlib.suppress(Exception):  # best effort on an error path
            self._producer.close(timeout=0)

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
