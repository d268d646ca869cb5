"""The Faust worker: a thin shell that moves Kafka records through streams.core.WorkerCore.

- one agent consumes the dossier, document and meeting topics (co-partitioned by unit);
- fact records live in the Faust table ``facts`` (changelog topic ``<app_id>-facts-changelog``),
  written to the changelog partition of the source record, so a restarted or rebalanced worker
  recovers exactly its units; aggregates are rebuilt from the table after every recovery;
- timers fire alerts (1 s), flush snapshots to InfluxDB (GOVPULSE_EMIT_INTERVAL_SECONDS) and
  write pipeline health (10 s); ``/health`` on the web port answers liveness/readiness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

import faust
import orjson

from common.diagnostics import trace_file
from common.settings import Settings
from common.topics import ALERTS, DEAD_LETTER, EVENT_TOPICS, repartition_topic
from streams import fence
from streams.changelog import CHANGELOG_BATCH_BYTES, ChangelogWriter
from streams.core import DeadLetter, Forward, RecordStore, WorkerCore
from streams.domain.alerts import Alert
from streams.sink import InfluxSink, ensure_bucket

if TYPE_CHECKING:
    from faust.types import TP, ConsumerT, EventT, Message, RecordMetadata, StreamT
    from faust.web import Request, Response, View

    class GovpulseApp(faust.App):
        """What :func:`build_app` returns, for type checkers only: at run time a plain ``faust.App``,
        with the worker's hooks set on it and its transport making fenced consumers."""

        govpulse_core: Callable[[], WorkerCore]  # for tests and the health page
        govpulse_sink: InfluxSink
        govpulse_failure: Callable[[], str | None]  # why the worker stopped, read by ``govpulse worker``

        @property
        def consumer(self) -> fence.FencedConsumer: ...  # fence.install(app)

        @consumer.setter
        def consumer(self, consumer: ConsumerT) -> None: ...

    class _WorkerState(TypedDict):
        ready: bool
        stopping: bool
        rebuilt_at: float
        sought_back: dict[TP, tuple[int, float]]  # per partition: the offset last sought back to, and when
        failed: str | None  # why the worker cannot go on


log = logging.getLogger("govpulse.worker")

FAILED_LIVE_SECONDS = 3.0


