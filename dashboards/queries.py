"""Every Flux query of the dashboards and alert rules, built from ``streams/measurements.py``.

The generator (``dashboards/build.py``) puts these strings into panel targets verbatim,
and the tests take them back out of the generated JSON, so there is one source.

Conventions (Grafana substitutes them before InfluxDB sees the text):

* ``v.defaultBucket`` — the datasource's bucket; ``v.timeRangeStart`` / ``v.timeRangeStop``
  — the dashboard (or alert rule) time range; ``v.windowPeriod`` — the panel's interval.
* ``${province}`` (province_code), ``${unit}`` (unit_code; ``*`` = all units where the
  variable offers "All"), ``${window}`` (a ``unit_rates`` window tag) — template variables.

Roll-ups follow the contract: a rate over several units is
``sum(numerator counts) / sum(denominator counts)`` of the same snapshot, never an average
of rates (``RATE_DEFINITIONS``).

A *snapshot* is the ``unit_rates`` point set with the latest ``_time`` for the chosen window
as of the end of the time range: for calendar windows (month, year and the report periods
report_month, report_quarter, report_half, report_year) the period
that contains it (point time = period start, so the query looks back one period length);
for rolling windows the step that contains it (point time = the step's end, so the query
looks one step ahead: a live dashboard shows the step in progress).  The worker writes a
point for every unit whose window is non-empty at every step (plus one zero point when a
window empties), so all units of a snapshot share that ``_time``.  Rolling-window points
carry the denominators always and other counts only when non-zero: absent counts are 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from common import measurements as M

# Vietnamese labels (English in descriptions), one per rate of RATE_DEFINITIONS.
RATE_LABELS: dict[str, tuple[str, str]] = {
    "on_time_rate": (
        "Tỷ lệ giải quyết đúng hạn và trước hạn",
        "On-time rate: dossiers resolved on or before due_at / dossiers resolved",
    ),
    "online_share": ("Tỷ lệ hồ sơ trực tuyến", "Online share: dossiers received online / dossiers received"),
    "digitised_share": (
        "Tỷ lệ số hoá kết quả",
        "Digitised results: resolved dossiers with a digitised result / resolved",
    ),
    "online_payment_share": (
        "Tỷ lệ thanh toán trực tuyến",
        "Online payment: fees paid online / resolved dossiers that had a fee",
    ),
    "signature_adoption": ("Tỷ lệ văn bản ký số", "Digital-signature adoption: documents issued signed / issued"),
    "document_online_share": (
        "Tỷ lệ văn bản đến xử lý trên môi trường mạng",
        "Incoming documents processed online / documents received",
    ),
    "meeting_smooth_rate": (
        "Tỷ lệ cuộc họp trực tuyến thông suốt",
        "Online meetings without interruption / meetings held",
    ),
    "satisfaction_rate": ("Tỷ lệ hài lòng", "Satisfaction: (very satisfied + satisfied) / ratings"),
    "apology_coverage": (
        "Tỷ lệ hồ sơ trễ hạn có thư xin lỗi",
        "Apology coverage: dossiers resolved late with an apology letter / resolved late",
    ),
    "feedback_on_time_rate": (
        "Tỷ lệ phản ánh, kiến nghị xử lý đúng hạn",
        "Citizen feedback handled on or before its due date / feedback handled",
    ),
    "feedback_satisfaction_rate": (
        "Tỷ lệ hài lòng về xử lý phản ánh, kiến nghị",
        "Satisfaction with feedback handling: (very satisfied + satisfied) / feedback ratings",
    ),
}
assert set(RATE_LABELS) == set(M.RATE_DEFINITIONS), "every contract rate needs a label"

COUNT_LABELS: dict[str, str] = {
    "received": "Tiếp nhận",
    "received_online": "Tiếp nhận trực tuyến",
    "received_online_full": "Trực tuyến toàn trình",
    "received_online_partial": "Trực tuyến một phần",
    "received_in_person": "Trực tiếp",
    "received_postal": "Bưu chính công ích",
    "resolved": "Đã giải quyết",
    "resolved_early": "Trước hạn",
    "resolved_on_time": "Đúng hạn",
    "resolved_late": "Trễ hạn",
    "results_digitised": "Kết quả số hoá",
    "fee_applicable": "Có phí, lệ phí",
    "paid_online": "Thanh toán trực tuyến",
    "supplements": "Yêu cầu bổ sung",
    "transfers": "Liên thông",
    "withdrawn": "Rút hồ sơ",
    "refused": "Từ chối",
    "apologies": "Thư xin lỗi",
    "late_with_apology": "Trễ hạn có thư xin lỗi",
    "ratings": "Lượt đánh giá",
    "ratings_very_satisfied": "Rất hài lòng",
    "ratings_satisfied": "Hài lòng",
    "ratings_unsatisfied": "Không hài lòng",
    "documents_issued": "Văn bản đi",
    "documents_signed": "Văn bản ký số",
    "documents_signed_by_leader": "Lãnh đạo ký số",
    "documents_secret": "Văn bản mật",
    "documents_received": "Văn bản đến",
    "documents_processed_online": "Văn bản đến xử lý trên mạng",
    "meetings_held": "Cuộc họp",
    "meetings_uninterrupted": "Họp thông suốt",
    "meeting_connection_drops": "Lần rớt kết nối",
    "feedback_received": "PAKN tiếp nhận",
    "feedback_transferred": "PAKN chuyển xử lý",
    "feedback_handled": "PAKN đã xử lý",
    "feedback_handled_early": "PAKN xử lý trước hạn",
    "feedback_handled_on_time": "PAKN xử lý đúng hạn",
    "feedback_handled_late": "PAKN xử lý trễ hạn",
    "feedback_ratings": "Lượt đánh giá xử lý PAKN",
    "feedback_ratings_very_satisfied": "PAKN: rất hài lòng",
    "feedback_ratings_satisfied": "PAKN: hài lòng",
    "feedback_ratings_unsatisfied": "PAKN: không hài lòng",
}
assert set(COUNT_LABELS) == set(M.COUNT_FIELDS), "every contract count needs a label"

HEADLINE_RATES = ("on_time_rate", "online_share", "signature_adoption", "meeting_smooth_rate", "satisfaction_rate")


# ---------------------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------------------
def _any_field(fields: Iterable[str]) -> str:
    return " or ".join(f'r._field == "{f}"' for f in fields)


def rate_fields(rate: str) -> tuple[tuple[str, ...], str]:
    return M.RATE_DEFINITIONS[rate]


def _rate_expr(rate: str, rec: str = "r") -> str:
    nums, den = M.RATE_DEFINITIONS[rate]
    num = " + ".join(f"{rec}.{n}" for n in nums)
    return f"float(v: {num}) / float(v: {rec}.{den})"


@dataclass(frozen=True)
class Scope:
    """Which unit_rates series a query sums: a province, or one unit of it."""

    name: str
    predicate: str


PROVINCE = Scope("province", 'r.province_code == "${province}"')
UNIT = Scope("unit", 'r.province_code == "${province}" and r.unit_code == "${unit}"')
# one unit, or all of them: the variable's "All" value is ".*" (a tag regex is pushed down to storage)
UNIT_OR_ALL = Scope("unit_or_all", 'r.province_code == "${province}" and r.unit_code =~ /^${unit}$/')

_LOOKBACK = (
    'w = "${window}"\n'
    "// one period length back, so the snapshot current at the end of the range is found; for rolling\n"
    "// windows one step ahead, so the step in progress (its as-of point is its end) is included\n"
    'lookback = if w == "24h" then 1d else if w == "7d" then 7d else if w == "30d" then 30d '
    'else if w == "month" or w == "report_month" then 1mo else if w == "report_quarter" then 3mo '
    'else if w == "report_half" then 6mo else 1y\n'
    'ahead = if w == "24h" then 1h else if w == "7d" or w == "30d" then 1d else 0s\n'
)


def _snapshot(scope: Scope, fields: Iterable[str]) -> str:
    """Flux that defines ``asOf`` and ``snap``: the scope's unit_rates rows of the latest snapshot."""
    return (
        'import "date"\n\n' + _LOOKBACK + "rows = from(bucket: v.defaultBucket)\n"
        "  |> range(start: date.sub(d: lookback, from: v.timeRangeStart), stop: date.add(d: ahead, to: v.timeRangeStop))\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_RATES}" and r.window == w)\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        f"  |> filter(fn: (r) => {_any_field(fields)})\n"
        'latest = rows |> keep(columns: ["_time"]) |> group() |> max(column: "_time")\n'
        '  |> findColumn(fn: (key) => true, column: "_time")\n'
        "asOf = if length(arr: latest) > 0 then latest[0] else v.timeRangeStop\n"
        "snap = rows |> filter(fn: (r) => r._time == asOf)\n"
    )


