"""A :class:`~reports.model.Report` written as the official form: XLSX, HTML, PDF and PNG charts.

One table, one row per field (lĩnh vực) and the bold total row "Tổng cộng", 17 columns numbered as
the forms number them, the computed ones with their formula: (3)=(4)+(5)+(6) to handle,
(7)=(8)+(9)+(10) resolved (withdrawn and refused dossiers are not resolved ones, as in the model),
(13)=(14)+(15) in process, (16) the on-time rate over resolved dossiers, (17) the one-stop portals'
rate over dossiers to handle. Then, when the report has them, the ranking of units, the ten
procedures with the most late dossiers, the index of Decision 766 (groups, criteria, total and a
roll-up's units by score), the charts and the notes.

The only I/O is writing the output files. The total row is the report's own ``total`` (read on its
own upstream), not a sum made here, so a mismatch shows instead of being papered over.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.drawing.image import Image as XlImage
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from PIL import Image as PilImage

from reports.charts import report_charts
from reports.format import (
    MISSING,
    format_date,
    format_datetime,
    format_decimal,
    format_figure,
    format_int,
    format_rate,
)
from reports.model import IndexCriterionRow, IndexSection, PeriodRow, Report

TOTAL_LABEL = "Tổng cộng"
NATION = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
UNIT_OF_COUNT = "Đơn vị tính: hồ sơ"
RANKING_TITLE = "Xếp hạng đơn vị theo tỷ lệ giải quyết đúng hạn"
LATE_PROCEDURES_TITLE = "10 thủ tục có nhiều hồ sơ trễ hạn nhất"
MONTHS_TITLE = "Tỷ lệ giải quyết đúng hạn theo tháng"
CHARTS_TITLE = "Biểu đồ"
NOTES_TITLE = "Ghi chú"
INDEX_TITLE = "Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766/QĐ-TTg)"
INDEX_SHEET = "Chỉ số 766"
INDEX_HEADINGS = ("Mã", "Nhóm / tiêu chí", "Tử số", "Mẫu số", "Giá trị", "Điểm", "Tối đa", "Ghi chú")
INDEX_TOTAL_LABEL = "Tổng điểm"
INDEX_UNITS_TITLE = "Xếp hạng đơn vị theo điểm Chỉ số 766"
INDEX_UNITS_HEADINGS = ("Hạng", "Mã đơn vị", "Đơn vị", "Điểm", "Trên số điểm đã chấm")
INDEX_ERROR = "Không tính được chỉ số: tệp trọng số hoặc tệp số liệu không dùng được."
TEMPLATES = Path(__file__).with_name("templates")


@dataclass(frozen=True, slots=True)
class HeaderCell:
    """One cell of the form's three header rows (0-based row and column, spans as in HTML)."""

    text: str
    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1


HEADER: tuple[HeaderCell, ...] = (
    HeaderCell("STT", 0, 0, 3),
    HeaderCell("Lĩnh vực", 0, 1, 3),
    HeaderCell("Số hồ sơ nhận giải quyết", 0, 2, 1, 4),
    HeaderCell("Số hồ sơ đã giải quyết", 0, 6, 1, 6),
    HeaderCell("Số hồ sơ đang giải quyết", 0, 12, 1, 3),
    HeaderCell("Tỷ lệ đúng hạn (trên hồ sơ đã giải quyết)", 0, 15, 3),
    HeaderCell("Tỷ lệ đúng hạn (trên hồ sơ cần xử lý, cách tính của cổng một cửa)", 0, 16, 3),
    HeaderCell("Tổng số", 1, 2, 2),
    HeaderCell("Kỳ trước chuyển qua", 1, 3, 2),
    HeaderCell("Mới tiếp nhận", 1, 4, 1, 2),
    HeaderCell("Tổng số", 1, 6, 2),
    HeaderCell("Trước hạn", 1, 7, 2),
    HeaderCell("Đúng hạn", 1, 8, 2),
    HeaderCell("Quá hạn", 1, 9, 2),
    HeaderCell("Rút hồ sơ", 1, 10, 2),
    HeaderCell("Từ chối", 1, 11, 2),
    HeaderCell("Tổng số", 1, 12, 2),
    HeaderCell("Trong hạn", 1, 13, 2),
    HeaderCell("Quá hạn", 1, 14, 2),
    HeaderCell("Trực tuyến", 2, 4),
    HeaderCell("Trực tiếp, bưu chính", 2, 5),
)
HEADER_ROWS = 3
COLUMN_NUMBERS: tuple[str, ...] = (
    "(1)",
    "(2)",
    "(3)=(4)+(5)+(6)",
    "(4)",
    "(5)",
    "(6)",
    "(7)=(8)+(9)+(10)",
    "(8)",
    "(9)",
    "(10)",
    "(11)",
    "(12)",
    "(13)=(14)+(15)",
    "(14)",
    "(15)",
    "(16)=((8)+(9))/(7)",
    "(17)=1-((10)+(15))/(3)",
)

