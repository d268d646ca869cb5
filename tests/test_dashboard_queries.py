"""Every dashboard panel, template variable and alert-rule query, taken from the generated JSON /
rule payloads exactly as Grafana would send it (variables and Flux macros substituted), run
against the real InfluxDB filled by the real pipeline (simulator → Kafka → worker) with the
Mỹ Tho 2022 scenario, checked for its columns and against the calibration figures and an
independent computation from the raw points.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from common import measurements as M
from dashboards import alerts
from dashboards import queries as Q
from dashboards.flux import interpolate
from tests.conftest import unique

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parent.parent
START = datetime(2021, 6, 1, tzinfo=UTC)
PERIOD_END = datetime(2022, 11, 30, 17, 0, tzinfo=UTC)  # 2022-12-01 00:00 Asia/Ho_Chi_Minh
WINDOW_PERIOD = timedelta(hours=1)
PROVINCE, CITY_DESK = "82", "815"
VARS = {"province": PROVINCE, "unit": CITY_DESK, "window": "report_year"}

# Mỹ Tho 2022 (shared/DOMAIN.md)
CITY_RESOLVED, CITY_ON_TIME, CITY_RECEIVED = 20324, 20255, 20742
DESK_RECEIVED, DESK_RESOLVED, DESK_ON_TIME = 4121, 3739, 3671


def _rate_cols(rate: str) -> set[str]:
    nums, den = M.RATE_DEFINITIONS[rate]
    return {"_time", *nums, den, rate}


def _registry() -> dict[str, tuple[str, set[str]]]:
    """Query text -> (what it is, the columns it must return), for every query the builders can make."""
    reg: dict[str, tuple[str, set[str]]] = {}
    scopes = (Q.PROVINCE, Q.UNIT, Q.UNIT_OR_ALL)
    for rate in M.RATE_DEFINITIONS:
        for s in scopes:
            reg[Q.rate_latest(rate, s)] = (f"rate_latest:{rate}:{s.name}", _rate_cols(rate))
            reg[Q.rate_over_time(rate, s)] = (f"rate_over_time:{rate}:{s.name}", _rate_cols(rate))
    reg[Q.unit_ranking()] = (
        "unit_ranking",
        {
            "rank",
            "unit_code",
            "unit_name",
            "unit_level",
            "received",
            "resolved",
            "on_time",
            "late",
            "on_time_rate",
            "as_of",
        },
    )
    for s in scopes:
        reg[Q.unit_rate_table(s)] = (
            f"unit_rate_table:{s.name}",
            {"rate", "label", "numerator", "denominator", "value", "as_of"},
        )
        for f in M.OPEN_FIELDS:
            reg[Q.open_dossiers_latest(f, s)] = (f"open_latest:{f}:{s.name}", {"_time", f})
        reg[Q.open_dossiers_over_time(s)] = (f"open_over_time:{s.name}", {"_time", *M.OPEN_FIELDS})
        reg[Q.late_dossiers_live(s)] = (
            f"late_live:{s.name}",
            {
                "status",
                "unit_code",
                "unit_name",
                "procedure_code",
                "field",
                "dossier_id",
                "due_at",
                "late_seconds",
                "late_seconds_now",
                "apology_sent",
            },
        )
        for status in ("Quá hạn", "Sắp đến hạn"):
            for wa in (False, True):
                reg[Q.late_dossiers_count(status, s, wa)] = (f"late_count:{status}:{wa}:{s.name}", {"count"})
        reg[Q.late_by_procedure(s)] = (
            f"late_by_procedure:{s.name}",
            {"unit_code", "unit_name", "procedure_code", "overdue", "without_apology", "max_late_seconds"},
        )
        reg[Q.resolved_late_dossiers(s)] = (
            f"resolved_late:{s.name}",
            {
                "unit_code",
                "unit_name",
                "procedure_code",
                "field",
                "dossier_id",
                "due_at",
                "resolved_at",
                "late_seconds",
                "apology_sent",
            },
        )
        reg[Q.unit_alerts(s)] = (
            f"unit_alerts:{s.name}",
            {
                "_time",
                "kind",
                "procedure_code",
                "field",
                "dossier_id",
                "due_at",
                "late_seconds",
                "apology_sent",
                "resolved",
            },
        )
    for f in M.HEALTH_FIELDS:
        for fn in ("mean", "max", "last"):
            reg[Q.health_gauge(f, fn)] = (f"health_gauge:{f}", {"_time", "app_id", "topic", f})
        reg[Q.health_counter_increase(f)] = (f"health_increase:{f}", {"_time", "app_id", "topic", f})
        reg[Q.health_counter_total(f)] = (f"health_total:{f}", {f})
    reg[Q.unit_activity_table()] = (
        "unit_activity",
        {
            "unit_code",
            "unit_name",
            "unit_level",
            "source_system",
            "last_event_at",
            "last_event_age_seconds",
            "reported_at",
        },
    )
    reg[Q.silent_units_count()] = ("silent_units", {"silent"})
    report_columns = set(Q.PERIOD_REPORT_COLUMNS)
    for s in (Q.PROVINCE, Q.UNIT):
        for group, keys in Q.REPORT_GROUPS.items():
            for top in (None, 10):
                reg[Q.period_report(group, s, top)] = (f"period_report:{group}:{s.name}", {*keys, *report_columns})
        reg[Q.late_by_field(s)] = (f"late_by_field:{s.name}", set(Q.LATE_BY_FIELD_COLUMNS))
        reg[Q.period_unit_ranking(s)] = (
            f"period_unit_ranking:{s.name}",
            {"rank", "unit_code", "unit_name", *report_columns},
        )
    # the index of Decision 766: written by `govpulse index`, not the worker (tests/test_service_index_integration.py
    # runs these after it)
    reg[Q.service_index_table("unit")] = ("service_index_table", {*Q.SERVICE_INDEX_COLUMNS, "period"})
    reg[Q.service_index_ranking()] = ("service_index_ranking", {"rank", "unit_code", "unit_name", "score"})
    reg[Q.service_index_points_lost("unit")] = ("service_index_points_lost", set(Q.SERVICE_INDEX_LOST_COLUMNS))
    reg[Q.service_index_history("unit")] = ("service_index_history", {"_time", "name", "score"})
    for name, fn in (("var_province", Q.var_province), ("var_window", Q.var_window), ("var_unit", Q.var_unit)):
        reg[fn()] = (name, {"_value"})
    return reg


def _dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, where, query) for every panel target and template variable of the generated JSON."""
    out = []
    for path in sorted((REPO / "dashboards" / "json").glob("*.json")):
        dash = json.loads(path.read_text(encoding="utf-8"))
        for v in dash["templating"]["list"]:
            out.append((path.name, f"variable {v['name']}", v["query"]))
        for p in dash["panels"]:
            for t in p.get("targets") or []:
                out.append((path.name, f"panel {p['id']} {p['title']} [{t['refId']}]", t["query"]))
    return out


