"""Builders and independent oracles shared by the pure domain tests (no Kafka, no InfluxDB).

Events are built as wire dicts and validated with ``schemas.parse_event``. The *oracle*
functions compute what a lifecycle should count straight from its specification (the
generator's ground truth) and the definitions in DOMAIN.md / common.measurements, using
``zoneinfo`` for local dates — they never call ``streams.domain.records.contributions`` or
``LocalCalendar``, so they can disagree with the code under test.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from schemas import parse_event

VN = ZoneInfo("Asia/Ho_Chi_Minh")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SEC = 1000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

PROVINCE = "82"  # Đồng Tháp
WARD = "28261"  # Phường Mỹ Tho
WARD2 = "28249"  # Phường Đạo Thạnh (same province)
SOURCE = "motcua-dongthap"


# -- time helpers (independent of streams.domain.windows) ---------------------------------------
def ms_of(dt: datetime) -> int:
    """Exact epoch ms of an aware datetime (integer arithmetic, no floats)."""
    assert dt.tzinfo is not None
    d = dt - EPOCH
    return (d.days * 86_400 + d.seconds) * 1000 + d.microseconds // 1000


def dt_of(ms: int, tz=VN) -> datetime:
    return (EPOCH + timedelta(milliseconds=ms)).astimezone(tz)


def iso(ms: int) -> str:
    return dt_of(ms).isoformat(timespec="milliseconds")


def local(y, m, d, hh=0, mm=0, ss=0, ms=0) -> int:
    """Epoch ms of a wall-clock time in Hà Nội / Hồ Chí Minh."""
    return ms_of(datetime(y, m, d, hh, mm, ss, ms * 1000, tzinfo=VN))


def utc(y, m, d, hh=0, mm=0, ss=0, ms=0) -> int:
    return ms_of(datetime(y, m, d, hh, mm, ss, ms * 1000, tzinfo=UTC))


def local_date(ms: int) -> date:
    return dt_of(ms).date()


def eid(n: int) -> str:
    return str(uuid.UUID(int=n))


# -- event builders (wire dicts -> validated models) ----------------------------------------
def _env(
    event_type: str,
    event_id: str,
    occ: int,
    unit: str = WARD,
    source: str = SOURCE,
    district: str | None = None,
    **extra,
) -> dict:
    d = {
        "event_type": event_type,
        "event_id": event_id,
        "occurred_at": iso(occ),
        "source_system": source,
        "province_code": PROVINCE,
        "ward_code": unit,
    }
    if district:
        d["district_code"] = district
    d.update(extra)
    return d


def received(
    eid_,
    dossier,
    at,
    due,
    channel="in_person",
    online_service=None,
    occ=None,
    unit=WARD,
    proc="1.001612",
    fld="Hộ tịch",
    source=SOURCE,
):
    extra = {}
    if online_service:
        extra["online_service"] = online_service
    return parse_event(
        _env(
            "dossier.received",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            procedure_code=proc,
            field=fld,
            channel=channel,
            received_at=iso(at),
            due_at=iso(due),
            **extra,
        )
    )


def resolved(eid_, dossier, rcv, due, at, digitised=False, fee=None, occ=None, unit=WARD, source=SOURCE):
    extra = {} if fee is None else {"fee_paid_online": fee}
    return parse_event(
        _env(
            "dossier.resolved",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            received_at=iso(rcv),
            due_at=iso(due),
            resolved_at=iso(at),
            result_digitised=digitised,
            **extra,
        )
    )


def supplement(eid_, dossier, at, new_due, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "dossier.supplement_requested",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            requested_at=iso(at),
            reason="thiếu giấy tờ",
            new_due_at=iso(new_due),
        )
    )


def transferred(eid_, dossier, at, to=WARD2, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "dossier.transferred",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            transferred_at=iso(at),
            to_unit_code=to,
        )
    )


def apology(eid_, dossier, at, new_due=None, occ=None, unit=WARD, source=SOURCE):
    extra = {} if new_due is None else {"new_due_at": iso(new_due)}
    return parse_event(
        _env(
            "dossier.apology_issued",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            issued_at=iso(at),
            **extra,
        )
    )


def withdrawn(eid_, dossier, at, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "dossier.withdrawn",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            withdrawn_at=iso(at),
        )
    )


def refused(eid_, dossier, at, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "dossier.refused",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            dossier_id=dossier,
            refused_at=iso(at),
            reason="không đủ điều kiện",
        )
    )


def rated(eid_, rating_id, at, level, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "dossier.rated",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            rating_id=rating_id,
            rated_at=iso(at),
            rating=level,
        )
    )


def doc_issued(eid_, doc, at, signed, leader=False, secret=False, occ=None, unit=WARD, source=SOURCE):
    extra = {"certificate_kind": "organisation"} if signed else {}
    return parse_event(
        _env(
            "document.issued",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            document_id=doc,
            issued_at=iso(at),
            digitally_signed=signed,
            signer_is_leader=leader,
            secret=secret,
            **extra,
        )
    )


def doc_received(eid_, doc, at, online, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "document.received",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            document_id=doc,
            received_at=iso(at),
            processed_online=online,
        )
    )


def meeting_scheduled(eid_, mid, occ, start, endpoints=(WARD2,), unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "meeting.scheduled",
            eid_,
            occ,
            unit,
            source,
            meeting_id=mid,
            title="Giao ban",
            scheduled_start=iso(start),
            endpoints=list(endpoints),
        )
    )


def meeting_started(eid_, mid, at, late=0, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "meeting.started",
            eid_,
            at if occ is None else occ,
            unit,
            source,
            meeting_id=mid,
            started_at=iso(at),
            late_start_minutes=late,
        )
    )


def meeting_ended(eid_, mid, start, end, smooth, drops=0, eps=3, occ=None, unit=WARD, source=SOURCE):
    return parse_event(
        _env(
            "meeting.ended",
            eid_,
            end if occ is None else occ,
            unit,
            source,
            meeting_id=mid,
            started_at=iso(start),
            ended_at=iso(end),
            endpoints_connected=eps,
            connection_drops=drops,
            uninterrupted=smooth,
        )
    )


# -- entity specifications (ground truth) and their events -------------------------------------
@dataclass
class DossierSpec:
    dossier: str
    unit: str
    rcv_at: int
    due: int
    channel: str
    os: str | None
    sups: list[tuple[str, int, int]]  # (eid, at, new_due)
    trfs: list[tuple[str, int]]
    apos: list[tuple[str, int]]
    ress: list[tuple[str, int, int, bool, bool | None]]  # (eid, occ, at, digitised, fee)
    wd: tuple[str, int] | None
    ref: tuple[str, int] | None
    rcv_eid: str
    source: str = SOURCE
    res_sources: list[str] = field(default_factory=list)

    @property
    def eff_due(self) -> int:
        if self.sups:
            return max(self.sups, key=lambda s: (s[1], s[0]))[2]
        return self.due

    @property
    def winner(self):
        """The resolution in force: greatest (occurred_at, event_id)."""
        return max(self.ress, key=lambda r: (r[1], r[0])) if self.ress else None

    def events(self) -> list:
        s = self
        out = [received(s.rcv_eid, s.dossier, s.rcv_at, s.due, s.channel, s.os, unit=s.unit, source=s.source)]
        out += [supplement(e, s.dossier, at, nd, unit=s.unit) for e, at, nd in s.sups]
        out += [transferred(e, s.dossier, at, unit=s.unit) for e, at in s.trfs]
        out += [apology(e, s.dossier, at, unit=s.unit) for e, at in s.apos]
        for i, (e, occ, at, dig, fee) in enumerate(s.ress):
            src = s.res_sources[i] if i < len(s.res_sources) else s.source
            out.append(resolved(e, s.dossier, s.rcv_at, s.eff_due, at, dig, fee, occ=occ, unit=s.unit, source=src))
        if s.wd:
            out.append(withdrawn(s.wd[0], s.dossier, s.wd[1], unit=s.unit))
        if s.ref:
            out.append(refused(s.ref[0], s.dossier, s.ref[1], unit=s.unit))
        return out

    def is_open(self) -> bool:
        return not (self.ress or self.wd or self.ref)


def classify(res_at: int, due: int) -> str:
    """By hand from DOMAIN.md: late = after due_at; early = earlier local calendar day; else on time."""
    if res_at > due:
        return "late"
    if local_date(res_at) < local_date(due):
        return "early"
    return "on_time"


def oracle_dossier(s: DossierSpec) -> list[tuple[int, str, int]]:
    out = [(s.rcv_at, "received", 1)]
    if s.channel == "online":
        out += [
            (s.rcv_at, "received_online", 1),
            (s.rcv_at, "received_online_full" if s.os == "full" else "received_online_partial", 1),
        ]
    else:
        out.append((s.rcv_at, {"in_person": "received_in_person", "postal": "received_postal"}[s.channel], 1))
    w = s.winner
    if w:
        _, _, at, dig, fee = w
        cls = classify(at, s.eff_due)
        out += [(at, "resolved", 1), (at, "resolved_" + cls, 1)]
        if dig:
            out.append((at, "results_digitised", 1))
        if fee is not None:
            out.append((at, "fee_applicable", 1))
            if fee:
                out.append((at, "paid_online", 1))
        if cls == "late" and s.apos:
            out.append((at, "late_with_apology", 1))
    out += [(at, "supplements", 1) for _, at, _ in s.sups]
    out += [(at, "transfers", 1) for _, at in s.trfs]
    out += [(at, "apologies", 1) for _, at in s.apos]
    if s.wd:
        out.append((s.wd[1], "withdrawn", 1))
    if s.ref:
        out.append((s.ref[1], "refused", 1))
    return out


@dataclass
class OtherSpec:
    """A rating, document or meeting: (events, oracle contributions)."""

    kind: str
    unit: str
    evs: list
    contrib: list[tuple[int, str, int]]


class Ids:
    """Unique event ids whose order is drawn at random (so event-id tie-breaks are exercised)."""

    def __init__(self, draw):
        self.draw = draw
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return eid((self.draw(st.integers(0, 2**20)) << 16) | self.n)


T_LO = local(2023, 12, 20)
T_HI = local(2024, 2, 10)


def _interesting_res_at(draw, rcv_at: int, due: int) -> int:
    due_day_start = ms_of(datetime.combine(local_date(due), datetime.min.time(), tzinfo=VN))
    choices = [due, due + 1, due - 1, max(rcv_at, due_day_start), max(rcv_at, due_day_start - 1)]
    pick = draw(st.sampled_from(["random"] * 4 + ["edge"]))
    if pick == "edge":
        return max(rcv_at, draw(st.sampled_from(choices)))
    return rcv_at + draw(st.integers(0, 25 * DAY))


@st.composite
def dossier_specs(
    draw,
    dossier: str = "HS-1",
    unit: str = WARD,
    t_lo: int = T_LO,
    t_hi: int = T_HI,
    allow_corrections: bool = True,
    multi_source: bool = False,
    ids=None,
) -> DossierSpec:
    ids = ids or Ids(draw)
    # arbitrary ms, or a time just around a local midnight (00:00 +07:00 = 17:00 UTC)
    if draw(st.booleans()):
        rcv_at = draw(st.integers(t_lo, t_hi))
    else:
        day = draw(st.integers(t_lo // DAY + 1, t_hi // DAY - 1))
        rcv_at = day * DAY - 7 * HOUR + draw(st.sampled_from([-1, 0, 1, -30 * MIN, 30 * MIN]))
    due = rcv_at + draw(st.integers(HOUR, 12 * DAY))
    channel, os_ = draw(
        st.sampled_from([("online", "full"), ("online", "partial"), ("in_person", None), ("postal", None)])
    )
    sups = []
    for _ in range(draw(st.integers(0, 2))):
        at = rcv_at + draw(st.integers(1, 6 * DAY))
        sups.append((ids(), at, at + draw(st.integers(HOUR, 10 * DAY))))
    trfs = [(ids(), rcv_at + draw(st.integers(0, 5 * DAY))) for _ in range(draw(st.integers(0, 1)))]
    apos = [(ids(), rcv_at + draw(st.integers(0, 30 * DAY))) for _ in range(draw(st.integers(0, 2)))]
    spec = DossierSpec(dossier, unit, rcv_at, due, channel, os_, sups, trfs, apos, [], None, None, ids())
    end = draw(
        st.sampled_from(
            ["open", "resolved", "resolved", "resolved", "withdrawn", "refused"]
            + (["corrected"] if allow_corrections else [])
        )
    )
    eff = spec.eff_due
    if end in ("resolved", "corrected"):
        at = _interesting_res_at(draw, rcv_at, eff)
        occ = at + draw(st.integers(0, 5 * MIN))
        spec.ress.append((ids(), occ, at, draw(st.booleans()), draw(st.sampled_from([None, True, False]))))
        if end == "corrected":
            at2 = _interesting_res_at(draw, rcv_at, eff)
            occ2 = draw(st.sampled_from([occ, occ + draw(st.integers(1, 3 * DAY)), max(at2, occ - 1)]))
            spec.ress.append((ids(), occ2, at2, draw(st.booleans()), draw(st.sampled_from([None, True, False]))))
            if multi_source:
                spec.res_sources = [SOURCE, "motcua-backup"]
    elif end == "withdrawn":
        spec.wd = (ids(), rcv_at + draw(st.integers(0, 20 * DAY)))
    elif end == "refused":
        spec.ref = (ids(), rcv_at + draw(st.integers(0, 3 * DAY)))
    return spec


@st.composite
def other_specs(draw, n: int = 0, unit: str = WARD, t_lo: int = T_LO, t_hi: int = T_HI, ids=None) -> OtherSpec:
    ids = ids or Ids(draw)
    kind = draw(st.sampled_from(["rating", "doc_issued", "doc_received", "meeting"]))
    at = draw(st.integers(t_lo, t_hi))
    if kind == "rating":
        lvl = draw(st.sampled_from(["very_satisfied", "satisfied", "unsatisfied"]))
        return OtherSpec(
            kind, unit, [rated(ids(), f"R{n}", at, lvl, unit=unit)], [(at, "ratings", 1), (at, "ratings_" + lvl, 1)]
        )
    if kind == "doc_issued":
        signed, leader, secret = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
        c = [(at, "documents_issued", 1)]
        if signed:
            c.append((at, "documents_signed", 1))
            if leader:
                c.append((at, "documents_signed_by_leader", 1))
        if secret:
            c.append((at, "documents_secret", 1))
        return OtherSpec(kind, unit, [doc_issued(ids(), f"VB{n}", at, signed, leader, secret, unit=unit)], c)
    if kind == "doc_received":
        online = draw(st.booleans())
        c = [(at, "documents_received", 1)] + ([(at, "documents_processed_online", 1)] if online else [])
        return OtherSpec(kind, unit, [doc_received(ids(), f"VD{n}", at, online, unit=unit)], c)
    start = at
    end = start + draw(st.integers(10 * MIN, 4 * HOUR))
    drops = draw(st.integers(0, 3))
    smooth = drops == 0 and draw(st.booleans())
    evs = [
        meeting_scheduled(ids(), f"M{n}", start - DAY, start, unit=unit),
        meeting_started(ids(), f"M{n}", start, unit=unit),
        meeting_ended(ids(), f"M{n}", start, end, smooth, drops, unit=unit),
    ]
    c = [(end, "meetings_held", 1)] + ([(end, "meetings_uninterrupted", 1)] if smooth else [])
    if drops:
        c.append((end, "meeting_connection_drops", drops))
    return OtherSpec(kind, unit, evs, c)


# -- a harness that drives Aggregator the way WorkerCore does, with a plain dict store ----------
class Harness:
    def __init__(self, cal=None, policy=None, partition_of=lambda unit: 0):
        from streams.domain.aggregator import Aggregator
        from streams.domain.alerts import AlertPolicy
        from streams.domain.windows import LocalCalendar

        self.cal = cal or LocalCalendar.for_zone()
        self.policy = policy or AlertPolicy(1, DAY)
        self.store: dict[str, dict] = {}
        self.partition_of = partition_of
        self.agg = Aggregator(self.cal, self.policy, self.get)
        # (measurement, tags, time ms, ns within the ms) -> fields as InfluxDB would hold them
        self.rows: dict[tuple, dict] = {}
        self.alerts: list[dict] = []

    def get(self, key):
        rec = self.store.get(key)
        return copy.deepcopy(rec) if rec is not None else None

    def feed(self, event) -> bool:
        from streams.domain.records import apply_event, new_record, record_key
        from streams.domain.windows import to_ms

        key, kind = record_key(event)
        p = self.partition_of(event.unit_key)
        old = self.get(key)
        new = copy.deepcopy(old) if old is not None else new_record(event, kind, p)
        if not apply_event(new, event):
            return False
        self.store[key] = new
        self.agg.observe(p, to_ms(event.event_time()))
        self.agg.apply(key, old, new)
        return True

    def feed_all(self, events):
        for e in events:
            self.feed(e)

    def advance(self, now: int, partition: int = 0) -> list[dict]:
        alerts, persist = self.agg.advance(partition, now)
        for k, rec in persist:
            self.store[k] = copy.deepcopy(rec)
        self.alerts.extend(alerts)
        return alerts

    def snapshot(self, now: int, partitions=(0,)) -> list:
        rows = self.agg.snapshot({p: now for p in partitions})
        for meas, tags, fields, t, ns in rows:
            # InfluxDB semantics: a point written again at the same series and time is merged field by field
            key = (meas, frozenset(tags.items()), t, ns)
            self.rows[key] = {**self.rows.get(key, {}), **fields}
        return rows

    def rebuilt(self) -> Harness:
        """A fresh aggregator rebuilt from this store (as after a restart/rebalance)."""
        h = Harness(self.cal, self.policy, self.partition_of)
        h.store = copy.deepcopy(self.store)
        h.agg.rebuild(list(h.store.items()))
        return h


def row_key_tags(key) -> dict[str, Any]:
    return dict(key[1])


def daily_flows(h: Harness, measurement: str, names: tuple[str, ...]) -> dict[int, dict[str, int]]:
    """A daily flow measurement's rows (report_counts, feedback_flows) summed over units and groups,
    per day start, every field present (as InfluxDB sums them)."""
    out: dict[int, dict[str, int]] = {}
    for (meas, _tags, t, _ns), fields in h.rows.items():
        if meas != measurement:
            continue
        acc = out.setdefault(t, dict.fromkeys(names, 0))
        for k, v in fields.items():
            acc[k] += v
    return out


def comparable_rows(rows: dict) -> dict:
    """Rows as two runs must agree on them: report_counts and feedback_flows points dense (missing
    fields = 0) and all-zero ones left out, since a run that saw a flow come and go wrote a point of
    zeros there."""
    from common import measurements as m

    flow_fields = {m.REPORT_COUNTS: m.REPORT_FIELDS, m.FEEDBACK_FLOWS: m.FEEDBACK_FLOW_FIELDS}
    out = {k: v for k, v in rows.items() if k[0] not in flow_fields}
    for k, v in rows.items():
        if k[0] in flow_fields:
            dense = {f: v.get(f, 0) for f in flow_fields[k[0]]}
            if any(dense.values()):
                out[k] = dense
    return out


# -- citizen feedback (phản ánh, kiến nghị) ---------------------------------------------------------
def feedback_received(
    eid_,
    fid,
    at,
    due,
    channel="national_portal",
    subject="procedure_handling",
    fld=None,
    dossier=None,
    occ=None,
    unit=WARD,
):
    extra = {k: v for k, v in (("field", fld), ("related_dossier_id", dossier)) if v is not None}
    return parse_event(
        _env(
            "feedback.received",
            eid_,
            at if occ is None else occ,
            unit,
            feedback_id=fid,
            channel=channel,
            subject=subject,
            received_at=iso(at),
            due_at=iso(due),
            **extra,
        )
    )


def feedback_transferred(eid_, fid, at, to=WARD2, occ=None, unit=WARD):
    return parse_event(
        _env(
            "feedback.transferred",
            eid_,
            at if occ is None else occ,
            unit,
            feedback_id=fid,
            transferred_at=iso(at),
            to_unit_code=to,
        )
    )


def feedback_handled(eid_, fid, rcv, due, at, outcome="answered", occ=None, unit=WARD):
    return parse_event(
        _env(
            "feedback.handled",
            eid_,
            at if occ is None else occ,
            unit,
            feedback_id=fid,
            received_at=iso(rcv),
            due_at=iso(due),
            handled_at=iso(at),
            outcome=outcome,
        )
    )


def feedback_rated(eid_, fid, at, level, occ=None, unit=WARD):
    return parse_event(
        _env("feedback.rated", eid_, at if occ is None else occ, unit, feedback_id=fid, rated_at=iso(at), rating=level)
    )
