"""`govpulse report`: a unit's (or a district's / province's) periodic report on results of handling
administrative procedures, as XLSX, HTML or PDF, with its charts as PNG files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from common.settings import get_settings
from govpulse.commands.periods import PeriodOption, RollupOption, UnitOption
from reports.model import Report

console = Console(soft_wrap=True)  # paths and figures on one line each, whatever the terminal width
FORMATS = ("xlsx", "html", "pdf")


def write_report(report: Report, fmt: str, out: Path, charts: Path | None = None) -> list[Path]:
    """Write ``report`` in ``fmt`` to ``out`` (and its charts as PNG files into ``charts``); the
    files written."""
    from reports import render  # matplotlib, WeasyPrint: loaded only when a report is written

    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out]
    if fmt == "xlsx":
        render.write_xlsx(report, out)
    elif fmt == "html":
        render.write_html(report, out)
    elif fmt == "pdf":
        render.write_pdf(report, out)
    else:
        raise ValueError(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if charts is not None:
        written += render.write_charts(report, charts)
    return written


def build_report(unit: str, period: str, rollup: str, bucket: str | None = None) -> Report:
    """The report as InfluxDB's figures give it now (see reports.source)."""
    from reports.periods import parse_period
    from reports.source import ReportSource, influx_query, resolve_scope
    from streams.domain.windows import LocalCalendar

    s = get_settings()
    cal = LocalCalendar.for_zone(s.timezone, s.report_year_start)
    try:
        the_period = parse_period(period, cal)
        scope = resolve_scope(unit, rollup)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    run, close = influx_query(s.influx_url, s.resolve_influx_token(), s.influx_org)
    try:
        return ReportSource(run, bucket or s.influx_bucket, cal).report(
            scope, the_period, datetime.now(ZoneInfo(s.timezone))
        )
    finally:
        close()


def report(
    unit: UnitOption,
    period: PeriodOption,
    rollup: RollupOption = "unit",
    fmt: str = typer.Option("html", "--format", help="xlsx | html | pdf"),
    out: Path = typer.Option(..., help="file to write"),
    charts: Path | None = typer.Option(None, help="also write the charts as PNG files into this directory"),
    bucket: str | None = typer.Option(None, help="InfluxDB bucket (default GOVPULSE_INFLUX_BUCKET)"),
) -> None:
    """Write the periodic report (báo cáo định kỳ kết quả giải quyết TTHC) of a unit or roll-up."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    rep = build_report(unit, period, rollup, bucket)
    written = write_report(rep, fmt, out, charts)
    t = rep.total
    rate = f"{100 * t.on_time_rate:.2f}%" if t.on_time_rate is not None else "–"
    console.print(
        f"{rep.unit_name} — {rep.period_label}: {t.received:,} received, {t.resolved:,} resolved, "
        f"{t.resolved_in_time:,} on time or early ({rate}), {t.in_process:,} in process at the end"
    )
    if not rep.rows:
        console.print("[yellow]no dossiers for this unit and period in InfluxDB[/]")
    for p in written:
        console.print(f"wrote {p}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
