"""The report's two charts as PNG bytes: matplotlib's Agg canvas drawn directly (no pyplot, so no
backend selection, no display and no global figure state).

Same report in, same bytes out: the PNG carries no "Software" stamp nor a date, and the font is
the DejaVu Sans matplotlib ships (it has the Vietnamese letters), so the machine's fonts do not
change the picture. Labels are plain text: mathtext is off, so a "$" in a field's name stays a "$".
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from reports.format import format_int, format_percent
from reports.model import Report

ON_TIME_TITLE = "Tỷ lệ giải quyết đúng hạn theo tháng"
LATE_TITLE = "Hồ sơ trễ hạn theo lĩnh vực"
ON_TIME_FILE = "ty-le-dung-han-theo-thang.png"
LATE_FILE = "ho-so-tre-han-theo-linh-vuc.png"

_STYLE: Any = {  # matplotlib types rcParams keys as a Literal union
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "text.parse_math": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_BLUE = "#1f5fa8"
_RED = "#c0392b"
_ORANGE = "#e59c3a"
_DPI = 100


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_STYLE):
        yield


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=_DPI, metadata={"Software": None})
    return out.getvalue()


def _empty(ax: Any, text: str = "Không có số liệu") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def on_time_chart(report: Report) -> bytes:
    """Bars of the on-time rate (đúng hạn và trước hạn / đã giải quyết) by month, y axis in %."""
    with _style():
        months = report.months
        fig = Figure(figsize=(max(6.0, 0.7 * len(months) + 2.0), 4.0), layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(f"{ON_TIME_TITLE}\n{report.unit_name}\n{report.period_label}", fontsize=11)
        if not months:
            _empty(ax)
            return _png(fig)
        xs = list(range(len(months)))
        rates = [m.on_time_rate for m in months]
        heights = [100.0 * r if r is not None else 0.0 for r in rates]
        bars = ax.bar(xs, heights, color=_BLUE, width=0.65)
        for bar, rate in zip(bars, rates, strict=True):
            top = bar.get_height()
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                top + 1.0,
                format_percent(rate),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        ax.set_xticks(xs, [m.label for m in months], rotation=45 if len(months) > 6 else 0, ha="right")
        if len(months) <= 6:
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("center")
        ax.set_ylim(0, 110)
        ax.set_yticks([0, 20, 40, 60, 80, 100])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_percent(v / 100, digits=0)))
        ax.set_ylabel("Tỷ lệ đúng hạn và trước hạn (%)")
        ax.set_xlabel("Tháng")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return _png(fig)


def late_by_field_chart(report: Report) -> bytes:
    """Horizontal stacked bars by field: resolved late (đã giải quyết quá hạn) and, at the period's
    end, still in process past the due date (đang giải quyết quá hạn); the sum is written at the end."""
    with _style():
        rows = report.rows
        fig = Figure(figsize=(8.0, max(3.0, 0.45 * len(rows) + 1.8)), layout="constrained")
        ax = fig.add_subplot()
        # unit and period on lines of their own: beside the long field labels one line was cut off
        ax.set_title(f"{LATE_TITLE}\n{report.unit_name}\n{report.period_label}", fontsize=11)
        if not rows:
            _empty(ax)
            return _png(fig)
        ys = list(range(len(rows)))[::-1]  # the first field on top
        late = [r.resolved_late for r in rows]
        overdue = [r.in_process_overdue for r in rows]
        ax.barh(ys, late, color=_RED, height=0.6, label="Đã giải quyết quá hạn")
        ax.barh(ys, overdue, left=late, color=_ORANGE, height=0.6, label="Đang giải quyết quá hạn")
        biggest = max((a + b for a, b in zip(late, overdue, strict=True)), default=0)
        for y, a, b in zip(ys, late, overdue, strict=True):
            ax.text(a + b + max(biggest, 1) * 0.01, y, format_int(a + b), va="center", fontsize=8)
        ax.set_yticks(ys, [r.label for r in rows])
        ax.set_xlim(0, max(biggest, 1) * 1.15)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_int(int(v)) if v >= 0 else ""))
        ax.set_xlabel("Số hồ sơ")
        fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return _png(fig)


def report_charts(report: Report) -> list[tuple[str, str, bytes]]:
    """The charts that have something to show, as (file name, title, PNG bytes): the on-time rate
    by month when the report has months, the late dossiers by field when it has fields."""
    charts: list[tuple[str, str, bytes]] = []
    if report.months:
        charts.append((ON_TIME_FILE, ON_TIME_TITLE, on_time_chart(report)))
    if report.rows:
        charts.append((LATE_FILE, LATE_TITLE, late_by_field_chart(report)))
    return charts
