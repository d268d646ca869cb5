"""The index of Decision 766 for a unit or roll-up and a period: its counts read from InfluxDB with the
report's and the dashboards' Flux, the user's weights and supplied figures read from their files, the
computation in ``streams.domain.service_index``, and the ``service_index`` points written back.

Why here (beside ``reports.source``): the index is a period figure like the periodic report, read from
the same ``report_counts`` rows (``dashboards.queries.period_report`` by unit), the citizen feedback
still open at the period's end (``feedback_flows``, ``dashboards.queries.feedback_stock``) and the
period's ``unit_rates`` point, for any unit, roll-up and period, whether the worker runs or not.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import measurements as m
from dashboards import queries as q
from reports.format import format_decimal
from reports.model import IndexCriterionRow, IndexGroupRow, IndexSection, IndexUnitRow
from reports.periods import Period, months_of
from reports.source import ReportSource, Scope
from streams.domain import service_index as si
from streams.domain.windows import LocalCalendar

FIGURE_COLUMNS = ("unit_code", "period", "criterion", "numerator", "denominator")  # + optional "source"


# ---------------------------------------------------------------------------------------------
# the user's files
# ---------------------------------------------------------------------------------------------
def load_weights(path: Path | None) -> dict[str, si.Weight]:
    """The weights file (YAML), validated (``si.parse_weights``); none = the sourced points only."""
    if path is None:
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise si.IndexConfigError(f"weights file {path}: cannot be read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise si.IndexConfigError(f"weights file {path}: not valid YAML ({e})") from None
    return si.parse_weights(data, f"weights file {path}")


@dataclass(frozen=True, slots=True)
class FigureRow:
    """A supplied figure: one unit, one period (WINDOW:LABEL, as --period spells it), one criterion."""

    unit_code: str
    period: str
    criterion: str
    figure: si.Figure


def parse_figures_csv(text: str, origin: str) -> list[FigureRow]:
    """The figures file: CSV with a header row, columns FIGURE_COLUMNS and optionally ``source``.
    Each row is checked (``si.parse_figure``); the same unit, period and criterion twice is refused."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(FIGURE_COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise si.IndexConfigError(f"{origin}: missing columns {', '.join(sorted(missing))} (header row)")
    out: list[FigureRow] = []
    seen: set[tuple[str, str, str]] = set()
    for n, row in enumerate(reader, start=2):
        where = f"{origin}, line {n}"
        unit, period, crit = (str(row.get(k) or "").strip() for k in ("unit_code", "period", "criterion"))
        if not unit or ":" not in period:
            raise si.IndexConfigError(f"{where}: unit_code and period (WINDOW:LABEL, e.g. month:2024-05) are required")
        fig = si.parse_figure(
            crit,
            str(row.get("numerator") or "").strip(),
            str(row.get("denominator") or "").strip(),
            where,
            str(row.get("source") or "").strip(),
        )
        if (unit, period, crit) in seen:
            raise si.IndexConfigError(f"{where}: criterion {crit}: a second figure for unit {unit}, {period}")
        seen.add((unit, period, crit))
        out.append(FigureRow(unit, period, crit, fig))
    return out


def load_figures(path: Path | None) -> list[FigureRow]:
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise si.IndexConfigError(f"figures file {path}: cannot be read ({e.strerror})") from None
    return parse_figures_csv(text, f"figures file {path}")


def period_keys(period: Period, cal: LocalCalendar) -> set[str]:
    """The figure-row periods that make up ``period``: itself, and its months (report months of a
    report period, calendar months otherwise), so monthly figures add up to a quarter or year."""
    keys = {f"{period.window}:{period.label}"}
    if period.window not in (m.MONTH, m.REPORT_MONTH):
        keys |= {f"{mo.window}:{mo.label}" for mo in months_of(period, cal)}
    return keys


def figures_for(
    rows: Iterable[FigureRow], units: Iterable[str], period: Period, cal: LocalCalendar
) -> dict[str, si.Figure]:
    """The supplied figures of these units over the period, summed per criterion (a roll-up sums its
    units' figures, a period its months'). A figure for the whole period and one for a month in it
    are both counted: give one or the other."""
    keys, members = period_keys(period, cal), set(units)
    return si.add_figures({r.criterion: r.figure} for r in rows if r.unit_code in members and r.period in keys)


# ---------------------------------------------------------------------------------------------
# counts from InfluxDB
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UnitIndexCounts:
    unit_code: str
    unit_name: str
    counts: si.IndexCounts


