"""The periodic report rendered and read back as a person (or Excel) would: the HTML in headless
Chromium (its DOM, its printed text and a screenshot), WeasyPrint's PDF through poppler (page
images and text), the XLSX through openpyxl, the charts through Pillow. Plus the Vietnamese
number spellings, exhaustively.

Chromium and poppler-utils come from Debian (`make report-tools`); missing, these tests fail and
say so. GOVPULSE_SKIP_BROWSER_TESTS=1 skips the ones that need them, on purpose only."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from reports import charts
from reports.format import format_date, format_datetime, format_int, format_percent, format_rate
from reports.model import MonthPoint, PeriodRow, Report
from reports.render import (
    COLUMN_NUMBERS,
    COUNTS,
    HEADER,
    render_html,
    row_values,
    write_charts,
    write_html,
    write_pdf,
    write_xlsx,
)
from tests.report_viewing import DomTables as _Table
from tests.report_viewing import chromium as _chromium
from tests.report_viewing import parse_int as _parse_int
from tests.report_viewing import pdf_pages as _pdf_pages
from tests.report_viewing import pdftotext as _pdftotext
from tests.report_viewing import tool as _tool

ICT = timezone(timedelta(hours=7))
NCOUNTS = len(COUNTS)


# ---------------------------------------------------------------------------------------------
# the reports under test: a city's year (Mỹ Tho-like) and its province's roll-up (figures × 7)
# ---------------------------------------------------------------------------------------------
def mytho_rows(scale: int = 1) -> list[PeriodRow]:
    rows = [
        #           label        carried online offline early on_time late withdrawn refused within overdue
        PeriodRow("Chứng thực", 0, 1200, 1350, 2100, 440, 2, 3, 2, 3, 0),
        PeriodRow("Hộ tịch", 20, 420, 380, 600, 170, 6, 4, 3, 35, 2),
        PeriodRow("Đất đai", 140, 210, 290, 150, 140, 52, 15, 5, 250, 28),
        PeriodRow("Xây dựng", 20, 60, 31, 40, 31, 8, 3, 2, 22, 5),
    ]
    fields = [f for f in PeriodRow.__dataclass_fields__ if f not in ("label", "code")]
    return [replace(r, **{f: getattr(r, f) * scale for f in fields}) for r in rows]


def _unit(label: str, code: str, resolved: int, in_time: int) -> PeriodRow:
    return PeriodRow(label, 0, 0, resolved, in_time, 0, resolved - in_time, 0, 0, 0, 0, code=code)


def mytho_report(rows: list[PeriodRow] | None = None) -> Report:
    rows = mytho_rows() if rows is None else rows
    return Report(
        title="Báo cáo kết quả giải quyết thủ tục hành chính",
        unit_code="815",
        unit_name="Thành phố Mỹ Tho",
        scope="district",
        period_label="Năm 2022 (kỳ báo cáo 15/12/2021 – 14/12/2022)",
        period_start=date(2021, 12, 15),
        period_end=date(2022, 12, 14),
        generated_at=datetime(2022, 12, 15, 8, 5, tzinfo=ICT),
        rows=rows,
        total=PeriodRow.total_of(rows),
        ranking=[
            _unit("Phường 1", "28249", 1520, 1511),
            _unit("Phường 4", "28258", 1209, 1190),
            _unit("Xã Đạo Thạnh", "28285", 1010, 970),
        ],
        late_procedures=[
            PeriodRow(
                "Đất đai – Đăng ký, cấp Giấy chứng nhận lần đầu", 40, 10, 90, 50, 40, 30, 2, 1, 5, 12, "1.004227"
            ),
            PeriodRow(
                "Xây dựng – Cấp giấy phép xây dựng nhà ở riêng lẻ", 10, 30, 20, 25, 20, 8, 1, 1, 3, 2, "1.009994"
            ),
            PeriodRow("Hộ tịch – Đăng ký khai sinh", 0, 200, 150, 300, 40, 4, 1, 1, 4, 0, "1.001193"),
        ],
        channels=[
            PeriodRow("Trực tuyến toàn trình", 0, 800, 0, 500, 250, 10, 5, 2, 30, 3, "online_full"),
            PeriodRow("Trực tiếp", 0, 0, 3321, 1100, 1600, 58, 10, 5, 300, 248, "in_person"),
        ],
        months=[MonthPoint(f"T{m}/2022", 300 + m, 294 + m) for m in range(1, 13)],
        notes=["Nguồn: Hệ thống thông tin giải quyết TTHC tỉnh.", "Hồ sơ rút không tính vào hồ sơ đã giải quyết."],
    )


def province_report() -> Report:
    rows = mytho_rows(scale=7)
    return replace(
        mytho_report(rows),
        unit_code="82",
        unit_name="Tỉnh Tiền Giang",
        scope="province",
        ranking=[
            _unit("Huyện Cái Bè", "822", 12000, 11900),
            _unit("Thành phố Mỹ Tho", "815", 3739, 3671),
            _unit("Huyện Châu Thành", "824", 10434, 10126),
        ],
    )


# a field's name with what HTML must escape, what Excel would take for a formula, and a mathtext "$"
TRICKY = '=1+1 <b>Nhà ở</b> & "đất" $\\nosuchcommand$'


def tricky_report() -> Report:
    rows = [*mytho_rows(), PeriodRow(TRICKY, 1, 2, 3, 1, 1, 1, 1, 0, 1, 1)]
    return replace(mytho_report(rows), late_procedures=[replace(rows[-1], code="<x>&")])


REPORTS = {"mytho": mytho_report, "province": province_report}


def test_the_reports_under_test_are_consistent():
    r = mytho_report()
    assert all(row.identity_holds() for row in r.rows) and r.total.identity_holds()
    assert (r.total.to_handle, r.total.resolved, r.total.resolved_in_time) == (4121, 3739, 3671)
    assert format_percent(r.total.on_time_rate) == "98,2%"
    assert sum(u.resolved for u in r.ranking) == r.total.resolved
    p = province_report()
    assert (p.total.to_handle, p.total.resolved) == (28847, 26173)
    assert sum(u.resolved for u in p.ranking) == p.total.resolved
    assert sum(u.resolved_in_time for u in p.ranking) == p.total.resolved_in_time


# ---------------------------------------------------------------------------------------------
# number and date spellings
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (7, "7"),
        (42, "42"),
        (999, "999"),
        (1000, "1.000"),
        (4121, "4.121"),
        (20742, "20.742"),
        (100000, "100.000"),
        (999999, "999.999"),
        (1234567, "1.234.567"),
        (10**12, "1.000.000.000.000"),
    ],
)
def test_format_int(value, text):
    assert format_int(value) == text


@pytest.mark.parametrize("value", [-1, -20742])
def test_format_int_refuses_negative_counts_naming_them(value):
    with pytest.raises(ValueError, match=str(value)):
        format_int(value)


@pytest.mark.parametrize("value", [True, 1.0, "1", None])
def test_format_int_refuses_what_is_not_an_int(value):
    with pytest.raises(TypeError):
        format_int(value)


@given(st.integers(min_value=0, max_value=10**15))
def test_format_int_reads_back(value):
    text = format_int(value)
    groups = text.split(".")
    assert int("".join(groups)) == value
    assert 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


@pytest.mark.parametrize(
    ("rate", "digits", "text"),
    [
        (0.982, 1, "98,2%"),
        (3671 / 3739, 1, "98,2%"),
        (0.9966, 2, "99,66%"),
        (0.9966, 1, "99,7%"),
        (0.982, 0, "98%"),
        (0, 1, "0,0%"),
        (0.0, 0, "0%"),
        (-0.0, 1, "0,0%"),
        (1, 1, "100,0%"),
        (1.0, 1, "100,0%"),
        (1.0, 2, "100,00%"),
        (0.5, 1, "50,0%"),
        (0.05, 1, "5,0%"),
        (0.001, 1, "0,1%"),
        (0.0001, 2, "0,01%"),
        # half cases round up, on the decimal the float prints as
        (0.9825, 1, "98,3%"),  # 0.98249999… in binary
        (0.98249, 1, "98,2%"),
        (0.98251, 1, "98,3%"),
        (0.125, 0, "13%"),
        (0.135, 0, "14%"),
        (0.0005, 1, "0,1%"),
        (0.00049, 1, "0,0%"),
        (0.99995, 2, "100,00%"),
        (0.99949, 1, "99,9%"),
        (0.9995, 1, "100,0%"),
        (0.015, 1, "1,5%"),
        (12.5, 1, "1.250,0%"),  # not a rate the report has, but spelled consistently
    ],
)
def test_format_percent(rate, digits, text):
    assert format_percent(rate, digits=digits) == text


def test_format_percent_defaults_to_one_digit_and_a_dash_for_none():
    assert format_percent(0.982) == "98,2%"
    assert format_percent(None) == "–"
    assert format_percent(None, digits=2) == "–"


@pytest.mark.parametrize("rate", [-0.01, -1.0, -1])
def test_format_percent_refuses_negative_rates_naming_them(rate):
    with pytest.raises(ValueError, match=re.escape(repr(rate))):
        format_percent(rate)


@pytest.mark.parametrize("rate", [float("nan"), float("inf")])
def test_format_percent_refuses_non_finite_rates(rate):
    with pytest.raises(ValueError, match=r"finite"):
        format_percent(rate)


@pytest.mark.parametrize("digits", [-1, 1.5, True])
def test_format_percent_refuses_bad_digits(digits):
    with pytest.raises(ValueError, match="digits"):
        format_percent(0.5, digits=digits)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6), st.integers(0, 4))
def test_format_percent_is_the_rate_rounded(num, den, digits):
    rate = num / den
    text = format_percent(rate, digits=digits)
    assert text.endswith("%") and ("," in text) == (digits > 0)
    whole, _, fraction = text[:-1].partition(",")
    assert len(fraction) == digits
    value = Decimal(whole.replace(".", "") + "." + (fraction or "0"))
    assert abs(value - Decimal(repr(rate)) * 100) <= Decimal(1).scaleb(-digits) / 2


def test_format_dates():
    assert format_date(date(2021, 12, 5)) == "05/12/2021"
    assert format_date(date(2022, 1, 14)) == "14/01/2022"
    assert format_date(datetime(2022, 12, 15, 8, 5, tzinfo=ICT)) == "15/12/2022"
    assert format_datetime(datetime(2022, 12, 15, 8, 5, tzinfo=ICT)) == "15/12/2022 08:05"
    assert format_datetime(datetime(2023, 1, 1, 0, 0)) == "01/01/2023 00:00"


# ---------------------------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------------------------
def _image(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def _assert_not_blank(im: Image.Image, min_colours: int = 3) -> None:
    rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) >= min_colours, f"a blank picture: {colours}"
    lo, hi = rgb.convert("L").getextrema()
    assert hi - lo > 100, "no contrast: nothing drawn"


@pytest.mark.parametrize("draw", [charts.on_time_chart, charts.late_by_field_chart])
def test_charts_are_pngs_with_something_drawn(draw):
    png = draw(mytho_report())
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    im = _image(png)
    assert im.format == "PNG"
    assert 500 <= im.width <= 2000 and 250 <= im.height <= 1500, im.size
    _assert_not_blank(im, min_colours=20)


@pytest.mark.parametrize("draw", [charts.on_time_chart, charts.late_by_field_chart])
def test_charts_are_deterministic(draw):
    first = draw(mytho_report())
    assert draw(mytho_report()) == first
    assert b"Software" not in first and b"matplotlib" not in first.lower()
    assert draw(province_report()) != first  # the figures are what is drawn


def test_charts_of_a_report_without_months_or_fields():
    empty = replace(mytho_report([]), months=[], total=PeriodRow.total_of([]))
    assert charts.report_charts(empty) == []
    _assert_not_blank(_image(charts.on_time_chart(empty)))  # still a picture, saying there is nothing
    _assert_not_blank(_image(charts.late_by_field_chart(empty)))
    only_fields = replace(mytho_report(), months=[])
    assert [name for name, _t, _p in charts.report_charts(only_fields)] == [charts.LATE_FILE]


def test_a_chart_label_is_text_not_mathtext():
    # with mathtext on, "$\nosuchcommand$" raises; the label must be drawn as typed
    png = charts.late_by_field_chart(tricky_report())
    _assert_not_blank(_image(png), min_colours=20)


def test_a_month_with_nothing_resolved_is_drawn_as_no_rate():
    r = replace(mytho_report(), months=[MonthPoint("T1/2022", 0, 0), MonthPoint("T2/2022", 10, 9)])
    _assert_not_blank(_image(charts.on_time_chart(r)), min_colours=20)


def test_write_charts_writes_the_pngs(tmp_path):
    paths = write_charts(mytho_report(), tmp_path / "charts")
    assert [p.name for p in paths] == [charts.ON_TIME_FILE, charts.LATE_FILE]
    assert paths[0].read_bytes() == charts.on_time_chart(mytho_report())
    assert paths[1].read_bytes() == charts.late_by_field_chart(mytho_report())


# ---------------------------------------------------------------------------------------------
# the tools a person's view needs
# ---------------------------------------------------------------------------------------------
def _rendered(tmp: Path, report: Report, screenshot: bool) -> dict[str, object]:
    html = write_html(report, tmp / "report.html", charts_dir=tmp / "charts")
    out: dict[str, object] = {"html": html, "dir": tmp}
    dom = _chromium(["--dump-dom"], html, tmp / "profile").stdout.decode("utf-8")
    out["dom"] = dom
    printed = tmp / "chromium.pdf"
    _chromium(["--no-pdf-header-footer", f"--print-to-pdf={printed}"], html, tmp / "profile")
    out["chromium_text"] = _pdftotext(printed)
    if screenshot:
        shot = tmp / "screenshot.png"
        _chromium(["--hide-scrollbars", "--window-size=1400,1000", f"--screenshot={shot}"], html, tmp / "profile")
        out["screenshot"] = shot
    pdf = write_pdf(report, tmp / "report.pdf")
    out["pdf"] = pdf
    out["pdf_text"] = _pdftotext(pdf)
    pages = tmp / "pages"
    pages.mkdir()
    out["pages"] = _pdf_pages(pdf, pages)
    return out


@pytest.fixture(scope="module", params=sorted(REPORTS))
def seen(request, tmp_path_factory):
    """A report (the city's, the province's) as Chromium and poppler show it."""
    report = REPORTS[request.param]()
    return report, _rendered(tmp_path_factory.mktemp(request.param), report, screenshot=True)


@pytest.fixture(scope="module")
def seen_tricky(tmp_path_factory):
    report = tricky_report()
    return report, _rendered(tmp_path_factory.mktemp("tricky"), report, screenshot=False)


# ---------------------------------------------------------------------------------------------
# HTML (Chromium) and PDF (WeasyPrint, poppler)
# ---------------------------------------------------------------------------------------------
def _expected_texts(report: Report) -> list[str]:
    t = report.total
    return [
        report.unit_name,
        report.title,
        report.period_label,
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        *(r.label for r in report.rows),
        "Tổng cộng",
        format_int(t.to_handle),
        format_int(t.resolved),
        format_int(t.received_online),
        format_rate(t.on_time_rate),
        format_rate(t.portal_on_time_rate),
        "Xếp hạng đơn vị theo tỷ lệ giải quyết đúng hạn",
        *(u.label for u in report.ranking),
        "10 thủ tục có nhiều hồ sơ trễ hạn nhất",
        *(p.code for p in report.late_procedures),
        "Tỷ lệ giải quyết đúng hạn theo tháng",
        "Hồ sơ trễ hạn theo lĩnh vực",
        *report.notes,
        "Số liệu tính đến 15/12/2022 08:05",
    ]


def _assert_shows(text: str, report: Report, where: str) -> None:
    flat = " ".join(text.split())
    missing = [s for s in _expected_texts(report) if " ".join(s.split()) not in flat]
    assert not missing, f"{where} does not show {missing}"


def _text_rows(text: str, report: Report) -> dict[str, list[str]]:
    """The form's rows as printed: the label's line, its last 15 figures."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        for label in [*(r.label for r in report.rows), "Tổng cộng"]:
            head = line.split(label, 1)
            if len(head) == 2 and label not in found:
                figures = head[1].split()
                if len(figures) == NCOUNTS + 2:
                    found[label] = figures
    return found