def _fill(fields: Iterable[str]) -> str:
    """Counts of rolling windows are written only when non-zero (denominators always): a count that
    no unit has at a point is a missing column after the pivot, which is 0."""
    return "".join(f'  |> fill(column: "{f}", value: 0)\n' for f in sorted(set(fields)))


def _sum_by_field(src: str, fields: Iterable[str]) -> str:
    """One wide row: the snapshot's counts summed over units, at ``asOf``."""
    return (
        f"{src}\n"
        '  |> group(columns: ["_field"])\n'
        "  |> sum()\n"
        "  |> map(fn: (r) => ({r with _time: asOf}))\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n' + _fill(fields)
    )


# ---------------------------------------------------------------------------------------
# unit_rates
# ---------------------------------------------------------------------------------------
def rate_latest(rate: str, scope: Scope = PROVINCE) -> str:
    """Headline stat: the rate of the current snapshot, with its counts.

    Columns: ``_time`` (as of / period start), the numerator and denominator counts, and
    the rate under its contract name (e.g. ``on_time_rate``).  No row when the
    denominator is zero (the rate is undefined).
    """
    nums, den = M.RATE_DEFINITIONS[rate]
    fields = (*nums, den)
    return (
        _snapshot(scope, fields)
        + "\n"
        + _sum_by_field("snap", fields)
        + f"  |> filter(fn: (r) => r.{den} > 0)\n"
        + f"  |> map(fn: (r) => ({{r with {rate}: {_rate_expr(rate)}}}))\n"
    )


def rate_over_time(rate: str, scope: Scope = PROVINCE) -> str:
    """The rate over time for the scope: per display interval, each unit's last snapshot,
    summed over units, then numerator / denominator.  Columns: ``_time``, counts, rate.
    Each unit's points are pivoted first, so a count absent from a point is 0 there."""
    nums, den = M.RATE_DEFINITIONS[rate]
    fields = (*nums, den)
    acc = ", ".join(f"{f}: accumulator.{f} + r.{f}" for f in fields)
    ident = ", ".join(f"{f}: 0" for f in fields)
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_RATES}" and r.window == "${{window}}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        f"  |> filter(fn: (r) => {_any_field(fields)})\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(fields)
        + f'  |> aggregateWindow(every: v.windowPeriod, fn: last, column: "{den}", createEmpty: false)\n'
        '  |> group(columns: ["_time"])\n'
        f"  |> reduce(identity: {{{ident}}}, fn: (r, accumulator) => ({{{acc}}}))\n"
        "  |> group()\n"
        f"  |> filter(fn: (r) => r.{den} > 0)\n"
        f"  |> map(fn: (r) => ({{r with {rate}: {_rate_expr(rate)}}}))\n"
        '  |> sort(columns: ["_time"])\n'
    )


def rate_terms(rate: str, row: str = "r") -> tuple[str, str, tuple[str, ...]]:
    """A rate's numerator and denominator as Flux expressions over a pivoted row, with the fields
    they read (denominator first), from RATE_DEFINITIONS: the one definition of each rate, so a
    panel or rule that computes a rate itself cannot drift from what the worker writes."""
    numerators, denominator = M.RATE_DEFINITIONS[rate]
    return " + ".join(f"{row}.{f}" for f in numerators), f"{row}.{denominator}", (denominator, *numerators)


ON_TIME_NUM, ON_TIME_DEN, ON_TIME_FIELDS = rate_terms("on_time_rate")
RANKING_FIELDS = ("received", *ON_TIME_FIELDS, "resolved_late")