# ---------------------------------------------------------------------------------------
class Influx:
    def __init__(self, settings):
        from influxdb_client import InfluxDBClient

        self.settings = settings
        self.bucket = settings.influx_bucket
        self.client = InfluxDBClient(
            url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org, timeout=300_000
        )

    def raw(self, flux: str) -> list[dict]:
        tables = self.client.query_api().query(flux)
        return [{k: v for k, v in r.values.items() if k not in ("result", "table")} for t in tables for r in t.records]

    def tables(self, flux: str) -> list[list[dict]]:
        return [
            [{k: v for k, v in r.values.items() if k not in ("result", "table")} for r in t.records]
            for t in self.client.query_api().query(flux)
        ]

    def grafana(
        self,
        query: str,
        *,
        start: datetime = START,
        stop: datetime | None = None,
        window_period: timedelta = WINDOW_PERIOD,
        **variables: str,
    ) -> list[dict]:
        """Run a query as Grafana would send it for this time range and these variable values."""
        text = interpolate(
            query,
            start=start,
            stop=stop or _now(),
            window_period=window_period,
            bucket=self.bucket,
            organization=self.settings.influx_org,
            variables=VARS | variables,
        )
        return self.raw(text)

    def snapshot_counts(
        self,
        window: str,
        stop: datetime,
        unit: str | None = None,
        step_ahead: bool = True,
        since: datetime = START - timedelta(days=400),
    ) -> tuple[datetime, dict]:
        """Independently of the dashboard queries: the latest unit_rates points of a window as of ``stop``
        (for rolling windows the step containing it: its point is at the step's end), counts summed over
        the province (or one unit)."""
        unit_pred = f' and r.unit_code == "{unit}"' if unit else ""
        ahead = {"24h": timedelta(hours=1), "7d": timedelta(days=1), "30d": timedelta(days=1)}.get(window)
        until = stop + ahead if (ahead and step_ahead) else stop
        rows = self.raw(f'''from(bucket: "{self.bucket}")
            |> range(start: {_ts(since)}, stop: {_ts(until)})
            |> filter(fn: (r) => r._measurement == "{M.UNIT_RATES}" and r.window == "{window}"
                                 and r.province_code == "{PROVINCE}"{unit_pred})''')
        rows = [r for r in rows if r["_field"] in M.COUNT_FIELDS]
        assert rows, f"no unit_rates points for window {window}"
        latest = max(r["_time"] for r in rows)
        counts: dict[str, int] = defaultdict(int)
        for r in rows:
            if r["_time"] == latest:
                counts[r["_field"]] += r["_value"]
        return latest, counts


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def influx(pipeline_influx):
    db = Influx(pipeline_influx.settings)
    yield db
    db.client.close()


# ---------------------------------------------------------------------------------------
# every query of every dashboard runs and has its columns
# ---------------------------------------------------------------------------------------
# Queries whose result is legitimately empty for this scenario at the end of the replay are
# listed here with the independent check that proves the emptiness is right.
# service_index: empty until `govpulse index` writes it; tests/test_service_index_integration.py runs these
# two queries after writing it and checks their rows.
MAY_BE_EMPTY = {
    "late_count:Sắp đến hạn",
    "silent_units",
    "service_index_table",
    "service_index_ranking",
    "service_index_points_lost",
    "service_index_history",
}


@pytest.mark.parametrize("dash,where,query", _dashboard_queries(), ids=lambda x: x if len(x) < 80 else None)
def test_every_dashboard_query_runs_and_returns_its_columns(influx, dash, where, query):
    reg = _registry()
    assert query in reg, f"{dash} {where}: query not produced by dashboards.queries (update _registry)"
    kind, columns = reg[query]
    rows = influx.grafana(query)
    if not rows:
        assert any(kind.startswith(k) for k in MAY_BE_EMPTY), f"{dash} {where} ({kind}) returned no rows"
        return
    for r in rows:
        assert columns <= set(r), f"{dash} {where}: missing columns {columns - set(r)}"
    if kind.startswith(("rate_latest", "rate_over_time")):
        rate = kind.split(":")[1]
        nums, den = M.RATE_DEFINITIONS[rate]
        for r in rows:
            assert r[den] > 0 and 0.0 <= r[rate] <= 1.0
            assert r[rate] == pytest.approx(sum(r[n] for n in nums) / r[den], abs=1e-12)


# ---------------------------------------------------------------------------------------
# calibration figures
# ---------------------------------------------------------------------------------------
def test_variables_list_the_scenario(influx):
    assert [r["_value"] for r in influx.grafana(Q.var_province())] == [PROVINCE]
    assert {r["_value"] for r in influx.grafana(Q.var_window())} == set(M.WINDOWS)
    units = [r["_value"] for r in influx.grafana(Q.var_unit())]
    assert units == sorted(units) and len(units) == len(set(units)) > 1
    rx = re.compile(r"^(?<text>(?<value>\S+) — .*)$".replace("?<", "?P<"))
    values = {rx.match(u).group("value") for u in units}
    assert CITY_DESK in values
    assert all(v == CITY_DESK or re.fullmatch(r"\d{5}", v) for v in values)


def test_province_on_time_rate_is_the_city_figure(influx):
    (row,) = influx.grafana(Q.rate_latest("on_time_rate", Q.PROVINCE))
    assert row["resolved"] == CITY_RESOLVED
    assert row["resolved_early"] + row["resolved_on_time"] == CITY_ON_TIME
    assert row["on_time_rate"] == pytest.approx(CITY_ON_TIME / CITY_RESOLVED, abs=1e-12)
    assert round(row["on_time_rate"] * 100, 2) == 99.66
    assert row["_time"] == datetime(2021, 12, 14, 17, tzinfo=UTC)  # report year 2022 starts 15/12 local