def _assert_total_is_the_sum(rows: dict[str, list[str]], report: Report, where: str) -> None:
    assert set(rows) == {*(r.label for r in report.rows), "Tổng cộng"}, f"{where}: rows {sorted(rows)}"
    fields = [[_parse_int(v) for v in rows[r.label][:NCOUNTS]] for r in report.rows]
    total = [_parse_int(v) for v in rows["Tổng cộng"][:NCOUNTS]]
    assert total == [sum(col) for col in zip(*fields, strict=True)], where
    assert total == row_values(report.total)[:NCOUNTS], where
    assert rows["Tổng cộng"][NCOUNTS:] == [
        format_rate(report.total.on_time_rate),
        format_rate(report.total.portal_on_time_rate),
    ]
    for r in report.rows:
        assert rows[r.label] == [format_int(v) if isinstance(v, int) else format_rate(v) for v in row_values(r)]


def test_html_in_chromium_shows_the_form(seen):
    report, out = seen
    _assert_shows(out["chromium_text"], report, "Chromium's print")
    expected = {"Thành phố Mỹ Tho": "4.121", "Tỉnh Tiền Giang": "28.847"}[report.unit_name]
    assert expected in out["chromium_text"] and "98,18%" in out["chromium_text"]


def test_html_in_chromium_total_row_is_the_sum_of_the_fields(seen):
    report, out = seen
    parser = _Table()
    parser.feed(out["dom"])
    form = parser.tables[0]
    header, numbers, body = form[:3], form[3], form[4:]
    assert [c for row in header for c in row] == [h.text for h in HEADER]
    assert numbers == list(COLUMN_NUMBERS)
    rows = {cells[1]: cells[2:] for cells in body}
    assert [cells[0] for cells in body] == [str(i) for i in range(1, len(report.rows) + 1)] + [""]
    _assert_total_is_the_sum(rows, report, "the DOM")
    _assert_total_is_the_sum(_text_rows(out["chromium_text"], report), report, "Chromium's print")