def _window_counts(row: Mapping[str, Any]) -> si.IndexCounts:
    values = {k: v for k, v in row.items() if k in q.INDEX_WINDOW_FIELDS and k != "resolved"}
    return si.IndexCounts.of({**values, "window_resolved": row.get("resolved", 0)})


def read_unit_counts(source: ReportSource, scope: Scope, period: Period) -> list[UnitIndexCounts]:
    """Each unit of the scope with its index counts over the period: the period report by unit
    (report_counts), its feedback still open at the period's end (feedback_flows) and the unit_rates
    point of the period's window, merged by unit code."""
    report = {r["unit_code"]: r for r in source.rows("unit", scope, period)}
    stock = {r["unit_code"]: r for r in source.run(q.feedback_stock(scope.flux_scope()), scope, period)}
    window = {
        r["unit_code"]: r
        for r in source.run(q.period_window_counts(scope.flux_scope()), scope, period, {"window": period.window})
    }
    out = []
    for code in sorted(report.keys() | stock.keys() | window.keys()):
        rep, fb, win = report.get(code), stock.get(code), window.get(code)
        counts = (
            si.IndexCounts.of(rep or {})
            + si.IndexCounts.of({k: (fb or {}).get(k) for k in q.FEEDBACK_STOCK_COLUMNS})
            + (_window_counts(win) if win else si.IndexCounts())
        )
        name = str((rep or win or fb or {}).get("unit_name") or code)
        out.append(UnitIndexCounts(code, name, counts))
    return out


@dataclass(frozen=True, slots=True)
class ScopeIndex:
    """The index of a unit or roll-up over a period, and of each unit in it (for the ranking)."""

    scope: Scope
    period: Period
    result: si.IndexResult
    counts: si.IndexCounts
    units: list[tuple[UnitIndexCounts, si.IndexResult]]


def compute_scope_index(
    source: ReportSource,
    scope: Scope,
    period: Period,
    weights: Mapping[str, si.Weight],
    figures: list[FigureRow],
) -> ScopeIndex:
    """Read the units' counts, score each unit, and score the scope from the summed counts (never an
    average of the units' scores)."""
    units = read_unit_counts(source, scope, period)
    per_unit = [
        (u, si.compute_index(u.counts, figures_for(figures, [u.unit_code], period, source.cal), weights)) for u in units
    ]
    total = si.IndexCounts.total(u.counts for u in units)
    members = {u.unit_code for u in units} | {scope.code}
    result = si.compute_index(total, figures_for(figures, members, period, source.cal), weights)
    return ScopeIndex(scope, period, result, total, per_unit)


# ---------------------------------------------------------------------------------------------
# the periodic report's section
# ---------------------------------------------------------------------------------------------
NOT_SCORED = "chưa chấm điểm"
NOT_APPLICABLE = "không áp dụng"
NO_DATA = "chưa có số liệu"


def status_text(r: si.CriterionResult) -> str:
    """Why a criterion has no score, in the report's words ("" when it is scored)."""
    if r.status is si.Status.SCORED:
        return ""
    if r.status is si.Status.NOT_APPLICABLE:
        return f"{NOT_APPLICABLE}: mẫu số bằng 0"
    if r.status is si.Status.MISSING:
        return f"{NO_DATA}: không tính được từ sự kiện, cần nhập trong tệp số liệu"
    if r.id == "2.2":
        return f"{NOT_SCORED}: thời gian trung bình, chỉ để theo dõi"
    if r.max is None:
        return f"{NOT_SCORED}: chưa có điểm được công bố (khai báo trong tệp trọng số)"
    return f"{NOT_SCORED}: chưa có quy tắc tính điểm được công bố (khai báo full_at trong tệp trọng số)"