def test_city_desk_on_time_rate(influx):
    (row,) = influx.grafana(Q.rate_latest("on_time_rate", Q.UNIT))
    assert (row["resolved"], row["resolved_early"] + row["resolved_on_time"]) == (DESK_RESOLVED, DESK_ON_TIME)
    assert round(row["on_time_rate"] * 100, 1) == 98.2
    (cov,) = influx.grafana(Q.rate_latest("apology_coverage", Q.UNIT))
    assert cov["resolved_late"] == DESK_RESOLVED - DESK_ON_TIME and cov["apology_coverage"] == 1.0


@pytest.mark.parametrize("rate", list(M.RATE_DEFINITIONS))
@pytest.mark.parametrize(
    "window,stop",
    [
        ("report_year", None),
        ("month", PERIOD_END),
        ("7d", PERIOD_END),
        # the other report periods: their look-back is their length
        ("report_month", PERIOD_END),
        ("report_quarter", PERIOD_END),
        ("report_half", PERIOD_END),
    ],
)
def test_province_rates_are_sums_over_units(influx, rate, window, stop):
    """Each province stat equals sum(numerators)/sum(denominators) of the raw snapshot points."""
    stop = stop or _now()
    t, counts = influx.snapshot_counts(window, stop)
    nums, den = M.RATE_DEFINITIONS[rate]
    rows = influx.grafana(Q.rate_latest(rate, Q.PROVINCE), stop=stop, window=window)
    if counts[den] == 0:
        assert rows == []
        return
    (row,) = rows
    assert row["_time"] == t
    assert row[rate] == pytest.approx(sum(counts[n] for n in nums) / counts[den], abs=1e-12)


def test_documents_and_meetings(influx):
    (sig,) = influx.grafana(Q.rate_latest("signature_adoption"))
    assert sig["documents_signed"] == sig["documents_issued"] == 13200  # scenario: every issued document signed
    (meet,) = influx.grafana(Q.rate_latest("meeting_smooth_rate"))
    assert meet["meetings_held"] == meet["meetings_uninterrupted"] == 34 and meet["meeting_smooth_rate"] == 1.0


def test_ranking_table(influx):
    rows = influx.grafana(Q.unit_ranking())
    desk = next(r for r in rows if r["unit_code"] == CITY_DESK)
    assert (desk["received"], desk["resolved"], desk["on_time"], desk["late"]) == (
        DESK_RECEIVED,
        DESK_RESOLVED,
        DESK_ON_TIME,
        DESK_RESOLVED - DESK_ON_TIME,
    )
    assert desk["unit_level"] == "district"
    assert sum(r["resolved"] for r in rows) == CITY_RESOLVED
    assert sum(r["on_time"] for r in rows) == CITY_ON_TIME
    assert sum(r["received"] for r in rows) == CITY_RECEIVED
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    rates = [r["on_time_rate"] for r in rows if r["on_time_rate"] is not None]
    assert rates == sorted(rates, reverse=True)
    assert len({r["as_of"] for r in rows}) == 1


def test_unit_rate_table(influx):
    rows = {r["rate"]: r for r in influx.grafana(Q.unit_rate_table(Q.UNIT))}
    assert set(rows) == set(M.RATE_DEFINITIONS)
    assert (rows["on_time_rate"]["numerator"], rows["on_time_rate"]["denominator"]) == (DESK_ON_TIME, DESK_RESOLVED)
    for rate, r in rows.items():
        if r["denominator"]:
            assert r["value"] == pytest.approx(r["numerator"] / r["denominator"])
        else:
            assert r["value"] is None
        assert r["label"] == Q.RATE_LABELS[rate][0]


def test_rates_over_time_cover_the_period(influx):
    rows = influx.grafana(Q.rate_over_time("on_time_rate", Q.PROVINCE), window="month")
    months = [r["_time"] for r in rows]
    assert len(months) >= 12 and months == sorted(months)
    resolved = sum(r["resolved"] for r in rows)
    assert resolved == CITY_RESOLVED, "the months of the reporting period add up to the year"


def test_rolling_rates_over_time_match_the_snapshots(influx):
    """7-day window, one point per day: each point is the province sum of the as-of snapshot in that
    interval (counts absent from a unit's point are 0 there, not an older value)."""
    start = PERIOD_END - timedelta(days=20)
    rows = influx.grafana(
        Q.rate_over_time("on_time_rate", Q.PROVINCE),
        start=start,
        stop=PERIOD_END,
        window_period=timedelta(days=1),
        window="7d",
    )
    assert len(rows) >= 19
    for r in rows:
        # aggregateWindow stamps the interval's end (UTC midnight); the as-of inside it is local midnight
        t, counts = influx.snapshot_counts("7d", r["_time"], step_ahead=False, since=r["_time"] - timedelta(days=2))
        assert r["_time"] - t < timedelta(days=1)
        assert (r["resolved"], r["resolved_early"], r["resolved_on_time"]) == (
            counts["resolved"],
            counts["resolved_early"],
            counts["resolved_on_time"],
        )


def test_open_and_late_dossiers_agree(influx):
    (overdue,) = influx.grafana(Q.open_dossiers_latest("overdue", Q.PROVINCE))
    per_unit = influx.raw(f'''from(bucket: "{influx.bucket}") |> range(start: {_ts(START)}, stop: {_ts(_now())})
        |> filter(fn: (r) => r._measurement == "{M.OPEN_DOSSIERS}" and r._field == "overdue"
                             and r.province_code == "{PROVINCE}") |> last()''')
    assert overdue["overdue"] == sum(r["_value"] for r in per_unit) > 0  # the scenario leaves overdue dossiers open
    live = influx.grafana(Q.late_dossiers_live(Q.UNIT_OR_ALL), unit=".*")
    assert {r["status"] for r in live} <= {"Quá hạn", "Sắp đến hạn"}
    assert len({(r["unit_code"], r["dossier_id"]) for r in live}) == len(live), "one row per dossier"
    n_overdue = sum(r["status"] == "Quá hạn" for r in live)
    assert n_overdue == overdue["overdue"], "live list and open_dossiers count the same overdue dossiers"
    (count,) = influx.grafana(Q.late_dossiers_count("Quá hạn"), unit=".*")
    assert count["count"] == n_overdue
    for r in live:
        assert r["late_seconds_now"] > 0 if r["status"] == "Quá hạn" else True
    by_proc = influx.grafana(Q.late_by_procedure(), unit=".*")
    assert sum(r["overdue"] for r in by_proc) == n_overdue
    soon = influx.grafana(Q.late_dossiers_count("Sắp đến hạn"), unit=".*")
    assert (soon[0]["count"] if soon else 0) == sum(r["status"] == "Sắp đến hạn" for r in live)