def unit_ranking() -> str:
    """Units of the province ranked by on-time rate in the current snapshot, as public reports
    rank them.  Columns: rank, unit_code, unit_name, unit_level, received, resolved, on_time
    (early + on time), late, on_time_rate (null when nothing was resolved), as_of."""
    return (
        'import "internal/debug"\n' + _snapshot(PROVINCE, RANKING_FIELDS) + "\nsnap\n"
        '  |> group(columns: ["unit_code", "unit_name", "unit_level", "_field"])\n'
        "  |> sum()\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["unit_code", "unit_name", "unit_level"], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(RANKING_FIELDS)
        + "  |> map(fn: (r) => ({\n"
        "      unit_code: r.unit_code, unit_name: r.unit_name, unit_level: r.unit_level,\n"
        "      received: r.received, resolved: r.resolved,\n"
        f"      on_time: {ON_TIME_NUM}, late: r.resolved_late,\n"
        f"      on_time_rate: if {ON_TIME_DEN} > 0 then float(v: {ON_TIME_NUM}) / float(v: {ON_TIME_DEN})\n"
        '                    else debug.null(type: "float"),\n'
        "      as_of: asOf, rank: 1, rated: if r.resolved > 0 then 1 else 0,\n"
        "  }))\n"
        "  // units without a rate last (a descending sort puts nulls first)\n"
        '  |> sort(columns: ["rated", "on_time_rate", "resolved"], desc: true)\n'
        '  |> cumulativeSum(columns: ["rank"])\n'
        '  |> drop(columns: ["rated"])\n'
    )


def unit_rate_table(scope: Scope = UNIT) -> str:
    """Every contract rate of the current snapshot as rows: rate, label, numerator,
    denominator, value (null when the denominator is zero), as_of."""
    fields = sorted({f for nums, den in M.RATE_DEFINITIONS.values() for f in (*nums, den)})
    rows = []
    for rate, (nums, den) in M.RATE_DEFINITIONS.items():
        num = " + ".join(f"c.{n}" for n in nums)
        label = RATE_LABELS[rate][0]
        rows.append(
            f'    {{rate: "{rate}", label: "{label}", numerator: {num}, denominator: c.{den},\n'
            f'     value: if c.{den} > 0 then float(v: {num}) / float(v: c.{den}) else debug.null(type: "float"), as_of: asOf}}'
        )
    return (
        'import "array"\nimport "internal/debug"\n'
        + _snapshot(scope, fields)
        + "\nwide = "
        + _sum_by_field("snap", fields)
        + 'found = wide |> findColumn(fn: (key) => true, column: "_time")\n'
        "c = wide |> findRecord(fn: (key) => true, idx: 0)\n"
        "array.from(rows: if length(arr: found) == 0 then [] else [\n" + ",\n".join(rows) + "\n])\n"
    )


# ---------------------------------------------------------------------------------------
# open_dossiers, dossier_alerts
# ---------------------------------------------------------------------------------------
def open_dossiers_latest(field: str, scope: Scope = PROVINCE) -> str:
    """Current value of an open_dossiers field summed over the scope's units: each unit's
    last point in the range (the worker writes a unit's state when it changes).
    Columns: ``_time`` (latest point), ``<field>``."""
    assert field in M.OPEN_FIELDS
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.OPEN_DOSSIERS}" and r._field == "{field}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        "  |> last()\n"
        "  |> group()\n"
        f"  |> reduce(identity: {{_time: time(v: 0), {field}: 0}},\n"
        f"       fn: (r, accumulator) => ({{_time: if r._time > accumulator._time then r._time else accumulator._time,\n"
        f"                                  {field}: accumulator.{field} + r._value}}))\n"
    )


