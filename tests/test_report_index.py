"""The Decision 766 index in the periodic report, looked at as a person would: the HTML in headless
Chromium, WeasyPrint's PDF through pdftotext, the XLSX read back with openpyxl; a bad figures file
named in the section while the rest of the report stands; `govpulse report --no-index` without it.

The index under test is computed from hand-made counts through the pure domain functions
(``streams.domain.service_index``); the figures the tests expect are worked out here, by the rule
docs/decision-766.md gives: points × min(1, value ÷ full_at)."""

from __future__ import annotations

import html as html_text
from dataclasses import replace

import openpyxl
import pytest

from reports.model import Report
from reports.periods import parse_period
from reports.render import render_html, write_html, write_pdf, write_xlsx
from reports.service_index import index_section, section_of
from reports.source import ReportSource, Scope
from streams.domain import service_index as si
from streams.domain.windows import LocalCalendar
from tests.report_viewing import DomTables, chromium, pdftotext
from tests.test_report_render import mytho_report

CAL = LocalCalendar.for_zone()
HEADING = "Chỉ số phục vụ người dân, doanh nghiệp (Quyết định 766/QĐ-TTg)"
INDEX_HEAD = ["Mã", "Nhóm / tiêu chí", "Tử số", "Mẫu số", "Giá trị", "Điểm", "Tối đa", "Ghi chú"]

# two units of a city, by hand. 2.1 = (early + on time + in process within due) / (resolved + in process)
DESK = si.IndexCounts(
    received=90,
    received_online=30,
    resolved_early=50,
    resolved_on_time=20,
    resolved_late=10,
    in_process=6,
    in_process_overdue=4,
    ratings=40,
    ratings_unsatisfied=3,
)
WARD = si.IndexCounts(
    received=40,
    received_online=10,
    resolved_early=20,
    resolved_on_time=10,
    in_process=4,
    in_process_overdue=1,
    ratings=20,
)
# the weights file a user would give: 2.1 proportional (no rule is published for it); 5.4 keeps its
# sourced 6 points and F's 90 % threshold
WEIGHTS = si.parse_weights({"criteria": {"2.1": {"points": 20, "full_at": 1.0}}}, "weights.yaml")
SUPPLIED = {"1.2": si.Figure(9, 10, "CSDL quốc gia về TTHC")}  # sourced 4 points, no published rule


def _pts(x: float) -> str:
    """Two decimals with a decimal comma, written out here (not the code under test's helper)."""
    return f"{x:.2f}".replace(".", ",")


# the city (both units summed): 2.1 = (70 + 30 + (10 - 5)) / (110 + 10) = 105 / 120 = 87.50 %
CITY_21 = (105, 120)
SCORE_21 = 20 * min(1.0, (105 / 120) / 1.0)  # 17.50
# 5.4 = (handled - late - unsatisfied) / handled = (120 - (10 + 5) - 3) / 120 = 102 / 120 = 85.00 %,
# below F's 90 %: 6 × 0.85 / 0.9
CITY_54 = (102, 120)
SCORE_54 = 6 * min(1.0, (102 / 120) / 0.9)  # 5.666… → 5,67
TOTAL = SCORE_21 + SCORE_54
# each unit's own counts scored: the desk 2.1 = (50 + 20 + 2) / (80 + 6), 5.4 = (86 - 14 - 3) / 86;
# the ward 2.1 = (20 + 10 + 3) / (30 + 4), 5.4 = (34 - 1) / 34 ≥ 90 % → the full 6
DESK_TOTAL = 20 * (72 / 86) + 6 * min(1.0, (69 / 86) / 0.9)
WARD_TOTAL = 20 * (33 / 34) + 6.0


def city_section():
    units = [("815", "Thành phố Mỹ Tho", DESK), ("28261", "Phường Mỹ Tho", WARD)]
    total = si.IndexCounts.total(c for _, _, c in units)
    return section_of(
        si.compute_index(total, SUPPLIED, WEIGHTS),
        [(code, name, si.compute_index(c, SUPPLIED, WEIGHTS)) for code, name, c in units],
    )