def test_resolved_late_dossiers_match_the_counts(influx):
    rows = influx.grafana(Q.resolved_late_dossiers(), unit=".*")
    assert len(rows) == CITY_RESOLVED - CITY_ON_TIME, "every dossier resolved late had an overdue alert"
    assert all(r["late_seconds"] > 0 for r in rows)
    desk = [r for r in rows if r["unit_code"] == CITY_DESK]
    assert len(desk) == DESK_RESOLVED - DESK_ON_TIME and all(r["apology_sent"] for r in desk)
    alerts_desk = influx.grafana(Q.unit_alerts(Q.UNIT))
    assert {r["kind"] for r in alerts_desk} <= set(M.ALERT_KINDS)


def _cardinality(db: Influx, bucket: str, measurement: str | None = None) -> int:
    """Series in a bucket as influxdb.cardinality() counts them (measurement and tag set)."""
    pred = f', predicate: (r) => r._measurement == "{measurement}"' if measurement else ""
    (row,) = db.raw(f'import "influxdata/influxdb"\ninfluxdb.cardinality(bucket: "{bucket}", start: time(v: 0){pred})')
    return int(row["_value"])


def test_alert_series_do_not_grow_with_the_dossiers(influx, capsys):
    """Mỹ Tho 2022: dossier_alerts series = the unit × kind × procedure combinations in use, not one
    per alert. The previous layout (dossier_id a tag) had one series per alert point: derived from the
    same points."""
    b = influx.bucket
    total = _cardinality(influx, b)
    alert_series = _cardinality(influx, b, M.DOSSIER_ALERTS)
    points = influx.raw(f'''from(bucket: "{b}") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "{M.DOSSIER_ALERTS}" and r._field == "dossier_id")
        |> group() |> count()''')[0]["_value"]
    combos = influx.raw(f'''from(bucket: "{b}") |> range(start: 0)
        |> filter(fn: (r) => r._measurement == "{M.DOSSIER_ALERTS}" and r._field == "dossier_id")
        |> group(columns: ["unit_code", "kind", "procedure_code"]) |> count() |> group() |> count()''')[0]["_value"]
    assert alert_series == combos < points, (alert_series, combos, points)
    with capsys.disabled():
        print(
            f"\nMỹ Tho 2022 series: {total:,} in the bucket, {alert_series:,} of them dossier_alerts "
            f"({combos} unit × kind × procedure combinations) for {points:,} alerts; with dossier_id a tag "
            f"dossier_alerts would be {points:,} series and the bucket {total - alert_series + points:,}"
        )


def _alerts_written(n: int) -> tuple[str, int]:
    """n dossiers of one ward and procedure, all due at 17:00:00.000 of one day, their three alerts fired
    and the points written through the real sink into a fresh bucket; every other dossier then resolved
    late with an apology letter (its points updated in place). Returns the bucket and the due instant."""
    from common.settings import Settings
    from streams.sink import InfluxSink, ensure_bucket
    from tests.conftest import make_settings
    from tests.domain_factories import DAY, Harness, apology, eid, local, received, resolved

    s: Settings = make_settings()
    bucket = unique("alerts")
    ensure_bucket(s, bucket)
    rcv, due = local(2024, 3, 4, 9), local(2024, 3, 7, 17)
    h = Harness(partition_of=lambda unit: 0)
    for i in range(n):
        h.feed(received(eid(i + 1), f"HS-{i:05d}", rcv, due, proc="1.000894", fld="Chứng thực"))
    h.advance(due + 2 * DAY)
    sink = InfluxSink(s, bucket)
    sink.add(h.snapshot(due + 2 * DAY))
    assert sink.flush()
    for i in range(0, n, 2):
        h.feed(apology(eid(n + i + 1), f"HS-{i:05d}", due + 3 * DAY))
        h.feed(resolved(eid(2 * n + i + 1), f"HS-{i:05d}", rcv, due, due + 4 * DAY))
    sink.add(h.snapshot(due + 5 * DAY))
    assert sink.flush()
    sink.close()
    return bucket, due