def open_dossiers_over_time(scope: Scope = UNIT) -> str:
    """open, overdue, due_soon, overdue_without_apology over time, summed over the scope's units."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.OPEN_DOSSIERS}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        f"  |> filter(fn: (r) => {_any_field(M.OPEN_FIELDS)})\n"
        "  |> aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)\n"
        '  |> group(columns: ["_time", "_field"])\n'
        "  |> sum()\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> sort(columns: ["_time"])\n'
    )


_ALERT_COLUMNS = (
    "province_code",
    "unit_code",
    "unit_name",
    "procedure_code",
    "dossier_id",
    "kind",
    "_time",
    "due_at",
    "late_seconds",
    "field",
    "apology_sent",
    "resolved",
    "resolved_at",
)


def _alerts(scope: Scope, kinds: Iterable[str], lookback: str = "1y") -> str:
    """Alert points of these kinds, one row per point with every field as a column (dossier_id
    among them). Within a series (unit, kind, procedure) each point has its own ``_time``: the
    worker gives alerts of one instant distinct nanoseconds, so the pivot never merges two."""
    kind_pred = " or ".join(f'r.kind == "{k}"' for k in kinds)
    return (
        "from(bucket: v.defaultBucket)\n"
        f"  |> range(start: date.sub(d: {lookback}, from: v.timeRangeStart), stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.DOSSIER_ALERTS}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        f"  |> filter(fn: (r) => {kind_pred})\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
    )


def late_dossiers_live(scope: Scope = UNIT_OR_ALL) -> str:
    """Open dossiers that are overdue or due soon at the end of the range, one row each
    (its most advanced alert: overdue beats due soon).  ``late_seconds_now`` = range end −
    due_at (negative: still early).  Columns: status, unit, procedure, dossier, due_at,
    late_seconds (at the alert instant), late_seconds_now, apology_sent.

    dossier_alerts has a series per unit, kind and procedure (the dossier is a field), so one
    read of the look-back year's points, pivoted to one row per alert point, is the whole list:
    no dossier_id tag to select series by, and no need for one."""
    return (
        'import "date"\n\n'
        "stop = v.timeRangeStop\n"
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: date.sub(d: 1y, from: v.timeRangeStart), stop: stop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.DOSSIER_ALERTS}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        '  |> filter(fn: (r) => r.kind == "dossier_overdue" or r.kind == "dossier_due_soon")\n'
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        "  |> filter(fn: (r) => not r.resolved)\n"
        '  |> group(columns: ["unit_code", "dossier_id"])\n'
        '  |> sort(columns: ["_time"])\n'
        '  |> last(column: "_time")\n'
        "  |> group()\n"
        "  |> map(fn: (r) => ({\n"
        '      status: if r.kind == "dossier_overdue" then "Quá hạn" else "Sắp đến hạn",\n'
        "      unit_code: r.unit_code, unit_name: r.unit_name, procedure_code: r.procedure_code,\n"
        "      field: r.field, dossier_id: r.dossier_id, due_at: time(v: r.due_at),\n"
        "      late_seconds: r.late_seconds,\n"
        "      late_seconds_now: (int(v: stop) - int(v: time(v: r.due_at))) / 1000000000,\n"
        "      apology_sent: r.apology_sent,\n"
        "  }))\n"
        '  |> sort(columns: ["late_seconds_now"], desc: true)\n'
    )


def late_dossiers_count(status: str, scope: Scope = UNIT_OR_ALL, without_apology: bool = False) -> str:
    """How many rows of the live list have this status (``Quá hạn`` / ``Sắp đến hạn``), optionally only
    those without an apology letter. Column: ``count``."""
    return (
        late_dossiers_live(scope)
        + f'  |> filter(fn: (r) => r.status == "{status}")\n'
        + ("  |> filter(fn: (r) => not r.apology_sent)\n" if without_apology else "")
        + '  |> count(column: "dossier_id")\n'
        "  |> map(fn: (r) => ({count: r.dossier_id}))\n"
    )


def late_by_procedure(scope: Scope = UNIT_OR_ALL) -> str:
    """Open overdue dossiers per unit and procedure. Columns: unit_code, unit_name, procedure_code,
    overdue, without_apology, max_late_seconds."""
    return (
        late_dossiers_live(scope) + '  |> filter(fn: (r) => r.status == "Quá hạn")\n'
        '  |> group(columns: ["unit_code", "unit_name", "procedure_code"])\n'
        "  |> reduce(identity: {overdue: 0, without_apology: 0, max_late_seconds: 0},\n"
        "       fn: (r, accumulator) => ({overdue: accumulator.overdue + 1,\n"
        "                                 without_apology: accumulator.without_apology + (if r.apology_sent then 0 else 1),\n"
        "                                 max_late_seconds: if r.late_seconds_now > accumulator.max_late_seconds\n"
        "                                                   then r.late_seconds_now else accumulator.max_late_seconds}))\n"
        "  |> group()\n"
        '  |> sort(columns: ["overdue", "max_late_seconds"], desc: true)\n'
    )


def resolved_late_dossiers(scope: Scope = UNIT_OR_ALL) -> str:
    """Dossiers resolved late whose due date falls in the range: how late they were and whether
    an apology letter was sent. Columns: unit, procedure, dossier, due_at, resolved_at,
    late_seconds (resolved_at − due_at), apology_sent."""
    return (
        'import "date"\n\n'
        + _alerts(scope, ("dossier_overdue",), lookback="0s")
        + "  |> filter(fn: (r) => r.resolved and exists r.resolved_at)\n"
        "  |> group()\n"
        "  |> map(fn: (r) => ({\n"
        "      unit_code: r.unit_code, unit_name: r.unit_name, procedure_code: r.procedure_code,\n"
        "      field: r.field, dossier_id: r.dossier_id, due_at: time(v: r.due_at),\n"
        "      resolved_at: time(v: r.resolved_at),\n"
        "      late_seconds: (int(v: time(v: r.resolved_at)) - int(v: time(v: r.due_at))) / 1000000000,\n"
        "      apology_sent: r.apology_sent,\n"
        "  }))\n"
        '  |> sort(columns: ["late_seconds"], desc: true)\n'
    )


def unit_alerts(scope: Scope = UNIT) -> str:
    """The unit's overdue and apology-missing alerts due in the range (resolved or not), latest
    first.  Due-soon alerts, one for nearly every dossier, are left to the late-dossiers
    dashboard's live list (only the open ones matter)."""
    return (
        'import "date"\n\n' + _alerts(scope, ("dossier_overdue", "apology_missing"), lookback="0s") + "  |> group()\n"
        "  |> map(fn: (r) => ({\n"
        "      _time: r._time, kind: r.kind, procedure_code: r.procedure_code, field: r.field,\n"
        "      dossier_id: r.dossier_id, due_at: time(v: r.due_at), late_seconds: r.late_seconds,\n"
        "      apology_sent: r.apology_sent, resolved: r.resolved,\n"
        "  }))\n"
        '  |> sort(columns: ["_time"], desc: true)\n'
    )


# ---------------------------------------------------------------------------------------
# pipeline_health, unit_activity
# ---------------------------------------------------------------------------------------
# Each worker of a consumer group reports the partitions it owns (tag ``worker``): a topic's figure
# is the sum over the workers, per display interval.
_SUM_OVER_WORKERS = (
    '  |> group(columns: ["app_id", "topic", "_time"])\n'
    "  |> sum()\n"
    '  |> group(columns: ["app_id", "topic"])\n'
    '  |> sort(columns: ["_time"])\n'
)


def health_gauge(field: str, fn: str) -> str:
    """A pipeline_health gauge per (app_id, topic): aggregated per display interval for each
    worker, then summed over the workers."""
    assert field in M.HEALTH_FIELDS
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.PIPELINE_HEALTH}" and r._field == "{field}")\n'
        "  |> toFloat()\n"
        f"  |> aggregateWindow(every: v.windowPeriod, fn: {fn}, createEmpty: false)\n"
        + _SUM_OVER_WORKERS
        + f"  |> map(fn: (r) => ({{_time: r._time, app_id: r.app_id, topic: r.topic, {field}: r._value}}))\n"
    )


def health_counter_increase(field: str) -> str:
    """How much a pipeline_health counter (dead_letters, late_events, points_rejected, …) grew per display
    interval, per (app_id, topic), summed over the workers.  Counter resets (a worker restart)
    count from zero.  The growth since the range started, at each interval's end, minus that of
    the interval before (the first interval keeps its own growth, not zero)."""
    assert field in M.HEALTH_FIELDS
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.PIPELINE_HEALTH}" and r._field == "{field}")\n'
        "  |> toFloat()\n"
        "  |> increase()\n"
        "  |> aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)\n"
        "  |> map(fn: (r) => ({r with grown: r._value}))\n"
        "  |> difference(nonNegative: true, keepFirst: true)\n"
        "  |> map(fn: (r) => ({r with _value: if exists r._value then r._value else r.grown}))\n"
        + _SUM_OVER_WORKERS
        + f"  |> map(fn: (r) => ({{_time: r._time, app_id: r.app_id, topic: r.topic, {field}: r._value}}))\n"
    )


def health_counter_total(field: str) -> str:
    """Total increase of a pipeline_health counter over the range, all topics. Column: ``<field>``."""
    assert field in M.HEALTH_FIELDS
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.PIPELINE_HEALTH}" and r._field == "{field}")\n'
        "  |> toFloat()\n"
        "  |> increase()\n"
        "  |> last()\n"
        "  |> group()\n"
        f"  |> sum()\n"
        f"  |> map(fn: (r) => ({{{field}: r._value}}))\n"
    )