def ensure_repartition_topic(settings: Settings, name: str, sources: list[str]) -> dict[str, int]:
    """Create the worker's repartition topic if missing, with the source topics' partition count
    (co-partitioned), and return the partition count of every source topic and of it."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **settings.kafka_client_kwargs())
    try:
        counts = {
            t["name"]: len(t.get("partitions") or [])
            for t in admin.describe_topics(sources)
            if t.get("error_code", 0) == 0 and t.get("partitions")
        }
        partitions = max(counts.values(), default=settings.topic_partitions)
        if len(set(counts.values())) > 1:
            log.warning(
                "source topics are not co-partitioned (%s): a unit's events must share one partition "
                "number in every topic",
                counts,
            )
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(
                [NewTopic(name, partitions, settings.topic_replication, topic_configs={"retention.ms": "-1"})]
            )
        for t in admin.describe_topics([name]):
            counts[name] = len(t.get("partitions") or [])
        return counts
    finally:
        admin.close()


def build_app(
    settings: Settings,
    *,
    app_id: str | None = None,
    bucket: str | None = None,
    replay: bool = False,
    web_port: int = 6066,
    until_idle: float | None = None,
    batch_size: int = 2000,
) -> GovpulseApp:
    app_id = app_id or (f"{settings.app_id}-replay" if replay else settings.app_id)
    bucket = bucket or settings.influx_bucket
    datadir = settings.home / "worker" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    creds = None
    if settings.kafka_sasl_mechanism:
        creds = faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None,
            mechanism=settings.kafka_sasl_mechanism,
        )
    app = cast(
        "GovpulseApp",
        faust.App(
            app_id,
            broker=[f"kafka://{h}" for h in settings.kafka_bootstrap_servers.split(",")],
            broker_credentials=creds,
            store=settings.table_store,
            datadir=str(datadir),
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            table_standby_replicas=0,
            web_port=web_port or 6066,
            web_enabled=web_port != 0,  # 0: no /health server (demo, benchmarks, several workers on one host)
            web_bind=settings.web_bind,
            web_in_thread=False,
            broker_commit_every=batch_size,
            # changelog records go out in Kafka record batches of this size (streams.changelog)
            producer_max_batch_size=CHANGELOG_BATCH_BYTES,
            stream_buffer_maxsize=max(4096, batch_size * 2),
            topic_allow_declare=True,
            broker_session_timeout=settings.kafka_session_timeout,
            broker_heartbeat_interval=settings.kafka_heartbeat_interval,
            # records are compact JSON bytes encoded by us (orjson); Faust moves them untouched
            key_serializer="raw",
            value_serializer="raw",
        ),
    )
    fence.install(app)  # source records in offset order, none skipped (see streams.fence)
    # Records a foreign partitioner put outside their unit's partition are forwarded here, into the
    # unit's partition, and processed from here (per app id, as Faust's own repartition topics, so a
    # replay's group never feeds the live one).
    repartition = repartition_topic(app_id)
    names = [settings.topic(t) for t in EVENT_TOPICS] + [repartition]
    partition_counts = ensure_repartition_topic(settings, repartition, names[:-1])
    sources = app.topic(*names, key_serializer="raw", value_serializer="raw")
    alerts_topic = app.topic(settings.topic(ALERTS), key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(settings.topic(DEAD_LETTER), key_serializer="raw", value_serializer="raw")
    forward_to = app.topic(repartition, key_serializer="raw", value_serializer="raw")
    facts = app.Table("facts", key_type=bytes, value_type=bytes, partitions=settings.topic_partitions)

    # stable across restarts (a new name per restart would be a new series each time)
    worker = settings.worker_name or f"{socket.gethostname()}:{web_port if web_port != 0 else os.getpid()}"
    core_holder: dict[str, WorkerCore] = {}
    sink = InfluxSink(settings, bucket)
    state: _WorkerState = {"ready": False, "stopping": False, "rebuilt_at": 0.0, "sought_back": {}, "failed": None}
    flush_lock = asyncio.Lock()

    def core() -> WorkerCore:
        c = core_holder.get("core")
        if c is None:
            store = RecordStore(facts.data)
            c = core_holder["core"] = WorkerCore(settings, store, replay=replay, app_id=app_id, worker=worker)
            c.partition_counts = dict(partition_counts)
        return c

    app.govpulse_core = core  # for tests and the health page
    app.govpulse_sink = sink

    ensure_bucket(settings, bucket)

    async def send_alerts(alerts: list[Alert]) -> None:
        for a in alerts:
            await alerts_topic.send(key=a["unit_code"].encode(), value=orjson.dumps(a))

    changelog = ChangelogWriter(app, facts)

    async def persist_changelog(c: WorkerCore) -> None:
        """Send changed fact records to the table's changelog and wait for the broker's acks."""
        await changelog.write(c.store.take_unsent())

    trace = trace_file(settings.offset_trace)  # diagnostics: which offsets the agent handled, when

    def trace_batch(events: Sequence[EventT[bytes]]) -> None:
        runs: dict[tuple[str, int], list[list[int]]] = {}
        for e in events:
            m = e.message
            r = runs.get((m.topic, m.partition))
            if r and r[-1][1] == m.offset - 1:
                r[-1][1] = m.offset
            else:
                runs.setdefault((m.topic, m.partition), []).append([m.offset, m.offset])
        lines = "".join(f"{time.time():.3f} batch {t} {p} {a}-{b}\n" for (t, p), rs in runs.items() for a, b in rs)
        trace.write(lines)  # type: ignore[union-attr]  # called only when tracing

    async def admitted(c: WorkerCore, msg: Message) -> bool:
        verdict = c.admit(msg.topic, msg.partition, msg.offset)
        if verdict == "process":
            return True
        if verdict == "missing":
            consumer, tp = app.consumer, msg.tp
            expected: int = c.next_offset[(msg.topic, msg.partition)]  # type: ignore[assignment]  # "missing": known
            if consumer.fence.is_hole(tp, expected, msg.offset):
                c.accept_hole(msg.topic, msg.partition, msg.offset)
                return c.admit(msg.topic, msg.partition, msg.offset) == "process"
            last = state["sought_back"].get(tp)
            if last is None or last[0] != expected or time.time() - last[1] > 10:
                # once per gap (again after 10 s without it); the records queued behind it are skipped
                state["sought_back"][tp] = (expected, time.time())
                try:
                    await consumer.seek_back(tp, expected)
                except Exception as exc:  # noqa: BLE001 - e.g. revoked meanwhile: nothing is committed past it anyway
                    log.warning(
                        "could not seek %s[%d] back to %d: %r (retried in 10 s or after the next rebalance)",
                        tp.topic,
                        tp.partition,
                        expected,
                        exc,
                    )
        return False

    def fail(exc: BaseException) -> None:
        """An error the worker cannot go on from: /live fails (so an orchestrator restarts it) and the
        process ends with a non-zero code (``govpulse worker`` reads ``app.govpulse_failure``).
        Nothing of the failed batch was committed, so the restarted worker reads it again."""
        if state["failed"] is None:
            state["failed"] = f"{type(exc).__name__}: {exc}"
            state["ready"] = False
            log.critical("the worker cannot go on and stops: %s", state["failed"], exc_info=exc)
            # a few seconds of failing /live first, so that a probe sees why before the process ends
            asyncio.get_running_loop().call_later(FAILED_LIVE_SECONDS, os.kill, os.getpid(), signal.SIGTERM)

    app.govpulse_failure = lambda: state["failed"]

    def handle(c: WorkerCore, msg: Message) -> DeadLetter | Forward | None:
        # epoch ms; a falsy timestamp (none from Kafka) stays 0.0, which the core reads as none
        ts: int | None = msg.timestamp and int(msg.timestamp * 1000)  # type: ignore[assignment]
        try:
            return c.handle(msg.topic, msg.partition, msg.offset, msg.key, msg.value, ts)
        except Exception as exc:
            log.exception("processing %s[%d]@%d failed: dead-lettered", msg.topic, msg.partition, msg.offset)
            return c.processing_error(exc, msg.topic, msg.partition, msg.offset, msg.key, msg.value, ts)

    @app.agent(sources)
    async def process(stream: StreamT[bytes]) -> None:
        try:
            # StreamT does not declare take_events; the stream Faust passes (a faust.Stream) has it
            async for events in stream.take_events(batch_size, within=0.2):  # type: ignore[attr-defined]
                await process_batch(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            fail(exc)
            raise

    async def process_batch(events: Sequence[EventT[bytes]]) -> None:
        c = core()
        if trace:
            trace_batch(events)
        deliveries: list[Awaitable[RecordMetadata]] = []
        for event in events:
            msg = event.message
            if not await admitted(c, msg):
                continue
            out = handle(c, msg)
            if isinstance(out, Forward):
                deliveries.append(
                    await forward_to.send(
                        key=out.key, value=out.value, partition=out.partition, timestamp=msg.timestamp
                    )
                )
            elif out is not None:
                deliveries.append(await dead_letters.send(key=c.dead_letter_key(msg.key), value=orjson.dumps(out)))
        await send_alerts(c.advance())
        # the batch is acknowledged when this body returns: its state must be in Kafka by then, and
        # so must the records it sent on (dead letters, forwarded records)
        await persist_changelog(c)
        if deliveries:
            await asyncio.gather(*deliveries)
        c.mark_durable()  # ...and only now may its offsets be committed
        while sink.backpressure:  # InfluxDB down and the buffer full: pause here, lose nothing
            log.warning("InfluxDB buffer full (%d points), waiting for writes to succeed", sink.pending)
            await flush_once()
            await asyncio.sleep(1.0)

    # Faust sends this signal (app, revoked): its receiver type only allows (sender, *args, **kwargs)
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(app_: faust.App, revoked: set[TP], **kwargs: Any) -> None:
        # From the start of a rebalance until the tables are recovered and the aggregates rebuilt,
        # the aggregates describe partitions this worker may no longer own. Timers must not act
        # on them: an alert fired now would put a stale copy of a record that another worker owns
        # into the changelog (where, being newer, it would win at the next recovery), and a flush
        # could overwrite that worker's newer points. /health says 503 meanwhile, and
        # --until-idle never stops a recovering worker.
        state["ready"] = False
        if trace:
            trace.write(f"{time.time():.3f} revoked {sorted((tp.topic, tp.partition) for tp in revoked)}\n")
        # A flush in progress was snapshotted before the rebalance: let it finish before this
        # worker rejoins the group, so it cannot land over the next owner's newer points. What is
        # still pending is dropped: the rebuild after recovery rewrites every point of the
        # partitions kept, and the next owner rewrites the others.
        async with flush_lock:
            dropped = sink.discard_pending()
        if dropped:
            log.info("rebalance: dropped %d unwritten points (rewritten after the rebuild)", dropped)

    def ready() -> bool:
        return state["ready"] and not app.rebalancing

    @facts.on_recover
    async def _rebuild() -> None:
        actives = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic in names}
        c = core()
        # The consumer tells the core where each partition resumes (the committed offsets, right
        # after this), and asks it how far each may be committed (see WorkerCore.admit).
        app.consumer.on_positions = lambda positions: c.set_positions(
            {(tp.topic, tp.partition): off for tp, off in positions.items()}
        )
        app.consumer.commit_limit = lambda tp: c.durable_next.get((tp.topic, tp.partition))
        state["sought_back"].clear()
        t0 = time.monotonic()
        n = c.rebuild(actives)
        if trace:
            trace.write(f"{time.time():.3f} rebuild {sorted(actives)}\n")
        state["ready"] = True
        state["rebuilt_at"] = time.time()
        log.info(
            "rebuilt aggregates from %d records for partitions %s in %.1fs", n, sorted(actives), time.monotonic() - t0
        )

    @app.timer(interval=1.0)  # type: ignore[untyped-decorator]  # faust's App.timer is @no_type_check
    async def _alert_tick() -> None:
        if ready():
            await send_alerts(core().advance())
            await persist_changelog(core())

    latency_log = trace_file(settings.latency_log)

    async def flush_once() -> bool:
        async with flush_lock:
            c = core()
            stamps, c.unflushed_timestamps = c.unflushed_timestamps, []
            sink.add(c.snapshot())
            t0, n = time.monotonic(), sink.pending
            ok = await asyncio.to_thread(sink.flush)
            took = time.monotonic() - t0
            if took > 5:
                log.info("wrote %d points to InfluxDB in %.1fs", n, took)
            if ok and latency_log and stamps:
                # benchmark instrumentation: event's Kafka timestamp -> its snapshot is in InfluxDB
                done = int(time.time() * 1000)
                latency_log.write("\n".join(str(done - t) for t in stamps) + "\n")
            elif not ok:
                c.unflushed_timestamps = stamps + c.unflushed_timestamps
            return ok

    @app.timer(interval=settings.emit_interval_seconds)  # type: ignore[untyped-decorator]  # as above
    async def _flush_tick() -> None:
        if ready():
            await flush_once()

    async def lags() -> dict[str, int | None]:
        c = core()
        out: dict[str, int | None] = {}
        for tp in app.assignor.assigned_actives():
            if tp.topic not in names:
                continue
            hw = app.consumer.highwater(tp)
            if hw is None or hw < 0:
                out[tp.topic] = out.get(tp.topic)
                continue
            pos = c.next_offset.get((tp.topic, tp.partition))
            if pos is None and hw == 0:
                pos = 0  # a partition that never held a record: nothing to read, whatever its position
            if pos is None:
                try:
                    # aiokafka's position() waits, unbounded, until the fetcher has set the position:
                    # the health tick (and --until-idle) must not hang on it
                    pos = await asyncio.wait_for(app.consumer.position(tp), timeout=2.0)
                except TimeoutError:
                    log.info("position of %s[%d] not known yet", tp.topic, tp.partition)
                    pos = None
            if pos is None:
                out[tp.topic] = None
                continue
            prev = out.get(tp.topic, 0)
            out[tp.topic] = None if prev is None else prev + max(0, hw - pos)
        return out

    @app.timer(interval=2.0 if until_idle else 10.0)  # type: ignore[untyped-decorator]  # as above
    async def _health_tick() -> None:
        if not ready():
            return
        lag = await lags()
        sink.add(core().health_rows(lag, points_rejected=sink.rejected_points))
        if until_idle is not None and not state["stopping"]:
            idle_for = time.time() - max(core().last_any_event_wall, state["rebuilt_at"])
            caught_up = lag and all(v == 0 for v in lag.values())
            if caught_up and idle_for >= until_idle and ready():  # noqa: SIM102 - the flush is an action, not a test
                if await flush_once() and sink.pending == 0:
                    state["stopping"] = True
                    log.info(
                        "caught up and idle for %.0fs: stopping (--until-idle) after %d events; offset fence: "
                        "%s, stale after a seek: %d",
                        idle_for,
                        sum(st.events_total for st in core().stats.values()),
                        app.consumer.fence.stats,
                        app.consumer.epochs.dropped,
                    )
                    os.kill(os.getpid(), signal.SIGTERM)

    @app.page("/live")
    async def live(web: View, request: Request) -> Response:
        """Liveness: the process and its event loop answer and no fatal error happened (recovery can
        take long; not a reason to kill)."""
        if state["failed"]:
            return web.json({"alive": False, "app_id": app_id, "error": state["failed"]}, status=500)
        return web.json({"alive": True, "app_id": app_id})

    @app.page("/health")
    async def health(web: View, request: Request) -> Response:
        c = core()
        body = {
            "ready": ready(),
            "app_id": app_id,
            "bucket": bucket,
            "error": state["failed"],
            "pending_points": sink.pending,
            "influx_last_error": sink.last_error,
            "events": {t: s.events_total for t, s in c.stats.items()},
        }
        return web.json(body, status=200 if ready() else 503)

    return app
