"""Scenario -> ordered stream of events (pure: no Kafka, no files, no clock).

:class:`Simulation` turns a resolved :class:`~producers.scenario.Scenario` into events
in event-time order (ties broken by unit, stream, lifecycle step), so each unit's
events are in order and the whole stream is globally sorted by event time.

How a dossier (hồ sơ) is generated, per unit:

1. Exact-count lists are shuffled with the unit's own ``random.Random``: fates
   (early / on time / late / withdrawn / refused / open overdue / open pending),
   channels, procedures, and among the eligible dossiers the supplements, transfers,
   apology letters, digitised results, online payments and ratings.
2. Each dossier's receipt (tiếp nhận) is drawn uniformly over office time (working
   days, office sessions) inside the window its fate allows: a dossier that must be
   resolved on time or late, or be overdue at the end, is received early enough for
   its due date (and lateness) to fall inside the period; a dossier still pending at
   the end is received late enough that it is not due yet.
3. ``due_at = add_working_days(received_at, procedure days)``; a supplement request
   (yêu cầu bổ sung) restarts the clock: ``new_due_at = add_working_days(requested_at,
   days)``.  Early = resolved on a calendar day before the due date; on time = on the
   due date, at or before ``due_at``; late = after ``due_at``.  Apology letters go only
   to late dossiers (resolved late, or open and overdue).  Ratings follow resolution.
4. A sweep in receipt order emits each dossier's receipt and keeps its later steps in
   a heap, so memory holds only dossiers still in progress (plus a few bytes per
   dossier of plan), and a million events stream without giant lists of models.

Randomness: one ``random.Random(seed)`` draws a child seed per unit and stream in a
fixed order; event ids are ``uuid.UUID(int=rng.getrandbits(128), version=4)`` drawn
when the step is planned, from an id stream seeded by the child seed and the period's
start (so a run shifted with ``--start`` gets fresh ids).  Same scenario, seed and
period -> same events, byte for byte.

Events are built (validated pydantic models) only when taken from the merged stream,
so a live run never constructs an event long before its time.
"""

from __future__ import annotations

import heapq
import random
import uuid
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from common.calendar import add_working_days, subtract_working_days
from producers.scenario import (
    DocumentPlan,
    DossierPlan,
    FeedbackPlan,
    MeetingPlan,
    Procedure,
    Scenario,
    UnitPlan,
)
from producers.scenario_errors import ScenarioError
from producers.scenario_input import CHANNELS, FEEDBACK_CHANNELS, FEEDBACK_SUBJECTS, RATING_LEVELS
from schemas import (
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
    FeedbackRated,
    FeedbackReceived,
    FeedbackSubject,
    FeedbackTransferred,
    MeetingEnded,
    MeetingScheduled,
    MeetingStarted,
    OnlineService,
    Rating,
    SatisfactionRated,
    SupplementRequested,
)

__all__ = ["PendingEvent", "Simulation", "Timeline", "simulate"]

# fates
EARLY, ON_TIME, LATE, WITHDRAWN, REFUSED, OPEN_OVERDUE, OPEN_PENDING = range(7)
FATE_NAMES = ("early", "on_time", "late", "withdrawn", "refused", "open_overdue", "open_pending")

# streams within a unit (part of the ordering key)
S_DOSSIERS, S_DOCUMENTS, S_MEETINGS, S_FEEDBACK = range(4)

# lifecycle rank: breaks ties at the same second so a dossier's steps keep their order
R_RECEIVED, R_SUPPLEMENT, R_TRANSFER, R_APOLOGY, R_CLOSE, R_RATED = range(6)

SUPPLEMENT_REASONS = (
    "Bổ sung bản sao giấy tờ có chứng thực",
    "Tờ khai chưa đầy đủ thông tin",
    "Bổ sung giấy tờ chứng minh quyền sử dụng đất",
    "Bổ sung văn bản ủy quyền",
)
REFUSAL_REASONS = (
    "Hồ sơ không thuộc thẩm quyền giải quyết",
    "Hồ sơ không đủ điều kiện tiếp nhận",
)
WITHDRAWAL_REASONS = ("Công dân đề nghị rút hồ sơ", None)

_CHANNEL_FIELDS: dict[str, tuple[Channel, OnlineService | None]] = {
    "online_full": (Channel.online, OnlineService.full),
    "online_partial": (Channel.online, OnlineService.partial),
    "in_person": (Channel.in_person, None),
    "postal": (Channel.postal, None),
}
_RATINGS: tuple[Rating, ...] = tuple(Rating(level) for level in RATING_LEVELS)

# ordering key of a planned event: (ms, unit index, stream, lifecycle rank, sequence)
_Key = tuple[int, int, int, int, int]
# a builder's positional arguments after the unit (their types depend on the kind)
_Args = tuple[Any, ...]


