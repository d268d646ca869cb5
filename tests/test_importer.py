"""`govpulse import` without servers: dates, encodings, status mapping, rejects, deterministic ids,
personal-data exclusion, --inspect, follow state. (Kafka and the worker: test_importer_integration.py.)"""

from __future__ import annotations

import csv
import gzip
from datetime import date, datetime
from pathlib import Path

import orjson
import pytest
import typer
import yaml
from typer.testing import CliRunner

from producers.importer.convert import Converter, Reject, event_id, resolve_header
from producers.importer.mapping import load_mapping, norm
from producers.importer.readers import detect_encoding
from producers.importer.run import FollowState, ImportSummary, Output, RejectsWriter, import_files, pending_files
from producers.records import RecordReader, RecordWriter
from schemas import parse_event
from tests.import_exporter import cp1258

UNITS = {
    "UBND Phường Mỹ Tho": {"province_code": "82", "ward_code": "28261", "district_code": "815"},
    "Bộ phận Một cửa TP Mỹ Tho": {"province_code": "82", "district_code": "815"},
}
HEADER = [
    "Số biên nhận",
    "Họ tên người nộp",
    "Số điện thoại",
    "Địa chỉ thường trú",
    "CCCD",
    "Đơn vị",
    "Mã thủ tục",
    "Thủ tục",
    "Lĩnh vực",
    "Kênh nộp",
    "Ngày tiếp nhận",
    "Ngày hẹn trả",
    "Trạng thái",
    "Ngày trả KQ",
    "Ngày kết thúc",
    "Số hóa KQ",
    "TT trực tuyến",
    "Đánh giá",
]
PERSONAL = ["Lê Thị Bí Mật Qx", "0912345678", "12 Hẻm Riêng Tư Qx", "082199001234"]


def row(code: str, **kw: str) -> list[str]:
    base = {
        "Số biên nhận": code,
        "Họ tên người nộp": PERSONAL[0],
        "Số điện thoại": PERSONAL[1],
        "Địa chỉ thường trú": PERSONAL[2],
        "CCCD": PERSONAL[3],
        "Đơn vị": "UBND Phường Mỹ Tho",
        "Mã thủ tục": "1.001193",
        "Thủ tục": "Thủ tục đăng ký khai sinh",
        "Lĩnh vực": "Hộ tịch",
        "Kênh nộp": "Trực tiếp",
        "Ngày tiếp nhận": "03/01/2022 08:15",
        "Ngày hẹn trả": "04/01/2022 08:15",
        "Trạng thái": "Đang xử lý",
        "Ngày trả KQ": "",
        "Ngày kết thúc": "",
        "Số hóa KQ": "",
        "TT trực tuyến": "",
        "Đánh giá": "",
    }
    base.update({k.replace("_", " "): v for k, v in kw.items()})
    return [base[h] for h in HEADER]