def test_the_hand_counts_are_what_the_comments_say():
    assert (SCORE_21, round(SCORE_54, 2), round(TOTAL, 2)) == (17.5, 5.67, 23.17)
    assert WARD_TOTAL > DESK_TOTAL  # the ward ranks first


def city_report() -> Report:
    return replace(mytho_report(), index=city_section())


def _index_tables(dom: str) -> tuple[list[list[str]], list[list[str]]]:
    tables = DomTables()
    tables.feed(dom)
    (index,) = [t for t in tables.tables if t and t[0] == INDEX_HEAD]
    (units,) = [t for t in tables.tables if t and t[0][:3] == ["Hạng", "Mã đơn vị", "Đơn vị"] and len(t[0]) == 5]
    return index, units


def _expect_rows(by_id: dict[str, list[str]]) -> None:
    """The rows a person reads, whatever shows them (the DOM's cells, or a PDF line's words)."""
    assert by_id["2.1"][2:7] == ["105", "120", "87,50%", _pts(SCORE_21), "20,00"], by_id["2.1"]
    assert by_id["5.4"][2:7] == ["102", "120", "85,00%", _pts(SCORE_54), "6,00"], by_id["5.4"]
    # no fee-bearing dossier: a zero denominator is not applicable, no value and no score
    assert by_id["3.6"][2:6] == ["0", "0", "–", "–"] and by_id["3.6"][7].startswith("không áp dụng"), by_id["3.6"]
    # supplied, sourced points but no published rule: a value, not scored
    assert by_id["1.2"][2:7] == ["9", "10", "90,00%", "–", "4,00"] and by_id["1.2"][7].startswith("chưa chấm điểm")
    # neither computed nor supplied: no data
    assert by_id["1.1"][2:6] == ["–", "–", "–", "–"] and by_id["1.1"][7].startswith("chưa có số liệu")


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("index")
    report = city_report()
    html = write_html(report, tmp / "r.html")
    dom = chromium(["--dump-dom"], html, tmp / "profile").stdout.decode("utf-8")
    pdf_text = pdftotext(write_pdf(report, tmp / "r.pdf"))
    return report, dom, pdf_text


def test_html_in_chromium_shows_the_index_groups_criteria_and_total(seen):
    _report, dom, _pdf = seen
    assert HEADING in dom
    index, _units = _index_tables(dom)
    by_id = {row[0]: row for row in index[1:]}
    _expect_rows(by_id)
    # the groups with their scores over their maxima, and the total
    assert by_id["2"][1:] == [
        "Tiến độ, kết quả giải quyết", "", "", "", _pts(SCORE_21), "20,00", "đã chấm 20,00 trên 20,00 điểm"
    ]  # fmt: skip
    assert by_id["5"][5:7] == [_pts(SCORE_54), "18,00"]
    assert by_id["1"][5:7] == ["0,00", "18,00"]
    (total,) = [row for row in index if row[1] == "Tổng điểm"]
    assert total[5:7] == [_pts(TOTAL), "100,00"]
    assert total[7] == "đã chấm 26,00 trên 100,00 điểm"  # the scored criteria: 2.1 (20) and 5.4 (6)
    # the form is still there, above it
    assert "Tổng cộng" in dom and "4.121" in dom


def test_html_in_chromium_ranks_the_units_of_the_rollup_by_score(seen):
    _report, dom, _pdf = seen
    _index, units = _index_tables(dom)
    assert units[1:] == [
        ["1", "28261", "Phường Mỹ Tho", _pts(WARD_TOTAL), "26,00"],
        ["2", "815", "Thành phố Mỹ Tho", _pts(DESK_TOTAL), "26,00"],
    ]


def test_pdf_text_shows_the_index(seen):
    _report, _dom, text = seen
    flat = " ".join(text.split())
    assert HEADING in flat and "Tổng điểm" in flat
    lines = {ln.split()[0]: ln.split() for ln in text.splitlines() if ln.split() and ln.split()[0] in ("2.1", "5.4")}
    for cid, (num, den, rate, score) in {
        "2.1": ("105", "120", "87,50%", _pts(SCORE_21)),
        "5.4": ("102", "120", "85,00%", _pts(SCORE_54)),
    }.items():
        words = lines[cid]
        i = words.index(rate)
        assert words[i - 2 : i + 2] == [num, den, rate, score], words
    (total,) = [ln for ln in text.splitlines() if "Tổng điểm" in ln]
    assert _pts(TOTAL) in total.split(), total