def section_of(
    result: si.IndexResult,
    units: Sequence[tuple[str, str, si.IndexResult]] = (),
    notes: Sequence[str] = (),
) -> IndexSection:
    """The report's section of an index: its groups and criteria (govpulse's own indicators are in the
    report's form already), the total, and ``units`` (code, name, index) ranked by score, equal scores
    sharing a rank."""
    groups = [
        IndexGroupRow(
            g.group,
            g.name,
            g.score,
            g.scored_max,
            g.maximum,
            [
                IndexCriterionRow(
                    r.id, r.name, r.numerator, r.denominator, r.value, r.score, r.max, status_text(r), r.id != "2.2"
                )
                for r in g.criteria
            ],
        )
        for g in result.groups
    ]
    ranked: list[IndexUnitRow] = []
    for i, (code, name, res) in enumerate(sorted(units, key=lambda u: (-u[2].score, u[0])), start=1):
        tied = bool(ranked) and math.isclose(ranked[-1].score, res.score)
        ranked.append(IndexUnitRow(ranked[-1].rank if tied else i, code, name, res.score, res.scored_max))
    rule = (
        "Điểm một tiêu chí: đủ điểm tối đa khi tỷ lệ đạt ngưỡng, dưới ngưỡng = tỷ lệ × điểm tối đa ÷ ngưỡng. "
        "Chỉ chấm điểm các tiêu chí có điểm và ngưỡng được công bố hoặc khai báo trong tệp trọng số: "
        f"các tiêu chí đã chấm chiếm {format_decimal(result.scored_max)} trên {format_decimal(result.maximum)} điểm."
    )
    how = (
        "Các tiêu chí tính từ sự kiện là ước tính gần đúng; cách tính và chỗ khác với Quyết định 766/QĐ-TTg: "
        "docs/decision-766.md."
    )
    rollup = "Đơn vị tổng hợp: cộng số liệu của các đơn vị rồi mới tính điểm, không lấy trung bình điểm."
    return IndexSection(
        groups=groups,
        score=result.score,
        scored_max=result.scored_max,
        maximum=result.maximum,
        units=ranked,
        notes=[rule, how, *([rollup] if units else []), *notes],
    )


def index_section(
    source: ReportSource, scope: Scope, period: Period, weights: Path | None, figures: Path | None
) -> IndexSection:
    """The index of the report's scope and period, on the report's own query connection. A weights or
    figures file that cannot be used gives a section that says why (file, criterion, reason), not an
    exception: the rest of the report stands."""
    try:
        the_weights, the_figures = load_weights(weights), load_figures(figures)
    except si.IndexConfigError as e:
        return IndexSection(error=str(e))
    index = compute_scope_index(source, scope, period, the_weights, the_figures)
    units = [(u.unit_code, u.unit_name, res) for u, res in index.units] if scope.kind != "unit" else []
    files = [
        *([f"Điểm và ngưỡng theo tệp trọng số {weights}."] if weights else []),
        *([f"Số liệu nhập từ tệp {figures}."] if figures else []),
    ]
    return section_of(index.result, units, files)


# ---------------------------------------------------------------------------------------------
# the service_index points
# ---------------------------------------------------------------------------------------------
def _line_value(v: object) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(float(v))  # type: ignore[arg-type]


def _tag(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def index_lines(
    result: si.IndexResult, province_code: str, unit_code: str, unit_name: str, kind: str, period: Period
) -> list[str]:
    """Line protocol for one index: a line per criterion and indicator, per group and for the total."""
    base = {
        "province_code": province_code,
        "unit_code": unit_code,
        "unit_name": unit_name,
        "scope": kind,
        "window": period.window,
    }
    ns = period.start_ms * 1_000_000

    def line(group: str, criterion: str, name: str, values: Mapping[str, object]) -> str:
        tags = {**base, "group": group, "criterion": criterion, "name": name}
        tag_text = ",".join(f"{k}={_tag(v)}" for k, v in tags.items() if v)
        field_text = ",".join(f"{k}={_line_value(v)}" for k, v in values.items() if v is not None)
        return f"{m.SERVICE_INDEX},{tag_text} {field_text} {ns}"

    out = []
    for g in result.groups:
        for r in (*g.criteria, *g.indicators):
            out.append(
                line(
                    str(r.group),
                    r.id,
                    r.name,
                    {
                        "value": r.value,
                        "numerator": r.numerator,
                        "denominator": r.denominator,
                        "score": r.score,
                        "max": r.max,
                        "status": r.status.value,
                        "origin": r.origin,
                    },
                )
            )
        out.append(
            line(str(g.group), "group", g.name, {"score": g.score, "scored_max": g.scored_max, "max": g.maximum})
        )
    out.append(
        line(
            "total",
            "total",
            "Tổng điểm",
            {"score": result.score, "scored_max": result.scored_max, "max": result.maximum},
        )
    )
    return out


def scope_lines(index: ScopeIndex) -> list[str]:
    s = index.scope
    lines = index_lines(index.result, s.province_code, s.code, s.name, s.kind, index.period)
    if s.kind != "unit":  # the units of a roll-up too: the dashboards rank them
        for u, res in index.units:
            lines += index_lines(res, s.province_code, u.unit_code, u.unit_name, "unit", index.period)
    return lines


def write_lines(url: str, token: str, org: str, bucket: str, lines: list[str]) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    with InfluxDBClient(url=url, token=token, org=org, timeout=120_000) as client:
        client.write_api(write_options=SYNCHRONOUS).write(bucket=bucket, org=org, record=lines, write_precision="ns")