class Timeline:
    """Office time (working days x office sessions) between two instants, in epoch seconds.

    ``offset(t)`` = office seconds before ``t``; ``instant(o)`` is the inverse.  Drawing
    a uniform offset gives a uniform office instant, e.g. a receipt during opening hours.
    """

    def __init__(self, start: datetime, end: datetime, sessions: tuple[tuple[time, time], ...], tz: ZoneInfo) -> None:
        from common.calendar import working_days_in

        s0, e0 = int(start.timestamp()), int(end.timestamp())
        starts: list[int] = []
        lengths: list[int] = []
        cum = [0]
        for d in working_days_in(start.astimezone(tz).date(), (end - timedelta(seconds=1)).astimezone(tz).date()):
            for a, b in sessions:
                lo = max(int(datetime.combine(d, a, tz).timestamp()), s0)
                hi = min(int(datetime.combine(d, b, tz).timestamp()), e0)
                if hi > lo:
                    starts.append(lo)
                    lengths.append(hi - lo)
                    cum.append(cum[-1] + hi - lo)
        self.start, self.end = s0, e0
        self.starts, self.lengths, self.cum = starts, lengths, cum
        self.total = cum[-1]

    def offset(self, t: int) -> int:
        k = bisect_right(self.starts, t) - 1
        if k < 0:
            return 0
        return self.cum[k] + min(t - self.starts[k], self.lengths[k])

    def instant(self, o: int) -> int:
        o = min(max(o, 0), self.total - 1)
        k = bisect_right(self.cum, o) - 1
        return self.starts[k] + (o - self.cum[k])

    def sample(self, rng: random.Random, lo_t: int, hi_t: int) -> int:
        """Uniform office instant in [lo_t, hi_t); ``lo_t`` itself when the range is empty."""
        lo, hi = self.offset(lo_t), self.offset(hi_t)
        if hi <= lo:
            return lo_t
        return self.instant(rng.randrange(lo, hi))

    def sample_incl(self, rng: random.Random, lo_t: int, hi_t: int) -> int:
        """Uniform office instant in [lo_t, hi_t] (``hi_t`` an office instant)."""
        lo, hi = self.offset(lo_t), self.offset(hi_t)
        if hi <= lo:
            return hi_t if hi_t >= lo_t else lo_t
        o = rng.randrange(lo, hi + 1)
        return hi_t if o == hi else self.instant(o)


class PendingEvent:
    """One planned event: its ordering key and how to build it (lazily, once)."""

    __slots__ = ("_event", "args", "key", "kind", "unit")

    def __init__(self, key: _Key, unit: _UnitContext, kind: int, args: _Args) -> None:
        self.key = key
        self.unit = unit
        self.kind = kind
        self.args = args
        self._event: Event | None = None

    @property
    def ts_ms(self) -> int:
        return self.key[0]

    @property
    def unit_key(self) -> str:
        return self.unit.plan.key

    def event(self) -> Event:
        if self._event is None:
            self._event = _BUILDERS[self.kind](self.unit, *self.args)
        return self._event


class _UnitContext:
    def __init__(self, plan: UnitPlan, tz: ZoneInfo) -> None:
        self.plan = plan
        self.tz = tz
        self.env = plan.envelope_fields()

    def dt(self, t: int) -> datetime:
        return datetime.fromtimestamp(t, self.tz)


