"""Running a simulation: the I/O side of ``govpulse simulate``.

Pure generation lives in :mod:`producers.simulator`; this module paces it (bulk or
live), optionally disorders it, and writes it to Kafka and/or a records file.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from common.settings import Settings
from producers.disorder import DisorderSpec, disorder
from producers.records import Record, RecordWriter
from producers.scenario import Scenario
from producers.simulator import Simulation
from schemas import TOPIC_OF_TYPE, dump_event
from schemas.events import MAX_CLOCK_SKEW

if TYPE_CHECKING:
    from producers.kafka_sink import KafkaSink

__all__ = ["LiveClock", "RunSummary", "plan_start", "run_simulation"]


@dataclass
class RunSummary:
    events: int = 0
    duplicates: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    seconds: float = 0.0
    out_path: Path | None = None
    first_event: datetime | None = None
    last_event: datetime | None = None

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def plan_start(scenario: Scenario, start: str | None, speed: float | None, now: datetime | None = None) -> Scenario:
    """Shift the scenario for ``--start now|ISO``; refuse a shift that would emit future events.

    ``now`` anchors the period so simulated time never runs ahead of the wall clock:
    live at speed N, the period starts ``duration * (1 - 1/N)`` ago and catches up
    with the wall clock as the run ends (at N = 1 it starts now); in bulk it ends now.
    """
    if start is None:
        return scenario
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    dur = scenario.duration
    if start == "now":
        lead = dur / speed if speed else timedelta(0)
        return scenario.shifted(now - dur + lead)
    try:
        t = datetime.fromisoformat(start)
    except ValueError:
        raise ValueError(f"--start: {start!r} is neither 'now' nor an ISO date/time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=scenario.tz)
    shifted = scenario.shifted(t)
    # the last event is emitted at wall time now + dur/speed (live) or now (bulk)
    emitted_by = now + (dur / speed if speed else timedelta(0))
    ahead = shifted.end - emitted_by
    if ahead > MAX_CLOCK_SKEW:
        raise ValueError(
            f"--start {start}: the run would emit events up to {ahead} ahead of the wall clock, and event "
            f"schemas reject timestamps more than {MAX_CLOCK_SKEW} in the future; use --start now"
        )
    return shifted


class LiveClock:
    """Maps event time to wall time at ``speed`` x real time, from a common origin."""

    def __init__(self, sim_origin_ms: int, speed: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.sim0 = sim_origin_ms
        self.wall0 = time.monotonic()
        self.speed = speed
        self._sleep = sleep

    def wait_until(self, sim_ms: int, tick: Callable[[], None] | None = None) -> None:
        target = self.wall0 + (sim_ms - self.sim0) / 1000 / self.speed
        while True:
            left = target - time.monotonic()
            if left <= 0:
                return
            self._sleep(min(left, 0.25))
            if tick:
                tick()

    def sim_now(self) -> datetime:
        ms = self.sim0 + (time.monotonic() - self.wall0) * 1000 * self.speed
        return datetime.fromtimestamp(ms / 1000, UTC)


def run_simulation(
    scenario: Scenario,
    settings: Settings,
    *,
    sink: KafkaSink | None = None,
    out: str | Path | None = None,
    live_speed: float | None = None,
    disorder_spec: DisorderSpec | None = None,
    progress: Callable[[RunSummary, int, datetime | None], None] | None = None,
    progress_every: int = 2000,
) -> RunSummary:
    """Generate the scenario and send it to ``sink`` (a KafkaSink) and/or write ``out``.

    ``live_speed`` None = bulk (as fast as the sink takes it).  The sink is flushed
    (every record acknowledged) before returning; errors propagate.
    """
    if sink is None and out is None:
        raise ValueError("nothing to do: give a Kafka sink and/or an output file")
    sim = Simulation(scenario)
    stream = disorder(sim.pending(), disorder_spec or DisorderSpec(), scenario.seed)
    topics = {short: settings.topic(short) for short in set(TOPIC_OF_TYPE.values())}
    writer = RecordWriter(out) if out is not None else None
    clock = LiveClock(int(scenario.start.timestamp() * 1000), live_speed) if live_speed else None
    summary = RunSummary(out_path=Path(out) if out else None)
    t0 = time.monotonic()
    last_emit: int | None = None
    tick = (lambda: progress(summary, last_emit or 0, clock.sim_now())) if (clock and progress) else None
    try:
        for emit_ms, p, is_dup in stream:
            if clock is not None:
                clock.wait_until(emit_ms, tick)
            ev = p.event()
            value = dump_event(ev)
            key = p.unit_key.encode("utf-8")
            ts = int(ev.occurred_at.timestamp() * 1000)
            topic = topics[TOPIC_OF_TYPE[ev.event_type]]
            if sink is not None:
                sink.send_raw(topic, key, value, ts)
            if writer is not None:
                writer.write(Record(topic, None, None, ts, key, value))
            summary.duplicates += is_dup
            summary.events += 1
            summary.by_type[ev.event_type] += 1
            summary.by_topic[topic] += 1
            summary.bytes += len(value)
            if summary.first_event is None:
                summary.first_event = ev.occurred_at
            summary.last_event = ev.occurred_at
            last_emit = emit_ms
            if progress and summary.events % progress_every == 0:
                summary.seconds = time.monotonic() - t0
                progress(summary, emit_ms, clock.sim_now() if clock else None)
        if sink is not None:
            sink.flush()
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    summary.seconds = time.monotonic() - t0
    if progress:
        progress(summary, last_emit or 0, None)
    return summary
