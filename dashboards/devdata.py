"""DEVELOPMENT ONLY: fill a scratch InfluxDB bucket with points shaped exactly like
``streams/measurements.py``, so dashboard and alert queries can be written before the
worker exists.  The tests never use this: they run against the real pipeline
(``pipeline_influx`` fixture).  Usage::

    .venv/bin/python -m dashboards.devdata --bucket govpulse-dashdev [--drop]

The figures follow the Mỹ Tho 2022 calibration of shared/DOMAIN.md: the city desk
(unit_code "815") resolves 3,739 dossiers, 3,671 of them on time or early; the city with
its wards resolves 20,324, 20,255 on time (99.66 %).  Everything else is random but
internally consistent (early + on_time + late = resolved, and so on).
"""

from __future__ import annotations

import argparse
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

from streams import measurements as M

TZ_OFFSET = timedelta(hours=7)
HOUR = 3_600_000
DAY = 86_400_000
PROVINCE = "82"
DISTRICT = "815"
SOURCE = "motcua-dongthap"

# unit_code -> (level, name, ward_code, received, resolved, late)
UNITS = {
    "815": ("district", "Thành phố Mỹ Tho (cũ)", None, 4121, 3739, 68),
    "28261": ("ward", "Phường Mỹ Tho", "28261", 4200, 4150, 1),
    "28249": ("ward", "Phường Đạo Thạnh", "28249", 3100, 3080, 0),
    "28273": ("ward", "Phường Mỹ Phong", "28273", 3300, 3255, 0),
    "28270": ("ward", "Phường Thới Sơn", "28270", 2900, 2880, 0),
    "28285": ("ward", "Phường Trung An", "28285", 3221, 3220, 0),
}
PERIOD_START = datetime(2021, 12, 15, tzinfo=timezone(TZ_OFFSET))
PERIOD_END = datetime(2022, 11, 30, 17, 0, tzinfo=timezone(TZ_OFFSET))


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _local_day(ms: int) -> int:
    return (ms + 7 * HOUR) // DAY


def _day_start(day: int) -> int:
    return day * DAY - 7 * HOUR


def _local_date(ms: int) -> date:
    return date(1970, 1, 1) + timedelta(days=_local_day(ms))


def _date_start(d: date) -> int:
    return _day_start((d - date(1970, 1, 1)).days)


def _calendar_keys(ms: int) -> dict[str, int]:
    d = _local_date(ms)
    ry = d.year + 1 if d >= date(d.year, 12, 15) else d.year
    return {
        "month": _date_start(date(d.year, d.month, 1)),
        "year": _date_start(date(d.year, 1, 1)),
        "report_year": _date_start(date(ry - 1, 12, 15)),
    }