class Simulation:
    """Iterate a scenario's events in order: ``for event in Simulation(scenario): ...``."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.tz = scenario.tz
        self.timeline = Timeline(scenario.start, scenario.end, scenario.office_hours, self.tz)
        if self.timeline.total == 0:
            raise ScenarioError(
                "period", f"no office time between {scenario.start} and {scenario.end}", scenario.source
            )
        master = random.Random(scenario.seed)
        # child seeds in a fixed order: a unit's stream never depends on how streams interleave
        self._seeds = [(master.getrandbits(64), master.getrandbits(64), master.getrandbits(64)) for _ in scenario.units]
        self._end = int(scenario.end.timestamp())
        # Event ids also depend on where the period lies: re-running the same history gives
        # the same ids (the worker drops the repeats), while a shifted run (--start now) is
        # new history with new ids, not "duplicates" of an earlier live run.
        self._id_salt = int(scenario.start.timestamp())
        self._bounds: dict[tuple[str, int], int] = {}

    # -- public ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Envelope]:
        return self.events()

    def events(self) -> Iterator[Envelope]:
        for p in self.pending():
            yield p.event()

    def pending(self) -> Iterator[PendingEvent]:
        """Planned events in order, not yet built (live mode builds each when it is due)."""
        streams: list[Iterator[PendingEvent]] = []
        for u, seeds in zip(self.scenario.units, self._seeds, strict=False):
            ctx = _UnitContext(u, self.tz)
            if u.dossiers and u.dossiers.received:
                streams.append(self._dossiers(ctx, u.dossiers, random.Random(seeds[0])))
            if u.documents and (u.documents.issued or u.documents.received):
                streams.append(self._documents(ctx, u.documents, random.Random(seeds[1])))
            if u.meetings and u.meetings.count:
                streams.append(self._meetings(ctx, u.meetings, random.Random(seeds[2])))
            if u.feedback and u.feedback.received:
                # its own seed, not drawn from the master: adding feedback to a scenario leaves every
                # other stream's events (and ids) exactly as they were
                rng = random.Random(f"{self.scenario.seed}:feedback:{u.index}")
                streams.append(self._feedback(ctx, u.feedback, rng))
        return heapq.merge(*streams, key=attrgetter("key"))

    # -- calendar helpers (epoch seconds) -------------------------------------------------
    def _add(self, t: int, n: int) -> int:
        return int(add_working_days(datetime.fromtimestamp(t, self.tz), n).timestamp())

    def _midnight(self, t: int) -> int:
        d = datetime.fromtimestamp(t, self.tz).date()
        return int(datetime.combine(d, time(0), self.tz).timestamp())

    def _day_close(self, t: int) -> int:
        d = datetime.fromtimestamp(t, self.tz).date()
        return int(datetime.combine(d, self.scenario.office_hours[-1][1], self.tz).timestamp())

    def _upper(self, n: int) -> int:
        """Office offset bound: receipts before it are due (after n working days) by the end."""
        k = ("U", n)
        if k not in self._bounds:
            u = int(subtract_working_days(self.scenario.end, n).timestamp())
            self._bounds[k] = self.timeline.offset(u)
        return self._bounds[k]

    def _lower_pending(self, n: int) -> int:
        """Office offset bound: receipts from it on are not yet due at the end."""
        k = ("L", n)
        if k not in self._bounds:
            tl = self.timeline
            last = datetime.fromtimestamp(tl.instant(tl.total - 1), self.tz)
            first_day = subtract_working_days(datetime.combine(last.date(), time(0), self.tz), n - 1)
            self._bounds[k] = tl.offset(int(first_day.timestamp()))
        return self._bounds[k]

    # -- dossiers ---------------------------------------------------------------------------
    def _dossiers(self, ctx: _UnitContext, d: DossierPlan, rng: random.Random) -> Iterator[PendingEvent]:
        plan, tl, end, ui = ctx.plan, self.timeline, self._end, ctx.plan.index
        idrng = random.Random(f"{rng.getrandbits(64)}:{self._id_salt}")
        n = d.received
        procs = [p for p, _ in d.procedures]

        fates = bytearray()
        for code, count in (
            (EARLY, d.early),
            (ON_TIME, d.on_time_plain),
            (LATE, d.late),
            (WITHDRAWN, d.withdrawn),
            (REFUSED, d.refused),
            (OPEN_OVERDUE, d.open_overdue),
            (OPEN_PENDING, d.open_pending),
        ):
            fates += bytes([code]) * count
        assert len(fates) == n, (len(fates), n)
        rng.shuffle(fates)
        channels = bytearray()
        for name, count in d.channels:
            channels += bytes([CHANNELS.index(name)]) * count
        rng.shuffle(channels)
        proc_of = array("H")
        for j, (_, count) in enumerate(d.procedures):
            proc_of.extend(array("H", [j]) * count)
        rng.shuffle(proc_of)

        def pick(pool: list[int], k: int) -> bytearray:
            flags = bytearray(n)
            for i in rng.sample(pool, k):
                flags[i] = 1
            return flags

        not_refused = [i for i in range(n) if fates[i] != REFUSED]
        supp = pick(not_refused, d.supplements)
        trans = pick(not_refused, d.transfers)
        resolved_idx = [i for i in range(n) if fates[i] <= LATE]
        late_idx = [i for i in resolved_idx if fates[i] == LATE]
        oo_idx = [i for i in range(n) if fates[i] == OPEN_OVERDUE]
        apology = pick(late_idx, d.apologies)
        for i in rng.sample(oo_idx, d.open_overdue_apologies):
            apology[i] = 1
        digitised = pick(resolved_idx, d.digitised)
        fee_resolved = [i for i in resolved_idx if procs[proc_of[i]].fee]
        key = f"{plan.label} ({plan.key}): dossiers.online_payment"
        paid = pick(fee_resolved, d.online_payment.of(len(fee_resolved), key, "fee-bearing resolved dossiers"))
        rating = bytearray(n)  # 0 = not rated, else 1 + level index
        levels = bytearray()
        for lvl, count in d.ratings:
            levels += bytes([RATING_LEVELS.index(lvl) + 1]) * count
        rng.shuffle(levels)
        for i, code in zip(rng.sample(resolved_idx, len(levels)), levels, strict=False):
            rating[i] = code
        lateness = bytearray(n)
        for i in late_idx:
            lateness[i] = self._draw_lateness(rng, d.late_days_max)
        del not_refused, resolved_idx, late_idx, oo_idx, fee_resolved

        # receipts, each inside the window its fate allows
        recv = array("q", bytes(8 * n))
        for i in range(n):
            fate = fates[i]
            days = procs[proc_of[i]].days
            span = days * (2 if supp[i] else 1)  # a supplement can push due by one more term
            lo, hi = 0, tl.total
            if fate == ON_TIME:
                hi = self._upper(span)
            elif fate == OPEN_OVERDUE:
                hi = self._upper(span + (1 if apology[i] else 0))
            elif fate == LATE:
                hi = self._upper(span + lateness[i] + 1)
            elif fate == OPEN_PENDING:
                lo = self._lower_pending(days)
            if hi <= lo:
                raise ScenarioError(
                    f"{plan.label} ({plan.key})",
                    f"procedure {procs[proc_of[i]].code} takes {days} working days"
                    f"{' (+ a supplement restart)' if supp[i] else ''}: a dossier cannot be {FATE_NAMES[fate]} "
                    f"within {self.scenario.start:%Y-%m-%d %H:%M} .. {self.scenario.end:%Y-%m-%d %H:%M}; "
                    "lengthen the period or shorten the procedure",
                    self.scenario.source,
                )
            recv[i] = tl.instant(rng.randrange(lo, hi))
        order = sorted(range(n), key=recv.__getitem__)

        heap: list[tuple[_Key, int, _Args]] = []
        seq = 0
        for pos, i in enumerate(order):
            r = recv[i]
            rkey = (r * 1000, ui, S_DOSSIERS, R_RECEIVED, seq)
            while heap and heap[0][0] < rkey:
                k, kind, args = heapq.heappop(heap)
                yield PendingEvent(k, ctx, kind, args)
            seq += 1
            fate = fates[i]
            p = procs[proc_of[i]]
            did = f"{plan.key}-{datetime.fromtimestamp(r, self.tz):%y%m%d}-{pos + 1:05d}"
            orig_due = self._add(r, p.days)
            yield PendingEvent(rkey, ctx, K_RECEIVED, (idrng.getrandbits(128), did, p, channels[i], r, orig_due))

            later: list[tuple[int, int, int, _Args]] = []  # (t, rank, kind, args)
            start, due = r, orig_due
            if supp[i]:
                s = tl.sample(rng, r, min(orig_due, end))
                due = self._add(s, p.days)
                start = s
                later.append(
                    (
                        s,
                        R_SUPPLEMENT,
                        K_SUPPLEMENT,
                        (idrng.getrandbits(128), did, s, due, rng.randrange(len(SUPPLEMENT_REASONS))),
                    )
                )
            close = None
            if fate == EARLY:
                close = tl.sample(rng, start, min(self._midnight(due), end))
            elif fate == ON_TIME:
                close = tl.sample_incl(rng, max(start, self._midnight(due)), due)
            elif fate == LATE:
                lat = lateness[i]
                lo_t = self._add(due, lat) if lat else due + 1
                close = tl.sample(rng, lo_t, min(self._add(due, lat + 1), end))
            if close is not None:
                if apology[i]:
                    a = tl.sample_incl(rng, due + 1, close)
                    later.append((a, R_APOLOGY, K_APOLOGY, (idrng.getrandbits(128), did, a, self._day_close(close))))
                fee = bool(paid[i]) if p.fee else None
                later.append(
                    (
                        close,
                        R_CLOSE,
                        K_RESOLVED,
                        (idrng.getrandbits(128), did, close, r, due, bool(digitised[i]), fee, channels[i]),
                    )
                )
                if rating[i]:
                    rt = close + rng.randrange(0, max(0, min(3 * 86400, end - 1 - close)) + 1)
                    later.append((rt, R_RATED, K_RATED, (idrng.getrandbits(128), did, rt, rating[i] - 1)))
            elif fate == WITHDRAWN:
                close = tl.sample(rng, start, min(due, end))
                later.append(
                    (
                        close,
                        R_CLOSE,
                        K_WITHDRAWN,
                        (idrng.getrandbits(128), did, close, rng.randrange(len(WITHDRAWAL_REASONS))),
                    )
                )
            elif fate == REFUSED:
                close = tl.sample(rng, r, min(self._add(r, 1), end))
                later.append(
                    (
                        close,
                        R_CLOSE,
                        K_REFUSED,
                        (idrng.getrandbits(128), did, close, rng.randrange(len(REFUSAL_REASONS))),
                    )
                )
            elif fate == OPEN_OVERDUE and apology[i]:
                a = tl.sample(rng, due + 1, end)
                later.append(
                    (a, R_APOLOGY, K_APOLOGY, (idrng.getrandbits(128), did, a, self._add(a, max(1, p.days // 2))))
                )
            if trans[i]:
                t = tl.sample(rng, start, close if close is not None else min(due, end))
                if close is not None and t > close:
                    t = close
                later.append(
                    (
                        t,
                        R_TRANSFER,
                        K_TRANSFERRED,
                        (idrng.getrandbits(128), did, t, d.transfer_to[rng.randrange(len(d.transfer_to))]),
                    )
                )
            for t, rank, kind, args in later:
                heapq.heappush(heap, ((t * 1000, ui, S_DOSSIERS, rank, seq), kind, args))
                seq += 1
        while heap:
            k, kind, args = heapq.heappop(heap)
            yield PendingEvent(k, ctx, kind, args)

    @staticmethod
    def _draw_lateness(rng: random.Random, cap: int) -> int:
        """Working days late beyond the due day: mostly 0-2, rarely up to ``cap``."""
        if cap == 0 or rng.random() < 0.35:
            return 0
        n = 1
        while n < cap and rng.random() < 0.5:
            n += 1
        return n

    # -- documents -----------------------------------------------------------------------------
    def _documents(self, ctx: _UnitContext, d: DocumentPlan, rng: random.Random) -> Iterator[PendingEvent]:
        tl, ui, key = self.timeline, ctx.plan.index, ctx.plan.key
        idrng = random.Random(f"{rng.getrandbits(64)}:{self._id_salt}")

        def times(k: int) -> array[int]:
            return array("q", sorted(tl.instant(rng.randrange(tl.total)) for _ in range(k)))

        issued_times, received_times = times(d.issued), times(d.received)

        # issued: 0 plain, 1 signed, 2 secret; certificate kind and leader among the signed
        kinds = bytearray([1]) * d.signed + bytearray([2]) * d.secret + bytearray(d.issued - d.signed - d.secret)
        rng.shuffle(kinds)
        certs = bytearray()
        for j, (_, count) in enumerate(d.certificate):
            certs += bytes([j]) * count
        rng.shuffle(certs)
        leader = bytearray([1]) * d.leader_signed + bytearray(d.signed - d.leader_signed)
        rng.shuffle(leader)
        online = bytearray([1]) * d.processed_online + bytearray(d.received - d.processed_online)
        rng.shuffle(online)
        cert_names = [CertificateKind(c) for c, _ in d.certificate]

        def issued() -> Iterator[PendingEvent]:
            si = 0
            for j, t in enumerate(issued_times):
                signed = kinds[j] == 1
                cert = cert_names[certs[si]] if signed else None
                lead = bool(leader[si]) if signed else False
                si += signed
                yield PendingEvent(
                    (t * 1000, ui, S_DOCUMENTS, 0, 2 * j),
                    ctx,
                    K_DOC_ISSUED,
                    (idrng.getrandbits(128), f"{key}-VBDI-{j + 1:06d}", t, signed, cert, lead, kinds[j] == 2),
                )

        def received() -> Iterator[PendingEvent]:
            for j, t in enumerate(received_times):
                yield PendingEvent(
                    (t * 1000, ui, S_DOCUMENTS, 0, 2 * j + 1),
                    ctx,
                    K_DOC_RECEIVED,
                    (idrng.getrandbits(128), f"{key}-VBDEN-{j + 1:06d}", t, bool(online[j])),
                )

        # ids are drawn as the merge pulls; the merge order is fixed by the times drawn above
        yield from heapq.merge(issued(), received(), key=attrgetter("key"))

    # -- meetings ---------------------------------------------------------------------------------
    def _meetings(self, ctx: _UnitContext, m: MeetingPlan, rng: random.Random) -> Iterator[PendingEvent]:
        tl, ui, key, start = self.timeline, ctx.plan.index, ctx.plan.key, int(self.scenario.start.timestamp())
        idrng = random.Random(f"{rng.getrandbits(64)}:{self._id_salt}")
        lo_min, hi_min = m.duration_minutes
        # a meeting must end inside the period: start no later than max duration + 1 h before the end
        hi = tl.offset(self._end - (hi_min + 60) * 60)
        if hi <= 0:
            raise ScenarioError(
                f"{ctx.plan.label} ({key}).meetings", "the period is too short for a meeting", self.scenario.source
            )
        starts = sorted(tl.instant(rng.randrange(hi)) for _ in range(m.count))
        smooth = bytearray([1]) * m.uninterrupted + bytearray(m.count - m.uninterrupted)
        rng.shuffle(smooth)
        out: list[tuple[_Key, int, _Args]] = []
        for j, s in enumerate(starts):
            mid = f"{key}-HOP-{j + 1:04d}"
            sched_at = max(start, s - rng.randrange(1, 6) * 86400 - rng.randrange(0, 8 * 3600))
            if sched_at >= s:
                sched_at = s
            ok = bool(smooth[j])
            if ok:
                drops, late_min = 0, 0
            elif rng.random() < 0.5:
                drops, late_min = rng.randrange(1, 4), 0
            else:
                drops, late_min = 0, rng.randrange(5, 31)
            began = s + late_min * 60
            ended = began + rng.randrange(lo_min, hi_min + 1) * 60
            ended = min(ended, self._end - 1)
            # a dropped endpoint that did not reconnect by the end is not counted as connected
            connected = len(m.endpoints) - (1 if drops and len(m.endpoints) > 1 else 0)
            out.append(
                (
                    (sched_at * 1000, ui, S_MEETINGS, 0, 3 * j),
                    K_MEET_SCHEDULED,
                    (idrng.getrandbits(128), mid, sched_at, m.title, s, m.endpoints),
                )
            )
            out.append(
                (
                    (began * 1000, ui, S_MEETINGS, 1, 3 * j + 1),
                    K_MEET_STARTED,
                    (idrng.getrandbits(128), mid, began, late_min),
                )
            )
            out.append(
                (
                    (ended * 1000, ui, S_MEETINGS, 2, 3 * j + 2),
                    K_MEET_ENDED,
                    (idrng.getrandbits(128), mid, began, ended, connected, drops, late_min, ok),
                )
            )
        out.sort(key=lambda x: x[0])
        for k, kind, args in out:
            yield PendingEvent(k, ctx, kind, args)

    # -- citizen feedback (phản ánh, kiến nghị) ----------------------------------------------------
    def _feedback(self, ctx: _UnitContext, f: FeedbackPlan, rng: random.Random) -> Iterator[PendingEvent]:
        """Feedback items as dossiers are made: a fate per item (handled early / on time / late, open
        overdue / pending at the end), a reception in office time inside the window the fate allows,
        ``due_at = add_working_days(received_at, days)``, the handling classified against it, a
        rating after the handling; no personal data, no text."""
        plan, tl, end, ui = ctx.plan, self.timeline, self._end, ctx.plan.index
        idrng = random.Random(f"{rng.getrandbits(64)}:{self._id_salt}")
        n, days = f.received, f.days
        fates = bytearray()
        for code, count in (
            (EARLY, f.early),
            (ON_TIME, f.on_time_plain),
            (LATE, f.late),
            (OPEN_OVERDUE, f.open_overdue),
            (OPEN_PENDING, f.open_pending),
        ):
            fates += bytes([code]) * count
        rng.shuffle(fates)
        channels = bytearray()
        for name, count in f.channels:
            channels += bytes([FEEDBACK_CHANNELS.index(name)]) * count
        rng.shuffle(channels)
        subjects = bytearray()
        for name, count in f.subjects:
            subjects += bytes([FEEDBACK_SUBJECTS.index(name)]) * count
        rng.shuffle(subjects)
        handled_idx = [i for i in range(n) if fates[i] <= LATE]
        transfer = set(rng.sample(range(n), f.transfers))
        levels = bytearray()
        for lvl, count in f.ratings:
            levels += bytes([RATING_LEVELS.index(lvl) + 1]) * count
        rng.shuffle(levels)
        rating = dict(zip(rng.sample(handled_idx, len(levels)), levels, strict=True))
        out: list[tuple[_Key, int, _Args]] = []
        receipts = []
        for i in range(n):
            fate = fates[i]
            lateness = self._draw_lateness(rng, f.late_days_max) if fate == LATE else 0
            lo, hi = 0, tl.total
            if fate in (ON_TIME, OPEN_OVERDUE):
                hi = self._upper(days)
            elif fate == LATE:
                hi = self._upper(days + lateness + 1)
            elif fate == OPEN_PENDING:
                lo = self._lower_pending(days)
            if hi <= lo:
                raise ScenarioError(
                    f"{plan.label} ({plan.key}).feedback",
                    f"an item takes {days} working days: it cannot be {FATE_NAMES[fate]} within "
                    f"{self.scenario.start:%Y-%m-%d %H:%M} .. {self.scenario.end:%Y-%m-%d %H:%M}",
                    self.scenario.source,
                )
            receipts.append((tl.instant(rng.randrange(lo, hi)), i, lateness))
        receipts.sort()
        for pos, (r, i, lateness) in enumerate(receipts):
            fid = f"{plan.key}-PAKN-{pos + 1:04d}"
            due = self._add(r, days)
            fate = fates[i]
            out.append(
                (
                    (r * 1000, ui, S_FEEDBACK, R_RECEIVED, 4 * pos),
                    K_FB_RECEIVED,
                    (idrng.getrandbits(128), fid, r, due, channels[i], subjects[i]),
                )
            )
            close = None
            if fate == EARLY:
                close = tl.sample(rng, r, min(self._midnight(due), end))
            elif fate == ON_TIME:
                close = tl.sample_incl(rng, max(r, self._midnight(due)), due)
            elif fate == LATE:
                lo_t = self._add(due, lateness) if lateness else due + 1
                close = tl.sample(rng, lo_t, min(self._add(due, lateness + 1), end))
            if i in transfer:
                t = tl.sample(rng, r, close if close is not None else min(due, end))
                t = min(t, close) if close is not None else t
                to = f.transfer_to[rng.randrange(len(f.transfer_to))]
                out.append(
                    (
                        (t * 1000, ui, S_FEEDBACK, R_TRANSFER, 4 * pos + 1),
                        K_FB_TRANSFERRED,
                        (idrng.getrandbits(128), fid, t, to),
                    )
                )
            if close is not None:
                out.append(
                    (
                        (close * 1000, ui, S_FEEDBACK, R_CLOSE, 4 * pos + 2),
                        K_FB_HANDLED,
                        (idrng.getrandbits(128), fid, r, due, close),
                    )
                )
                if i in rating:
                    rt = close + rng.randrange(0, max(0, min(3 * 86400, end - 1 - close)) + 1)
                    out.append(
                        (
                            (rt * 1000, ui, S_FEEDBACK, R_RATED, 4 * pos + 3),
                            K_FB_RATED,
                            (idrng.getrandbits(128), fid, rt, rating[i] - 1),
                        )
                    )
        out.sort(key=lambda x: x[0])
        for k, kind, args in out:
            yield PendingEvent(k, ctx, kind, args)


def simulate(scenario: Scenario) -> Iterator[Envelope]:
    """Shorthand: the scenario's events, in order."""
    return Simulation(scenario).events()


