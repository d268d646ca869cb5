"""The ingest HTTP service (aiohttp).

``POST /v1/events``: one event (a JSON object) or a batch (a JSON array). Checks, in order:
bearer token (401), the token's rate limit (429 + Retry-After), body size (413), JSON and its
depth (400), batch length (413); then per event: the schema (``schemas.parse_event``, 400 with
field and reason), the token's source_system and provinces (403). Valid events are produced
to Kafka (acks=all, idempotent, key = unit, Kafka's default murmur2 partitioner) and the answer
waits for the broker's acknowledgement; without it (broker unreachable, send timeout) the
event is answered 503 with Retry-After, never 202.

Answers: a single event gets 202 ``{"status": "accepted", "event_id", "topic", "partition",
"offset"}`` or its error status (400/403/503) with ``reason`` and ``errors`` (field, reason).
A batch gets 202 when every event was accepted, 503 when none was and Kafka was the reason,
else 207 (Multi-Status); the body always lists one result per event, in order, with its index,
``status`` (202/400/403/503) and ``event_id``, plus ``accepted`` and ``rejected`` counts.

``GET /v1/schemas`` (index) and ``GET /v1/schemas/{file}``: the exported JSON Schemas.
``GET /health``: 200 when the producer is connected to Kafka, 503 otherwise (readiness);
``GET /live``: 200 while the process answers (liveness).

Request bodies are never logged (personal data): a log line has the token's name, status,
event counts and latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from common.settings import Settings
from producers.ingest.auth import Principal, TokenStore
from producers.ingest.limits import TokenBucket, json_depth_exceeds, retry_after
from producers.ingest.metrics import IngestMetrics, MetricsWriter
from producers.ingest.settings import IngestSettings
from schemas import TOPIC_OF_TYPE, InvalidEvent, dump_event, parse_event

log = logging.getLogger("govpulse.ingest")

JSON = "application/json"


class KafkaUnavailable(RuntimeError):
    """The broker did not acknowledge (not reachable, or no ack within the send timeout)."""


class KafkaGateway:
    """One idempotent aiokafka producer, (re)started in the background; health from metadata probes."""

    def __init__(self, settings: Settings, ingest: IngestSettings) -> None:
        self.settings = settings
        self.ingest = ingest
        self.producer: Any = None
        self.connected = False
        self.last_error = "not connected yet"
        self._task: asyncio.Task[None] | None = None

    def _new_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        timeout_ms = int(max(self.ingest.send_timeout_seconds, self.ingest.connect_timeout_seconds) * 1000)
        return AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            request_timeout_ms=max(timeout_ms, 1000),
            retry_backoff_ms=100,
            **{k: v for k, v in self.settings.kafka_client_kwargs().items() if v is not None},
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-kafka")

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            if self.producer is None:
                producer = self._new_producer()
                try:
                    await asyncio.wait_for(producer.start(), timeout=self.ingest.connect_timeout_seconds)
                except Exception as e:  # noqa: BLE001 - any failure to start: retry, stay 503
                    self._down(e)
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                self.producer = producer
                backoff = 0.5
                self._up()
            await asyncio.sleep(self.ingest.health_interval_seconds)
            try:
                await asyncio.wait_for(
                    self.producer.client.fetch_all_metadata(), timeout=self.ingest.health_interval_seconds
                )
            except Exception as e:  # noqa: BLE001 - the probe failing is the information
                self._down(e)
            else:
                self._up()

    def _down(self, e: BaseException) -> None:
        msg = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        if self.connected or self.last_error != msg:
            log.warning("Kafka at %s unavailable: %s", self.settings.kafka_bootstrap_servers, msg)
        self.connected = False
        self.last_error = msg

    def _up(self) -> None:
        if not self.connected:
            log.info("connected to Kafka at %s", self.settings.kafka_bootstrap_servers)
        self.connected = True
        self.last_error = ""

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.producer is not None:
            await self.producer.stop()

    async def send_all(self, records: list[tuple[str, bytes, bytes, int]]) -> list[Any]:
        """Send (topic, key, value, timestamp_ms) records; per record its RecordMetadata, or a
        :class:`KafkaUnavailable` if the broker did not acknowledge it within the send timeout."""
        producer = self.producer
        if producer is None:
            return [KafkaUnavailable(self.last_error or "not connected")] * len(records)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ingest.send_timeout_seconds
        futures: list[asyncio.Future[Any]] = []
        error: BaseException | None = None
        try:
            async with asyncio.timeout_at(deadline):
                for topic, key, value, ts in records:
                    futures.append(await producer.send(topic, value=value, key=key, timestamp_ms=ts))
        except TimeoutError:
            error = KafkaUnavailable(f"no room or no metadata within {self.ingest.send_timeout_seconds:g} s")
        except Exception as e:  # noqa: BLE001 - a send refused: that record and the rest are not written
            error = e
        if futures:
            # asyncio.wait does not cancel what is still pending: a late ack is simply not reported
            await asyncio.wait(futures, timeout=max(0.0, deadline - loop.time()))
        out: list[Any] = []
        for fut in futures:
            if not fut.done():
                out.append(KafkaUnavailable(f"no acknowledgement within {self.ingest.send_timeout_seconds:g} s"))
            elif fut.cancelled():
                out.append(KafkaUnavailable("send cancelled"))
            elif fut.exception() is not None:
                out.append(KafkaUnavailable(f"{type(fut.exception()).__name__}: {fut.exception()}"))
            else:
                out.append(fut.result())
        rest = len(records) - len(out)
        if rest:
            out.extend([KafkaUnavailable(f"{type(error).__name__}: {error}")] * rest)
        if any(isinstance(r, KafkaUnavailable) for r in out):
            self._down(next(r for r in out if isinstance(r, KafkaUnavailable)))
        elif out:
            self._up()
        return out


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type=JSON, headers=headers)


def _event_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        eid = raw.get("event_id")
        if isinstance(eid, str) and len(eid) <= 64:
            return eid
    return None


class IngestService:
    def __init__(self, settings: Settings, ingest: IngestSettings, tokens: TokenStore) -> None:
        self.settings = settings
        self.ingest = ingest
        self.tokens = tokens
        self.gateway = KafkaGateway(settings, ingest)
        self.metrics = IngestMetrics()
        self._buckets: dict[str, TokenBucket] = {}
        self._topics = {et: settings.topic(short) for et, short in TOPIC_OF_TYPE.items()}
        self._schemas = load_schemas(ingest.resolve_schemas_dir())
        self._background: list[asyncio.Task[None]] = []

    # -- life cycle -----------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.ingest.max_body_bytes)
        app.router.add_post("/v1/events", self.post_events)
        app.router.add_get("/v1/schemas", self.get_schema_index)
        app.router.add_get("/v1/schemas/{name}", self.get_schema)
        app.router.add_get("/health", self.get_health)
        app.router.add_get("/live", self.get_live)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        await self.gateway.start()
        if self.ingest.metrics:
            writer = MetricsWriter(
                self.settings,
                self.metrics,
                self.ingest.app_id,
                self.ingest.instance_name(),
                self.ingest.metrics_interval_seconds,
            )
            self._background.append(asyncio.create_task(writer.run(), name="ingest-metrics"))

    async def _on_cleanup(self, _app: web.Application) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.gateway.stop()

    def _bucket(self, p: Principal) -> TokenBucket:
        b = self._buckets.get(p.sha256)
        if b is None:
            rate = self.ingest.rate_per_second if p.rate_per_second is None else p.rate_per_second
            burst = self.ingest.rate_burst if p.rate_burst is None else p.rate_burst
            b = self._buckets[p.sha256] = TokenBucket(rate, max(burst, 1.0))
        return b

    # -- POST /v1/events ----------------------------------------------------------------------
    async def post_events(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        principal = self.tokens.authenticate(request.headers.get("Authorization"))
        resp, n_events, n_accepted = await self._post_events(request, principal)
        latency = time.perf_counter() - t0
        self.metrics.request(latency)
        log.info(
            "POST /v1/events token=%s status=%d events=%d accepted=%d %.1f ms",
            principal.name if principal else "-",
            resp.status,
            n_events,
            n_accepted,
            latency * 1000,
        )
        return resp

    def _refuse(self, status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        self.metrics.reject_request(reason)
        return _json(status, {"status": "rejected", "reason": reason, "message": message}, headers)

    async def _post_events(self, request: web.Request, p: Principal | None) -> tuple[web.Response, int, int]:
        ing = self.ingest
        if p is None:
            return (
                self._refuse(
                    401,
                    "unauthorized",
                    "missing or unknown bearer token",
                    {"WWW-Authenticate": 'Bearer realm="govpulse"'},
                ),
                0,
                0,
            )
        wait = self._bucket(p).take()
        if wait > 0:
            secs = retry_after(wait)
            return (
                self._refuse(429, "rate_limited", f"rate limit of token {p.name!r}", {"Retry-After": str(secs)}),
                0,
                0,
            )
        if request.content_length is not None and request.content_length > ing.max_body_bytes:
            return self._refuse(413, "too_large", f"body over {ing.max_body_bytes} bytes"), 0, 0
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(413, "too_large", f"body over {ing.max_body_bytes} bytes"), 0, 0
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            return self._refuse(400, "bad_json", f"not valid JSON: {e}"), 0, 0
        if json_depth_exceeds(doc, ing.max_json_depth):
            return self._refuse(400, "too_deep", f"JSON nested deeper than {ing.max_json_depth}"), 0, 0
        single = not isinstance(doc, list)
        items: list[Any] = [doc] if single else doc
        if not items:
            return self._refuse(400, "empty", "an empty array holds no events"), 0, 0
        if len(items) > ing.max_batch_events:
            return self._refuse(413, "too_large", f"a batch holds at most {ing.max_batch_events} events"), 0, 0

        results: list[dict[str, Any] | None] = [None] * len(items)
        rejected: Counter[str] = Counter()
        pending: list[int] = []
        records: list[tuple[str, bytes, bytes, int]] = []
        for i, raw in enumerate(items):
            try:
                ev = parse_event(raw) if isinstance(raw, dict) else parse_event(orjson.dumps(raw))
            except InvalidEvent as e:
                rejected["invalid_event"] += 1
                results[i] = {
                    "index": i,
                    "status": 400,
                    "event_id": _event_id(raw),
                    "reason": "invalid_event",
                    "errors": [{"field": f, "reason": r} for f, r in e.errors],
                }
                continue
            eid = str(ev.event_id)
            if ev.source_system != p.source_system:
                rejected["forbidden_source_system"] += 1
                results[i] = {
                    "index": i,
                    "status": 403,
                    "event_id": eid,
                    "reason": "forbidden_source_system",
                    "errors": [
                        {"field": "source_system", "reason": f"token {p.name!r} may only send {p.source_system!r}"}
                    ],
                }
                continue
            if ev.province_code not in p.provinces:
                rejected["forbidden_province"] += 1
                results[i] = {
                    "index": i,
                    "status": 403,
                    "event_id": eid,
                    "reason": "forbidden_province",
                    "errors": [
                        {
                            "field": "province_code",
                            "reason": f"token {p.name!r} may not send for province {ev.province_code!r}",
                        }
                    ],
                }
                continue
            pending.append(i)
            records.append(
                (
                    self._topics[ev.event_type],
                    ev.unit_key.encode("utf-8"),
                    dump_event(ev),
                    int(ev.occurred_at.timestamp() * 1000),
                )
            )
            results[i] = {"index": i, "status": 202, "event_id": eid}

        accepted = 0
        kafka_down = False
        if records:
            for i, meta in zip(pending, await self.gateway.send_all(records), strict=True):
                r = results[i]
                assert r is not None
                if isinstance(meta, KafkaUnavailable):
                    kafka_down = True
                    rejected["kafka_unavailable"] += 1
                    r.update(status=503, reason="kafka_unavailable", errors=[{"field": "", "reason": str(meta)}])
                else:
                    accepted += 1
                    r.update(topic=meta.topic, partition=meta.partition, offset=meta.offset)
        self.metrics.events(accepted, rejected)
        headers = {"Retry-After": str(ing.retry_after_seconds)} if kafka_down else None
        final = [r for r in results if r is not None]
        if single:
            (r,) = final
            status = r.pop("status")
            r.pop("index")
            r["status"] = "accepted" if status == 202 else "rejected"
            return _json(status, r, headers), 1, accepted
        n = len(final)
        if accepted == n:
            status = 202
        elif accepted == 0 and kafka_down and all(r["status"] in (202, 503) for r in final):
            status = 503
        else:
            status = 207
        answer = {"accepted": accepted, "rejected": n - accepted, "results": final}
        return _json(status, answer, headers), n, accepted

    # -- GET ------------------------------------------------------------------------------------
    async def get_schema_index(self, request: web.Request) -> web.Response:
        base = str(request.rel_url.path).rstrip("/")
        files = sorted(self._schemas)
        return _json(
            200,
            {
                "events": f"{base}/events.schema.json",
                "schemas": [
                    {"event_type": name.removesuffix(".schema.json"), "url": f"{base}/{name}"}
                    for name in files
                    if name != "events.schema.json"
                ],
            },
        )

    async def get_schema(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        text = self._schemas.get(name) or self._schemas.get(f"{name}.schema.json")
        if text is None:
            return _json(404, {"status": "rejected", "reason": "not_found", "message": f"no schema {name!r}"})
        return web.Response(status=200, text=text, content_type="application/schema+json")

    async def get_live(self, _request: web.Request) -> web.Response:
        """The process answers (liveness: a Kafka outage is no reason to restart the service)."""
        return _json(200, {"status": "ok"})

    async def get_health(self, _request: web.Request) -> web.Response:
        gw = self.gateway
        if gw.producer is not None and gw.connected:
            return _json(200, {"status": "ok", "kafka": "connected"})
        return _json(
            503,
            {"status": "unavailable", "kafka": "unavailable", "error": gw.last_error},
            {"Retry-After": str(self.ingest.retry_after_seconds)},
        )


def load_schemas(directory: Path) -> dict[str, str]:
    """File name -> text of every exported JSON Schema (checked to be JSON)."""
    out = {}
    for f in sorted(directory.glob("*.schema.json")):
        text = f.read_text(encoding="utf-8")
        json.loads(text)
        out[f.name] = text
    if "events.schema.json" not in out:
        raise FileNotFoundError(
            f"no exported JSON Schemas in {directory} (set GOVPULSE_INGEST_SCHEMAS_DIR; `govpulse schemas export DIR`)"
        )
    return out


def run(settings: Settings, ingest: IngestSettings, tokens: TokenStore) -> None:
    """Serve until SIGINT/SIGTERM."""
    service = IngestService(settings, ingest, tokens)
    log.info(
        "govpulse ingest on http://%s:%d (%d tokens), Kafka %s",
        ingest.bind,
        ingest.port,
        len(tokens),
        settings.kafka_bootstrap_servers,
    )
    web.run_app(service.app(), host=ingest.bind, port=ingest.port, access_log=None, print=None)