Value = int | float | None
# columns (3) to (17): what each shows of a row, and whether it is a count or a rate
COUNTS: tuple[Callable[[PeriodRow], int], ...] = (
    lambda r: r.to_handle,
    lambda r: r.carried_over,
    lambda r: r.received_online,
    lambda r: r.received_offline,
    lambda r: r.resolved,
    lambda r: r.resolved_early,
    lambda r: r.resolved_on_time,
    lambda r: r.resolved_late,
    lambda r: r.withdrawn,
    lambda r: r.refused,
    lambda r: r.in_process,
    lambda r: r.in_process_within_due,
    lambda r: r.in_process_overdue,
)
RATES: tuple[Callable[[PeriodRow], float | None], ...] = (
    lambda r: r.on_time_rate,
    lambda r: r.portal_on_time_rate,
)
COLUMNS = len(COLUMN_NUMBERS)
assert len(COUNTS) + len(RATES) + 2 == COLUMNS  # STT and the label, then the figures


def row_values(row: PeriodRow) -> list[Value]:
    """Columns (3) to (17) of a row: 13 counts, then the two rates (None: nothing to rate)."""
    return [f(row) for f in COUNTS] + [f(row) for f in RATES]


def ranks(rows: Sequence[PeriodRow]) -> list[int]:
    """Ranks of rows already sorted best first: equal on-time rates share a rank (1, 2, 2, 4)."""
    out: list[int] = []
    for i, row in enumerate(rows):
        tied = i > 0 and row.on_time_rate == rows[i - 1].on_time_rate
        out.append(out[-1] if tied else i + 1)
    return out


def _cell_text(value: Value, rate: bool) -> str:
    if rate:
        return format_rate(value)
    assert isinstance(value, int)
    return format_int(value)


# ---------------------------------------------------------------------------------------------
# HTML and PDF
# ---------------------------------------------------------------------------------------------
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["n"] = format_int
    env.filters["pct"] = format_rate
    env.filters["day"] = format_date
    env.filters["moment"] = format_datetime
    env.filters["pts"] = format_decimal
    env.filters["fig"] = format_figure
    return env


def index_value_text(row: IndexCriterionRow) -> str:
    """A criterion's value: a rate (97,85%), or for 2.2 an average time (12,50); "–" when there is none."""
    return format_rate(row.value) if row.is_share else format_decimal(row.value)


def scored_text(scored_max: float, maximum: float) -> str:
    """How much of a group's (or the total's) maximum the scored criteria cover."""
    return f"đã chấm {format_decimal(scored_max)} trên {format_decimal(maximum)} điểm"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _table_row(stt: str, row: PeriodRow) -> dict[str, Any]:
    values = row_values(row)
    cells = [_cell_text(v, i >= len(COUNTS)) for i, v in enumerate(values)]
    return {"stt": stt, "label": row.label, "cells": cells}


CHANNELS_TITLE = "Theo kênh tiếp nhận và mức độ dịch vụ công trực tuyến"
CHANNEL_HEADINGS = (
    "Kênh tiếp nhận",
    "Số hồ sơ nhận giải quyết",
    "Đã giải quyết",
    "Đang giải quyết",
    "Trước hạn",
    "Đúng hạn",
    "Quá hạn",
)