# ---------------------------------------------------------------------------------------
# Builders: compact planned steps -> validated event models
# ---------------------------------------------------------------------------------------
def _uuid(bits: int) -> uuid.UUID:
    return uuid.UUID(int=bits, version=4)


def _b_received(u: _UnitContext, bits: int, did: str, p: Procedure, ch: int, r: int, due: int) -> DossierReceived:
    channel, service = _CHANNEL_FIELDS[CHANNELS[ch]]
    t = u.dt(r)
    return DossierReceived(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        dossier_id=did,
        procedure_code=p.code,
        procedure_name=p.name,
        field=p.field,
        channel=channel,
        online_service=service,
        received_at=t,
        due_at=u.dt(due),
    )


def _b_supplement(u: _UnitContext, bits: int, did: str, s: int, new_due: int, reason: int) -> SupplementRequested:
    t = u.dt(s)
    return SupplementRequested(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        dossier_id=did,
        requested_at=t,
        reason=SUPPLEMENT_REASONS[reason],
        new_due_at=u.dt(new_due),
    )


def _b_transferred(u: _UnitContext, bits: int, did: str, t: int, to: str) -> DossierTransferred:
    ts = u.dt(t)
    return DossierTransferred(
        event_id=_uuid(bits), occurred_at=ts, **u.env, dossier_id=did, transferred_at=ts, to_unit_code=to
    )