SILENT_AFTER_SECONDS = 2 * 86400


def unit_activity_table() -> str:
    """Each unit and source system of the province with its last event and how long ago that
    was (against the worker's watermark), most silent first."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_ACTIVITY}")\n'
        f"  |> filter(fn: (r) => {PROVINCE.predicate})\n"
        '  |> filter(fn: (r) => r._field == "last_event_at" or r._field == "last_event_age_seconds")\n'
        "  |> last()\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        "  |> group()\n"
        "  |> map(fn: (r) => ({\n"
        "      unit_code: r.unit_code, unit_name: r.unit_name, unit_level: r.unit_level,\n"
        "      source_system: r.source_system, last_event_at: time(v: r.last_event_at),\n"
        "      last_event_age_seconds: r.last_event_age_seconds, reported_at: r._time,\n"
        "  }))\n"
        '  |> sort(columns: ["last_event_age_seconds"], desc: true)\n'
    )


def silent_units_count(after_seconds: int = SILENT_AFTER_SECONDS) -> str:
    """How many units (any source system) have been silent for longer than ``after_seconds``. Column: ``silent``."""
    return (
        unit_activity_table() + f"  |> filter(fn: (r) => r.last_event_age_seconds > {float(after_seconds)})\n"
        "  |> group()\n"
        '  |> unique(column: "unit_code")\n'
        '  |> count(column: "unit_code")\n'
        "  |> map(fn: (r) => ({silent: r.unit_code}))\n"
    )


# ---------------------------------------------------------------------------------------
# report_counts: the periodic report (báo cáo định kỳ) over the time range
# ---------------------------------------------------------------------------------------
# how a report row shows report_counts' field tag when the events did not say (UNKNOWN_TAG)
UNKNOWN_FIELD_LABEL = "Chưa rõ lĩnh vực"

# a district's roll-up: the district's own desk and every unit whose events carried its code
DISTRICT = Scope(
    "district",
    'r.province_code == "${province}" and '
    '((exists r.district_code and r.district_code == "${district}") or r.unit_code == "${district}")',
)

# the rows a period report can be grouped into: tag columns kept, in order
REPORT_GROUPS: dict[str, tuple[str, ...]] = {
    "total": (),
    "field": ("field",),
    "unit": ("unit_code", "unit_name"),
    "procedure": ("procedure_code", "field"),
    # per reception channel and online-service level (the portals' table per service level)
    "channel": ("channel",),
}
_CLOSURES = ("resolved_early", "resolved_on_time", "resolved_late", "withdrawn", "refused")
_RECEPTIONS = tuple(f for f in M.REPORT_FIELDS if f.startswith("received_"))
# the columns every period_report row has, after its group columns
PERIOD_REPORT_COLUMNS = (
    "carried_over",
    "received",
    "received_online",
    "received_offline",
    "received_unknown_channel",
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "withdrawn",
    "refused",
    "in_process",
    "in_process_within_due",
    "in_process_overdue",
    "to_handle",
    "on_time_rate",
    "portal_on_time_rate",
)


def period_report(group: str = "field", scope: Scope = UNIT, top: int | None = None) -> str:
    """The periodic report's figures over the time range [start, stop), one row per ``group``
    (REPORT_GROUPS: total, field, unit, procedure, channel), from ``report_counts``.

    Flows in the range give received, resolved (early / on time / late), withdrawn and refused;
    the stocks are flows summed over everything before an instant (see the contract): carried
    over = open at the start, in process = open at the stop, overdue = overdue at the stop. So
    carried_over + received = resolved + withdrawn + refused + in_process for every row.
    ``received_offline`` = in person + postal + unknown channel (``received_unknown_channel``:
    resolutions read without their reception). Rates: ``on_time_rate`` over resolved (what the
    reports quote), ``portal_on_time_rate`` = 1 − (overdue in process + resolved late) / to handle
    (the one-stop portals' formula); null when their denominator is 0. ``top``: the rows with the
    most late dossiers (resolved late + overdue in process) first, at most ``top`` of them.
    Columns: the group's tag columns, then PERIOD_REPORT_COLUMNS."""
    keys = REPORT_GROUPS[group]
    by = [*keys, "_field"] if keys else ["_field"]
    all_fields = [*M.REPORT_FIELDS, *(f"before_{f}" for f in M.REPORT_FIELDS)]

    def plus(fields: Iterable[str], prefix: str = "") -> str:
        return " + ".join(f"r.{prefix}{f}" for f in fields)

    opened_before = f"({plus(_RECEPTIONS, 'before_')}) - ({plus(_CLOSURES, 'before_')})"
    overdue_at_stop = "r.before_overdue_started - r.before_overdue_ended + r.overdue_started - r.overdue_ended"
    group_cols = "".join(f"      {k}: r.{k},\n" for k in keys)
    row_key = ", ".join(f'"{k}"' for k in keys) if keys else '"_stop"'
    flux = (
        'import "internal/debug"\n\n'
        "from(bucket: v.defaultBucket)\n"
        "  // from the first day on record: the stocks at the start and stop are sums of every flow before them\n"
        "  |> range(start: 0, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.REPORT_COUNTS}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        '  |> map(fn: (r) => ({r with _field: if r._time < v.timeRangeStart then "before_" + r._field else r._field}))\n'
        f"  |> group(columns: [{', '.join(f'{c!r}'.replace(chr(39), chr(34)) for c in by)}])\n"
        "  |> sum()\n"
        + ("  |> map(fn: (r) => ({r with _stop: v.timeRangeStop}))\n" if not keys else "")
        + "  |> group()\n"
        f'  |> pivot(rowKey: [{row_key}], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(all_fields)
        + "  |> map(fn: (r) => ({r with\n"
        f"      carried_over: {opened_before},\n"
        f"      received: {plus(_RECEPTIONS)},\n"
        f"      resolved: r.resolved_early + r.resolved_on_time + r.resolved_late,\n"
        f"      overdue_at_stop: {overdue_at_stop},\n"
        "  }))\n"
        "  |> map(fn: (r) => ({r with\n"
        "      in_process: r.carried_over + r.received - r.resolved - r.withdrawn - r.refused,\n"
        "      to_handle: r.carried_over + r.received,\n"
        "  }))\n"
        "  |> map(fn: (r) => ({\n"
        + group_cols
        + "      carried_over: r.carried_over, received: r.received, received_online: r.received_online,\n"
        "      received_offline: r.received_in_person + r.received_postal + r.received_unknown_channel,\n"
        "      received_unknown_channel: r.received_unknown_channel,\n"
        "      resolved: r.resolved, resolved_early: r.resolved_early, resolved_on_time: r.resolved_on_time,\n"
        "      resolved_late: r.resolved_late, withdrawn: r.withdrawn, refused: r.refused,\n"
        "      in_process: r.in_process, in_process_within_due: r.in_process - r.overdue_at_stop,\n"
        "      in_process_overdue: r.overdue_at_stop, to_handle: r.to_handle,\n"
        "      on_time_rate: if r.resolved > 0\n"
        "          then float(v: r.resolved_early + r.resolved_on_time) / float(v: r.resolved)\n"
        '          else debug.null(type: "float"),\n'
        "      portal_on_time_rate: if r.to_handle > 0\n"
        "          then 1.0 - float(v: r.overdue_at_stop + r.resolved_late) / float(v: r.to_handle)\n"
        '          else debug.null(type: "float"),\n'
        "      late_total: r.resolved_late + r.overdue_at_stop,\n"
        "  }))\n"
        "  // rows with nothing in the period and nothing carried over say nothing\n"
        "  |> filter(fn: (r) => r.to_handle > 0)\n"
    )
    if top is not None:
        flux += '  |> filter(fn: (r) => r.late_total > 0)\n  |> sort(columns: ["late_total", "resolved_late"], desc: true)\n'
        flux += f"  |> limit(n: {top})\n"
    elif keys:
        flux += f"  |> sort(columns: [{row_key}])\n"
    return flux + '  |> drop(columns: ["late_total"])\n'


# the report's columns (3) to (17) in its order, with their headers (a Grafana table has one header row:
# "group: column"); received is their sum (not a report column) and the unknown channel is in offline
PERIOD_REPORT_LABELS: dict[str, str] = {
    "to_handle": "Nhận giải quyết: Tổng số",
    "carried_over": "Kỳ trước chuyển qua",
    "received_online": "Mới tiếp nhận: Trực tuyến",
    "received_offline": "Mới tiếp nhận: Trực tiếp, bưu chính",
    "resolved": "Đã giải quyết: Tổng số",
    "resolved_early": "Đã giải quyết: Trước hạn",
    "resolved_on_time": "Đã giải quyết: Đúng hạn",
    "resolved_late": "Đã giải quyết: Quá hạn",
    "withdrawn": "Rút hồ sơ",
    "refused": "Từ chối",
    "in_process": "Đang giải quyết: Tổng số",
    "in_process_within_due": "Đang giải quyết: Trong hạn",
    "in_process_overdue": "Đang giải quyết: Quá hạn",
    "on_time_rate": "Tỷ lệ đúng hạn",
    "portal_on_time_rate": "Tỷ lệ đúng hạn (cổng một cửa)",
}
PERIOD_REPORT_HIDDEN = ("received", "received_unknown_channel")
assert set(PERIOD_REPORT_LABELS) | set(PERIOD_REPORT_HIDDEN) == set(PERIOD_REPORT_COLUMNS)
LATE_BY_FIELD_COLUMNS = ("field", "resolved_late", "in_process_overdue")


def late_by_field(scope: Scope = UNIT) -> str:
    """The period report by field, projected to its late dossiers: resolved late in the range and
    still in process past the due date at its end (the report's late-by-field chart).
    Columns: field, resolved_late, in_process_overdue; one row per field of period_report("field")."""
    cols = ", ".join(f'"{c}"' for c in LATE_BY_FIELD_COLUMNS)
    return period_report("field", scope) + f"  |> keep(columns: [{cols}])\n"


def period_unit_ranking(scope: Scope = PROVINCE) -> str:
    """The period report by unit, ranked as the report ranks it: by on-time rate, then by resolved,
    units that resolved nothing (no rate) last. Columns: rank, unit_code, unit_name, then
    PERIOD_REPORT_COLUMNS."""
    return (
        period_report("unit", scope)
        + "  |> map(fn: (r) => ({r with rank: 1, rated: if r.resolved > 0 then 1 else 0}))\n"
        "  // units without a rate last (a descending sort puts nulls first)\n"
        '  |> sort(columns: ["rated", "on_time_rate", "resolved"], desc: true)\n'
        '  |> cumulativeSum(columns: ["rank"])\n'
        '  |> drop(columns: ["rated"])\n'
    )


def daily_resolutions(scope: Scope = UNIT) -> str:
    """Resolutions per local day in the range, summed over the scope (for the on-time rate by
    month: any month, calendar or report, is a sum of days). Columns: _time (the day's start),
    resolved_early, resolved_on_time, resolved_late."""
    fields = ("resolved_early", "resolved_on_time", "resolved_late")
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.REPORT_COUNTS}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        f"  |> filter(fn: (r) => {_any_field(fields)})\n"
        '  |> group(columns: ["_time", "_field"])\n'
        "  |> sum()\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(fields)
        + '  |> sort(columns: ["_time"])\n'
    )