def channel_shares(row: PeriodRow) -> tuple[float | None, float | None, float | None]:
    """Early, on-time and late shares of a row's resolved dossiers (as the portals tabulate them per
    service level); None when nothing was resolved."""
    if not row.resolved:
        return None, None, None
    return row.resolved_early / row.resolved, row.resolved_on_time / row.resolved, row.resolved_late / row.resolved


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (charts as data: URIs, CSS inline)."""
    header_rows = [[c for c in HEADER if c.row == r] for r in range(HEADER_ROWS)]
    charts = [{"file": name, "title": title, "src": _data_uri(png)} for name, title, png in report_charts(report)]
    context = {
        "report": report,
        "nation": NATION,
        "motto": MOTTO,
        "unit_of_count": UNIT_OF_COUNT,
        "header_rows": header_rows,
        "column_numbers": COLUMN_NUMBERS,
        "rows": [_table_row(str(i), row) for i, row in enumerate(report.rows, start=1)],
        "total": _table_row("", report.total) | {"label": TOTAL_LABEL},
        "ranking": list(zip(ranks(report.ranking), report.ranking, strict=True)),
        "late_procedures": list(enumerate(report.late_procedures, start=1)),
        "channels": [(row, channel_shares(row)) for row in report.channels],
        "charts": charts,
        "index": report.index,
        "index_value": index_value_text,
        "scored": scored_text,
        "index_headings": INDEX_HEADINGS,
        "index_units_headings": INDEX_UNITS_HEADINGS,
        "titles": {
            "index_total": INDEX_TOTAL_LABEL,
            "index": INDEX_TITLE,
            "index_units": INDEX_UNITS_TITLE,
            "index_error": INDEX_ERROR,
            "ranking": RANKING_TITLE,
            "late": LATE_PROCEDURES_TITLE,
            "channels": CHANNELS_TITLE,
            "charts": CHARTS_TITLE,
            "notes": NOTES_TITLE,
        },
        "missing": MISSING,
    }
    return _environment().get_template("report.html.j2").render(context)


def write_charts(report: Report, directory: str | Path) -> list[Path]:
    """The charts that have data as PNG files in directory (made if missing); their paths."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name, _title, png in report_charts(report):
        path = out / name
        path.write_bytes(png)
        paths.append(path)
    return paths


def write_html(report: Report, path: str | Path, charts_dir: str | Path | None = None) -> Path:
    """A self-contained HTML file (charts embedded); with charts_dir, the PNG files there too."""
    out = Path(path)
    out.write_text(render_html(report), encoding="utf-8")
    if charts_dir is not None:
        write_charts(report, charts_dir)
    return out


def _pdf_fonts() -> str:
    """@font-face rules for the DejaVu Sans files matplotlib ships, so the PDF has the Vietnamese
    letters whatever fonts the machine has (the HTML asks browsers for the same family by name)."""
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    faces = [("DejaVuSans.ttf", "normal", "normal"), ("DejaVuSans-Bold.ttf", "bold", "normal")]
    faces += [("DejaVuSans-Oblique.ttf", "normal", "italic"), ("DejaVuSans-BoldOblique.ttf", "bold", "italic")]
    return "\n".join(
        f"@font-face {{ font-family: 'DejaVu Sans'; src: url('{(ttf / name).as_uri()}');"
        f" font-weight: {weight}; font-style: {style}; }}"
        for name, weight, style in faces
        if (ttf / name).exists()
    )


def write_pdf(report: Report, path: str | Path) -> Path:
    """The HTML page printed by WeasyPrint (A4 landscape, from the template's print CSS)."""
    import weasyprint  # loads pango at import: only the PDF needs it

    fonts = weasyprint.text.fonts.FontConfiguration()
    css = weasyprint.CSS(string=_pdf_fonts(), font_config=fonts)
    out = Path(path)
    weasyprint.HTML(string=render_html(report), base_url=str(TEMPLATES)).write_pdf(
        out, stylesheets=[css], font_config=fonts
    )
    return out


# ---------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------
INT_FORMAT = "#,##0"  # Excel puts the reader's thousands separator: 20.742 in a Vietnamese locale
RATE_FORMAT = "0.00%"
POINTS_FORMAT = "0.00"  # the index's points: 17,50 in a Vietnamese locale
DECIMAL_FORMAT = "#,##0.00"  # a figure that is not a whole number (a time total, 3.3 × 1.4's share)
_THIN = Side(style="thin", color="000000")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="DDE6F0")
_WRAP_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_BOLD = Font(bold=True)