@pytest.mark.parametrize("n", [10, 1000])
def test_many_alerts_at_one_instant_are_all_in_influxdb(services, n):
    """Real InfluxDB: n dossiers alerting at the same millisecond in one series are n points, found by
    the dashboards' queries, and the number of series does not depend on n."""
    from tests.conftest import make_settings
    from tests.domain_factories import PROVINCE, WARD

    bucket, due = _alerts_written(n)
    db = Influx(make_settings())
    db.bucket = bucket
    try:
        rows = db.raw(f'''from(bucket: "{bucket}") |> range(start: 0)
            |> filter(fn: (r) => r._measurement == "{M.DOSSIER_ALERTS}")
            |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")''')
        assert len(rows) == 3 * n
        for kind in M.ALERT_KINDS:
            of_kind = [r for r in rows if r["kind"] == kind]
            assert len({r["dossier_id"] for r in of_kind}) == len(of_kind) == n, kind
        overdue = [r for r in rows if r["kind"] == "dossier_overdue"]
        assert {r["_time"].replace(microsecond=r["_time"].microsecond // 1000 * 1000) for r in overdue} == {
            datetime.fromtimestamp(due / 1000, UTC)
        }, "they share the millisecond"
        assert sum(r["resolved"] and r["apology_sent"] for r in overdue) == n // 2  # updated in place
        # the same number of series whatever the number of dossiers: one per kind (one ward, one procedure)
        assert _cardinality(db, bucket, M.DOSSIER_ALERTS) == 3
        # the late list and the unit's alert panel find every one
        span = {"start": datetime(2024, 3, 1, tzinfo=UTC), "province": PROVINCE}
        live = db.grafana(
            Q.late_dossiers_live(Q.UNIT_OR_ALL), stop=datetime(2024, 3, 20, tzinfo=UTC), unit=".*", **span
        )
        assert len(live) == n - n // 2 and {r["status"] for r in live} == {"Quá hạn"}
        assert len({r["dossier_id"] for r in live}) == len(live)
        late = db.grafana(Q.resolved_late_dossiers(), stop=datetime(2024, 3, 20, tzinfo=UTC), unit=".*", **span)
        assert len(late) == n // 2 and all(r["apology_sent"] and r["late_seconds"] == 4 * 86400 for r in late)
        unit_alerts = db.grafana(Q.unit_alerts(Q.UNIT), stop=datetime(2024, 3, 20, tzinfo=UTC), unit=WARD, **span)
        assert len(unit_alerts) == 2 * n  # overdue and apology missing, one row each
    finally:
        api = db.client.buckets_api()
        api.delete_bucket(api.find_bucket_by_name(bucket))
        db.client.close()


def test_pipeline_health_and_activity(influx):
    eps = influx.grafana(Q.health_gauge("events_per_second", "mean"))
    topics = {r["topic"] for r in eps}
    assert topics, "the worker writes pipeline_health"
    assert all(r["events_per_second"] >= 0 for r in eps)
    (dead,) = influx.grafana(Q.health_counter_total("dead_letters"))
    assert dead["dead_letters"] >= 0
    activity = influx.grafana(Q.unit_activity_table())
    units = {r["unit_code"] for r in activity}
    assert CITY_DESK in units and len(units) > 1
    for r in activity:
        assert r["last_event_at"] <= PERIOD_END + timedelta(days=1) and r["last_event_age_seconds"] >= 0
    silent = influx.grafana(Q.silent_units_count())
    expected = len({r["unit_code"] for r in activity if r["last_event_age_seconds"] > Q.SILENT_AFTER_SECONDS})
    assert (silent[0]["silent"] if silent else 0) == expected


# ---------------------------------------------------------------------------------------
# the periodic report's panels (report_counts over the dashboard time range)
# ---------------------------------------------------------------------------------------
YEAR_START = datetime(2021, 12, 14, 17, tzinfo=UTC)  # report year 2022: 15/12/2021 00:00 local
YEAR_STOP = datetime(2022, 12, 14, 17, tzinfo=UTC)  # 15/12/2022 00:00 local (exclusive)
# what Grafana sends for an absolute range "15/12/2021 00:00:00 to 14/12/2022 23:59:59" (local)
YEAR_STOP_PICKED = datetime(2022, 12, 14, 16, 59, 59, tzinfo=UTC)
LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh, no daylight saving
FLOWS = ("received", "resolved", "resolved_early", "resolved_on_time", "resolved_late", "withdrawn", "refused")
REPORT_CHECKED = (*FLOWS, "in_process", "in_process_overdue")


def _panel_query(dash: str, title: str) -> str:
    """The (only) query of a panel of the generated JSON, by title."""
    found = [q for d, where, q in _dashboard_queries() if d == dash and where.split(" [")[0].endswith(f" {title}")]
    assert len(found) == 1, (dash, title, len(found))
    return found[0]


FIELD_TABLE = ("unit-detail.json", "Báo cáo kết quả giải quyết TTHC (theo lĩnh vực)")
LATE_CHART = ("unit-detail.json", "Hồ sơ trễ hạn theo lĩnh vực")
LATE_PROCEDURES = ("unit-detail.json", "Thủ tục có nhiều hồ sơ trễ hạn nhất")
UNIT_TABLE = ("province-overview.json", "Báo cáo kết quả giải quyết TTHC (theo đơn vị)")


def _identity(r: dict) -> None:
    assert r["carried_over"] + r["received"] == r["resolved"] + r["withdrawn"] + r["refused"] + r["in_process"], r
    assert r["in_process"] == r["in_process_within_due"] + r["in_process_overdue"], r
    assert r["resolved"] == r["resolved_early"] + r["resolved_on_time"] + r["resolved_late"], r
    assert r["received"] == r["received_online"] + r["received_offline"], r
    assert r["to_handle"] == r["carried_over"] + r["received"], r
    if r["resolved"]:
        assert r["on_time_rate"] == pytest.approx((r["resolved_early"] + r["resolved_on_time"]) / r["resolved"])
    else:
        assert r["on_time_rate"] is None


def _desk_report_from_kafka(settings, start: datetime, stop: datetime) -> dict[str, dict[str, int]]:
    """Brute force from the dossier events read back from Kafka, by another road than the worker's:
    per field of the city desk, the dossiers received in [start, stop), those closed in it (the
    resolution if any, else the withdrawal, else the refusal), resolutions classified early (an
    earlier local day than due), on time (the due day, not after due_at) or late (after due_at), and
    the dossiers still open at ``stop`` (in process), of which overdue: the due date in force then
    (the last supplement request's before ``stop``, else the reception's) has passed. The scenario
    starts with the period, so nothing is carried over."""
    from kafka import KafkaConsumer, TopicPartition

    from schemas import events as ev
    from schemas import parse_event

    topic = settings.topic("dossier-events")
    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    end = c.end_offsets(parts)
    seen: set = set()
    closures = (ev.DossierResolved, ev.DossierWithdrawn, ev.DossierRefused)
    dossiers: dict[str, dict[type, ev.Envelope]] = defaultdict(dict)
    supplements: dict[str, list[ev.SupplementRequested]] = defaultdict(list)
    while any(c.position(tp) < end[tp] for tp in parts):
        for msgs in c.poll(timeout_ms=2000, max_records=50000).values():
            for m in msgs:
                e = parse_event(m.value)
                if e.event_id in seen or e.unit_key != CITY_DESK:
                    continue
                seen.add(e.event_id)
                if isinstance(e, ev.SupplementRequested):
                    supplements[e.dossier_id].append(e)
                elif isinstance(e, (ev.DossierReceived, *closures)):
                    dossiers[e.dossier_id].setdefault(type(e), e)
    c.close()
    assert dossiers, "the desk's dossier events are on the topic"

    def inside(t: datetime) -> bool:
        return start <= t < stop

    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(REPORT_CHECKED, 0))
    for dossier_id, evs in dossiers.items():
        rcv = evs.get(ev.DossierReceived)
        res = evs.get(ev.DossierResolved)
        if rcv is None and res is None:
            continue  # a withdrawal or refusal alone counts nowhere
        row = out[rcv.field if rcv else M.UNKNOWN_TAG]
        received_at = rcv.received_at if rcv else res.received_at
        if inside(received_at):
            row["received"] += 1
        closure = res or evs.get(ev.DossierWithdrawn) or evs.get(ev.DossierRefused)
        closed_at = None
        if closure is not None:
            at = {ev.DossierResolved: "resolved_at", ev.DossierWithdrawn: "withdrawn_at"}.get(type(closure))
            closed_at = max(getattr(closure, at or "refused_at"), received_at)
        if isinstance(closure, ev.DossierResolved) and inside(closed_at):
            row["resolved"] += 1
            if res.resolved_at > res.due_at:
                row["resolved_late"] += 1
            elif res.resolved_at.astimezone(LOCAL).date() < res.due_at.astimezone(LOCAL).date():
                row["resolved_early"] += 1
            else:
                row["resolved_on_time"] += 1
        elif isinstance(closure, ev.DossierWithdrawn) and inside(closed_at):
            row["withdrawn"] += 1
        elif isinstance(closure, ev.DossierRefused) and inside(closed_at):
            row["refused"] += 1
        if received_at < stop and (closed_at is None or closed_at >= stop):
            row["in_process"] += 1
            due = rcv.due_at if rcv else res.due_at
            if rcv is not None:
                requests = sorted(
                    (s for s in supplements[dossier_id] if s.requested_at < stop),
                    key=lambda s: (s.requested_at, str(s.event_id)),
                )
                if requests:
                    due = requests[-1].new_due_at
            row["in_process_overdue"] += due < stop
    return {f: row for f, row in out.items() if any(row.values())}