# ---------------------------------------------------------------------------------------
# the index of Decision 766 (streams.domain.service_index): its inputs and its written points
# ---------------------------------------------------------------------------------------
# unit_rates counts the index reads from the period's window point (the rest comes from period_report)
INDEX_WINDOW_FIELDS = (
    "received_online_full",
    "resolved",
    "results_digitised",
    "fee_applicable",
    "paid_online",
    "late_with_apology",
    "ratings",
    "ratings_very_satisfied",
    "ratings_satisfied",
    "ratings_unsatisfied",
    "feedback_handled",
    "feedback_handled_early",
    "feedback_handled_on_time",
    "feedback_handled_late",
    "feedback_ratings_unsatisfied",
)


def period_window_counts(scope: Scope = UNIT) -> str:
    """Per unit of the scope: the counts of the ``unit_rates`` point of window ``${window}`` for the
    period that starts at the range's start (a calendar or report period's point is at its start).
    Only that instant: the snapshot builder's look-back would take the previous period's point for a
    unit with nothing in this one. Columns: unit_code, unit_name, INDEX_WINDOW_FIELDS (0 when absent)."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_RATES}" and r.window == "${{window}}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        "  |> filter(fn: (r) => r._time == v.timeRangeStart)\n"
        f"  |> filter(fn: (r) => {_any_field(INDEX_WINDOW_FIELDS)})\n"
        '  |> group(columns: ["unit_code", "unit_name", "_field"])\n'
        "  |> sum()\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["unit_code", "unit_name"], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(INDEX_WINDOW_FIELDS)
        + '  |> sort(columns: ["unit_code"])\n'
    )


FEEDBACK_STOCK_COLUMNS = ("feedback_open", "feedback_open_overdue")


def feedback_stock(scope: Scope = UNIT) -> str:
    """Per unit of the scope: its citizen feedback (phản ánh, kiến nghị) still open at the range's stop
    (đang xử lý cuối kỳ) and, of those, overdue (quá hạn), from ``feedback_flows``: flows summed over
    every day before the stop (the contract: open = received − handled, overdue = overdue_started −
    overdue_ended). Units with nothing open at the stop have no row. Columns: unit_code, unit_name,
    FEEDBACK_STOCK_COLUMNS."""
    flow_fields = M.FEEDBACK_FLOW_FIELDS
    return (
        "from(bucket: v.defaultBucket)\n"
        "  // from the first day on record: a stock at the stop is the sum of every flow before it\n"
        "  |> range(start: 0, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.FEEDBACK_FLOWS}")\n'
        f"  |> filter(fn: (r) => {scope.predicate})\n"
        '  |> group(columns: ["unit_code", "unit_name", "_field"])\n'
        "  |> sum()\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["unit_code", "unit_name"], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(flow_fields)
        + "  |> map(fn: (r) => ({\n"
        "      unit_code: r.unit_code, unit_name: r.unit_name,\n"
        "      feedback_open: r.received - r.handled,\n"
        "      feedback_open_overdue: r.overdue_started - r.overdue_ended,\n"
        "  }))\n"
        "  |> filter(fn: (r) => r.feedback_open != 0 or r.feedback_open_overdue != 0)\n"
        '  |> sort(columns: ["unit_code"])\n'
    )


SERVICE_INDEX_COLUMNS = ("group", "criterion", "name", "value", "score", "max", "numerator", "denominator")
# the numeric fields only: a pivot cannot hold status/origin (strings) and the numbers in one _value column.
# An empty score is "not scored" (no points or rule, zero denominator, or missing); `govpulse index` prints why.
_INDEX_NUMBERS = ("value", "score", "max", "scored_max", "numerator", "denominator")


def service_index_table(scope_kind: str = "unit") -> str:
    """The written index (``service_index``) of the unit ``${unit}`` (or the roll-up ``scope_kind`` named by
    it) for window ``${window}``: its latest period in the range, one row per criterion, group and total
    (criterion "group" / "total"). Columns: SERVICE_INDEX_COLUMNS, period (the period's start)."""
    cols = ", ".join(f'"{c}"' for c in (*SERVICE_INDEX_COLUMNS, "_time"))
    return (
        "rows = from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.SERVICE_INDEX}" and r.window == "${{window}}")\n'
        f'  |> filter(fn: (r) => r.province_code == "${{province}}" and r.unit_code == "${{unit}}" '
        f'and r.scope == "{scope_kind}")\n'
        f"  |> filter(fn: (r) => {_any_field(_INDEX_NUMBERS)})\n"
        'latest = rows |> keep(columns: ["_time"]) |> group() |> max(column: "_time")\n'
        '  |> findColumn(fn: (key) => true, column: "_time")\n'
        "rows\n"
        "  |> filter(fn: (r) => length(arr: latest) > 0 and r._time == latest[0])\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["_time", "group", "criterion", "name"], columnKey: ["_field"], valueColumn: "_value")\n'
        + f"  |> keep(columns: [{cols}])\n"
        '  |> rename(columns: {_time: "period"})\n'
        '  |> sort(columns: ["group", "criterion"])\n'
    )