def _text(value: str) -> str:
    """A string openpyxl can store (control characters are not allowed in XML)."""
    return str(ILLEGAL_CHARACTERS_RE.sub("", value))


def _put_text(ws: Any, row: int, col: int, value: str, **style: Any) -> Any:
    """A text cell that stays text: a label starting with "=" is not turned into a formula."""
    cell = ws.cell(row=row, column=col)
    cell.value = _text(value)
    cell.data_type = "s"
    for name, v in style.items():
        setattr(cell, name, v)
    return cell


def _put_number(ws: Any, row: int, col: int, value: Value, number_format: str) -> Any:
    cell = ws.cell(row=row, column=col)
    if value is None:
        cell.value = MISSING  # no figure: the form's dash, as text, in a cell that holds no number
        cell.alignment = Alignment(horizontal="center")
    else:
        cell.value = value
    cell.number_format = number_format
    return cell


def _put_value(ws: Any, row: int, col: int, value: Value, rate: bool) -> Any:
    return _put_number(ws, row, col, value, RATE_FORMAT if rate else INT_FORMAT)


def _put_headings(ws: Any, row: int, headings: Sequence[str]) -> None:
    for c, heading in enumerate(headings, start=1):
        _put_text(ws, row, c, heading, font=_BOLD, alignment=_WRAP_CENTER, fill=_HEAD_FILL, border=_BORDER)


def _simple_table(ws: Any, headings: Sequence[str], rows: Sequence[Sequence[Value | str]], rates: set[int]) -> None:
    """A header row and rows; columns in rates (0-based) are rates, other numbers counts."""
    _put_headings(ws, 1, headings)
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            if isinstance(value, str):
                cell = _put_text(ws, r, c, value)
            else:
                cell = _put_value(ws, r, c, value, rate=c - 1 in rates)
            cell.border = _BORDER
    ws.freeze_panes = "A2"
    ws.row_dimensions[1].height = 32


def _form_sheet(ws: Any, report: Report) -> None:
    last = get_column_letter(COLUMNS)
    _put_text(ws, 1, 1, f"Đơn vị báo cáo: {report.unit_name}", font=_BOLD)
    ws.merge_cells("A1:F1")
    if report.unit_code:
        _put_text(ws, 2, 1, f"Mã đơn vị: {report.unit_code}")
        ws.merge_cells("A2:F2")
    _put_text(ws, 1, 12, NATION, font=_BOLD, alignment=Alignment(horizontal="center"))
    ws.merge_cells(f"L1:{last}1")
    _put_text(ws, 2, 12, MOTTO, font=_BOLD, alignment=Alignment(horizontal="center"))
    ws.merge_cells(f"L2:{last}2")
    _put_text(ws, 4, 1, report.title, font=Font(bold=True, size=14), alignment=Alignment(horizontal="center"))
    ws.merge_cells(f"A4:{last}4")
    _put_text(ws, 5, 1, report.period_label, font=Font(italic=True), alignment=Alignment(horizontal="center"))
    ws.merge_cells(f"A5:{last}5")
    _put_text(ws, 6, COLUMNS, UNIT_OF_COUNT, font=Font(italic=True), alignment=Alignment(horizontal="right"))

    top = 7  # the header's first row
    for h in HEADER:
        r, c = top + h.row, 1 + h.col
        _put_text(ws, r, c, h.text, font=_BOLD, alignment=_WRAP_CENTER, fill=_HEAD_FILL)
        if h.rowspan > 1 or h.colspan > 1:
            ws.merge_cells(start_row=r, start_column=c, end_row=r + h.rowspan - 1, end_column=c + h.colspan - 1)
    numbers = top + HEADER_ROWS
    for c, text in enumerate(COLUMN_NUMBERS, start=1):
        _put_text(ws, numbers, c, text, font=Font(italic=True, size=8), alignment=_WRAP_CENTER)
    for r in range(top, numbers + 1):
        for c in range(1, COLUMNS + 1):
            ws.cell(row=r, column=c).border = _BORDER
            ws.cell(row=r, column=c).fill = _HEAD_FILL
    ws.row_dimensions[top].height = 30
    ws.row_dimensions[top + 1].height = 30
    ws.row_dimensions[top + 2].height = 30
    ws.row_dimensions[numbers].height = 24

    first = numbers + 1
    lines: list[tuple[int | None, str, PeriodRow]] = [(i, row.label, row) for i, row in enumerate(report.rows, start=1)]
    lines.append((None, TOTAL_LABEL, report.total))
    for r, (stt, label, row) in enumerate(lines, start=first):
        if stt is not None:
            ws.cell(row=r, column=1, value=stt).alignment = Alignment(horizontal="center")
        _put_text(ws, r, 2, label, alignment=Alignment(wrap_text=True, vertical="center"))
        for i, value in enumerate(row_values(row)):
            _put_value(ws, r, 3 + i, value, rate=i >= len(COUNTS))
        for c in range(1, COLUMNS + 1):
            ws.cell(row=r, column=c).border = _BORDER
            if stt is None:
                ws.cell(row=r, column=c).font = _BOLD
    ws.freeze_panes = ws.cell(row=first, column=3)

    r = first + len(lines) + 1
    if report.notes:
        _put_text(ws, r, 1, f"{NOTES_TITLE}:", font=_BOLD)
        for note in report.notes:
            r += 1
            _put_text(ws, r, 1, f"- {note}")
        r += 2
    _put_text(ws, r, 1, f"Số liệu tính đến {format_datetime(report.generated_at)}", font=Font(italic=True))

    widths = [6, 34] + [11] * len(COUNTS) + [15, 17]
    for c, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(c)].width = width
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{top}:{numbers}"