def synth_events(rng: random.Random) -> dict[str, list[tuple[int, dict[str, int]]]]:
    """Per unit: (time ms, field increments) atoms."""
    t0, t1 = _ms(PERIOD_START), _ms(PERIOD_END)
    out: dict[str, list[tuple[int, dict[str, int]]]] = {}

    def when() -> int:
        return rng.randrange(t0, t1)

    for code, (_, _, _, received, resolved, late) in UNITS.items():
        ev: list[tuple[int, dict[str, int]]] = []
        for _ in range(received):
            r = rng.random()
            inc = {"received": 1}
            if r < 0.55:
                inc |= {"received_online": 1, "received_online_full": 1}
            elif r < 0.7:
                inc |= {"received_online": 1, "received_online_partial": 1}
            elif r < 0.97:
                inc["received_in_person"] = 1
            else:
                inc["received_postal"] = 1
            ev.append((when(), inc))
        for i in range(resolved):
            cls = "late" if i < late else ("early" if rng.random() < 0.6 else "on_time")
            inc = {"resolved": 1, f"resolved_{cls}": 1}
            if rng.random() < 0.8:
                inc["results_digitised"] = 1
            if rng.random() < 0.4:
                inc["fee_applicable"] = 1
                if rng.random() < 0.5:
                    inc["paid_online"] = 1
            t = when()
            if cls == "late" and rng.random() < 0.75:
                inc["late_with_apology"] = 1
                ev.append((t - DAY, {"apologies": 1}))
            ev.append((t, inc))
        for _ in range(received // 40):
            ev.append((when(), {"supplements": 1}))
        for _ in range(received // 200):
            ev.append((when(), {"withdrawn": 1}))
        for _ in range(received // 5):
            lvl = rng.choices(["very_satisfied", "satisfied", "unsatisfied"], [96, 3.5, 0.5])[0]
            ev.append((when(), {"ratings": 1, f"ratings_{lvl}": 1}))
        for _ in range(received // 2):
            signed = rng.random() < 0.9
            inc = {"documents_issued": 1}
            if signed:
                inc["documents_signed"] = 1
                if rng.random() < 0.3:
                    inc["documents_signed_by_leader"] = 1
            ev.append((when(), inc))
        for _ in range(received * 2):
            inc = {"documents_received": 1}
            if rng.random() < 0.97:
                inc["documents_processed_online"] = 1
            ev.append((when(), inc))
        for _ in range(2 if code != "815" else 34):
            ev.append((when(), {"meetings_held": 1, "meetings_uninterrupted": 1}))
        out[code] = sorted(ev, key=lambda x: x[0])
    return out


def _fields(counts: dict[str, int]) -> dict[str, int | float]:
    f: dict[str, int | float] = {name: int(counts.get(name, 0)) for name in M.COUNT_FIELDS}
    for rate, (nums, den) in M.RATE_DEFINITIONS.items():
        if f[den]:
            f[rate] = sum(f[n] for n in nums) / f[den]
    return f


def _tags(code: str, window: str | None = None) -> dict[str, str]:
    level, name, ward, *_ = UNITS[code]
    tags = {"province_code": PROVINCE, "unit_code": code, "unit_level": level, "unit_name": name,
            "district_code": DISTRICT}
    if ward:
        tags["ward_code"] = ward
    if window:
        tags["window"] = window
    return tags


def unit_rate_points(events: dict[str, list[tuple[int, dict[str, int]]]], hours_of_24h: int = 14 * 24):
    from influxdb_client import Point, WritePrecision

    points = []
    for code, ev in events.items():
        cal: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        hourly: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        daily: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for t, inc in ev:
            for w, start in _calendar_keys(t).items():
                for k, v in inc.items():
                    cal[(w, start)][k] += v
            for k, v in inc.items():
                hourly[t // HOUR][k] += v
                daily[_local_day(t)][k] += v
        for (w, start), counts in cal.items():
            p = Point(M.UNIT_RATES).time(start, WritePrecision.MS)
            for k, v in _tags(code, w).items():
                p = p.tag(k, v)
            for k, v in _fields(counts).items():
                p = p.field(k, v)
            points.append(p)
        # rolling: as-of instants whose window holds an event, plus the first after (decay to 0)
        for w, steps, buckets, unit_ms in (("7d", 7, daily, DAY), ("30d", 30, daily, DAY), ("24h", 24, hourly, HOUR)):
            if not buckets:
                continue
            first, last = min(buckets), max(buckets)
            lo = first + 1
            if w == "24h":
                lo = max(lo, last + steps + 1 - hours_of_24h)
            for asof in range(lo, last + steps + 2):
                counts: dict[str, int] = defaultdict(int)
                for b in range(asof - steps, asof):
                    for k, v in buckets.get(b, {}).items():
                        counts[k] += v
                t = _day_start(asof) if unit_ms == DAY else asof * HOUR
                p = Point(M.UNIT_RATES).time(t, WritePrecision.MS)
                for k, v in _tags(code, w).items():
                    p = p.tag(k, v)
                for k, v in _fields(counts).items():
                    p = p.field(k, v)
                points.append(p)
    return points


def state_points(events, rng: random.Random, now: datetime):
    from influxdb_client import Point, WritePrecision

    points = []
    end = _ms(PERIOD_END)
    watermark = end
    for code in UNITS:
        # open dossiers: the last 10 days, hourly
        for h in range(end // HOUR - 240, end // HOUR + 1):
            open_ = rng.randrange(20, 60)
            overdue = 2 if code == "815" and h > end // HOUR - 48 else 0
            p = (Point(M.OPEN_DOSSIERS).time(h * HOUR, WritePrecision.MS).field("open", open_)
                 .field("overdue", overdue).field("due_soon", rng.randrange(0, 4))
                 .field("overdue_without_apology", 1 if overdue else 0))
            for k, v in _tags(code).items():
                p = p.tag(k, v)
            points.append(p)
        last_t = events[code][-1][0]
        p = (Point(M.UNIT_ACTIVITY).time(now, WritePrecision.MS)
             .field("last_event_at", datetime.fromtimestamp(last_t / 1000, timezone.utc).isoformat().replace("+00:00", "Z"))
             .field("last_event_age_seconds", (watermark - last_t) / 1000.0 + (3 * 86400 if code == "28285" else 0))
             .tag("source_system", SOURCE))
        for k, v in _tags(code).items():
            p = p.tag(k, v)
        points.append(p)
    # alerts: the city desk's late dossiers (resolved, with or without apology) and two still open
    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")

    for i in range(8):
        code = "815"
        due = end - (i + 1) * 5 * DAY
        resolved = i >= 2
        apology = i % 3 != 0
        resolved_at = due + (i + 1) * HOUR * 5 if resolved else None
        for kind, t in (("dossier_due_soon", due - DAY), ("dossier_overdue", due)) + (
                (("apology_missing", due + DAY),) if not apology else ()):
            p = (Point(M.DOSSIER_ALERTS).time(t, WritePrecision.MS)
                 .tag("kind", kind).tag("procedure_code", f"1.00{1612 + i % 3}").tag("dossier_id", f"MT-2022-{i:05d}")
                 .field("due_at", iso(due)).field("late_seconds", int((t - due) / 1000))
                 .field("field", ["Hộ tịch", "Đất đai", "Xây dựng"][i % 3])
                 .field("apology_sent", apology).field("resolved", resolved))
            if resolved_at:
                p = p.field("resolved_at", iso(resolved_at))
            for k, v in _tags(code).items():
                p = p.tag(k, v)
            points.append(p)
    # one dossier only due soon, at a ward
    due = end + 2 * HOUR
    p = (Point(M.DOSSIER_ALERTS).time(due - DAY, WritePrecision.MS).tag("kind", "dossier_due_soon")
         .tag("procedure_code", "2.000488").tag("dossier_id", "MT-2022-W0001")
         .field("due_at", iso(due)).field("late_seconds", -86400).field("field", "Chứng thực")
         .field("apology_sent", False).field("resolved", False))
    for k, v in _tags("28261").items():
        p = p.tag(k, v)
    points.append(p)
    # pipeline health: the last 30 minutes of wall clock, every 10 s
    t_now = _ms(now)
    totals = defaultdict(int)
    dead = defaultdict(int)
    for step in range(180, -1, -1):
        t = t_now - step * 10_000
        for topic in ("govpulse.dossier-events", "govpulse.document-events", "govpulse.meeting-events"):
            eps = rng.uniform(5, 50)
            totals[topic] += int(eps * 10)
            if topic == "govpulse.dossier-events" and step in (60, 59, 58):
                dead[topic] += 7
            points.append(Point(M.PIPELINE_HEALTH).time(t, WritePrecision.MS).tag("app_id", "govpulse-worker")
                          .tag("topic", topic).field("events_total", totals[topic]).field("events_per_second", eps)
                          .field("consumer_lag", rng.randrange(0, 500)).field("dead_letters", dead[topic])
                          .field("late_events", step // 30).field("duplicates", 0))
    return points


def main(argv: list[str] | None = None) -> None:
    from influxdb_client import BucketRetentionRules, InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    from govpulse.settings import get_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bucket", default="govpulse-dashdev")
    ap.add_argument("--drop", action="store_true", help="delete and recreate the bucket first")
    ap.add_argument("--seed", type=int, default=2022)
    a = ap.parse_args(argv)
    s = get_settings()
    client = InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org, timeout=120_000)
    buckets = client.buckets_api()
    existing = buckets.find_bucket_by_name(a.bucket)
    if existing and a.drop:
        buckets.delete_bucket(existing)
        existing = None
    if not existing:
        buckets.create_bucket(bucket_name=a.bucket, org=s.influx_org,
                              retention_rules=BucketRetentionRules(type="expire", every_seconds=0))
    rng = random.Random(a.seed)
    events = synth_events(rng)
    points = unit_rate_points(events) + state_points(events, rng, datetime.now(timezone.utc))
    w = client.write_api(write_options=SYNCHRONOUS)
    for i in range(0, len(points), 5000):
        w.write(bucket=a.bucket, org=s.influx_org, record=points[i:i + 5000])
    print(f"wrote {len(points)} points to bucket {a.bucket}")


if __name__ == "__main__":
    main()
