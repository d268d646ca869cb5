"""A unit's periodic report read from InfluxDB, with the Flux the dashboards use
(``dashboards.queries.period_report``): one source of truth for the panel and the file.

Why InfluxDB and not the worker's state: the worker keeps only the partitions it owns and its
state is not queryable from outside; InfluxDB holds every unit's ``report_counts`` (flows per
day), so a report can be asked for any unit, roll-up and period, while the worker runs or not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common import measurements as m
from dashboards import queries as q
from dashboards.flux import interpolate
from reports.format import format_int
from reports.model import MonthPoint, PeriodRow, Report
from reports.periods import Period, heading, month_label, months_of
from schemas import units
from streams.domain.windows import LocalCalendar

Query = Callable[[str], list[dict[str, Any]]]  # Flux -> rows (record values)

TITLE = "Báo cáo kết quả giải quyết thủ tục hành chính"
UNKNOWN_FIELD = q.UNKNOWN_FIELD_LABEL
# report_counts' channel tag, in the order the portals list service levels
CHANNEL_LABELS = {
    "online_full": "Trực tuyến toàn trình",
    "online_partial": "Trực tuyến một phần",
    "online": "Trực tuyến (chưa rõ mức độ)",
    "in_person": "Trực tiếp",
    "postal": "Bưu chính công ích",
    m.UNKNOWN_TAG: "Chưa rõ kênh tiếp nhận",
}
ROLLUPS = ("unit", "district", "province")


@dataclass(frozen=True, slots=True)
class Scope:
    """What the report covers: one unit, or a district's or province's roll-up of units."""

    kind: str  # unit | district | province
    code: str  # the unit, district or province code
    province_code: str
    name: str

    def flux_scope(self) -> q.Scope:
        return {"unit": q.UNIT, "district": q.DISTRICT, "province": q.PROVINCE}[self.kind]

    def variables(self) -> dict[str, str]:
        return {"province": self.province_code, "unit": self.code, "district": self.code}


def resolve_scope(unit_code: str, rollup: str = "unit") -> Scope:
    """The scope of ``--unit U --rollup R``: U itself, the district U is (its own desk and the units
    whose events carried its code), or U's province (U may be the province code itself)."""
    if rollup not in ROLLUPS:
        raise ValueError(f"rollup: {rollup!r} is not one of {', '.join(ROLLUPS)}")
    province_name = units.province_name(unit_code)
    if province_name is not None and rollup in ("unit", "province"):
        return Scope("province", unit_code, unit_code, province_name)
    unit = units.lookup(unit_code)
    if unit is None:
        raise ValueError(
            f"unit: {unit_code!r} is neither a province, a ward code nor a registered unit "
            "(GOVPULSE_EXTRA_UNITS_FILE lists the registered ones)"
        )
    if rollup == "province":
        return Scope("province", unit.province_code, unit.province_code, units.province_name(unit.province_code) or "")
    return Scope(rollup, unit.code, unit.province_code, unit.name)


def _row(values: Mapping[str, Any], label: str, code: str = "") -> PeriodRow:
    return PeriodRow(
        label=label,
        carried_over=int(values["carried_over"]),
        received_online=int(values["received_online"]),
        received_offline=int(values["received_offline"]),
        resolved_early=int(values["resolved_early"]),
        resolved_on_time=int(values["resolved_on_time"]),
        resolved_late=int(values["resolved_late"]),
        withdrawn=int(values["withdrawn"]),
        refused=int(values["refused"]),
        in_process_within_due=int(values["in_process_within_due"]),
        in_process_overdue=int(values["in_process_overdue"]),
        code=code,
    )


def _field_label(field: str) -> str:
    return UNKNOWN_FIELD if field == m.UNKNOWN_TAG else field