def _b_apology(u: _UnitContext, bits: int, did: str, a: int, new_due: int) -> ApologyIssued:
    t = u.dt(a)
    return ApologyIssued(
        event_id=_uuid(bits), occurred_at=t, **u.env, dossier_id=did, issued_at=t, new_due_at=u.dt(new_due)
    )


def _b_resolved(
    u: _UnitContext, bits: int, did: str, res: int, r: int, due: int, digitised: bool, fee: bool | None, ch: int
) -> DossierResolved:
    t = u.dt(res)
    return DossierResolved(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        dossier_id=did,
        received_at=u.dt(r),
        due_at=u.dt(due),
        resolved_at=t,
        result_digitised=digitised,
        fee_paid_online=fee,
        channel=_CHANNEL_FIELDS[CHANNELS[ch]][0],
    )


def _b_withdrawn(u: _UnitContext, bits: int, did: str, w: int, reason: int) -> DossierWithdrawn:
    t = u.dt(w)
    return DossierWithdrawn(
        event_id=_uuid(bits), occurred_at=t, **u.env, dossier_id=did, withdrawn_at=t, reason=WITHDRAWAL_REASONS[reason]
    )


def _b_refused(u: _UnitContext, bits: int, did: str, f: int, reason: int) -> DossierRefused:
    t = u.dt(f)
    return DossierRefused(
        event_id=_uuid(bits), occurred_at=t, **u.env, dossier_id=did, refused_at=t, reason=REFUSAL_REASONS[reason]
    )