def _charts_sheet(ws: Any, charts: Sequence[tuple[str, str, bytes]]) -> None:
    row = 1
    for _name, title, png in charts:
        _put_text(ws, row, 1, title, font=Font(bold=True, size=12))
        with PilImage.open(io.BytesIO(png)) as im:
            height = im.height
        image = XlImage(io.BytesIO(png))
        ws.add_image(image, f"A{row + 1}")
        row += 2 + height // 20 + 2  # default rows are 20 pixels high


def _figure(value: float | None) -> Value:
    """A numerator or denominator as a cell value: an int when it is a whole number."""
    return int(value) if value is not None and float(value).is_integer() else value


def _index_sheet(ws: Any, report: Report, index: IndexSection) -> None:
    """The index: groups (bold) and their criteria, the total, the notes, then a roll-up's units by score.
    Figures are numbers (rates 0.00%, points 0.00); a missing one is the form's dash."""
    _put_text(ws, 1, 1, INDEX_TITLE, font=Font(bold=True, size=12))
    _put_text(ws, 2, 1, f"{report.unit_name} — {report.period_label}", font=Font(italic=True))
    for letter, width in zip("ABCDEFGH", (8, 50, 12, 12, 11, 9, 9, 60), strict=True):
        ws.column_dimensions[letter].width = width
    if index.error:
        _put_text(ws, 4, 1, f"{INDEX_ERROR} {index.error}", font=Font(bold=True, color="AA0000"))
        return
    _put_headings(ws, 4, INDEX_HEADINGS)
    r = 5

    def points(row: int, score: float | None, maximum: float | None, note: str, bold: bool = False) -> None:
        _put_number(ws, row, 6, score, POINTS_FORMAT)
        _put_number(ws, row, 7, maximum, POINTS_FORMAT)
        _put_text(ws, row, 8, note, alignment=Alignment(wrap_text=True))
        for c in range(1, len(INDEX_HEADINGS) + 1):
            ws.cell(row=row, column=c).border = _BORDER
            if bold:
                ws.cell(row=row, column=c).font = _BOLD

    for g in index.groups:
        ws.cell(row=r, column=1, value=g.number)
        _put_text(ws, r, 2, g.name)
        points(r, g.score, g.maximum, scored_text(g.scored_max, g.maximum), bold=True)
        r += 1
        for crit in g.criteria:
            _put_text(ws, r, 1, crit.id)
            _put_text(ws, r, 2, crit.name, alignment=Alignment(wrap_text=True))
            for col, v in ((3, crit.numerator), (4, crit.denominator)):
                fig = _figure(v)
                _put_number(ws, r, col, fig, INT_FORMAT if fig is None or isinstance(fig, int) else DECIMAL_FORMAT)
            _put_number(ws, r, 5, crit.value, RATE_FORMAT if crit.is_share else DECIMAL_FORMAT)
            points(r, crit.score, crit.maximum, crit.status)
            r += 1
    _put_text(ws, r, 2, INDEX_TOTAL_LABEL)
    points(r, index.score, index.maximum, scored_text(index.scored_max, index.maximum), bold=True)
    r += 2
    for note in index.notes:
        _put_text(ws, r, 1, f"- {note}")
        r += 1
    if index.units:
        r += 1
        _put_text(ws, r, 1, INDEX_UNITS_TITLE, font=_BOLD)
        _put_headings(ws, r + 1, INDEX_UNITS_HEADINGS)
        for i, u in enumerate(index.units, start=r + 2):
            ws.cell(row=i, column=1, value=u.rank)
            _put_text(ws, i, 2, u.code)
            _put_text(ws, i, 3, u.name)
            _put_number(ws, i, 4, u.score, POINTS_FORMAT)
            _put_number(ws, i, 5, u.scored_max, POINTS_FORMAT)
    ws.freeze_panes = "C5"