@pytest.fixture
def mapping_file(tmp_path, scenario_units_loaded) -> Path:
    p = tmp_path / "m.yaml"
    p.write_text(
        yaml.safe_dump({"name": "t", "extends": "vendor_csv", "source_system": "motcua-test", "units": UNITS}),
        encoding="utf-8",
    )
    return p


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    import io

    buf = io.StringIO()
    csv.writer(buf, delimiter=";").writerows([HEADER, *rows])
    text = buf.getvalue()
    path.write_bytes(cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    return path


def run_import(files, mapping_file, tmp_path, name="out") -> tuple[ImportSummary, list[dict], bytes, Path]:
    from common.settings import Settings

    m = load_mapping(mapping_file)
    out = tmp_path / f"{name}.jsonl.gz"
    rej = tmp_path / f"{name}-rejects.csv"
    writer = RecordWriter(out)
    rejects = RejectsWriter(rej)
    summary = import_files(files, m, m.source_system or "x", Output(Settings(), None, writer), rejects)
    writer.close()
    rejects.close()
    events = []
    for _, _, r in RecordReader(out):
        events.append(orjson.loads(r.value))
        parse_event(r.value)  # every produced event passes the schema
    return summary, events, gzip.decompress(out.read_bytes()), rej


def converter(mapping_file) -> Converter:
    m = load_mapping(mapping_file)
    return Converter(m, resolve_header(m, tuple(HEADER), 1), "motcua-test")


# -------------------------------------------------------------------------------------------
# dates
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "due", "want"),
    [
        ("16/12/2021 07:34", False, "2021-12-16T07:34:00+07:00"),
        ("16/12/2021 07:34:05", False, "2021-12-16T07:34:05+07:00"),
        ("16/12/2021", False, "2021-12-16T00:00:00+07:00"),
        ("16/12/2021", True, "2021-12-16T23:59:59+07:00"),  # a due day without a time: by the end of it
        ("5/1/2022 8:05", False, "2022-01-05T08:05:00+07:00"),
        (44561, False, "2021-12-31T00:00:00+07:00"),  # Excel serial date (1900 system)
        (44561.75, False, "2021-12-31T18:00:00+07:00"),
        ("44561.5", False, "2021-12-31T12:00:00+07:00"),  # a serial date in a text cell
        (datetime(2022, 3, 4, 9, 30, 0, 999_999), False, "2022-03-04T09:30:01+07:00"),  # Excel float noise rounds
        (date(2022, 3, 4), True, "2022-03-04T23:59:59+07:00"),
        ("2022-03-04T09:30:00+00:00", False, None),  # not a mapped format
        ("31/02/2022", False, None),
        ("ngày mai", False, None),
    ],
)
def test_date_parsing(mapping_file, cell, due, want):
    got = converter(mapping_file).parse_date(cell, end_of_day=due)
    assert (got.isoformat() if got else None) == want


def test_unparseable_date_rejects_the_row_naming_the_column(mapping_file):
    r = converter(mapping_file).convert(tuple(row("A1", **{"Ngày_hẹn_trả": "32/01/2022"})))
    assert isinstance(r, Reject) and (r.reason, r.column) == ("unparseable_date", "Ngày hẹn trả")


# -------------------------------------------------------------------------------------------
# encodings
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1258"])
def test_csv_encodings_give_the_same_events(mapping_file, tmp_path, encoding):
    rows = [
        row("A1", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="03/01/2022 15:00", Số_hóa_KQ="Có", Đánh_giá="Rất hài lòng"),
        row("A2", Kênh_nộp="DVC toàn trình", Lĩnh_vực="Chứng thực"),
    ]
    f = write_csv(tmp_path / f"x-{encoding}.csv", rows, encoding)
    if encoding == "cp1258":
        with pytest.raises(UnicodeDecodeError):
            f.read_bytes().decode("utf-8")
    summary, events, _, _ = run_import([f], mapping_file, tmp_path, encoding)
    assert summary.files[0].encoding == encoding
    assert summary.rows == 2 and summary.rows_rejected == 0
    ref_file = write_csv(tmp_path / "ref.csv", rows, "utf-8")
    _, ref, _, _ = run_import([ref_file], mapping_file, tmp_path, f"ref-{encoding}")
    assert events == ref
    assert {e["field"] for e in events if e["event_type"] == "dossier.received"} == {"Hộ tịch", "Chứng thực"}


def test_detect_encoding():
    assert detect_encoding(b"\xef\xbb\xbfM\xc3\xa3") == "utf-8-sig"
    assert detect_encoding("Mã hồ sơ".encode()) == "utf-8"
    assert detect_encoding(cp1258("Mã hồ sơ")) == "cp1258"
    # a multi-byte character cut at the end of the sniffed block is still UTF-8
    assert detect_encoding("Mã hồ".encode()[:-1]) == "utf-8"


# -------------------------------------------------------------------------------------------
# status, events, rejects
# -------------------------------------------------------------------------------------------
def test_status_values_decide_the_events(mapping_file):
    c = converter(mapping_file)

    def kinds(**kw):
        r = c.convert(tuple(row("S1", **kw)))
        assert not isinstance(r, Reject), r
        return [e.event_type for e in r]

    assert kinds() == ["dossier.received"]
    assert kinds(Trạng_thái="đã trả kết quả", Ngày_trả_KQ="04/01/2022 08:00") == [
        "dossier.received",
        "dossier.resolved",
    ]
    assert kinds(Trạng_thái="Rút hồ sơ", Ngày_kết_thúc="03/01/2022 10:00") == ["dossier.received", "dossier.withdrawn"]
    assert kinds(Trạng_thái="TỪ CHỐI", Ngày_kết_thúc="03/01/2022 10:00") == ["dossier.received", "dossier.refused"]
    r = c.convert(tuple(row("S1", Trạng_thái="Treo")))
    assert isinstance(r, Reject) and (r.reason, r.column) == ("unknown_status", "Trạng thái")