def _b_rated(u: _UnitContext, bits: int, did: str, rt: int, level: int) -> SatisfactionRated:
    t = u.dt(rt)
    return SatisfactionRated(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        rating_id=f"{did}-DG",
        dossier_id=did,
        rated_at=t,
        rating=_RATINGS[level],
    )


def _b_doc_issued(
    u: _UnitContext,
    bits: int,
    doc_id: str,
    t: int,
    signed: bool,
    cert: CertificateKind | None,
    leader: bool,
    secret: bool,
) -> DocumentIssued:
    ts = u.dt(t)
    return DocumentIssued(
        event_id=_uuid(bits),
        occurred_at=ts,
        **u.env,
        document_id=doc_id,
        issued_at=ts,
        digitally_signed=signed,
        certificate_kind=cert,
        signer_is_leader=leader,
        secret=secret,
    )


def _b_doc_received(u: _UnitContext, bits: int, doc_id: str, t: int, online: bool) -> DocumentReceived:
    ts = u.dt(t)
    return DocumentReceived(
        event_id=_uuid(bits), occurred_at=ts, **u.env, document_id=doc_id, received_at=ts, processed_online=online
    )


def _b_meet_scheduled(
    u: _UnitContext, bits: int, mid: str, at: int, title: str, start: int, endpoints: tuple[str, ...]
) -> MeetingScheduled:
    return MeetingScheduled(
        event_id=_uuid(bits),
        occurred_at=u.dt(at),
        **u.env,
        meeting_id=mid,
        title=title,
        scheduled_start=u.dt(start),
        endpoints=list(endpoints),
    )


