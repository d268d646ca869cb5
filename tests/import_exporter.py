"""Test helper: the simulator's dossier events written as one-stop exports, the way a real system
would hand them over: a tracking-book XLSX (form 06 + the columns systems append) and a vendor
CSV in Windows-1258, both with made-up personal data (names, addresses, phones, ID numbers) that
must never reach Kafka. Also writes the mapping files (shipped mapping + the units table)."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import yaml

from producers.records import RecordReader
from schemas import units

LOCAL = "Asia/Ho_Chi_Minh"
CHANNEL_BOOK = {
    ("online", "full"): "Trực tuyến toàn trình",
    ("online", "partial"): "Trực tuyến một phần",
    ("in_person", None): "Trực tiếp",
    ("postal", None): "Bưu chính công ích",
}
CHANNEL_VENDOR = {
    ("online", "full"): "DVC toàn trình",
    ("online", "partial"): "DVC một phần",
    ("in_person", None): "Trực tiếp",
    ("postal", None): "BCCI",
}
RATING_TEXT = {"very_satisfied": "Rất hài lòng", "satisfied": "Hài lòng", "unsatisfied": "Không hài lòng"}
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Huỳnh", "Võ", "Đặng", "Bùi"]
GIVEN = ["Văn Ấn", "Thị Hoà", "Minh Khôi", "Ngọc Ánh", "Hữu Phước", "Thị Tuyết", "Quốc Bảo", "Thanh Hương"]


def person(i: int) -> dict[str, str]:
    """Made-up personal data of applicant ``i``: distinctive enough to search for in Kafka."""
    return {
        "name": f"{SURNAMES[i % 8]} {GIVEN[(i // 8) % 8]} Zq{i:06d}",
        "address": f"Số {i % 300 + 1} đường Ấp Bắc Zq{i:06d}, Mỹ Tho",
        "phone": f"09{i:08d}",
        "id_number": f"0820{i:08d}",
    }


def unit_name(ward: str | None, district: str | None) -> str:
    if ward:
        w = units.ward(ward)
        return f"UBND {w.name}" if w else ward
    return "Bộ phận Một cửa thành phố Mỹ Tho"


def dossiers(sim_file: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """One dict per dossier (its events by kind), in reception order; and the unit table."""
    by: dict[str, dict[str, Any]] = defaultdict(dict)
    unit_table: dict[str, dict[str, str]] = {}
    for _, _, r in RecordReader(sim_file):
        d = orjson.loads(r.value)
        et = d["event_type"]
        if not et.startswith("dossier.") or "dossier_id" not in d:
            continue
        entry = by[d["dossier_id"]]
        entry[et.split(".", 1)[1]] = d
        name = unit_name(d.get("ward_code"), d.get("district_code"))
        ref = {"province_code": d["province_code"]}
        for k in ("ward_code", "district_code", "unit_code"):
            if d.get(k):
                ref[k] = d[k]
        unit_table[name] = ref
    out = [v for v in by.values() if "received" in v]
    out.sort(key=lambda v: (v["received"]["received_at"], v["received"]["dossier_id"]))
    return out, unit_table


def _local(ts: str | None) -> datetime | None:
    if ts is None:
        return None
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(ts).astimezone(ZoneInfo(LOCAL)).replace(tzinfo=None)


def _yes(v: bool | None) -> str:
    return "" if v is None else ("Có" if v else "Không")


BOOK_HEADER = [
    "STT",
    "Mã hồ sơ",
    "Tên thủ tục hành chính",
    "Mã TTHC",
    "Lĩnh vực",
    "Số lượng hồ sơ (bộ)",
    "Tên cá nhân, tổ chức",
    "Địa chỉ, số điện thoại",
    "Số CCCD/CMND",
    "Đơn vị tiếp nhận",
    "Cơ quan chủ trì giải quyết",
    "Hình thức tiếp nhận",
    "Nhận hồ sơ (ngày, giờ)",
    "Hẹn trả kết quả (ngày, giờ)",
    "Ngày yêu cầu bổ sung",
    "Hẹn trả sau bổ sung",
    "Lý do bổ sung",
    "Trả kết quả (ngày, giờ)",
    "Trạng thái",
    "Ngày rút, từ chối",
    "Lý do",
    "Số hoá kết quả",
    "Thanh toán trực tuyến",
    "Thư xin lỗi",
    "Hẹn trả theo thư xin lỗi",
    "Mức độ hài lòng",
    "Ngày đánh giá",
    "Ký nhận",
    "Ghi chú",
]


def book_row(i: int, d: dict[str, Any]) -> list[Any]:
    rcv, res, sup, apo, rate = (
        d.get(k) for k in ("received", "resolved", "supplement_requested", "apology_issued", "rated")
    )
    wd, ref = d.get("withdrawn"), d.get("refused")
    p = person(i)
    unit = unit_name(rcv.get("ward_code"), rcv.get("district_code"))
    status = "Đã trả kết quả" if res else "Rút hồ sơ" if wd else "Từ chối tiếp nhận" if ref else "Đang xử lý"
    closed = (wd or {}).get("withdrawn_at") or (ref or {}).get("refused_at")
    return [
        i,
        rcv["dossier_id"],
        rcv.get("procedure_name"),
        rcv["procedure_code"],
        rcv["field"],
        1,
        p["name"],
        f"{p['address']}; ĐT {p['phone']}",
        p["id_number"],
        unit,
        unit,
        CHANNEL_BOOK[(rcv["channel"], rcv.get("online_service"))],
        _local(rcv["received_at"]),
        _local(rcv["due_at"]),
        _local(sup["requested_at"]) if sup else None,
        _local(sup["new_due_at"]) if sup else None,
        sup["reason"] if sup else None,
        _local(res["resolved_at"]) if res else None,
        status,
        _local(closed),
        (ref or {}).get("reason") or (wd or {}).get("reason"),
        _yes(res["result_digitised"]) if res else None,
        _yes(res.get("fee_paid_online")) if res else None,
        _local(apo["issued_at"]) if apo else None,
        _local(apo.get("new_due_at")) if apo else None,
        RATING_TEXT[rate["rating"]] if rate else None,
        _local(rate["rated_at"]) if rate else None,
        p["name"],
        None,
    ]


def write_tracking_book(sim_file: Path, path: Path) -> tuple[int, dict[str, dict[str, str]]]:
    from openpyxl import Workbook

    items, unit_table = dossiers(sim_file)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("So theo doi ho so")
    ws.append(["SỔ THEO DÕI HỒ SƠ"])
    ws.append(["(Mẫu số 06, Thông tư 01/2018/TT-VPCP)"])
    ws.append([])
    ws.append(BOOK_HEADER)
    for i, d in enumerate(items, start=1):
        ws.append(book_row(i, d))
    wb.save(path)
    return len(items), unit_table


VENDOR_HEADER = [
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
    "Lý do",
    "Ngày YC bổ sung",
    "Hẹn trả mới",
    "Nội dung bổ sung",
    "Số hóa KQ",
    "TT trực tuyến",
    "Ngày xin lỗi",
    "Hẹn lại",
    "Đánh giá",
    "Ngày đánh giá",
]


def _dm(ts: str | None) -> str:
    t = _local(ts)
    return t.strftime("%d/%m/%Y %H:%M") if t else ""


def vendor_row(i: int, d: dict[str, Any]) -> list[str]:
    rcv, res, sup, apo, rate = (
        d.get(k) for k in ("received", "resolved", "supplement_requested", "apology_issued", "rated")
    )
    wd, ref = d.get("withdrawn"), d.get("refused")
    p = person(i)
    status = "Đã trả kết quả" if res else "Rút hồ sơ" if wd else "Từ chối" if ref else "Đang xử lý"
    closed = (wd or {}).get("withdrawn_at") or (ref or {}).get("refused_at")
    return [
        rcv["dossier_id"],
        p["name"],
        p["phone"],
        p["address"],
        p["id_number"],
        unit_name(rcv.get("ward_code"), rcv.get("district_code")),
        rcv["procedure_code"],
        rcv.get("procedure_name") or "",
        rcv["field"],
        CHANNEL_VENDOR[(rcv["channel"], rcv.get("online_service"))],
        _dm(rcv["received_at"]),
        _dm(rcv["due_at"]),
        status,
        _dm(res["resolved_at"]) if res else "",
        _dm(closed),
        (ref or {}).get("reason") or (wd or {}).get("reason") or "",
        _dm(sup["requested_at"]) if sup else "",
        _dm(sup["new_due_at"]) if sup else "",
        sup["reason"] if sup else "",
        _yes(res["result_digitised"]) if res else "",
        _yes(res.get("fee_paid_online")) if res else "",
        _dm(apo["issued_at"]) if apo else "",
        _dm(apo.get("new_due_at")) if apo else "",
        RATING_TEXT[rate["rating"]] if rate else "",
        _dm(rate["rated_at"]) if rate else "",
    ]


def cp1258(text: str) -> bytes:
    """Text as Windows-1258 bytes, composing as Windows does: base letters with circumflex, breve
    or horn precomposed, tone marks as combining characters."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", ch)
        tones = "".join(c for c in parts[1:] if c in "\u0300\u0301\u0303\u0309\u0323")
        rest = unicodedata.normalize("NFC", parts[0] + "".join(c for c in parts[1:] if c not in tones))
        out += (rest + tones).encode("cp1258")
    return bytes(out)


def write_vendor_csv(sim_file: Path, path: Path, encoding: str = "cp1258") -> int:
    items, _ = dossiers(sim_file)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    w.writerow(VENDOR_HEADER)
    for i, d in enumerate(items, start=1):
        w.writerow(vendor_row(i, d))
    text = buf.getvalue()
    path.write_bytes(cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    return len(items)


def write_mapping(path: Path, base: str, unit_table: dict[str, dict[str, str]], source_system: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {"name": f"{base}-mytho", "extends": base, "source_system": source_system, "units": unit_table},
            allow_unicode=True,
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    return path