def test_bad_rows_are_reported_and_written_to_rejects_which_reimport(mapping_file, tmp_path):
    rows = [
        row("OK1"),
        row("B1", Ngày_tiếp_nhận="hôm qua"),
        row("B2", Ngày_hẹn_trả="02/01/2022 08:00"),
        row("B3", Đơn_vị="UBND Xã Không Có"),
        row("B4", Trạng_thái="Treo"),
        row("B5", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="01/01/2022 08:00"),
        row("OK2", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="03/01/2022 16:00", TT_trực_tuyến="Có"),
    ]
    f = write_csv(tmp_path / "bad.csv", rows)
    summary, events, _, rej = run_import([f], mapping_file, tmp_path, "bad")
    assert summary.rows == 7 and summary.rows_rejected == 5
    assert dict(summary.rejected) == {
        "unparseable_date": 1,
        "due_before_received": 1,
        "unknown_unit": 1,
        "unknown_status": 1,
        "resolved_before_received": 1,
    }
    assert {e["dossier_id"] for e in events} == {"OK1", "OK2"}
    with open(rej, encoding="utf-8-sig", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert [(x["Số biên nhận"], x["_row"], x["_column"], x["_reason"]) for x in lines] == [
        ("B1", "3", "Ngày tiếp nhận", "unparseable_date"),
        ("B2", "4", "Ngày hẹn trả", "due_before_received"),
        ("B3", "5", "Đơn vị", "unknown_unit"),
        ("B4", "6", "Trạng thái", "unknown_status"),
        ("B5", "7", "Ngày trả KQ", "resolved_before_received"),
    ]
    assert all(x["_file"] == str(f) and x["_sheet"] == "bad" and x["_detail"] for x in lines)
    # personal data is not copied into the rejects file either
    assert not any(p in rej.read_text(encoding="utf-8-sig") for p in PERSONAL)
    # the user fixes the rows in the rejects file and imports it again
    text = rej.read_text(encoding="utf-8-sig")
    text = text.replace("hôm qua", "03/01/2022 08:15").replace("UBND Xã Không Có", "UBND Phường Mỹ Tho")
    text = text.replace(";02/01/2022 08:00;", ";04/01/2022 08:00;").replace("Treo", "Đang xử lý")
    text = text.replace(",02/01/2022 08:00,", ",04/01/2022 08:00,").replace(",01/01/2022 08:00,", ",04/01/2022 07:00,")
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(text, encoding="utf-8-sig")
    summary2, events2, _, _ = run_import([fixed], mapping_file, tmp_path, "fixed")
    assert summary2.rows_rejected == 0, summary2.rejected
    assert {e["dossier_id"] for e in events2} == {"B1", "B2", "B3", "B4", "B5"}


# -------------------------------------------------------------------------------------------
# deterministic ids
# -------------------------------------------------------------------------------------------
def test_reimport_and_overlapping_exports_give_identical_events(mapping_file, tmp_path):
    first_half = [row("D1"), row("D2", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="03/01/2022 09:00")]
    f1 = write_csv(tmp_path / "jan-jun.csv", first_half)
    # the later export (Jan-Dec) overlaps: D1 has been resolved since, D3 is new, columns reordered
    later = [
        row("D3"),
        row("D2", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="03/01/2022 09:00"),
        row("D1", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="04/01/2022 10:00", Đánh_giá="Hài lòng"),
    ]
    f2 = write_csv(tmp_path / "jan-dec.csv", later)
    _, a, _, _ = run_import([f1], mapping_file, tmp_path, "a")
    _, again, _, _ = run_import([f1], mapping_file, tmp_path, "again")
    assert a == again
    _, b, _, _ = run_import([f2], mapping_file, tmp_path, "b")
    by_id_a = {e["event_id"]: e for e in a}
    by_id_b = {e["event_id"]: e for e in b}
    # every event of the first export comes again with the same id and the same content
    assert all(by_id_b[i] == e for i, e in by_id_a.items())
    new = [(e["dossier_id"], e["event_type"]) for i, e in by_id_b.items() if i not in by_id_a]
    assert sorted(new) == [("D1", "dossier.rated"), ("D1", "dossier.resolved"), ("D3", "dossier.received")]
    assert by_id_b[event_id("motcua-test", "D1", "resolved")]["occurred_at"] == "2022-01-04T10:00:00+07:00"
    # another source system never collides
    assert event_id("other", "D1", "received") != event_id("motcua-test", "D1", "received")


# -------------------------------------------------------------------------------------------
# personal data
# -------------------------------------------------------------------------------------------
def test_personal_data_columns_are_never_read_into_events(mapping_file, tmp_path):
    f = write_csv(tmp_path / "p.csv", [row("P1", Trạng_thái="Đã trả kết quả", Ngày_trả_KQ="03/01/2022 09:00")])
    summary, _, raw, _ = run_import([f], mapping_file, tmp_path, "p")
    assert summary.files[0].personal_columns == ["Họ tên người nộp", "Số điện thoại", "Địa chỉ thường trú", "CCCD"]
    for value in PERSONAL:
        assert value.encode() not in raw
    assert b"P1" in raw


def test_personal_data_wins_over_a_mapping_alias(mapping_file):
    m = load_mapping(mapping_file)
    assert m.is_personal("Địa chỉ, số điện thoại") and m.is_personal("HỌ VÀ TÊN") and m.is_personal("Số CCCD/CMND")
    assert not m.is_personal("Tên thủ tục hành chính") and not m.is_personal("Mã hồ sơ")
    assert norm("NGÀY  TIẾP-NHẬN") == norm("ngay tiep nhan") == "ngay tiep nhan"


# -------------------------------------------------------------------------------------------
# spreadsheets, shipped mappings, --inspect
# -------------------------------------------------------------------------------------------
def test_tracking_book_xlsx_with_title_rows_and_date_cells(tmp_path, scenario_units_loaded):
    from openpyxl import Workbook

    p = tmp_path / "book.xlsx"
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sổ")
    ws.append(["SỔ THEO DÕI HỒ SƠ"])
    ws.append([])
    ws.append(
        [
            "STT",
            "Mã hồ sơ",
            "Tên thủ tục hành chính",
            "Tên cá nhân, tổ chức",
            "Địa chỉ, số điện thoại",
            "Đơn vị tiếp nhận",
            "Nhận hồ sơ (ngày, giờ)",
            "Hẹn trả kết quả (ngày, giờ)",
            "Trả kết quả (ngày, giờ)",
            "Ký nhận",
        ]
    )
    ws.append([1, "X1", "Cấp bản sao", PERSONAL[0], PERSONAL[2], "815", datetime(2022, 2, 1, 8), 44594, None, "ký"])
    ws.append(
        [
            2,
            "X2",
            "Cấp bản sao",
            PERSONAL[0],
            PERSONAL[2],
            "28261",
            datetime(2022, 2, 1, 9),
            "03/02/2022 17:00",
            datetime(2022, 2, 2, 10),
            None,
        ]
    )
    ws.append([])
    wb.save(p)
    summary, events, raw, _ = run_import([p], "tracking_book", tmp_path, "book")
    assert (summary.rows, summary.blank, summary.rows_rejected) == (2, 1, 0)  # blank rows after the header
    rcv = {e["dossier_id"]: e for e in events if e["event_type"] == "dossier.received"}
    assert rcv["X1"]["due_at"] == "2022-02-02T23:59:59+07:00"  # serial date, date only: end of the due day
    assert rcv["X1"]["district_code"] == "815" and "ward_code" not in rcv["X1"]
    assert rcv["X2"]["ward_code"] == "28261" and rcv["X2"]["channel"] == "in_person"  # the form has no channel
    assert rcv["X2"]["procedure_code"] == "Cấp bản sao" and rcv["X2"]["field"] == "Chưa phân loại"
    assert [e["event_type"] for e in events if e["dossier_id"] == "X2"] == ["dossier.received", "dossier.resolved"]
    assert not any(v.encode() in raw for v in PERSONAL)


def test_xls_is_read(tmp_path, scenario_units_loaded):
    xlwt = pytest.importorskip("xlwt")
    p = tmp_path / "book.xls"
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("So")
    dt = xlwt.easyxf(num_format_str="DD/MM/YYYY HH:MM")
    for c, h in enumerate(["Mã hồ sơ", "Tên TTHC", "Đơn vị tiếp nhận", "Nhận hồ sơ", "Hẹn trả kết quả", "Họ tên"]):
        ws.write(0, c, h)
    ws.write(1, 0, "L1")
    ws.write(1, 1, "Đăng ký khai sinh")
    ws.write(1, 2, "28261")
    ws.write(1, 3, datetime(2022, 4, 1, 8, 30), dt)
    ws.write(1, 4, datetime(2022, 4, 2, 8, 30), dt)
    ws.write(1, 5, PERSONAL[0])
    wb.save(str(p))
    summary, events, raw, _ = run_import([p], "tracking_book", tmp_path, "xls")
    assert summary.rows == 1 and summary.rows_rejected == 0
    assert events[0]["received_at"] == "2022-04-01T08:30:00+07:00" and PERSONAL[0].encode() not in raw


def _cli():
    from govpulse.commands import importer

    app = typer.Typer()
    importer.register(app)

    @app.command("other", hidden=True)
    def other() -> None:  # a second command, so typer keeps "import" as a subcommand
        pass

    return app


def test_inspect_shows_header_sample_and_mappable_columns(mapping_file, tmp_path):
    f = write_csv(tmp_path / "i.csv", [row("I1"), row("I2")], "cp1258")
    res = CliRunner().invoke(_cli(), ["import", "--inspect", str(f)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    out = res.output
    assert "encoding cp1258" in out and "header row 1" in out
    assert "dossier_code" in out and "received_at" in out and "due_at" in out
    assert out.count("personal data (ignored)") == 4
    assert "I1" in out and not any(p in out for p in PERSONAL)


def test_cli_import_to_an_archive_with_rejects(mapping_file, tmp_path):
    f = write_csv(tmp_path / "c.csv", [row("C1"), row("C2", Trạng_thái="Treo")])
    out, rej = tmp_path / "c.jsonl.gz", tmp_path / "c-rejects.csv"
    res = CliRunner().invoke(
        _cli(),
        ["import", str(f), "--mapping", str(mapping_file), "--out", str(out), "--rejects", str(rej)],
        env={"COLUMNS": "250"},
    )
    assert res.exit_code == 0, res.output
    assert "rows read 2, events produced 1" in res.output and "unknown_status 1" in res.output
    assert "Họ tên người nộp" in res.output  # the ignored personal-data columns are listed
    assert [r.key for _, _, r in RecordReader(out)] == [b"28261"]
    assert "unknown_status" in rej.read_text(encoding="utf-8-sig")


# -------------------------------------------------------------------------------------------
# --follow state
# -------------------------------------------------------------------------------------------
def test_follow_state_imports_new_and_changed_files_once(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    state = FollowState(tmp_path / "state.json")
    settle: dict = {}
    a = folder / "a.csv"
    a.write_text("x")
    assert pending_files(folder, state, settle) == []  # seen once: wait until it holds still
    ready = pending_files(folder, state, settle)
    assert [p for p, _ in ready] == [a]
    state.remember(a, ready[0][1], "sha-a", rows=1)
    assert pending_files(folder, state, settle) == [] and pending_files(folder, state, settle) == []
    # a restart reads the state file: nothing to do
    state2 = FollowState(tmp_path / "state.json")
    assert pending_files(folder, state2, {}) == [] and state2.files[str(a.resolve())]["sha256"] == "sha-a"
    a.write_text("xy")  # changed
    pending_files(folder, state2, settle)
    assert [p for p, _ in pending_files(folder, state2, settle)] == [a]