def test_html_is_self_contained_with_the_charts_embedded(seen):
    _report, out = seen
    parser = _Table()
    parser.feed(out["dom"])
    assert len(parser.images) == 2
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    html = Path(out["html"]).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["'](?!data:)""", html), "the page loads something from outside"
    assert sorted(p.name for p in (Path(out["dir"]) / "charts").iterdir()) == sorted(
        [charts.ON_TIME_FILE, charts.LATE_FILE]
    )


def test_html_screenshot_is_not_blank(seen):
    _report, out = seen
    im = Image.open(out["screenshot"])
    assert im.size == (1400, 1000)
    _assert_not_blank(im, min_colours=20)


def test_pdf_pages_are_pictures_with_something_on_them(seen):
    _report, out = seen
    pages = out["pages"]
    assert 1 <= len(pages) <= 4, pages
    for page in pages:
        im = Image.open(page)
        assert im.width > im.height, "A4 landscape"
        _assert_not_blank(im, min_colours=10)


def test_pdf_text_shows_the_form(seen):
    report, out = seen
    _assert_shows(out["pdf_text"], report, "the PDF")
    _assert_total_is_the_sum(_text_rows(out["pdf_text"], report), report, "the PDF")
    assert "98,18%" in out["pdf_text"]


def test_html_escapes_a_label_it_shows_as_text(seen_tricky):
    _report, out = seen_tricky
    parser = _Table()
    parser.feed(out["dom"])
    labels = [cells[1] for cells in parser.tables[0][4:]]
    assert TRICKY in labels
    assert parser.tags_in_cells == [], "a label's markup became elements"
    (late_table,) = [t for t in parser.tables if t and t[0][:2] == ["STT", "Mã TTHC"]]
    assert "<x>&" in [cells[1] for cells in late_table[1:]]  # the late procedures' code
    assert '<b>Nhà ở</b> & "đất"' in out["chromium_text"]
    assert "&amp;" not in out["chromium_text"] and "&lt;" not in out["chromium_text"]