def _b_meet_started(u: _UnitContext, bits: int, mid: str, began: int, late_min: int) -> MeetingStarted:
    t = u.dt(began)
    return MeetingStarted(
        event_id=_uuid(bits), occurred_at=t, **u.env, meeting_id=mid, started_at=t, late_start_minutes=late_min
    )


def _b_meet_ended(
    u: _UnitContext,
    bits: int,
    mid: str,
    began: int,
    ended: int,
    connected: int,
    drops: int,
    late_min: int,
    ok: bool,
) -> MeetingEnded:
    t = u.dt(ended)
    return MeetingEnded(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        meeting_id=mid,
        started_at=u.dt(began),
        ended_at=t,
        endpoints_connected=connected,
        connection_drops=drops,
        late_start_minutes=late_min,
        uninterrupted=ok,
    )


def _b_fb_received(u: _UnitContext, bits: int, fid: str, r: int, due: int, ch: int, subj: int) -> FeedbackReceived:
    t = u.dt(r)
    return FeedbackReceived(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        feedback_id=fid,
        channel=FeedbackChannel(FEEDBACK_CHANNELS[ch]),
        subject=FeedbackSubject(FEEDBACK_SUBJECTS[subj]),
        field=None,  # the scenario format gives no field (lĩnh vực) for feedback
        related_dossier_id=None,  # nor links to a dossier: the simulator's feedback stands alone
        received_at=t,
        due_at=u.dt(due),
    )