@pytest.fixture(scope="module")
def desk_year(influx) -> list[dict]:
    """The field table of the unit dashboard for the city desk over report year 2022."""
    return influx.grafana(_panel_query(*FIELD_TABLE), start=YEAR_START, stop=YEAR_STOP)


def test_period_report_by_field_is_the_desk_report(influx, desk_year):
    rows = desk_year
    assert rows and [r["field"] for r in rows] == sorted(r["field"] for r in rows)
    total = {c: sum(r[c] for r in rows) for c in Q.PERIOD_REPORT_COLUMNS if not c.endswith("rate")}
    # DOMAIN.md: the desk received 4,121, resolved 3,739, 3,671 of them on time or early (98.2 %)
    assert (total["received"], total["resolved"]) == (DESK_RECEIVED, DESK_RESOLVED)
    assert total["resolved_early"] + total["resolved_on_time"] == DESK_ON_TIME
    assert total["carried_over"] == 0  # the scenario starts with the report year
    for r in rows:
        _identity(r)
        if r["to_handle"]:
            assert r["portal_on_time_rate"] == pytest.approx(
                1 - (r["in_process_overdue"] + r["resolved_late"]) / r["to_handle"]
            )
    # the footer's sums are the report's total row (the report reads it on its own: group "total")
    (report_total,) = influx.grafana(Q.period_report("total", Q.UNIT), start=YEAR_START, stop=YEAR_STOP)
    assert {c: report_total[c] for c in total} == total
    # unit_rates' report_year point of the desk: the worker's other code path, same flows
    _t, counts = influx.snapshot_counts("report_year", YEAR_STOP - timedelta(seconds=1), unit=CITY_DESK)
    assert {f: total[f] for f in FLOWS} == {f: counts[f] for f in FLOWS}
    assert total["received_online"] == counts["received_online"]
    # open_dossiers at the end of the replay: the scenario ends before the report year does, so what is
    # open then is in process at its end (overdue differs: at the year's end more due dates have passed)
    (open_now,) = influx.grafana(Q.open_dossiers_latest("open", Q.UNIT))
    assert total["in_process"] == open_now["open"]


def test_period_report_by_field_matches_the_events_in_kafka(influx, desk_year):
    expected = _desk_report_from_kafka(influx.settings, YEAR_START, YEAR_STOP)
    got = {r["field"]: {f: r[f] for f in REPORT_CHECKED} for r in desk_year}
    assert got == expected
    assert all(r["carried_over"] == 0 for r in desk_year)


def test_period_report_takes_grafanas_end_of_day_stop(influx, desk_year):
    """Grafana's absolute range ends at 23:59:59 of the last day: the same report as the period's end."""
    assert influx.grafana(_panel_query(*FIELD_TABLE), start=YEAR_START, stop=YEAR_STOP_PICKED) == desk_year


def test_late_by_field_chart_is_the_tables_late_columns(influx, desk_year):
    rows = influx.grafana(_panel_query(*LATE_CHART), start=YEAR_START, stop=YEAR_STOP)
    assert all(set(r) == set(Q.LATE_BY_FIELD_COLUMNS) for r in rows)
    assert {r["field"]: (r["resolved_late"], r["in_process_overdue"]) for r in rows} == {
        r["field"]: (r["resolved_late"], r["in_process_overdue"]) for r in desk_year
    }
    assert sum(r["resolved_late"] for r in rows) == DESK_RESOLVED - DESK_ON_TIME


def test_late_procedures_are_the_ten_latest(influx, desk_year):
    rows = influx.grafana(_panel_query(*LATE_PROCEDURES), start=YEAR_START, stop=YEAR_STOP)
    late = [r["resolved_late"] + r["in_process_overdue"] for r in rows]
    assert 0 < len(rows) <= 10 and late == sorted(late, reverse=True) and min(late) > 0
    every = influx.grafana(Q.period_report("procedure", Q.UNIT), start=YEAR_START, stop=YEAR_STOP)
    every_late = sorted((r["resolved_late"] + r["in_process_overdue"] for r in every), reverse=True)
    assert late == [n for n in every_late if n > 0][:10], "the top of every procedure's late count"
    for r in rows:
        _identity(r)
    # procedures roll up into their fields
    by_field: dict[str, list[int]] = defaultdict(lambda: [0] * len(FLOWS))
    for r in every:
        _identity(r)
        by_field[r["field"]] = [a + r[f] for a, f in zip(by_field[r["field"]], FLOWS, strict=True)]
    assert dict(by_field) == {r["field"]: [r[f] for f in FLOWS] for r in desk_year}


