"""The periodic report on the real pipeline: shipped scenarios → Kafka → worker → InfluxDB →
``dashboards.queries.period_report`` → the report's rows, checked against DOMAIN.md's figures,
the form's identity (every row), roll-ups (rows sum to the total) and period chaining (a period's
in-process figure is the next one's carried-over figure)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from reports.model import ROW_COUNTS, PeriodRow
from reports.periods import parse_period, period_of
from reports.source import ReportSource, influx_query, resolve_scope
from streams.domain.windows import LocalCalendar
from tests.conftest import run_govpulse, run_pipeline

pytestmark = pytest.mark.integration

CAL = LocalCalendar.for_zone()
NUMBERS = ROW_COUNTS


def source(pipeline) -> ReportSource:
    s = pipeline.settings
    run, _close = influx_query(s.influx_url, s.resolve_influx_token(), s.influx_org)
    return ReportSource(run, pipeline.bucket, CAL)


def numbers(row: PeriodRow) -> tuple[int, ...]:
    return tuple(getattr(row, n) for n in NUMBERS)


def check_form(report) -> None:
    """Every row satisfies the identity; the total row (read on its own) is the sum of the rows."""
    for row in [*report.rows, report.total, *report.ranking]:
        assert row.identity_holds(), row
    assert numbers(PeriodRow.total_of(report.rows)) == numbers(report.total)
    if report.ranking:
        assert numbers(PeriodRow.total_of(report.ranking)) == numbers(report.total)


@pytest.fixture(scope="module")
def vinhlong(services):
    return run_pipeline("vinhlong_2022.yaml")


@pytest.fixture(scope="module")
def vinhyen(services):
    return run_pipeline("vinhyen_2024.yaml")


def test_mytho_2022_desk_and_city_reports_match_the_public_report(pipeline_influx):
    """DOMAIN.md: city desk 4,121 received, 3,739 resolved, 3,671 on time or early (98.2%);
    city-wide 20,742 received, 99.66% on time over resolved."""
    src = source(pipeline_influx)
    year = parse_period("report_year:2022", CAL)
    now = datetime.now(UTC)
    desk = src.report(resolve_scope("815", "unit"), year, now)
    t = desk.total
    assert (t.received, t.resolved, t.resolved_in_time) == (4121, 3739, 3671)
    assert round(100 * t.on_time_rate, 1) == 98.2
    assert t.carried_over == 0  # the scenario starts with the period
    check_form(desk)
    assert [r.label for r in desk.rows] == sorted(r.label for r in desk.rows)
    assert len(desk.rows) == 4  # the desk's four fields (mytho_2022.yaml)

    city = src.report(resolve_scope("815", "district"), year, now)
    t = city.total
    assert t.received == 20742 and t.resolved_in_time == 20255
    assert round(100 * t.on_time_rate, 2) == 99.66
    check_form(city)
    # the ranking: the desk and the five wards, best on-time rate first, the desk (98.2%) last
    assert len(city.ranking) == 6 and city.ranking[-1].code == "815"
    rates = [r.on_time_rate for r in city.ranking]
    assert rates == sorted(rates, reverse=True)
    # the ten procedures with the most late dossiers: sorted, at most ten, each really late
    late = [r.resolved_late + r.in_process_overdue for r in city.late_procedures]
    assert 0 < len(late) <= 10 and late == sorted(late, reverse=True) and min(late) > 0
    # per channel and service level: the channels add up to the total; the desk and wards took some online
    assert numbers(PeriodRow.total_of(city.channels)) == numbers(t)
    assert {r.code for r in city.channels} >= {"online_full", "online_partial", "in_person"}
    # on-time rate by report month: twelve months whose resolutions add up to the year's
    assert len(city.months) == 12 and sum(mp.resolved for mp in city.months) == t.resolved
    assert sum(mp.resolved_in_time for mp in city.months) == t.resolved_in_time


def test_vinhlong_2022_desk_report(vinhlong):
    """DOMAIN.md: Vĩnh Long city desk 2022: 8,081 dossiers, 7,703 resolved on time or early (95.32%)."""
    src = source(vinhlong)
    rep = src.report(resolve_scope("855", "unit"), parse_period("report_year:2022", CAL), datetime.now(UTC))
    t = rep.total
    assert (t.received, t.resolved_in_time) == (8081, 7703)
    assert round(100 * t.on_time_rate, 2) == 95.32
    check_form(rep)
    city = src.report(resolve_scope("855", "district"), parse_period("report_year:2022", CAL), datetime.now(UTC))
    assert city.total.received == 8081 + 17484
    check_form(city)


@pytest.mark.parametrize("scenario", ["mytho", "vinhlong", "vinhyen"])
def test_every_row_of_every_period_holds_and_periods_chain(scenario, request):
    """For every shipped scenario, every report quarter and report month of its year, every grouping
    (field, unit, procedure): the identity holds; a quarter's in-process figure is the next quarter's
    carried-over figure, field by field; the quarters' flows add up to the year's."""
    pipeline = request.getfixturevalue({"mytho": "pipeline_influx"}.get(scenario, scenario))
    src = source(pipeline)
    district, year = {"mytho": ("815", 2022), "vinhlong": ("855", 2022), "vinhyen": ("243", 2024)}[scenario]
    scope = resolve_scope(district, "district")
    first_q = CAL.period_key("report_quarter", CAL.report_year_start(year))
    quarters = [period_of("report_quarter", first_q + i, CAL) for i in range(5)]  # and the next year's first
    by_quarter = []
    for q in quarters:
        rows = {}
        for group in ("field", "unit", "procedure", "total"):
            got = src.rows(group, scope, q)
            for r in got:
                row = PeriodRow("", *(int(r[n]) for n in NUMBERS))
                assert row.identity_holds(), (scenario, q.label, group, r)
                assert int(r["to_handle"]) == row.to_handle and int(r["in_process"]) == row.in_process
            if group == "field":
                rows = {r["field"]: r for r in got}
        by_quarter.append(rows)
    for q, (this, nxt) in enumerate(itertools.pairwise(by_quarter)):
        for fld in this.keys() | nxt.keys():
            ended = int(this[fld]["in_process"]) if fld in this else 0
            carried = int(nxt[fld]["carried_over"]) if fld in nxt else 0
            assert ended == carried, (scenario, quarters[q].label, fld)
    year_rows = {r["field"]: r for r in src.rows("field", scope, period_of("report_year", year, CAL))}
    for fld, r in year_rows.items():
        for n in ("received", "resolved", "resolved_late", "withdrawn", "refused"):
            assert int(r[n]) == sum(int(qr[fld][n]) for qr in by_quarter[:4] if fld in qr), (scenario, fld, n)
        assert int(r["in_process"]) == int(by_quarter[3][fld]["in_process"])
        assert int(r["carried_over"]) == int(by_quarter[0][fld]["carried_over"])


# -- govpulse report, looked at as a person would -------------------------------------------------
def _form_total_row(rows: list[list[str]]) -> list[str]:
    (total,) = [r for r in rows if any(c == "Tổng cộng" for c in r)]
    return total


def _vn_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _vn_2(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def test_govpulse_report_html_pdf_xlsx_show_the_city_figures(pipeline_influx, tmp_path):
    """`govpulse report` for the Mỹ Tho city (district 815 and its wards), report year 2022, in the
    three formats; what Chromium shows of the HTML, what pdftotext reads of the PDF and what
    openpyxl reads of the XLSX carry the public report's figures: 20.742 to handle, 20.324
    resolved, 99,66% on time; and the index of Decision 766 for the same city and year, its 2.1 row
    worked out here from the report's own form total (README: 20.266 / 20.712 = 97,85%)."""
    from openpyxl import load_workbook

    from tests.report_viewing import DomTables, chromium, pdf_pages, pdftotext

    # 2.1 = (early + on time + in process within due at the end) / (resolved + in process at the end)
    t = (
        source(pipeline_influx)
        .report(resolve_scope("815", "district"), parse_period("report_year:2022", CAL), datetime.now(UTC))
        .total
    )
    num21, den21 = t.resolved_in_time + t.in_process_within_due, t.resolved + t.in_process
    assert t.resolved_in_time == 20255 and den21 < t.to_handle  # withdrawn and refused left out
    weights = tmp_path / "weights.yaml"
    weights.write_text("criteria:\n  '2.1': {points: 20, full_at: 1.0}\n", encoding="utf-8")
    score21 = 20 * min(1.0, num21 / den21)  # proportional, as the weights file says
    args = [
        "report",
        "--unit",
        "815",
        "--rollup",
        "district",
        "--period",
        "report_year:2022",
        "--weights",
        str(weights),
    ]
    html, pdf, xlsx = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "r.xlsx"
    out = run_govpulse(
        [*args, "--format", "html", "--out", str(html), "--charts", str(tmp_path / "png")], pipeline_influx.settings
    )
    said = " ".join(out.stdout.split())
    assert "20,742 received" in said and "20,255 on time or early (99.66%)" in said, said
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")), "the charts as PNG files"
    run_govpulse([*args, "--format", "pdf", "--out", str(pdf)], pipeline_influx.settings)
    run_govpulse([*args, "--format", "xlsx", "--out", str(xlsx)], pipeline_influx.settings)

    dom = chromium(["--dump-dom"], html, tmp_path / "profile").stdout.decode("utf-8")
    tables = DomTables()
    tables.feed(dom)
    total = _form_total_row(tables.tables[0])
    assert {"20.742", "20.324", "99,66%"} <= set(total), total
    assert "Thành phố Mỹ Tho" in dom and "kỳ báo cáo từ ngày 15/12/2021 đến ngày 14/12/2022" in dom
    assert "Phường Mỹ Tho" in dom  # the ranking of the city's units
    # the index section: 2.1 with its figures, its value and its points; the city's six units by score
    assert "Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766/QĐ-TTg)" in dom
    (index,) = [tb for tb in tables.tables if tb and tb[0][:2] == ["Mã", "Nhóm / tiêu chí"]]
    (row21,) = [r for r in index if r[0] == "2.1"]
    rate21 = f"{_vn_2(100 * num21 / den21)}%"
    assert row21[2:7] == [_vn_int(num21), _vn_int(den21), rate21, _vn_2(score21), "20,00"], row21
    (ranked,) = [tb for tb in tables.tables if tb and tb[0][:1] == ["Hạng"] and "Trên số điểm đã chấm" in tb[0]]
    assert len(ranked) == 1 + 6 and "Phường Mỹ Tho" in {r[2] for r in ranked[1:]}

    text = pdftotext(pdf)
    (line,) = [ln for ln in text.splitlines() if "Tổng cộng" in ln]
    assert "20.742" in line and "20.324" in line and "99,66%" in line, line
    (line21,) = [ln for ln in text.splitlines() if ln.split()[:1] == ["2.1"]]
    assert [_vn_int(num21), _vn_int(den21), rate21, _vn_2(score21)] == line21.split()[-5:-1], line21
    assert pdf_pages(pdf, tmp_path)

    wb = load_workbook(xlsx)
    form = wb["Báo cáo"]
    (row,) = [r for r in form.iter_rows(values_only=True) if "Tổng cộng" in r]
    assert 20742 in row and 20324 in row and any(isinstance(v, float) and round(v, 4) == 0.9966 for v in row), row
    (cells21,) = [r for r in wb["Chỉ số 766"].iter_rows() if r[0].value == "2.1"]
    assert [c.value for c in cells21[2:7]] == [num21, den21, pytest.approx(num21 / den21), pytest.approx(score21), 20]
    assert (cells21[4].number_format, cells21[5].number_format) == ("0.00%", "0.00")