def _b_fb_transferred(u: _UnitContext, bits: int, fid: str, t: int, to: str) -> FeedbackTransferred:
    ts = u.dt(t)
    return FeedbackTransferred(
        event_id=_uuid(bits), occurred_at=ts, **u.env, feedback_id=fid, transferred_at=ts, to_unit_code=to
    )


def _b_fb_handled(u: _UnitContext, bits: int, fid: str, r: int, due: int, close: int) -> FeedbackHandled:
    t = u.dt(close)
    return FeedbackHandled(
        event_id=_uuid(bits),
        occurred_at=t,
        **u.env,
        feedback_id=fid,
        received_at=u.dt(r),
        due_at=u.dt(due),
        handled_at=t,
    )


def _b_fb_rated(u: _UnitContext, bits: int, fid: str, rt: int, level: int) -> FeedbackRated:
    t = u.dt(rt)
    return FeedbackRated(
        event_id=_uuid(bits), occurred_at=t, **u.env, feedback_id=fid, rated_at=t, rating=_RATINGS[level]
    )


(
    K_RECEIVED,
    K_SUPPLEMENT,
    K_TRANSFERRED,
    K_APOLOGY,
    K_RESOLVED,
    K_WITHDRAWN,
    K_REFUSED,
    K_RATED,
    K_DOC_ISSUED,
    K_DOC_RECEIVED,
    K_MEET_SCHEDULED,
    K_MEET_STARTED,
    K_MEET_ENDED,
    K_FB_RECEIVED,
    K_FB_TRANSFERRED,
    K_FB_HANDLED,
    K_FB_RATED,
) = range(17)
_BUILDERS: tuple[Callable[..., Event], ...] = (
    _b_received,
    _b_supplement,
    _b_transferred,
    _b_apology,
    _b_resolved,
    _b_withdrawn,
    _b_refused,
    _b_rated,
    _b_doc_issued,
    _b_doc_received,
    _b_meet_scheduled,
    _b_meet_started,
    _b_meet_ended,
    _b_fb_received,
    _b_fb_transferred,
    _b_fb_handled,
    _b_fb_rated,
)