SERVICE_INDEX_LOST_COLUMNS = ("criterion", "name", "value", "score", "max", "lost")


def service_index_points_lost(scope_kind: str = "unit", top: int = 5) -> str:
    """The scored criteria of the unit's latest written index that lose the most points (max − score),
    most first: where the unit's score goes. Columns: SERVICE_INDEX_LOST_COLUMNS."""
    cols = ", ".join(f'"{c}"' for c in SERVICE_INDEX_LOST_COLUMNS)
    return (
        service_index_table(scope_kind)
        + '  |> filter(fn: (r) => r.criterion != "group" and r.criterion != "total" and exists r.score and exists r.max)\n'
        + "  |> map(fn: (r) => ({r with lost: r.max - r.score}))\n"
        + "  |> filter(fn: (r) => r.lost > 0.0)\n"
        + f"  |> keep(columns: [{cols}])\n"
        + '  |> sort(columns: ["lost"], desc: true)\n'
        + f"  |> limit(n: {top})\n"
    )


def service_index_history(scope_kind: str = "unit") -> str:
    """The unit's written index month by month (``govpulse index --each-month`` writes the report months
    of a period): the total and each group's score, one series per name ("Tổng điểm", the groups' names),
    a point at each report month's start. Columns: _time, name, score."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.SERVICE_INDEX}" and r.window == "{M.REPORT_MONTH}")\n'
        f'  |> filter(fn: (r) => r.province_code == "${{province}}" and r.unit_code == "${{unit}}" '
        f'and r.scope == "{scope_kind}")\n'
        '  |> filter(fn: (r) => (r.criterion == "total" or r.criterion == "group") and r._field == "score")\n'
        '  |> group(columns: ["name"])\n'
        '  |> keep(columns: ["_time", "_value", "name"])\n'
        '  |> rename(columns: {_value: "score"})\n'
        '  |> sort(columns: ["_time"])\n'
    )


def service_index_ranking() -> str:
    """Units of the province ranked by their written index total for window ``${window}``, latest period
    in the range. Columns: rank, unit_code, unit_name, score, scored_max."""
    return (
        "rows = from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.SERVICE_INDEX}" and r.window == "${{window}}")\n'
        '  |> filter(fn: (r) => r.province_code == "${province}" and r.scope == "unit" and r.criterion == "total")\n'
        '  |> filter(fn: (r) => r._field == "score" or r._field == "scored_max")\n'
        'latest = rows |> keep(columns: ["_time"]) |> group() |> max(column: "_time")\n'
        '  |> findColumn(fn: (key) => true, column: "_time")\n'
        "rows\n"
        "  |> filter(fn: (r) => length(arr: latest) > 0 and r._time == latest[0])\n"
        "  |> group()\n"
        '  |> pivot(rowKey: ["unit_code", "unit_name"], columnKey: ["_field"], valueColumn: "_value")\n'
        '  |> sort(columns: ["score"], desc: true)\n'
        "  |> map(fn: (r) => ({r with rank: 1}))\n"
        '  |> cumulativeSum(columns: ["rank"])\n'
        '  |> keep(columns: ["rank", "unit_code", "unit_name", "score", "scored_max"])\n'
    )


# ---------------------------------------------------------------------------------------
# template variables
# ---------------------------------------------------------------------------------------
def var_province() -> str:
    return (
        'import "influxdata/influxdb/schema"\n\n'
        'schema.tagValues(bucket: v.defaultBucket, tag: "province_code",\n'
        f'  predicate: (r) => r._measurement == "{M.UNIT_RATES}",\n'
        "  start: v.timeRangeStart, stop: v.timeRangeStop)\n"
    )


def var_window() -> str:
    return (
        'import "influxdata/influxdb/schema"\n\n'
        'schema.tagValues(bucket: v.defaultBucket, tag: "window",\n'
        f'  predicate: (r) => r._measurement == "{M.UNIT_RATES}",\n'
        "  start: v.timeRangeStart, stop: v.timeRangeStop)\n"
    )


UNIT_VAR_REGEX = r"/^(?<text>(?<value>\S+) — .*)$/"


def var_unit() -> str:
    """Units of the province as ``<unit_code> — <unit_name>``; the variable's regex keeps the
    code as the value and shows both."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_RATES}" and r._field == "received")\n'
        f"  |> filter(fn: (r) => {PROVINCE.predicate})\n"
        "  |> last()\n"
        '  |> map(fn: (r) => ({_value: r.unit_code + " — " + r.unit_name}))\n'
        "  |> group()\n"
        "  |> distinct()\n"
        "  |> sort()\n"
    )


