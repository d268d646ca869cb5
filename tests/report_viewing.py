"""Looking at a report as a person would: headless Chromium (Debian's package) for HTML, poppler's
pdftotext / pdftoppm for PDF. Shared by the rendering tests and the pipeline's report tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

TOOLS_HINT = "run make report-tools (installs Debian's chromium and poppler-utils)"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("GOVPULSE_SKIP_BROWSER_TESTS") == "1":
        pytest.skip(f"{name} not found and GOVPULSE_SKIP_BROWSER_TESTS=1")
    pytest.fail(f"{name} not found: {TOOLS_HINT}")


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, timeout=180, check=False, **kw)
    assert out.returncode == 0, f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]!r}"
    return out


def chromium(args: list[str], page: Path, profile: Path) -> subprocess.CompletedProcess:
    return run(
        [
            tool("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
            page.resolve().as_uri(),
        ]
    )


def pdftotext(pdf: Path) -> str:
    return run([tool("pdftotext"), "-layout", "-enc", "UTF-8", str(pdf), "-"]).stdout.decode("utf-8")


def pdf_pages(pdf: Path, out: Path) -> list[Path]:
    run([tool("pdftoppm"), "-png", "-r", "50", str(pdf), str(out / "page")])
    return sorted(out.glob("page*.png"))


class DomTables(HTMLParser):
    """The text of each <tr> of the DOM's tables (cells stripped), and the tags seen inside cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None
        self.tags_in_cells: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "img":
            self.images.append(dict(attrs).get("src") or "")
        elif self.cell is not None:
            self.tags_in_cells.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def parse_int(text: str) -> int:
    assert re.fullmatch(r"\d{1,3}(\.\d{3})*", text), text
    return int(text.replace(".", ""))