def write_xlsx(report: Report, path: str | Path) -> Path:
    """The workbook: "Báo cáo" (the form), then when the report has them "Xếp hạng", "Theo kênh", "Thủ
    tục trễ hạn", "Theo tháng", "Chỉ số 766" and "Biểu đồ" (the chart PNGs). Counts are ints, rates
    floats shown 0.00%, the index's points floats shown 0.00."""
    wb = Workbook()
    form = wb.active
    form.title = "Báo cáo"
    _form_sheet(form, report)

    if report.ranking:
        ws = wb.create_sheet("Xếp hạng")
        rows: list[list[Value | str]] = [
            [rank, row.code, row.label, row.resolved, row.resolved_in_time, row.on_time_rate]
            for rank, row in zip(ranks(report.ranking), report.ranking, strict=True)
        ]
        headings = ["Hạng", "Mã đơn vị", "Đơn vị", "Đã giải quyết", "Đúng hạn và trước hạn", "Tỷ lệ"]
        _simple_table(ws, headings, rows, rates={5})
        for col, width in zip("ABCDEF", (7, 12, 36, 14, 16, 10), strict=True):
            ws.column_dimensions[col].width = width
    if report.channels:
        ws = wb.create_sheet("Theo kênh")
        rows = [
            [row.label, row.to_handle, row.resolved, row.in_process, *channel_shares(row)] for row in report.channels
        ]
        _simple_table(ws, list(CHANNEL_HEADINGS), rows, rates={4, 5, 6})
        for col, width in zip("ABCDEFG", (30, 16, 14, 14, 10, 10, 10), strict=True):
            ws.column_dimensions[col].width = width
    if report.late_procedures:
        ws = wb.create_sheet("Thủ tục trễ hạn")
        rows = [
            [i, row.code, row.label, row.resolved, row.resolved_late, row.in_process_overdue]
            for i, row in enumerate(report.late_procedures, start=1)
        ]
        headings = ["STT", "Mã TTHC", "Lĩnh vực / thủ tục", "Đã giải quyết", "Quá hạn", "Đang giải quyết quá hạn"]
        _simple_table(ws, headings, rows, rates=set())
        for col, width in zip("ABCDEF", (6, 16, 50, 14, 10, 16), strict=True):
            ws.column_dimensions[col].width = width
    if report.months:
        ws = wb.create_sheet("Theo tháng")
        rows = [[m.label, m.resolved, m.resolved_in_time, m.on_time_rate] for m in report.months]
        _simple_table(ws, ["Tháng", "Đã giải quyết", "Đúng hạn và trước hạn", "Tỷ lệ"], rows, rates={3})
        for col, width in zip("ABCD", (16, 14, 16, 10), strict=True):
            ws.column_dimensions[col].width = width
    if report.index is not None:
        _index_sheet(wb.create_sheet(INDEX_SHEET), report, report.index)
    charts = report_charts(report)
    if charts:
        _charts_sheet(wb.create_sheet(CHARTS_TITLE), charts)

    out = Path(path)
    wb.save(out)
    return out