def test_period_ranking_by_unit(influx, desk_year):
    rows = influx.grafana(_panel_query(*UNIT_TABLE), start=YEAR_START, stop=YEAR_STOP)
    assert sum(r["received"] for r in rows) == CITY_RECEIVED
    assert sum(r["resolved"] for r in rows) == CITY_RESOLVED
    assert sum(r["resolved_early"] + r["resolved_on_time"] for r in rows) == CITY_ON_TIME
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    # the report's order: on-time rate, then resolved; no rate last
    keys = [(r["on_time_rate"] is None, -(r["on_time_rate"] or 0.0), -r["resolved"]) for r in rows]
    assert keys == sorted(keys)
    assert rows[-1]["unit_code"] == CITY_DESK  # 98.2 %, the lowest of the city (DOMAIN.md)
    for r in rows:
        _identity(r)
        _t, counts = influx.snapshot_counts("report_year", YEAR_STOP - timedelta(seconds=1), unit=r["unit_code"])
        assert {f: r[f] for f in FLOWS} == {f: counts[f] for f in FLOWS}, r["unit_code"]
    desk = next(r for r in rows if r["unit_code"] == CITY_DESK)
    assert {c: desk[c] for c in FLOWS} == {c: sum(r[c] for r in desk_year) for c in FLOWS}


# ---------------------------------------------------------------------------------------
# alert rules: query A returns one numeric series per unit/topic; B = last, C = condition
# ---------------------------------------------------------------------------------------
def _evaluate(influx, rule: dict, stop: datetime) -> dict[tuple, tuple[float, bool]]:
    a = next(q for q in rule["data"] if q["refId"] == "A")
    c = next(q for q in rule["data"] if q["refId"] == "C")["model"]["expression"]
    m = re.fullmatch(r"\$B ([<>]) ([0-9.]+)", c)
    assert m, c
    op, thr = m.group(1), float(m.group(2))
    start = stop - timedelta(seconds=a["relativeTimeRange"]["from"])
    text = interpolate(
        a["model"]["query"],
        start=start,
        stop=stop,
        window_period=timedelta(seconds=1),
        bucket=influx.bucket,
        organization=influx.settings.influx_org,
    )
    out = {}
    for table in influx.tables(text):
        assert len(table) == 1, "one value per series"
        (r,) = table
        labels = tuple(sorted((k, v) for k, v in r.items() if k not in ("_time", "_value")))
        assert labels and labels not in out
        assert isinstance(r["_value"], float)
        out[labels] = (r["_value"], r["_value"] < thr if op == "<" else r["_value"] > thr)
    return out


def _rule(uid: str) -> dict:
    return next(r for r in alerts.api_rules({}) if r["uid"] == uid)


def test_alert_on_time_rate_per_unit(influx):
    stop = PERIOD_END
    result = _evaluate(influx, _rule("govpulse-on-time-7d"), stop)
    assert result, "units resolved dossiers in the last 7 days of the period"
    for labels, (value, _firing) in result.items():
        lab = dict(labels)
        assert set(lab) == {"province_code", "unit_code", "unit_name"}
        _t, counts = influx.snapshot_counts("7d", stop, unit=lab["unit_code"], step_ahead=False)
        assert counts["resolved"] >= Q.MIN_RESOLVED_FOR_ON_TIME_ALERT
        assert value == pytest.approx((counts["resolved_early"] + counts["resolved_on_time"]) / counts["resolved"])


def test_alert_overdue_open(influx):
    # open_dossiers points sit at the worker's watermark hour: live, that is now; after this replay
    # of 2022 it is the end of the period, so the rule is evaluated as if now were then
    stop = PERIOD_END + timedelta(days=1)
    result = _evaluate(influx, _rule("govpulse-overdue-open"), stop)
    (total,) = influx.grafana(Q.open_dossiers_latest("overdue", Q.PROVINCE), start=stop - timedelta(days=30), stop=stop)
    firing = {dict(k)["unit_code"]: v for k, (v, f) in result.items() if f}
    assert sum(firing.values()) == total["overdue"] > 0


def test_alert_unit_silent(influx):
    rule = _rule("govpulse-unit-silent")
    # unit_activity is stamped with the worker's wall clock: cover the whole run, not just the last hour
    rule["data"][0]["relativeTimeRange"]["from"] = int((_now() - START).total_seconds())
    result = _evaluate(influx, rule, _now())
    activity = influx.grafana(Q.unit_activity_table())
    assert result and {(dict(k)["unit_code"], dict(k)["source_system"]) for k in result} == {
        (r["unit_code"], r["source_system"]) for r in activity
    }
    for _k, (value, firing) in result.items():
        assert value >= 0 and firing == (value > float(alerts.THRESHOLDS["silent"].default))


def test_alert_dead_letters(influx):
    rule = _rule("govpulse-dead-letters")
    # the replay ran before this test: look at the whole run, as the rule looks at its last 15 minutes
    rule["data"][0]["relativeTimeRange"]["from"] = int((_now() - START).total_seconds())
    result = _evaluate(influx, rule, _now())
    assert result and {dict(k)["topic"] for k in result} <= {
        r["topic"] for r in influx.grafana(Q.health_gauge("dead_letters", "max"))
    }
    for _, (value, _firing) in result.items():
        assert value >= 0


