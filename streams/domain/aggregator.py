"""Per-unit window aggregates and the snapshot of rows to write (no I/O).

Its parts live beside it, one job each: ``open_dossiers`` (open dossiers and their running
gauges), ``alerts`` (alert kinds, trigger times, the alert payload and point), ``rows`` (rows and
tag sets), ``report_flows`` (the periodic report's flows), ``feedback_flows`` (citizen feedback's daily
flows), ``records`` (what a record contributes).

The worker shell feeds it record changes (old, new) and clock readings; it answers with
rows to write (measurement, tags, fields, time) and alerts to send. Everything here is
deterministic given the records and the clock, which is what makes replays reproduce
live figures and alerts.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from common import measurements as m
from common.measurements import COUNT_FIELDS
from streams.domain.alerts import (
    APOLOGY_MISSING,
    DUE_SOON,
    FEEDBACK_OVERDUE,
    OVERDUE,
    Alert,
    AlertPolicy,
    alert_payload,
    alert_row,
    feedback_alert_payload,
    feedback_alert_row,
    free_alert_ns,
    iso,
)
from streams.domain.counts import FIELD_INDEX, Counts, rates
from streams.domain.feedback_flows import feedback_flows, feedback_rewrite_days
from streams.domain.open_dossiers import OpenDossiers, open_entry
from streams.domain.records import (
    Record,
    contributions,
    effective_due,
    feedback_due,
    feedback_is_open,
    has_apology,
    is_open,
)
from streams.domain.report_flows import ReportFlow, ReportGroup, report_flows, report_group, rewrite_buckets
from streams.domain.rows import NS_PER_MS, Row, Tags, unit_tags
from streams.domain.windows import DAY_MS, HOUR_MS, ROLLING, LocalCalendar, touched_asof_steps, window_bucket_range

BucketKey = TypeVar("BucketKey")  # what changes are netted per: an instant, a local day, (report group, local day)

# Denominators are written even when zero so every defined rate has its counts beside it;
# other counts of rolling windows are written only when non-zero (rows stay small).
CORE_FIELDS = tuple(sorted({den for _, den in m.RATE_DEFINITIONS.values()}))

# unit_activity of a unit with no news is rewritten this often (its age grows while it is silent)
ACTIVITY_REFRESH_MS = 60_000


@dataclass
class UnitState(OpenDossiers):
    """One unit's buckets (hours, days, calendar periods, report days), dirty sets and open dossiers."""

    unit: str
    partition: int
    tags: dict[str, str]
    hourly: dict[int, Counts] = field(default_factory=dict)
    daily: dict[int, Counts] = field(default_factory=dict)
    calendar: dict[tuple[str, int], Counts] = field(default_factory=dict)
    dirty_hours: set[int] = field(default_factory=set)
    dirty_days: set[int] = field(default_factory=set)
    dirty_calendar: set[tuple[str, int]] = field(default_factory=set)
    deferred: set[tuple[str, int]] = field(default_factory=set)  # rolling as-of points ahead of the clock
    last_event: dict[str, int] = field(default_factory=dict)  # source_system -> last occurred_at ms
    activity_written: dict[str, int] = field(default_factory=dict)  # last_event as last written
    activity_written_at: int = 0  # wall ms of that write
    # buckets that lost a contribution (a corrected record): points over them are rewritten in full,
    # because InfluxDB keeps a field that a sparse rewrite leaves out
    removed_hours: set[int] = field(default_factory=set)
    removed_days: set[int] = field(default_factory=set)
    _window_tags: dict[str, Tags] = field(default_factory=dict)
    # report_counts: flows per (field, procedure) and local day; the days written at the next
    # snapshot, and those that lost a contribution (written in full)
    report: dict[tuple[ReportGroup, int], Counts] = field(default_factory=dict)
    dirty_report: set[tuple[ReportGroup, int]] = field(default_factory=set)
    removed_report: set[tuple[ReportGroup, int]] = field(default_factory=set)
    _report_tags: dict[ReportGroup, Tags] = field(default_factory=dict)
    # open citizen feedback (phản ánh, kiến nghị đang xử lý): key -> due_ms
    open_feedback: dict[str, int] = field(default_factory=dict)
    # feedback_flows: citizen feedback's flows per local day; the days written at the next snapshot,
    # and those that lost a contribution (written in full)
    feedback_days: dict[int, Counts] = field(default_factory=dict)
    dirty_feedback: set[int] = field(default_factory=set)
    removed_feedback: set[int] = field(default_factory=set)
    _feedback_tags: Tags | None = None
    # point times (epoch ns) of the unit's dossier_alerts points: a new alert at a taken instant
    # takes the next free nanosecond (unique per unit, so also per series whatever its kind and
    # procedure, even after a corrected reception moves a dossier to another procedure's series)
    alert_times: set[int] = field(default_factory=set)

    def report_counts(self, bucket: tuple[ReportGroup, int]) -> Counts:
        """The counts of a (group, local day) bucket, made empty if new."""
        c = self.report.get(bucket)
        if c is None:
            c = self.report[bucket] = Counts()
        return c

    def feedback_counts(self, local_day: int) -> Counts:
        """The feedback_flows counts of a local day, made empty if new."""
        c = self.feedback_days.get(local_day)
        if c is None:
            c = self.feedback_days[local_day] = Counts()
        return c

    def report_tags(self, group: ReportGroup) -> Tags:
        t = self._report_tags.get(group)
        if t is None:
            t = self._report_tags[group] = Tags(
                {**self.tags, "field": group[0], "procedure_code": group[1], "channel": group[2]}
            )
        return t

    def feedback_tags(self) -> Tags:
        """The tags of the unit's feedback_flows points: the unit's own."""
        if self._feedback_tags is None:
            self._feedback_tags = Tags(self.tags)
        return self._feedback_tags

    def window_tags(self, window: str) -> Tags:
        t = self._window_tags.get(window)
        if t is None:
            t = self._window_tags[window] = Tags({**self.tags, "window": window})
        return t