def test_govpulse_report_of_the_desk_and_a_quarter(pipeline_influx, tmp_path):
    """The city desk alone (4.121 received, 3.739 resolved, 98,18%) and a report quarter."""
    from tests.report_viewing import pdftotext

    pdf = tmp_path / "desk.pdf"
    run_govpulse(
        ["report", "--unit", "815", "--period", "report_year:2022", "--format", "pdf", "--out", str(pdf)],
        pipeline_influx.settings,
    )
    (line,) = [ln for ln in pdftotext(pdf).splitlines() if "Tổng cộng" in ln]
    assert "4.121" in line and "3.739" in line and "98,18%" in line, line
    q = tmp_path / "q3.pdf"
    run_govpulse(
        ["report", "--unit", "815", "--period", "report_quarter:2022Q3", "--format", "pdf", "--out", str(q)],
        pipeline_influx.settings,
    )
    assert "Quý III năm 2022 (kỳ báo cáo từ ngày 15/06/2022 đến ngày 14/09/2022)" in " ".join(pdftotext(q).split())


def test_govpulse_report_names_what_is_wrong(pipeline_influx, tmp_path):
    s = pipeline_influx.settings
    bad_unit = run_govpulse(
        ["report", "--unit", "99999", "--period", "report_year:2022", "--out", str(tmp_path / "x.html")], s, check=False
    )
    assert bad_unit.returncode != 0 and "99999" in bad_unit.stderr + bad_unit.stdout
    bad_period = run_govpulse(
        ["report", "--unit", "815", "--period", "report_quarter:2022Q5", "--out", str(tmp_path / "x.html")],
        s,
        check=False,
    )
    assert bad_period.returncode != 0 and "YYYYQ1..Q4" in bad_period.stderr + bad_period.stdout
    assert not (tmp_path / "x.html").exists()