def test_xlsx_index_sheet_holds_numbers_with_their_formats(tmp_path):
    wb = openpyxl.load_workbook(write_xlsx(city_report(), tmp_path / "r.xlsx"))
    assert "Chỉ số 766" in wb.sheetnames and wb.sheetnames[0] == "Báo cáo"
    ws = wb["Chỉ số 766"]
    rows = {r[0].value: r for r in ws.iter_rows() if r[0].value is not None}
    r21 = rows["2.1"]
    assert [c.value for c in r21[2:7]] == [105, 120, pytest.approx(0.875), pytest.approx(SCORE_21), 20]
    assert isinstance(r21[2].value, int) and isinstance(r21[4].value, float)
    assert (r21[4].number_format, r21[5].number_format, r21[6].number_format) == ("0.00%", "0.00", "0.00")
    r54 = rows["5.4"]
    assert [c.value for c in r54[2:7]] == [102, 120, pytest.approx(0.85), pytest.approx(SCORE_54), 6]
    assert rows["3.6"][4].value == "–" and rows["3.6"][5].value == "–"  # not applicable: no number
    assert str(rows["3.6"][7].value).startswith("không áp dụng")
    (total,) = [r for r in ws.iter_rows() if r[1].value == "Tổng điểm"]
    assert total[5].value == pytest.approx(TOTAL) and total[5].number_format == "0.00" and total[6].value == 100
    # the units by score, below
    ranked = [[c.value for c in r[:5]] for r in ws.iter_rows() if r[1].value in ("815", "28261")]
    assert ranked == [
        [1, "28261", "Phường Mỹ Tho", pytest.approx(WARD_TOTAL), 26],
        [2, "815", "Thành phố Mỹ Tho", pytest.approx(DESK_TOTAL), 26],
    ]


def test_a_unit_report_has_no_ranking_by_score():
    section = section_of(si.compute_index(DESK, {}, WEIGHTS))
    html = render_html(replace(mytho_report(), index=section))
    assert HEADING in html and "Xếp hạng đơn vị theo điểm Chỉ số 766" not in html


# ---------------------------------------------------------------------------------------------
# a bad file: the section says why, the report stands
# ---------------------------------------------------------------------------------------------
def _no_query(flux: str) -> list[dict]:
    raise AssertionError("a bad file is refused before InfluxDB is asked")


SCOPE = Scope("district", "815", "82", "Thành phố Mỹ Tho")


def test_a_bad_figures_file_is_named_in_the_section_and_the_report_stands(tmp_path):
    bad = tmp_path / "figures.csv"
    bad.write_text("unit_code,period,criterion,numerator,denominator\n815,month:2022-06,1.2,12,10\n", encoding="utf-8")
    section = index_section(ReportSource(_no_query, "b", CAL), SCOPE, parse_period("report_year:2022", CAL), None, bad)
    assert section.error is not None and not section.groups
    report = replace(mytho_report(), index=section)
    html = write_html(report, tmp_path / "r.html")
    dom = chromium(["--dump-dom"], html, tmp_path / "profile").stdout.decode("utf-8")
    flat = " ".join(html_text.unescape(dom).split())  # the DOM's text: ">" is serialised as &gt;
    assert HEADING in flat
    # the file, the line, the criterion and the reason
    assert f"figures file {bad}, line 2: criterion 1.2: numerator 12 > denominator 10" in flat
    tables = DomTables()
    tables.feed(dom)
    assert not [t for t in tables.tables if t and t[0] == INDEX_HEAD]
    (total,) = [r for r in tables.tables[0] if r[1:2] == ["Tổng cộng"]]
    assert "4.121" in total  # the form is whole
    wb = openpyxl.load_workbook(write_xlsx(report, tmp_path / "r.xlsx"))
    texts = [c.value for r in wb["Chỉ số 766"].iter_rows() for c in r if isinstance(c.value, str)]
    assert any("numerator 12 > denominator 10" in t for t in texts)
    assert wb.sheetnames[0] == "Báo cáo" and wb["Báo cáo"].max_row > 10