class Aggregator:
    """All units of the partitions this worker owns."""

    def __init__(
        self,
        cal: LocalCalendar,
        policy: AlertPolicy,
        get_record: Callable[[str], Record | None],
        allowed_lateness_ms: int = 400 * DAY_MS,
        rolling_windows: Iterable[str] = tuple(ROLLING),
    ) -> None:
        self.cal = cal
        self.rolling_windows = tuple(w for w in ROLLING if w in set(rolling_windows))
        policy.offset_ms = cal.offset_ms
        self.policy = policy
        self.get_record = get_record
        self.allowed_lateness_ms = allowed_lateness_ms
        self.units: dict[str, UnitState] = {}
        self.watermark: dict[int, int] = {}
        # per partition: alert triggers (at, key, kind, due) as a heap
        self._heaps: dict[int, list[tuple[int, str, str, int]]] = {}
        self.alert_updates: dict[tuple[str, str], Row] = {}
        # (key, kind) -> nanosecond of an alert point whose record does not hold it (records of
        # earlier versions) or holds one another point took first (see _settle_alert_times)
        self._alert_ns: dict[tuple[str, str], int] = {}
        # while rebuilding: the records with alert flags, whose points wait until every stored
        # nanosecond is known (None: not rebuilding)
        self._rebuild_alerted: list[tuple[str, Record]] | None = None

    # -- records ---------------------------------------------------------------------
    def _unit(self, rec: Record) -> UnitState:
        u = self.units.get(rec["unit"])
        if u is None:
            u = self.units[rec["unit"]] = UnitState(rec["unit"], rec["partition"], unit_tags(rec))
        elif rec.get("district_code") and "district_code" not in u.tags:
            u.tags = unit_tags(rec)
            u._window_tags.clear()
            u._report_tags.clear()
            u._feedback_tags = None
        return u

    def observe(self, partition: int, event_ms: int) -> None:
        if event_ms > self.watermark.get(partition, -(2**62)):
            self.watermark[partition] = event_ms

    def apply(self, key: str, old: Record | None, new: Record) -> None:
        """Account for a record change: window deltas, open-dossier tracking, alert refresh."""
        u = self._unit(new)
        old_c = contributions(old, self.cal)
        new_c = contributions(new, self.cal)
        if old_c != new_c:
            # net the change per instant first: a resolution leaves the reception's counts untouched
            for t, changes in _netted(old_c, new_c).items():
                self._bump_many(u, t, changes)
        if new["kind"] == "d":
            self._report(u, old, new)
            self._track_dossier(u, key, new)
        elif new["kind"] == "f":
            self._feedback_flows(u, old, new)
            self._track_feedback(u, key, new)

    def _report(self, u: UnitState, old: Record | None, new: Record) -> None:
        """The report_counts flows of a dossier change, netted per (group, day, field)."""
        old_f = report_flows(old, self.cal)
        new_f = report_flows(new, self.cal)
        if not old_f:
            # the common case (a dossier's first events): only additions, straight into the buckets
            if new_f:
                self._report_add(u, report_group(new), new_f)
            return
        old_g = report_group(old) if old else None
        new_g = report_group(new)
        if old_f == new_f and old_g == new_g:
            return
        day = self.cal.local_day
        netted = _netted(
            [((old_g, day(t)), idx, d) for t, idx, d in old_f] if old_g is not None else [],
            [((new_g, day(t)), idx, d) for t, idx, d in new_f],
        )
        for bucket, changes in netted.items():
            _bump_bucket(u.report_counts(bucket), changes, bucket, u.dirty_report, u.removed_report)

    def _feedback_flows(self, u: UnitState, old: Record | None, new: Record) -> None:
        """The feedback_flows of a feedback item's change, netted per (day, field)."""
        old_f = feedback_flows(old)
        new_f = feedback_flows(new)
        if old_f == new_f:
            return
        day = self.cal.local_day
        netted = _netted([(day(t), idx, d) for t, idx, d in old_f], [(day(t), idx, d) for t, idx, d in new_f])
        for local_day, changes in netted.items():
            _bump_bucket(u.feedback_counts(local_day), changes, local_day, u.dirty_feedback, u.removed_feedback)

    def _bump_many(self, u: UnitState, t: int, changes: list[tuple[int, int]]) -> None:
        """Add (field, delta) changes at instant t to every bucket that holds t."""
        h = t // HOUR_MS
        day = self.cal.local_day(t)
        periods = _calendar_keys(self.cal, day)
        # bucket stores with their key at t: an hour, a day, a (calendar window, key)
        stores: tuple[tuple[dict[Any, Counts], int | tuple[str, int]], ...] = (
            (u.hourly, h),
            (u.daily, day),
            *((u.calendar, p) for p in periods),
        )
        for store, k in stores:
            c = store.get(k)
            if c is None:
                c = store[k] = Counts()
            for idx, delta in changes:
                c.bump(idx, delta)
        u.dirty_hours.add(h)
        u.dirty_days.add(day)
        u.dirty_calendar.update(periods)
        if any(d < 0 for _, d in changes):
            u.removed_hours.add(h)
            u.removed_days.add(day)

    def _report_add(self, u: UnitState, group: ReportGroup, flows: list[ReportFlow]) -> None:
        day = self.cal.local_day
        for t, idx, d in flows:
            bucket = (group, day(t))
            u.report_counts(bucket).bump(idx, d)
            u.dirty_report.add(bucket)

    # -- open dossiers and alerts -------------------------------------------------------
    def _push(self, partition: int, at: int, key: str, kind: str, due: int) -> None:
        # ties on the trigger time are broken by key: deterministic across replays, and no sequence
        # number to keep per open dossier
        heapq.heappush(self._heaps.setdefault(partition, []), (at, key, kind, due))

    def _track_dossier(self, u: UnitState, key: str, rec: Record) -> None:
        due = effective_due(rec)
        apo = has_apology(rec)
        entry = u.open.get(key)
        if is_open(rec) and due is not None:
            if entry is None or entry >> 3 != due:
                u.open_put(key, open_entry(due, 0, apo))
                p = rec["partition"]
                soon = self.policy.due_soon_at(due)
                # one trigger at a time per dossier: advance() pushes the next kind when one is due
                if soon is not None and soon > rec["reception"]["at_ms"]:
                    self._push(p, soon, key, DUE_SOON, due)
                else:
                    self._push(p, due, key, OVERDUE, due)
            elif bool(entry & 1) != apo:
                u.open_update(key, apology=apo)
        elif entry is not None:
            u.open_drop(key)
        elif (
            due is not None
            and "resolution" in rec
            and rec["resolution"]["at_ms"] > due
            and not apo
            and APOLOGY_MISSING not in rec.get("alerts_raised", {})
        ):
            # resolved late but never seen open (its resolution was read first, or after a rebuild):
            # it still owes the apology check, as when the events come in order
            self._push(rec["partition"], due + self.policy.apology_grace_ms, key, APOLOGY_MISSING, due)
        if rec.get("alerts_raised"):
            self._refresh_alert_rows(u, key, rec)

    def advance(self, partition: int, now_ms: int) -> tuple[list[Alert], list[tuple[str, Record]]]:
        """Fire every alert whose trigger time is before ``now_ms`` in this partition.

        Returns (alerts, records to persist with their alert flags set). Each dossier gets
        each kind at most once: the flag lives in its record, which survives restarts.
        """
        heap = self._heaps.get(partition)
        alerts: list[Alert] = []
        # records flagged in this call: several kinds of one dossier can fire together, and the
        # caller persists only after we return, so each must build on the flags set before it
        flagged: dict[str, Record] = {}
        # strictly before now: a dossier resolved exactly at due_at is on time, not overdue
        while heap and heap[0][0] < now_ms:
            at, key, kind, due = heapq.heappop(heap)
            rec = flagged.get(key) or self.get_record(key)
            if kind == FEEDBACK_OVERDUE:
                fired = self._feedback_overdue(rec, key, at, due)
                if fired is not None:
                    flagged[key], alert = fired
                    alerts.append(alert)
                continue
            if rec is None or effective_due(rec) != due:
                continue
            # the dossier's next trigger (due soon -> overdue -> apology missing), whether or not
            # this one fires: the same alerts as pushing all three up front, with a third of the heap
            if kind == DUE_SOON:
                self._push(partition, due, key, OVERDUE, due)
            elif kind == OVERDUE:
                self._push(partition, due + self.policy.apology_grace_ms, key, APOLOGY_MISSING, due)
            u = self.units.get(rec["unit"])
            if u is None:
                continue
            entry = u.open.get(key)
            if kind == APOLOGY_MISSING:
                res = rec.get("resolution")
                went_late = entry is not None or (res is not None and res["at_ms"] > due)
                if not went_late or has_apology(rec):
                    continue
            elif entry is None:
                continue  # closed before it was due
            else:
                u.open_update(key, status=2 if kind == OVERDUE else max((entry >> 1) & 3, 1))
            if kind in rec.get("alerts_raised", {}):
                continue  # fired before (after a rebuild or a due-date restart): the gauges still follow
            ns = self._take_alert_ns(u, key, at)
            rec = rec.copy()
            rec["alerts_raised"] = {**rec.get("alerts_raised", {}), kind: [at, due, ns]}
            flagged[key] = rec
            alert = alert_payload(u.unit, u.tags, key, rec, kind, at, due)
            alerts.append(alert)
            self.alert_updates[(key, kind)] = alert_row(u.tags, alert, ns)
        return alerts, list(flagged.items())

    def _take_alert_ns(self, u: UnitState, key: str, at: int) -> int:
        """A free nanosecond within ``at`` for a new alert point of this dossier, now taken."""
        ns = free_alert_ns(u.alert_times, at, key.split("|", 2)[2])
        u.alert_times.add(at * NS_PER_MS + ns)
        return ns

    def _refresh_alert_rows(self, u: UnitState, key: str, rec: Record) -> None:
        """A dossier that already alerted changed (resolved, apologised): rewrite its alert points."""
        if self._rebuild_alerted is not None:
            self._rebuild_alerted.append((key, rec))
            return
        for kind, flag in rec["alerts_raised"].items():
            at, due = flag[0], flag[1]
            ns = self._alert_ns.get((key, kind))
            if ns is None:
                if len(flag) > 2:
                    ns = flag[2]
                    u.alert_times.add(at * NS_PER_MS + ns)
                else:
                    # a flag of an earlier version that no rebuild saw: give it a nanosecond now
                    ns = self._alert_ns[(key, kind)] = self._take_alert_ns(u, key, at)
            self.alert_updates[(key, kind)] = self._alert_point(u, key, rec, kind, at, due, ns)

    @staticmethod
    def _alert_point(u: UnitState, key: str, rec: Record, kind: str, at: int, due: int, ns: int) -> Row:
        """The InfluxDB point of one alert: dossier_alerts, or feedback_alerts for a feedback item."""
        if kind == FEEDBACK_OVERDUE:
            return feedback_alert_row(u.tags, feedback_alert_payload(u.unit, u.tags, key, rec, kind, at, due), ns)
        return alert_row(u.tags, alert_payload(u.unit, u.tags, key, rec, kind, at, due), ns)

    def _settle_alert_times(self, alerted: list[tuple[str, Record]]) -> None:
        """After a rebuild: every alert point gets its nanosecond, the same whatever order the
        records came in, and its row.

        Stored nanoseconds are taken first. Two points claiming one instant cannot come from this
        version's bookkeeping (it only hands out free ones), but a stalled former owner could have
        written such a record: the smallest (key, kind) keeps the instant. Then the flags without a
        usable nanosecond (records of earlier versions, and those losers) take free ones in (key,
        kind) order. That is stable from one rebuild to the next: an alert fired meanwhile took
        only nanoseconds free after the last rebuild's assignment, so each of these finds the same
        first free one again."""
        owners: dict[tuple[str, int], tuple[str, str]] = {}  # (unit, point time ns) -> (key, kind)
        to_assign: list[tuple[str, str, int, str]] = []  # (key, kind, at, unit)
        for key, rec in alerted:
            for kind, flag in rec["alerts_raised"].items():
                if len(flag) < 3:
                    to_assign.append((key, kind, flag[0], rec["unit"]))
                    continue
                instant = (rec["unit"], flag[0] * NS_PER_MS + flag[2])
                other = owners.get(instant)
                if other is None or (key, kind) < other:
                    owners[instant] = (key, kind)
                if other is not None:
                    loser = max(other, (key, kind))
                    to_assign.append((*loser, flag[0], rec["unit"]))
        for (unit, t), _owner in owners.items():
            self.units[unit].alert_times.add(t)
        for key, kind, at, unit in sorted(to_assign):
            self._alert_ns[(key, kind)] = self._take_alert_ns(self.units[unit], key, at)
        for key, rec in alerted:
            self._refresh_alert_rows(self.units[rec["unit"]], key, rec)

    # -- citizen feedback (phản ánh, kiến nghị): open items and their overdue alert ------------------
    def _track_feedback(self, u: UnitState, key: str, rec: Record) -> None:
        """An open feedback item gets one trigger at its due date; handling it closes it."""
        due = feedback_due(rec)
        if feedback_is_open(rec) and due is not None:
            if u.open_feedback.get(key) != due:
                u.open_feedback[key] = due
                self._push(rec["partition"], due, key, FEEDBACK_OVERDUE, due)
        else:
            u.open_feedback.pop(key, None)
        if rec.get("alerts_raised"):
            # an item that already alerted changed (handled): rewrite its alert point, at the same
            # nanosecond (the dossiers' bookkeeping, which a rebuild settles for both)
            self._refresh_alert_rows(u, key, rec)

    def _feedback_overdue(self, rec: Record | None, key: str, at: int, due: int) -> tuple[Record, Alert] | None:
        """The overdue alert of a feedback item still open with this due date, once per item (the
        flag lives in its record, as a dossier's do): (the record with its flag set, the alert)."""
        if rec is None or feedback_due(rec) != due:
            return None
        u = self.units.get(rec["unit"])
        if u is None or key not in u.open_feedback or FEEDBACK_OVERDUE in rec.get("alerts_raised", {}):
            return None
        ns = self._take_alert_ns(u, key, at)
        rec = rec.copy()
        rec["alerts_raised"] = {**rec.get("alerts_raised", {}), FEEDBACK_OVERDUE: [at, due, ns]}
        alert = feedback_alert_payload(u.unit, u.tags, key, rec, FEEDBACK_OVERDUE, at, due)
        self.alert_updates[(key, FEEDBACK_OVERDUE)] = feedback_alert_row(u.tags, alert, ns)
        return rec, alert

    # -- rebuild after recovery -----------------------------------------------------------
    def rebuild(self, records: Iterable[tuple[str, Record]]) -> int:
        """Recompute all aggregates from recovered records; returns how many were applied."""
        from streams.domain.records import latest_time

        n = 0
        self._rebuild_alerted = []
        for key, rec in records:
            self.apply(key, None, rec)
            if rec["kind"] == "d":
                self._rewrite_earlier_report_points(rec)
            elif rec["kind"] == "f":
                self._rewrite_earlier_feedback_points(rec)
            self.observe(rec["partition"], latest_time(rec))
            src_t = latest_time(rec)
            u = self.units[rec["unit"]]
            if src_t > u.last_event.get(rec["source_system"], 0):
                u.last_event[rec["source_system"]] = src_t
            n += 1
        alerted, self._rebuild_alerted = self._rebuild_alerted, None
        self._settle_alert_times(alerted)
        return n

    def _rewrite_earlier_report_points(self, rec: Record) -> None:
        """The report points an earlier owner may have written for this dossier's earlier states
        are written again, in full, with what this worker holds (zeros where nothing is left)."""
        u = self.units[rec["unit"]]
        for bucket in rewrite_buckets(rec, self.cal):
            u.report_counts(bucket)
            u.dirty_report.add(bucket)
            u.removed_report.add(bucket)

    def _rewrite_earlier_feedback_points(self, rec: Record) -> None:
        """The feedback_flows points an earlier owner may have written for this item's earlier states
        are written again, in full, with what this worker holds (zeros where nothing is left)."""
        u = self.units[rec["unit"]]
        for local_day in feedback_rewrite_days(rec, self.cal):
            u.feedback_counts(local_day)
            u.dirty_feedback.add(local_day)
            u.removed_feedback.add(local_day)

    # -- snapshot -------------------------------------------------------------------------
    def snapshot(self, clocks: dict[int, int], wall_ms: int | None = None) -> list[Row]:
        """Rows for every series that changed since the last snapshot (and is not ahead of the clock)."""
        rows: list[Row] = []
        for u in self.units.values():
            now = clocks.get(u.partition)
            if now is None:
                continue
            rows.extend(self._unit_rows(u, now))
            if (
                wall_ms is not None
                and u.last_event
                and (u.last_event != u.activity_written or wall_ms - u.activity_written_at >= ACTIVITY_REFRESH_MS)
            ):
                # on news, and otherwise once a minute so a silent unit's age keeps growing: every
                # unit at every flush was thousands of points per flush that said nothing new
                u.activity_written, u.activity_written_at = dict(u.last_event), wall_ms
                for src, last in u.last_event.items():
                    rows.append(
                        Row(
                            m.UNIT_ACTIVITY,
                            {**u.tags, "source_system": src},
                            {"last_event_at": iso(last), "last_event_age_seconds": max(0, now - last) / 1000},
                            wall_ms,
                        )
                    )
        rows.extend(self.alert_updates.values())
        self.alert_updates.clear()
        return rows

    def _unit_rows(self, u: UnitState, now: int) -> list[Row]:
        rows: list[Row] = []
        current = {"hour": now // HOUR_MS + 1, "day": self.cal.local_day(now) + 1}  # partial current step too
        deferred = u.deferred
        u.deferred = set()
        for window in self.rolling_windows:
            bucket, steps = ROLLING[window]
            hourly = bucket == "hour"
            dirty = u.dirty_hours if hourly else u.dirty_days
            removed = u.removed_hours if hourly else u.removed_days
            store = u.hourly if hourly else u.daily
            todo: set[int] = {st for (w, st) in deferred if w == window}
            for b in dirty:
                todo.update(touched_asof_steps(b, steps))
            full_steps: set[int] = set()
            for b in removed:
                full_steps.update(touched_asof_steps(b, steps))
            limit = current[bucket]
            for st in todo:
                if st > limit:
                    u.deferred.add((window, st))
            tags = u.window_tags(window)
            total = Counts()
            prev = None
            for st in sorted(x for x in todo if x <= limit):
                if prev is not None and st - prev < steps:
                    # slide the window [prev - steps, prev) to [st - steps, st)
                    for b in range(prev - steps, st - steps):
                        c = store.get(b)
                        if c:
                            total.add(c, -1)
                    for b in range(prev, st):
                        c = store.get(b)
                        if c:
                            total.add(c)
                else:
                    total = Counts()
                    for b in window_bucket_range(st, steps):
                        c = store.get(b)
                        if c:
                            total.add(c)
                prev = st
                t = st * HOUR_MS if hourly else self.cal.day_start(st)
                rows.append(_rate_row(tags, total, t, full=st in full_steps))
        u.dirty_hours.clear()
        u.dirty_days.clear()
        u.removed_hours.clear()
        u.removed_days.clear()
        for window, key in u.dirty_calendar:
            start = self.cal.period_start(window, key)
            rows.append(_rate_row(u.window_tags(window), u.calendar.get((window, key), Counts()), start, full=True))
        u.dirty_calendar.clear()
        for report_bucket in u.dirty_report:
            group, local_day = report_bucket
            c = u.report.get(report_bucket) or Counts()
            report_fields = _flow_fields(c, m.REPORT_FIELDS, full=report_bucket in u.removed_report)
            if report_fields:
                rows.append(Row(m.REPORT_COUNTS, u.report_tags(group), report_fields, self.cal.day_start(local_day)))
        u.dirty_report.clear()
        u.removed_report.clear()
        for local_day in u.dirty_feedback:
            c = u.feedback_days.get(local_day) or Counts()
            flow_fields = _flow_fields(c, m.FEEDBACK_FLOW_FIELDS, full=local_day in u.removed_feedback)
            if flow_fields:
                rows.append(Row(m.FEEDBACK_FLOWS, u.feedback_tags(), flow_fields, self.cal.day_start(local_day)))
        u.dirty_feedback.clear()
        u.removed_feedback.clear()
        if u.gauges_dirty:
            rows.append(Row(m.OPEN_DOSSIERS, Tags(u.tags), dict(u.gauges()), (now // HOUR_MS) * HOUR_MS))
            u.gauges_dirty = False
        return rows

    def pending_rows(self) -> int:
        return sum(
            len(u.dirty_hours) + len(u.dirty_days) + len(u.dirty_calendar) + len(u.dirty_report) + len(u.dirty_feedback)
            for u in self.units.values()
        )


@lru_cache(maxsize=65536)
def _calendar_keys(cal: LocalCalendar, day: int) -> tuple[tuple[str, int], ...]:
    """(window, key) of every calendar and report period holding a local day."""
    t = cal.day_start(day) + HOUR_MS
    return tuple((w, cal.period_key(w, t)) for w in m.CALENDAR_WINDOWS)


def _netted(
    old: Iterable[tuple[BucketKey, int, int]], new: Iterable[tuple[BucketKey, int, int]]
) -> dict[BucketKey, list[tuple[int, int]]]:
    """Per bucket (an instant, a day…), the (field index, delta) changes that take an old state's
    contributions away and add a new state's, netted (one both states have in a bucket is no change)."""
    net: dict[BucketKey, dict[int, int]] = {}
    for key, idx, d in old:
        dd = net.setdefault(key, {})
        dd[idx] = dd.get(idx, 0) - d
    for key, idx, d in new:
        dd = net.setdefault(key, {})
        dd[idx] = dd.get(idx, 0) + d
    out: dict[BucketKey, list[tuple[int, int]]] = {}
    for key, dd in net.items():
        changes = [(idx, d) for idx, d in dd.items() if d]
        if changes:
            out[key] = changes
    return out


def _bump_bucket(
    c: Counts, changes: list[tuple[int, int]], key: BucketKey, dirty: set[BucketKey], removed: set[BucketKey]
) -> None:
    """Apply a bucket's netted changes; a bucket that lost a contribution is written in full."""
    for idx, d in changes:
        c.bump(idx, d)
    dirty.add(key)
    if any(d < 0 for _, d in changes):
        removed.add(key)


def _flow_fields(c: Counts, names: tuple[str, ...], full: bool) -> dict[str, object]:
    """A daily flow point's fields (report_counts, feedback_flows): all of them, zeros included, when a
    contribution was taken away (so no stale value survives in InfluxDB), else the non-zero ones."""
    if full:
        return {name: c.get(i, 0) for i, name in enumerate(names)}
    return {names[i]: v for i, v in c.items()}


def _rate_row(tags: dict[str, str], counts: Counts, t: int, full: bool = True) -> Row:
    """A unit_rates row: all counts (full) or denominators plus non-zero counts, and defined rates."""
    if full:
        fields: dict[str, object] = dict(counts.as_fields())
    else:
        fields = {name: counts.get(FIELD_INDEX[name], 0) for name in CORE_FIELDS}
        for idx, v in counts.items():
            fields[COUNT_FIELDS[idx]] = v
    fields.update(rates(counts))
    return Row(m.UNIT_RATES, tags, fields, t)


__all__ = ["Aggregator", "UnitState"]