def test_pdf_shows_a_label_with_markup_as_text(seen_tricky):
    _report, out = seen_tricky
    assert '<b>Nhà ở</b> & "đất"' in out["pdf_text"]
    assert "&amp;" not in out["pdf_text"] and "&lt;" not in out["pdf_text"]


def test_render_html_sections_only_when_the_report_has_them():
    bare = replace(mytho_report(), ranking=[], channels=[], late_procedures=[], months=[], notes=[])
    html = render_html(bare)
    assert "Tổng cộng" in html and "Thành phố Mỹ Tho" in html
    for absent in ["Xếp hạng đơn vị", "Theo kênh tiếp nhận", "10 thủ tục", "Ghi chú", charts.ON_TIME_TITLE]:
        assert absent not in html
    assert charts.LATE_TITLE in html


# ---------------------------------------------------------------------------------------------
# XLSX (what Excel agrees with)
# ---------------------------------------------------------------------------------------------
FIRST_DATA_ROW = 11  # 3 heading rows, a gap, title, period, unit of count, 3 header rows, column numbers


@pytest.fixture(scope="module", params=sorted(REPORTS))
def workbook(request, tmp_path_factory):
    report = REPORTS[request.param]()
    path = write_xlsx(report, tmp_path_factory.mktemp("xlsx") / "report.xlsx")
    return report, openpyxl.load_workbook(path), path