class ReportSource:
    """Runs the report's Flux against one bucket."""

    def __init__(self, query: Query, bucket: str, cal: LocalCalendar) -> None:
        self.query = query
        self.bucket = bucket
        self.cal = cal

    def _run(
        self, flux: str, scope: Scope, start_ms: int, end_ms: int, extra: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        start, stop = datetime.fromtimestamp(start_ms / 1000, UTC), datetime.fromtimestamp(end_ms / 1000, UTC)
        text = interpolate(
            flux,
            start=start,
            stop=stop,
            window_period=stop - start,  # the whole period is one display interval
            bucket=self.bucket,
            variables={**scope.variables(), **(extra or {})},
        )
        return self.query(text)

    def run(
        self, flux: str, scope: Scope, period: Period, extra: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Any dashboards.queries Flux over the period's range, with the scope's (and ``extra``) variables."""
        return self._run(flux, scope, period.start_ms, period.end_ms, extra)

    def rows(self, group: str, scope: Scope, period: Period, top: int | None = None) -> list[dict[str, Any]]:
        """period_report rows (record values) grouped by ``group`` over ``period``."""
        return self._run(q.period_report(group, scope.flux_scope(), top), scope, period.start_ms, period.end_ms)

    def report(self, scope: Scope, period: Period, now: datetime, ranking: bool = True) -> Report:
        fields = [_row(r, _field_label(r["field"])) for r in self.rows("field", scope, period)]
        fields.sort(key=lambda r: (r.label == UNKNOWN_FIELD, r.label))
        totals = self.rows("total", scope, period)
        total = _row(totals[0], "Tổng cộng") if totals else PeriodRow.total_of([])
        unknown_channel = int(totals[0]["received_unknown_channel"]) if totals else 0
        ranked: list[PeriodRow] = []
        if ranking and scope.kind != "unit":
            ranked = [_row(r, r["unit_name"], r["unit_code"]) for r in self.rows("unit", scope, period)]
            ranked.sort(key=lambda r: (r.on_time_rate is None, -(r.on_time_rate or 0.0), -r.resolved, r.label))
        late = [
            _row(r, _field_label(r["field"]), r["procedure_code"])
            for r in self.rows("procedure", scope, period, top=10)
        ]
        order = list(CHANNEL_LABELS)
        by_channel = sorted(
            self.rows("channel", scope, period),
            key=lambda r: order.index(r["channel"]) if r["channel"] in order else len(order),
        )
        channels = [_row(r, CHANNEL_LABELS.get(r["channel"], r["channel"]), r["channel"]) for r in by_channel]
        months = self.months(scope, period)
        notes = [
            "Nguồn số liệu: sự kiện hồ sơ của hệ thống một cửa, tổng hợp trong InfluxDB (measurement "
            f"{m.REPORT_COUNTS}), cùng truy vấn Flux với bảng điều khiển Grafana.",
            "Kỳ trước chuyển qua: hồ sơ tiếp nhận trước ngày đầu kỳ, chưa giải quyết tại ngày đầu kỳ. "
            "Đang giải quyết: hồ sơ chưa giải quyết, chưa rút, chưa bị từ chối tại cuối kỳ; quá hạn khi "
            "ngày hẹn trả đang có hiệu lực đã qua.",
            "Tỷ lệ đúng hạn trên hồ sơ đã giải quyết = (trước hạn + đúng hạn) / đã giải quyết. Tỷ lệ đúng hạn "
            "theo cách tính của cổng một cửa = 1 − (đang giải quyết quá hạn + đã giải quyết quá hạn) / "
            "số hồ sơ nhận giải quyết.",
            "Sự kiện đến muộn được tính vào đúng ngày của nó: báo cáo lập lại sau đó cho số liệu đã hiệu "
            "chỉnh của kỳ này và của số chuyển qua kỳ sau.",
            "Hồ sơ đã có kết quả nhưng công dân chưa nhận (chưa nhận kết quả): các sự kiện không mang thông tin này.",
        ]
        if unknown_channel:
            notes.append(
                f"{format_int(unknown_channel)} hồ sơ không rõ kênh tiếp nhận (chỉ đọc được sự kiện kết quả) "
                "được tính vào cột trực tiếp, bưu chính."
            )
        return Report(
            title=TITLE,
            unit_code=scope.code,
            unit_name=scope.name,
            scope=scope.kind,
            period_label=heading(period),
            period_start=period.first_day,
            period_end=period.last_day,
            generated_at=now,
            rows=fields,
            total=total,
            ranking=ranked,
            channels=channels,
            late_procedures=late,
            months=months,
            notes=notes,
        )

    def months(self, scope: Scope, period: Period) -> list[MonthPoint]:
        """On-time rate by month: the period's resolutions per day, summed into its months."""
        days = self._run(q.daily_resolutions(scope.flux_scope()), scope, period.start_ms, period.end_ms)
        out = []
        for month in months_of(period, self.cal):
            in_month = [d for d in days if month.start_ms <= int(d["_time"].timestamp() * 1000) < month.end_ms]
            in_time = sum(int(d["resolved_early"]) + int(d["resolved_on_time"]) for d in in_month)
            out.append(
                MonthPoint(month_label(month), in_time + sum(int(d["resolved_late"]) for d in in_month), in_time)
            )
        return out


def influx_query(url: str, token: str, org: str, timeout_ms: int = 120_000) -> tuple[Query, Callable[[], None]]:
    """A Query over a real InfluxDB, and the function that closes its client."""
    from influxdb_client.client.influxdb_client import InfluxDBClient

    client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)
    api = client.query_api()

    def run(flux: str) -> list[dict[str, Any]]:
        return [r.values for t in api.query(flux) for r in t.records]

    return run, client.close