# ---------------------------------------------------------------------------------------
# alert rule queries (Grafana-managed rules; one series per unit / topic)
# ---------------------------------------------------------------------------------------
MIN_RESOLVED_FOR_ON_TIME_ALERT = 5


def alert_on_time_7d() -> str:
    """Per unit: the on-time rate of its latest 7-day snapshot, for units that resolved at
    least MIN_RESOLVED_FOR_ON_TIME_ALERT dossiers in those 7 days (fewer is noise).
    One table per unit (labels province_code, unit_code, unit_name), ``_value`` = rate.
    The pivot comes before ``last``: a count absent from the latest point is 0, not the value
    of an older point."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_RATES}" and r.window == "7d")\n'
        "  |> filter(fn: (r) => " + " or ".join(f'r._field == "{f}"' for f in ON_TIME_FIELDS) + ")\n"
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
        + _fill(ON_TIME_FIELDS)
        + '  |> sort(columns: ["_time"])\n'
        '  |> last(column: "_time")\n'
        '  |> group(columns: ["province_code", "unit_code", "unit_name"])\n'
        "  |> reduce(identity: {resolved: 0, on_time: 0},\n"
        f"       fn: (r, accumulator) => ({{resolved: accumulator.resolved + {ON_TIME_DEN},\n"
        f"                                 on_time: accumulator.on_time + {ON_TIME_NUM}}}))\n"
        f"  |> filter(fn: (r) => r.resolved >= {MIN_RESOLVED_FOR_ON_TIME_ALERT})\n"
        "  |> map(fn: (r) => ({province_code: r.province_code, unit_code: r.unit_code, unit_name: r.unit_name,\n"
        "      _time: v.timeRangeStop, _value: float(v: r.on_time) / float(v: r.resolved)}))\n"
    )


def alert_overdue_open() -> str:
    """Per unit: open dossiers past due at its latest open_dossiers point. ``_value`` = overdue."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.OPEN_DOSSIERS}" and r._field == "overdue")\n'
        "  |> last()\n"
        '  |> group(columns: ["province_code", "unit_code", "unit_name"])\n'
        "  |> sum()\n"
        "  |> map(fn: (r) => ({province_code: r.province_code, unit_code: r.unit_code, unit_name: r.unit_name,\n"
        "      _time: v.timeRangeStop, _value: float(v: r._value)}))\n"
    )


def alert_unit_silent() -> str:
    """Per unit and source system: seconds since its last event (against the watermark)."""
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.UNIT_ACTIVITY}" and r._field == "last_event_age_seconds")\n'
        "  |> last()\n"
        '  |> group(columns: ["province_code", "unit_code", "unit_name", "source_system"])\n'
        "  |> max()\n"
        "  |> map(fn: (r) => ({province_code: r.province_code, unit_code: r.unit_code, unit_name: r.unit_name,\n"
        "      source_system: r.source_system, _time: v.timeRangeStop, _value: float(v: r._value)}))\n"
    )


def alert_health_increase(field: str) -> str:
    """Per (app_id, topic): how much a pipeline_health counter grew during the rule's time range,
    summed over the workers."""
    assert field in M.HEALTH_FIELDS
    return (
        "from(bucket: v.defaultBucket)\n"
        "  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n"
        f'  |> filter(fn: (r) => r._measurement == "{M.PIPELINE_HEALTH}" and r._field == "{field}")\n'
        "  |> toFloat()\n"
        "  |> increase()\n"
        "  |> last()\n"
        '  |> group(columns: ["app_id", "topic"])\n'
        "  |> sum()\n"
        "  |> map(fn: (r) => ({app_id: r.app_id, topic: r.topic, _time: v.timeRangeStop, _value: float(v: r._value)}))\n"
    )


def alert_dead_letters() -> str:
    """Per (app_id, topic): dead letters added during the rule's time range."""
    return alert_health_increase("dead_letters")


def alert_offset_gaps() -> str:
    """Per (app_id, topic): offsets a worker found skipped during the rule's time range."""
    return alert_health_increase("offset_gaps")


def alert_points_rejected() -> str:
    """Per (app_id, topic = "influxdb"): lines InfluxDB refused as invalid during the rule's time range."""
    return alert_health_increase("points_rejected")


def alert_conflicting_event_ids() -> str:
    """Per (app_id, topic): events that reused an event_id with different content during the rule's time range."""
    return alert_health_increase("conflicting_event_ids")
