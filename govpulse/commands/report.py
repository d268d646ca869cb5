"""`govpulse report`: a unit's (or a district's / province's) periodic report on results of handling
administrative procedures, as XLSX, HTML or PDF, with its charts as PNG files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape

from common.settings import get_settings
from govpulse.commands.periods import FiguresOption, PeriodOption, RollupOption, UnitOption, WeightsOption, index_files
from reports.model import IndexSection, Report

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


def index_summary(section: IndexSection) -> str:
    """One line on the report's index section: its total, or why it has none."""
    if section.error:
        return f"[yellow]Chỉ số 766: no index in the report, its section says why: {escape(section.error)}[/]"
    return (
        f"Chỉ số 766: {section.score:.2f} points, scored criteria {section.scored_max:g} of {section.maximum:g} points"
    )


def build_report(
    unit: str,
    period: str,
    rollup: str,
    bucket: str | None = None,
    index: bool = True,
    weights: Path | None = None,
    figures: Path | None = None,
) -> Report:
    """The report as InfluxDB's figures give it now (see reports.source), with the index of Decision 766
    for the same scope and period unless ``index`` is false (weights and figures: the files, else the
    settings', as for `govpulse index`)."""
    from dataclasses import replace

    from reports.periods import parse_period
    from reports.service_index import index_section
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
        source = ReportSource(run, bucket or s.influx_bucket, cal)
        rep = source.report(scope, the_period, datetime.now(ZoneInfo(s.timezone)))
        if index:
            rep = replace(rep, index=index_section(source, scope, the_period, *index_files(weights, figures)))
        return rep
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
    weights: WeightsOption = None,
    figures: FiguresOption = None,
    no_index: bool = typer.Option(False, "--no-index", help="leave out the Decision 766 index section"),
) -> None:
    """Write the periodic report (báo cáo định kỳ kết quả giải quyết TTHC) of a unit or roll-up, with the
    index of Decision 766/QĐ-TTg for the same scope and period."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r} is not one of {', '.join(FORMATS)}", param_hint="--format")
    rep = build_report(unit, period, rollup, bucket, not no_index, weights, figures)
    written = write_report(rep, fmt, out, charts)
    t = rep.total
    rate = f"{100 * t.on_time_rate:.2f}%" if t.on_time_rate is not None else "–"
    console.print(
        f"{rep.unit_name} — {rep.period_label}: {t.received:,} received, {t.resolved:,} resolved, "
        f"{t.resolved_in_time:,} on time or early ({rate}), {t.in_process:,} in process at the end"
    )
    if rep.index is not None:
        console.print(index_summary(rep.index))
    if not rep.rows:
        console.print("[yellow]no dossiers for this unit and period in InfluxDB[/]")
    for p in written:
        console.print(f"wrote {p}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