def test_a_bad_weights_file_is_named_too(tmp_path):
    bad = tmp_path / "weights.yaml"
    bad.write_text("criteria:\n  '2.1': {points: 25}\n", encoding="utf-8")
    section = index_section(ReportSource(_no_query, "b", CAL), SCOPE, parse_period("report_year:2022", CAL), bad, None)
    assert section.error == f"weights file {bad}: criterion 2.1: points 25 outside 0–20 (group 2's maximum)"


# ---------------------------------------------------------------------------------------------
# govpulse report: the section by default, --no-index, a bad file (InfluxDB replaced by an empty one)
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def run_report(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from common import settings as settings_mod
    from govpulse.cli import app
    from reports import source

    asked: list[str] = []

    def empty_influx(url, token, org, timeout_ms=120_000):
        def run(flux: str) -> list[dict]:
            asked.append(flux)
            return []

        return run, lambda: None

    monkeypatch.setattr(source, "influx_query", empty_influx)
    monkeypatch.setenv("GOVPULSE_INFLUX_TOKEN", "not-used")
    monkeypatch.delenv("GOVPULSE_INDEX_WEIGHTS_FILE", raising=False)
    monkeypatch.delenv("GOVPULSE_INDEX_FIGURES_FILE", raising=False)
    settings_mod.get_settings.cache_clear()

    def run(*extra: str) -> tuple[str, str]:
        out = tmp_path / f"r{len(asked)}.html"
        args = ["report", "--unit", "28261", "--period", "report_year:2022", "--out", str(out), *extra]
        res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output
        return out.read_text(encoding="utf-8"), res.output

    yield run
    settings_mod.get_settings.cache_clear()


def test_govpulse_report_includes_the_index_and_no_index_leaves_it_out(run_report, tmp_path):
    with_index, said = run_report()
    assert HEADING in with_index and "Chỉ số 766" in said
    # nothing in InfluxDB: every computed criterion is not applicable, none invented
    assert "không áp dụng: mẫu số bằng 0" in with_index
    without, said = run_report("--no-index")
    assert HEADING not in without and "Chỉ số 766" not in said
    assert "Tổng cộng" in without


def test_govpulse_report_with_a_bad_figures_file_writes_the_report_and_says_why(run_report, tmp_path):
    bad = tmp_path / "f.csv"
    bad.write_text("unit_code,period,criterion,numerator,denominator\n28261,month:2022-06,9.9,1,2\n", encoding="utf-8")
    page, said = run_report("--figures", str(bad))
    flat = " ".join(html_text.unescape(page).split())
    assert HEADING in flat and f"figures file {bad}, line 2: criterion '9.9' is not a criterion" in flat
    assert "Tổng cộng" in flat
    assert "9.9" in " ".join(said.split())


def test_govpulse_report_takes_the_weights_file_from_the_settings(run_report, tmp_path, monkeypatch):
    from common import settings as settings_mod

    bad = tmp_path / "w.yaml"
    bad.write_text("criteria:\n  '7.7': 3\n", encoding="utf-8")
    monkeypatch.setenv("GOVPULSE_INDEX_WEIGHTS_FILE", str(bad))
    settings_mod.get_settings.cache_clear()
    page, _said = run_report()
    assert f"weights file {bad}: criterion 7.7: not a criterion of Decision 766" in html_text.unescape(page)


def test_the_index_options_are_the_index_commands():
    """--weights and --figures of `report` are `index`'s, one definition (govpulse.commands.periods)."""
    import inspect

    from govpulse.commands import index, periods, report

    for cmd in (index.index, report.report):
        params = inspect.signature(cmd).parameters
        assert params["weights"].annotation in ("WeightsOption", periods.WeightsOption)
        assert params["figures"].annotation in ("FiguresOption", periods.FiguresOption)