# ---------------------------------------------------------------------------------------
# several workers in one group: pipeline_health is summed over the ``worker`` tag
# ---------------------------------------------------------------------------------------
def test_health_queries_sum_the_workers_of_a_group(influx):
    """Two workers' real health rows (WorkerCore.health_rows) written to a fresh bucket: every
    health query reports per (app_id, topic) the sum over both workers, never one of them."""

    from common.settings import Settings
    from streams.core import RecordStore, WorkerCore
    from streams.sink import InfluxSink, ensure_bucket

    s = influx.settings
    bucket = unique("health")
    ensure_bucket(s, bucket)
    topic = "govpulse.dossier-events"
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    cores = [WorkerCore(Settings(home=s.home), RecordStore({}), app_id="grp", worker=w) for w in ("host:1", "host:2")]
    sink = InfluxSink(s, bucket)
    # worker 1: 3 dead letters and 5 lagging; worker 2: 4 dead letters (2 of them later) and 7 lagging
    for step, (dl1, dl2) in enumerate([(1, 2), (3, 2), (3, 4)]):
        for c, dl, lag in ((cores[0], dl1, 5), (cores[1], dl2, 7)):
            c.stats[topic].dead_letters = dl
            sink.add(c.health_rows({topic: lag}, wall=(t0 + timedelta(seconds=10 * step)).timestamp()))
    assert sink.flush()
    db = Influx(s)
    db.bucket = bucket
    try:
        span = {
            "start": t0 - timedelta(minutes=1),
            "stop": t0 + timedelta(minutes=1),
            "window_period": timedelta(minutes=5),
        }
        (lag,) = db.grafana(Q.health_gauge("consumer_lag", "max"), **span)
        assert (lag["app_id"], lag["topic"], lag["consumer_lag"]) == ("grp", topic, 12.0)
        inc = db.grafana(Q.health_counter_increase("dead_letters"), **span)
        assert {(r["app_id"], r["topic"]) for r in inc} == {("grp", topic)}
        assert sum(r["dead_letters"] for r in inc) == (3 - 1) + (4 - 2)
        (total,) = db.grafana(Q.health_counter_total("dead_letters"), **span)
        assert total["dead_letters"] == 4.0
        text = interpolate(
            Q.alert_dead_letters(),
            start=span["start"],
            stop=span["stop"],
            window_period=timedelta(seconds=1),
            bucket=bucket,
            organization=s.influx_org,
        )
        (table,) = db.tables(text)
        assert [(r["app_id"], r["topic"], r["_value"]) for r in table] == [("grp", topic, 4.0)]
    finally:
        from influxdb_client import InfluxDBClient

        with InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org) as c:
            c.buckets_api().delete_bucket(c.buckets_api().find_bucket_by_name(bucket))
        db.client.close()


# ---------------------------------------------------------------------------------------
# points InfluxDB rejected and reused event ids: panels and alert rules
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uid,field",
    [("govpulse-points-rejected", "points_rejected"), ("govpulse-conflicting-event-ids", "conflicting_event_ids")],
)
def test_alert_points_rejected_and_conflicting_ids_on_the_pipeline(influx, uid, field):
    """Mỹ Tho 2022 has no invalid point and no reused id: the rules see the worker's series, at 0."""
    rule = _rule(uid)
    rule["data"][0]["relativeTimeRange"]["from"] = int((_now() - START).total_seconds())
    result = _evaluate(influx, rule, _now())
    topics = {dict(k)["topic"] for k in result}
    assert result and topics <= {r["topic"] for r in influx.grafana(Q.health_gauge(field, "max"))}
    if field == "points_rejected":
        assert topics == {M.SINK_TOPIC}
    assert all(value == 0.0 and not firing for value, firing in result.values())
    (total,) = influx.grafana(Q.health_counter_total(field))
    assert total[field] == 0.0


def test_a_rejected_point_and_reused_ids_fire_their_rules(influx):
    """A real rejection by InfluxDB (the sink's count) and conflicting ids reported by two workers of a
    group, as pipeline_health rows of the contract: panels and rules sum the workers and fire."""

    from streams.sink import InfluxSink, ensure_bucket

    s = influx.settings
    bucket = unique("health")
    ensure_bucket(s, bucket)
    t0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    ms = lambda t: int(t.timestamp() * 1000)  # noqa: E731
    sink = InfluxSink(s, bucket)
    # one line InfluxDB cannot parse (a tag value ending with a backslash) beside a good one
    sink.add(
        [
            (M.UNIT_RATES, {"unit_code": "U1", "unit_name": "Tổ 3\\", "window": "month"}, {"received": 1}, ms(t0)),
            (M.UNIT_RATES, {"unit_code": "U2", "unit_name": "Tổ 4", "window": "month"}, {"received": 1}, ms(t0)),
        ]
    )
    assert sink.flush() and sink.rejected_points == 1
    topic = "govpulse.dossier-events"
    rows = []
    # worker 1: rejects its point between the first and second report; worker 2: 2 rejected later;
    # conflicting ids: 1 on worker 1, 3 on worker 2
    for step, counts in enumerate(
        [((0, 0), (0, 0)), ((sink.rejected_points, 1), (0, 0)), ((sink.rejected_points, 1), (2, 3))]
    ):
        wall = ms(t0 + timedelta(seconds=10 * step))
        for worker, (rejected, conflicting) in zip(("host:1", "host:2"), counts, strict=True):
            rows.append(
                (
                    M.PIPELINE_HEALTH,
                    {"app_id": "grp", "worker": worker, "topic": topic},
                    {"events_total": 10 * step, "conflicting_event_ids": conflicting},
                    wall,
                )
            )
            rows.append(
                (
                    M.PIPELINE_HEALTH,
                    {"app_id": "grp", "worker": worker, "topic": M.SINK_TOPIC},
                    {"points_rejected": rejected},
                    wall,
                )
            )
    sink.add(rows)
    assert sink.flush() and sink.rejected_points == 1
    db = Influx(s)
    db.bucket = bucket
    try:
        span = {
            "start": t0 - timedelta(minutes=1),
            "stop": t0 + timedelta(minutes=1),
            "window_period": timedelta(minutes=5),
        }
        for field, group_topic, expected in (
            ("points_rejected", M.SINK_TOPIC, 3.0),
            ("conflicting_event_ids", topic, 4.0),
        ):
            inc = db.grafana(Q.health_counter_increase(field), **span)
            assert {(r["app_id"], r["topic"]) for r in inc} == {("grp", group_topic)}
            assert sum(r[field] for r in inc) == expected
            (total,) = db.grafana(Q.health_counter_total(field), **span)
            assert total[field] == expected
        stop = t0 + timedelta(minutes=1)
        assert _evaluate(db, _rule("govpulse-points-rejected"), stop) == {
            (("app_id", "grp"), ("topic", M.SINK_TOPIC)): (3.0, True)
        }
        assert _evaluate(db, _rule("govpulse-conflicting-event-ids"), stop) == {
            (("app_id", "grp"), ("topic", topic)): (4.0, True)
        }
    finally:
        from influxdb_client import InfluxDBClient

        sink.close()
        with InfluxDBClient(url=s.influx_url, token=s.resolve_influx_token(), org=s.influx_org) as c:
            c.buckets_api().delete_bucket(c.buckets_api().find_bucket_by_name(bucket))
        db.client.close()