def test_xlsx_sheets_and_headings(workbook):
    report, wb, _path = workbook
    expected = ["Báo cáo", "Xếp hạng", "Theo kênh", "Thủ tục trễ hạn", "Theo tháng", "Biểu đồ"]
    assert wb.sheetnames == [name for name in expected if name != "Theo kênh" or report.channels]
    ws = wb["Báo cáo"]
    texts = [c.value for row in ws.iter_rows(max_row=6) for c in row if isinstance(c.value, str)]
    assert any(report.unit_name in t for t in texts)
    assert report.title in texts and report.period_label in texts
    for h in HEADER:
        assert ws.cell(row=7 + h.row, column=1 + h.col).value == h.text
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert {"A7:A9", "B7:B9", "C7:F7", "E8:F8", "G7:L7", "M7:O7", "P7:P9", "Q7:Q9"} <= merged
    assert [ws.cell(row=10, column=c).value for c in range(1, 18)] == list(COLUMN_NUMBERS)
    assert ws.cell(row=7, column=3).alignment.wrap_text
    assert ws.freeze_panes == f"C{FIRST_DATA_ROW}"
    assert ws.column_dimensions["B"].width >= 25
    tail = [c.value for row in ws.iter_rows(min_row=FIRST_DATA_ROW) for c in row if isinstance(c.value, str)]
    assert "Số liệu tính đến 15/12/2022 08:05" in tail
    assert any(report.notes[0] in t for t in tail)


