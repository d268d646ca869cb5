"""The Faust worker: a thin shell that moves Kafka records through streams.core.WorkerCore.

:func:`build_app` makes the Faust app (topics, the ``facts`` table, the fenced consumer) and wires
its agent, timers, signals and pages to the named methods of a :class:`Worker`. Everything about
Kafka offsets (the fence, admission in order, the commit limit, the order of changelog and
commits) is in :mod:`streams.kafka`; ``WorkerCore`` knows nothing of Kafka.

- one agent consumes the dossier, document and meeting topics (co-partitioned by unit);
- fact records live in the Faust table ``facts`` (changelog topic ``<app_id>-facts-changelog``),
  written to the changelog partition of the source record, so a restarted or rebalanced worker
  recovers exactly its units; aggregates are rebuilt from the table after every recovery;
- timers fire alerts (GOVPULSE_ALERT_INTERVAL_SECONDS, 0.25 s), flush snapshots to InfluxDB (GOVPULSE_EMIT_INTERVAL_SECONDS) and
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
from typing import TYPE_CHECKING, Any, cast

import faust
import orjson

from common.diagnostics import trace_file
from common.settings import Settings
from common.topics import ALERTS, DEAD_LETTER, EVENT_TOPICS, repartition_topic
from streams import task_stacks
from streams.core import DeadLetter, Forward, RecordStore, WorkerCore
from streams.domain.alerts import Alert
from streams.kafka import fence
from streams.kafka.changelog import CHANGELOG_BATCH_BYTES, ChangelogWriter
from streams.kafka.checkpoint import Admission, Checkpoint
from streams.kafka.partitioner import UnitPartitioner
from streams.sink import InfluxSink, ensure_bucket

if TYPE_CHECKING:
    from faust.types import TP, ConsumerT, Message, RecordMetadata, StreamT, TableT, TopicT
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


log = logging.getLogger("govpulse.worker")

FAILED_LIVE_SECONDS = 3.0
# a worker not ready this long says, once per period, what its consumer's partitions wait for
UNREADY_REPORT_SECONDS = 60.0


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


class Worker:
    """The worker's shell: Faust calls these methods (see :func:`build_app`); they move records
    through ``WorkerCore`` and end every batch at the checkpoint."""

    def __init__(
        self,
        app: GovpulseApp,
        settings: Settings,
        *,
        app_id: str,
        replay: bool,
        until_idle: float | None,
        worker_name: str,
        source_topics: list[str],
        partition_counts: dict[str, int],
        facts: TableT[bytes, bytes],
        alerts_topic: TopicT,
        dead_letters: TopicT,
        forward_to: TopicT,
        sink: InfluxSink,
    ) -> None:
        self.app, self.settings, self.app_id, self.replay = app, settings, app_id, replay
        self.until_idle = until_idle
        self.worker_name = worker_name
        self.source_topics = source_topics
        self.partitioner = UnitPartitioner(partition_counts)
        self.facts = facts
        self.alerts_topic, self.dead_letters, self.forward_to = alerts_topic, dead_letters, forward_to
        self.sink = sink
        self.checkpoint = Checkpoint()
        self.changelog = ChangelogWriter(app, facts)
        self._core: WorkerCore | None = None
        self.ready_flag = False  # recovered and rebuilt (see on_revoked)
        self.stopping = False
        self.rebuilt_at = 0.0
        # since when the worker is not ready (a rebalance, table recovery), and when that was last
        # reported: a recovery that makes no progress says what each partition is waiting for
        self.unready_since: float | None = None
        self.unready_reported = 0.0
        self.dropped_logged: set[TP] = set()  # partitions whose first unprocessed record was logged
        self.sought_back: dict[TP, tuple[int, float]] = {}  # per partition: the offset last sought back to, and when
        self.failed: str | None = None  # why the worker cannot go on
        self.flush_lock = asyncio.Lock()
        self.batch_lock = asyncio.Lock()  # held while a batch is processed (see on_revoked)
        self.trace = trace_file(settings.offset_trace)  # diagnostics: which offsets each batch handled, when
        self.latency_log = trace_file(settings.latency_log)

    @property
    def core(self) -> WorkerCore:
        # made on first use: the table's store exists once the app has started
        if self._core is None:
            self._core = WorkerCore(
                self.settings,
                RecordStore(self.facts.data),
                replay=self.replay,
                app_id=self.app_id,
                worker=self.worker_name,
            )
            self._core.home_partition = self.partitioner
        return self._core

    def ready(self) -> bool:
        return self.ready_flag and not self.app.rebalancing

    # -- batches ----------------------------------------------------------------------------
    async def on_batch(self, messages: Sequence[Message]) -> None:
        """Process a fetch's source records (the fenced consumer hands them over, see
        :func:`streams.kafka.fence.install`). An error the worker cannot go on from stops it
        (:meth:`fail`); records after it are not processed, and nothing past them is committed."""
        if self.failed:
            return
        async with self.batch_lock:
            try:
                await self._process(messages)
            except Exception as exc:  # noqa: BLE001 - said in fail(), and the process ends
                self.fail(exc)

    async def _process(self, messages: Sequence[Message]) -> None:
        c = self.core
        if self.trace:
            self._trace_batch(messages)
        deliveries: list[Awaitable[RecordMetadata]] = []
        processed = 0
        for msg in messages:
            if not await self._admitted(msg):
                continue
            processed += 1
            out = self._handle(c, msg)
            if isinstance(out, Forward):
                deliveries.append(
                    await self.forward_to.send(
                        key=out.key, value=out.value, partition=out.partition, timestamp=msg.timestamp
                    )
                )
            elif out is not None:
                deliveries.append(await self.dead_letters.send(key=c.dead_letter_key(msg.key), value=orjson.dumps(out)))
        if not processed:
            # Nothing changed. And from a rebalance to the seek after it every record is dropped
            # (unpositioned) while the aggregates may still hold partitions another worker owns
            # now: alerts fired from them would write stale records into that worker's changelog.
            # The alert timer fires them once this worker is ready again.
            return
        await self._send_alerts(c.advance())
        # the batch's state and what it sent on (dead letters, forwarded records) in Kafka, and only
        # then its offsets committable
        await self.checkpoint.complete(self.changelog, c.store, deliveries)
        while self.sink.backpressure:  # InfluxDB down and the buffer full: pause here, lose nothing
            log.warning("InfluxDB buffer full (%d points), waiting for writes to succeed", self.sink.pending)
            await self.flush()
            await asyncio.sleep(1.0)

    async def _admitted(self, msg: Message) -> bool:
        cp = self.checkpoint
        verdict = cp.admit(msg.tp, msg.offset)
        if verdict is Admission.PROCESS:
            return True
        if verdict is not Admission.MISSING and msg.tp not in self.dropped_logged:
            # a record dropped unprocessed (read again later, or processed already): said once per
            # partition, so that a worker that stalls this way shows why (issue 13's note)
            self.dropped_logged.add(msg.tp)
            log.info(
                "%s[%d]@%d not processed: %s (next to process: %s)",
                msg.topic,
                msg.partition,
                msg.offset,
                verdict.value,
                cp.processed_next(msg.tp),
            )
        if verdict is Admission.MISSING:
            consumer, tp = self.app.consumer, msg.tp
            expected: int = cp.processed_next(tp)  # type: ignore[assignment]  # MISSING: known
            if consumer.fence.is_hole(tp, expected, msg.offset):
                cp.accept_hole(tp, msg.offset)
                return cp.admit(tp, msg.offset) is Admission.PROCESS
            last = self.sought_back.get(tp)
            if last is None or last[0] != expected or time.time() - last[1] > 10:
                # once per gap (again after 10 s without it); the records queued behind it are skipped
                self.sought_back[tp] = (expected, time.time())
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

    @staticmethod
    def _handle(c: WorkerCore, msg: Message) -> DeadLetter | Forward | None:
        # epoch ms; a falsy timestamp (none from Kafka) stays 0.0, which the core reads as none
        ts: int | None = msg.timestamp and int(msg.timestamp * 1000)  # type: ignore[assignment]
        try:
            return c.handle(msg.topic, msg.partition, msg.offset, msg.key, msg.value, ts)
        except Exception as exc:
            log.exception("processing %s[%d]@%d failed: dead-lettered", msg.topic, msg.partition, msg.offset)
            return c.processing_error(exc, msg.topic, msg.partition, msg.offset, msg.key, msg.value, ts)

    def _trace_batch(self, messages: Sequence[Message]) -> None:
        runs: dict[tuple[str, int], list[list[int]]] = {}
        for m in messages:
            r = runs.get((m.topic, m.partition))
            if r and r[-1][1] == m.offset - 1:
                r[-1][1] = m.offset
            else:
                runs.setdefault((m.topic, m.partition), []).append([m.offset, m.offset])
        lines = "".join(f"{time.time():.3f} batch {t} {p} {a}-{b}\n" for (t, p), rs in runs.items() for a, b in rs)
        self.trace.write(lines)  # type: ignore[union-attr]  # called only when tracing

    async def _send_alerts(self, alerts: list[Alert]) -> None:
        for a in alerts:
            await self.alerts_topic.send(key=a["unit_code"].encode(), value=orjson.dumps(a))

    def fail(self, exc: BaseException) -> None:
        """An error the worker cannot go on from: /live fails (so an orchestrator restarts it) and the
        process ends with a non-zero code (``govpulse worker`` reads ``app.govpulse_failure``).
        Nothing of the failed batch was committed, so the restarted worker reads it again."""
        if self.failed is None:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.ready_flag = False
            log.critical("the worker cannot go on and stops: %s", self.failed, exc_info=exc)
            # a few seconds of failing /live first, so that a probe sees why before the process ends
            asyncio.get_running_loop().call_later(FAILED_LIVE_SECONDS, os.kill, os.getpid(), signal.SIGTERM)

    # -- rebalances -------------------------------------------------------------------------
    async def on_revoked(self, revoked: set[TP]) -> None:
        # From the start of a rebalance until the tables are recovered and the aggregates rebuilt,
        # the aggregates describe partitions this worker may no longer own. Timers must not act
        # on them: an alert fired now would put a stale copy of a record that another worker owns
        # into the changelog (where, being newer, it would win at the next recovery), and a flush
        # could overwrite that worker's newer points. /health says 503 meanwhile, and
        # --until-idle never stops a recovering worker.
        self.ready_flag = False
        # A batch in progress finishes first (Faust's wait for unacked events did this when records
        # came through its streams): written after the revocation, its records could reach the
        # changelog after the next owner recovered, and win over that owner's at a later recovery.
        # Batches after this one wait for the seek after recovery (records of a fetch made before
        # the rebalance could be another worker's by then).
        async with self.batch_lock:
            self.checkpoint.suspend()
        if self.trace:
            self.trace.write(f"{time.time():.3f} revoked {sorted((tp.topic, tp.partition) for tp in revoked)}\n")
        # A flush in progress was snapshotted before the rebalance: let it finish before this
        # worker rejoins the group, so it cannot land over the next owner's newer points. What is
        # still pending is dropped: the rebuild after recovery rewrites every point of the
        # partitions kept, and the next owner rewrites the others.
        async with self.flush_lock:
            dropped = self.sink.discard_pending()
        if dropped:
            log.info("rebalance: dropped %d unwritten points (rewritten after the rebuild)", dropped)

    async def on_recovered(self) -> None:
        """The table is recovered: rebuild the aggregates of the partitions now owned."""
        actives = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic in self.source_topics}
        c = self.core
        # the consumer tells the checkpoint where each partition resumes (the committed offsets,
        # right after this) and asks it how far each may be committed; one table with the fence
        self.app.consumer.set_checkpoint(self.checkpoint)
        self.checkpoint.retain_partitions(actives)
        self.sought_back.clear()
        self.dropped_logged.clear()
        t0 = time.monotonic()
        n = c.rebuild(actives)
        if self.trace:
            self.trace.write(f"{time.time():.3f} rebuild {sorted(actives)}\n")
        self.ready_flag = True
        self.rebuilt_at = time.time()
        log.info(
            "rebuilt aggregates from %d records for partitions %s in %.1fs", n, sorted(actives), time.monotonic() - t0
        )

    # -- timers -----------------------------------------------------------------------------
    async def alert_tick(self) -> None:
        if not self.ready():
            return
        # under the batch lock, as a batch: a rebalance waits for it (on_revoked), so the records
        # whose alert flags it changed reach the changelog before another worker can own them
        async with self.batch_lock:
            if self.ready():
                await self._send_alerts(self.core.advance())
                await self.checkpoint.persist_state(self.changelog, self.core.store)

    async def flush(self) -> bool:
        """Write the changed series to InfluxDB; False if the write failed (kept for the next)."""
        async with self.flush_lock:
            c = self.core
            stamps, c.unflushed_timestamps = c.unflushed_timestamps, []
            self.sink.add(c.snapshot())
            t0, n = time.monotonic(), self.sink.pending
            ok = await asyncio.to_thread(self.sink.flush)
            took = time.monotonic() - t0
            if took > 5:
                log.info("wrote %d points to InfluxDB in %.1fs", n, took)
            if ok and self.latency_log and stamps:
                # benchmark instrumentation: event's Kafka timestamp -> its snapshot is in InfluxDB
                done = int(time.time() * 1000)
                self.latency_log.write("\n".join(str(done - t) for t in stamps) + "\n")
            elif not ok:
                c.unflushed_timestamps = stamps + c.unflushed_timestamps
            return ok

    async def flush_tick(self) -> None:
        if self.ready():
            await self.flush()

    async def lags(self) -> dict[str, int | None]:
        """Consumer lag per source topic (None: not known yet)."""
        consumer = self.app.consumer
        out: dict[str, int | None] = {}
        for tp in self.app.assignor.assigned_actives():
            if tp.topic not in self.source_topics:
                continue
            hw = consumer.highwater(tp)
            if hw is None or hw < 0:
                out[tp.topic] = out.get(tp.topic)
                continue
            pos = self.checkpoint.processed_next(tp)
            if pos is None and hw == 0:
                pos = 0  # a partition that never held a record: nothing to read, whatever its position
            if pos is None:
                try:
                    # aiokafka's position() waits, unbounded, until the fetcher has set the position:
                    # the health tick (and --until-idle) must not hang on it
                    pos = await asyncio.wait_for(consumer.position(tp), timeout=2.0)
                except TimeoutError:
                    log.info("position of %s[%d] not known yet", tp.topic, tp.partition)
                    pos = None
            if pos is None:
                out[tp.topic] = None
                continue
            prev = out.get(tp.topic, 0)
            out[tp.topic] = None if prev is None else prev + max(0, hw - pos)
        return out

    async def health_tick(self) -> None:
        if not self.ready():
            self._report_long_recovery()
            return
        self.unready_since = None
        lag = await self.lags()
        self.sink.add(
            self.core.health_rows(
                lag, points_rejected=self.sink.rejected_points, offset_gaps=self.checkpoint.offset_gaps
            )
        )
        if self.until_idle is not None and not self.stopping:
            await self._stop_if_idle(lag)

    def _report_long_recovery(self) -> None:
        now = time.monotonic()
        if self.unready_since is None:
            self.unready_since = now
        elif (
            now - self.unready_since >= UNREADY_REPORT_SECONDS and now - self.unready_reported >= UNREADY_REPORT_SECONDS
        ):
            self.unready_reported = now
            log.warning(
                "not ready for %.0f s (rebalance or table recovery); the consumer's partitions:\n%s",
                now - self.unready_since,
                self.app.consumer.describe_state(),
            )

    async def _stop_if_idle(self, lag: dict[str, int | None]) -> None:
        """--until-idle: stop once caught up, idle long enough and everything is in InfluxDB."""
        assert self.until_idle is not None
        idle_for = time.time() - max(self.core.last_any_event_wall, self.rebuilt_at)
        caught_up = lag and all(v == 0 for v in lag.values())
        if not (caught_up and idle_for >= self.until_idle and self.ready()):
            return
        if await self.flush() and self.sink.pending == 0:
            self.stopping = True
            log.info(
                "caught up and idle for %.0fs: stopping (--until-idle) after %d events; offset fence: "
                "%s, stale after a seek: %d",
                idle_for,
                sum(st.events_total for st in self.core.stats.values()),
                self.app.consumer.fence.stats,
                self.app.consumer.epochs.dropped,
            )
            os.kill(os.getpid(), signal.SIGTERM)

    # -- pages ------------------------------------------------------------------------------
    def live_status(self) -> tuple[dict[str, Any], int]:
        """Liveness: the process and its event loop answer and no fatal error happened (recovery can
        take long; not a reason to kill)."""
        if self.failed:
            return {"alive": False, "app_id": self.app_id, "error": self.failed}, 500
        return {"alive": True, "app_id": self.app_id}, 200

    def health_status(self, bucket: str) -> tuple[dict[str, Any], int]:
        c = self.core
        body = {
            "ready": self.ready(),
            "app_id": self.app_id,
            "bucket": bucket,
            "error": self.failed,
            "pending_points": self.sink.pending,
            "influx_last_error": self.sink.last_error,
            "events": {t: s.events_total for t, s in c.stats.items()},
        }
        return body, 200 if self.ready() else 503


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
            # batches of at most this many records (streams.kafka.fence), and a commit after each
            broker_commit_every=batch_size,
            # changelog records go out in Kafka record batches of this size (streams.changelog)
            producer_max_batch_size=CHANGELOG_BATCH_BYTES,
            topic_allow_declare=True,
            broker_session_timeout=settings.kafka_session_timeout,
            broker_heartbeat_interval=settings.kafka_heartbeat_interval,
            # records are compact JSON bytes encoded by us (orjson); Faust moves them untouched
            key_serializer="raw",
            value_serializer="raw",
        ),
    )
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
    worker_name = settings.worker_name or f"{socket.gethostname()}:{web_port if web_port != 0 else os.getpid()}"
    sink = InfluxSink(settings, bucket)
    ensure_bucket(settings, bucket)
    w = Worker(
        app,
        settings,
        app_id=app_id,
        replay=replay,
        until_idle=until_idle,
        worker_name=worker_name,
        source_topics=names,
        partition_counts=partition_counts,
        facts=facts,
        alerts_topic=alerts_topic,
        dead_letters=dead_letters,
        forward_to=forward_to,
        sink=sink,
    )
    # source records in offset order, none skipped, in batches straight from each fetch (streams.kafka.fence)
    fence.install(app, w.on_batch)
    app.govpulse_core = lambda: w.core  # for tests and the health page
    app.govpulse_sink = sink
    app.govpulse_failure = lambda: w.failed

    @app.agent(sources)
    async def subscribe(stream: StreamT[bytes]) -> None:
        """Subscribes the worker to the source topics (Faust assigns their partitions to agents).
        Their records never come this way: the fenced consumer hands each fetch's records to
        ``Worker.on_batch`` in batches (see :func:`streams.kafka.fence.install`)."""
        async for event in stream.events():
            log.error(
                "%s[%d]@%d reached the agent's stream, not processed",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )

    # Faust sends this signal (app, revoked): its receiver type only allows (sender, *args, **kwargs)
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(app_: faust.App, revoked: set[TP], **kwargs: Any) -> None:
        await w.on_revoked(revoked)

    facts.on_recover(w.on_recovered)

    async def _task_stacks() -> None:
        """SIGUSR2 logs what every task waits for (a hung worker says why, see streams.task_stacks)."""
        main_loop = asyncio.get_running_loop()

        def loops() -> list[tuple[str, asyncio.AbstractEventLoop]]:
            thread = getattr(app.consumer, "_thread", None)  # Faust's consumer thread and its loop
            thread_loop = getattr(thread, "thread_loop", None)
            return [("main", main_loop)] + ([("consumer thread", thread_loop)] if thread_loop else [])

        task_stacks.install(loops, state=lambda: app.consumer.describe_state())

    app.task(_task_stacks)

    app.timer(interval=settings.alert_interval_seconds)(w.alert_tick)
    app.timer(interval=settings.emit_interval_seconds)(w.flush_tick)
    app.timer(interval=2.0 if until_idle else 10.0)(w.health_tick)

    @app.page("/live")
    async def live(web: View, request: Request) -> Response:
        body, status = w.live_status()
        return web.json(body, status=status)

    @app.page("/health")
    async def health(web: View, request: Request) -> Response:
        body, status = w.health_status(bucket)
        return web.json(body, status=status)

    return app