def test_xlsx_numbers_are_numbers_and_the_total_is_the_sum(workbook):
    report, wb, _path = workbook
    ws = wb["Báo cáo"]
    n = len(report.rows)
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=FIRST_DATA_ROW, max_row=FIRST_DATA_ROW + n)]
    assert [r[1] for r in rows] == [*(r.label for r in report.rows), "Tổng cộng"]
    assert [r[0] for r in rows] == [*range(1, n + 1), None]
    assert ws.cell(row=FIRST_DATA_ROW + n, column=2).font.b
    for values, row in zip(rows, [*report.rows, report.total], strict=True):
        counts, rates = values[2 : 2 + NCOUNTS], values[2 + NCOUNTS :]
        assert all(type(v) is int for v in counts), counts
        assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in rates), rates
        assert counts == row_values(row)[:NCOUNTS]
        assert rates == pytest.approx(row_values(row)[NCOUNTS:])
    fields, total = rows[:-1], rows[-1]
    for col in range(2, 2 + NCOUNTS):
        assert total[col] == sum(r[col] for r in fields), f"column {col + 1}"
    assert total[2 + NCOUNTS] == pytest.approx(report.total.resolved_in_time / report.total.resolved)
    for c in range(3, 18):
        fmt = ws.cell(row=FIRST_DATA_ROW, column=c).number_format
        assert ("%" in fmt) == (c >= 16), (c, fmt)
        if c < 16:
            assert fmt == "#,##0"


def test_xlsx_other_sheets(workbook):
    report, wb, _path = workbook
    ranking = [[c.value for c in row] for row in wb["Xếp hạng"].iter_rows(min_row=2)]
    assert [r[:5] for r in ranking] == [
        [i, u.code, u.label, u.resolved, u.resolved_in_time] for i, u in enumerate(report.ranking, start=1)
    ]
    assert wb["Xếp hạng"].cell(row=2, column=6).number_format == "0.00%"
    late = [[c.value for c in row] for row in wb["Thủ tục trễ hạn"].iter_rows(min_row=2)]
    assert [r[1:] for r in late] == [
        [p.code, p.label, p.resolved, p.resolved_late, p.in_process_overdue] for p in report.late_procedures
    ]
    months = [[c.value for c in row] for row in wb["Theo tháng"].iter_rows(min_row=2)]
    assert [m[:3] for m in months] == [[m.label, m.resolved, m.resolved_in_time] for m in report.months]
    assert "%" in wb["Theo tháng"].cell(row=2, column=4).number_format


def test_xlsx_chart_sheet_has_the_images(workbook):
    _report, wb, path = workbook
    assert len(wb["Biểu đồ"]._images) == 2
    with zipfile.ZipFile(path) as z:
        media = [n for n in z.namelist() if n.startswith("xl/media/")]
        assert len(media) == 2
        for name in media:
            _assert_not_blank(_image(z.read(name)), min_colours=20)


def test_xlsx_a_none_rate_is_a_dash_not_a_number(tmp_path):
    rows = [PeriodRow("Lao động", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), *mytho_rows()]
    ws = openpyxl.load_workbook(write_xlsx(mytho_report(rows), tmp_path / "none.xlsx"))["Báo cáo"]
    assert ws.cell(row=FIRST_DATA_ROW, column=2).value == "Lao động"
    assert [ws.cell(row=FIRST_DATA_ROW, column=c).value for c in (16, 17)] == ["–", "–"]


def test_xlsx_keeps_a_label_that_looks_like_a_formula_as_text(tmp_path):
    path = write_xlsx(tricky_report(), tmp_path / "tricky.xlsx")
    ws = openpyxl.load_workbook(path)["Báo cáo"]
    row = FIRST_DATA_ROW + len(mytho_rows())
    assert ws.cell(row=row, column=2).value == TRICKY
    assert ws.cell(row=row, column=2).data_type == "s"
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in sheet, "a label became a formula Excel would compute"


def test_a_missing_tool_fails_and_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.delenv("GOVPULSE_SKIP_BROWSER_TESTS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="run make report-tools"):
        _tool("chromium")
    monkeypatch.setenv("GOVPULSE_SKIP_BROWSER_TESTS", "0")
    with pytest.raises(pytest.fail.Exception, match="run make report-tools"):
        _tool("pdftoppm")
    monkeypatch.setenv("GOVPULSE_SKIP_BROWSER_TESTS", "1")
    with pytest.raises(pytest.skip.Exception):
        _tool("pdftotext")


def test_the_channel_table_shows_each_service_level_with_its_shares(tmp_path):
    """Per reception channel and online-service level, as the portals tabulate it: to handle,
    resolved, in process and the early / on-time / late shares of resolved; in Chromium and in Excel."""
    from openpyxl import load_workbook

    report = mytho_report()
    html = write_html(report, tmp_path / "r.html")
    dom = _chromium(["--dump-dom"], html, tmp_path / "profile").stdout.decode("utf-8")
    tables = _Table()
    tables.feed(dom)
    (table,) = [t for t in tables.tables if t and t[0][:1] == ["Kênh tiếp nhận"]]
    full = report.channels[0]
    assert table[1] == [
        "Trực tuyến toàn trình",
        format_int(full.to_handle),
        format_int(full.resolved),
        format_int(full.in_process),
        format_rate(500 / 760),
        format_rate(250 / 760),
        format_rate(10 / 760),
    ]
    wb = load_workbook(write_xlsx(report, tmp_path / "r.xlsx"))
    ws = wb["Theo kênh"]
    assert [c.value for c in ws[2]][:4] == ["Trực tuyến toàn trình", 800, 760, 30 + 3]
    assert abs(ws.cell(row=2, column=5).value - 500 / 760) < 1e-12 and "%" in ws.cell(row=2, column=5).number_format
