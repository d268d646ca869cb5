"""`govpulse index`: the index of Decision 766/QĐ-TTg (chỉ số phục vụ người dân, doanh nghiệp) of a unit
or roll-up over a month or report period, from the counts in InfluxDB; printed, and written back as the
``service_index`` measurement."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from common.settings import get_settings
from govpulse.commands.periods import FiguresOption, PeriodOption, RollupOption, UnitOption, WeightsOption, index_files

# a wide table: 100 columns of terminal would wrap every criterion's name over several lines
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 180)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.2f}%"


def _pts(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _num(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.2f}"


def index_table(title: str, result: object) -> Table:
    from streams.domain.service_index import IndexResult

    assert isinstance(result, IndexResult)
    t = Table(title=title, show_lines=False)
    for col, just in (("#", "left"), ("tiêu chí / criterion", "left"), ("tử số", "right"), ("mẫu số", "right"),
                      ("giá trị", "right"), ("điểm", "right"), ("tối đa", "right"), ("", "left")):  # fmt: skip
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for g in result.groups:
        t.add_row(f"[bold]{g.group}[/]", f"[bold]{g.name}[/]", "", "", "", f"[bold]{g.score:.2f}[/]",
                  f"[bold]{g.maximum:g}[/]", f"scored criteria: {g.scored_max:g} of {g.maximum:g} points")  # fmt: skip
        for r in (*g.criteria, *g.indicators):
            value = _num(r.value) if r.id == "in_process_overdue" else _pct(r.value)
            if r.id == "2.2" and r.value is not None:
                value = f"{r.value:.2f}"
            label = r.status.value if r.status.value == "scored" else f"[yellow]{r.status.value}[/]: {r.reason}"
            if r.status.value == "scored" and r.reason:
                label = f"scored ({r.origin}); {r.reason}"
            t.add_row(r.id, r.name, _num(r.numerator), _num(r.denominator), value, _pts(r.score), _pts(r.max), label)
    t.add_row("", "[bold]Tổng điểm[/]", "", "", "", f"[bold]{result.score:.2f}[/]", f"{result.maximum:g}",
              f"scored criteria: {result.scored_max:g} of {result.maximum:g} points")  # fmt: skip
    return t


def index(
    unit: UnitOption,
    period: PeriodOption,
    rollup: RollupOption = "unit",
    weights: WeightsOption = None,
    figures: FiguresOption = None,
    bucket: str | None = typer.Option(None, help="InfluxDB bucket (default GOVPULSE_INFLUX_BUCKET)"),
    write: bool = typer.Option(True, help="write the service_index points to InfluxDB"),
    each_month: bool = typer.Option(
        False, "--each-month", help="also the index of each (report) month of the period: the dashboards' history"
    ),
) -> None:
    """Compute the index of Decision 766/QĐ-TTg for a unit or roll-up and a period."""
    from common import measurements as m
    from reports.periods import months_of, parse_period
    from reports.service_index import compute_scope_index, load_figures, load_weights, scope_lines, write_lines
    from reports.source import ReportSource, influx_query, resolve_scope
    from streams.domain.service_index import IndexConfigError
    from streams.domain.windows import LocalCalendar

    s = get_settings()
    cal = LocalCalendar.for_zone(s.timezone, s.report_year_start)
    try:
        the_period = parse_period(period, cal)
        scope = resolve_scope(unit, rollup)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    try:
        weights_file, figures_file = index_files(weights, figures)
        the_weights, the_figures = load_weights(weights_file), load_figures(figures_file)
    except IndexConfigError as e:
        console.print(f"[red]{e}[/]")
        raise typer.Exit(2) from None
    bucket = bucket or s.influx_bucket
    months = months_of(the_period, cal) if each_month and the_period.window not in (m.REPORT_MONTH, m.MONTH) else []
    run, close = influx_query(s.influx_url, s.resolve_influx_token(), s.influx_org)
    try:
        source = ReportSource(run, bucket, cal)
        result = compute_scope_index(source, scope, the_period, the_weights, the_figures)
        monthly = [compute_scope_index(source, scope, mo, the_weights, the_figures) for mo in months]
    finally:
        close()
    title = f"Chỉ số 766 — {scope.name} ({scope.kind} {scope.code}) — {the_period.window}:{the_period.label}"
    console.print(index_table(title, result.result))
    if scope.kind != "unit" and result.units:
        rank = Table(title="Xếp hạng đơn vị (điểm các tiêu chí đã chấm)")
        for col in ("#", "đơn vị", "điểm", "trên"):
            rank.add_column(col)
        ranked = sorted(result.units, key=lambda ur: (-ur[1].score, ur[0].unit_code))
        for i, (u, res) in enumerate(ranked, start=1):
            rank.add_row(str(i), f"{u.unit_code} — {u.unit_name}", f"{res.score:.2f}", f"{res.scored_max:g}")
        console.print(rank)
    if result.counts.handled == 0 and result.counts.received == 0:
        console.print("[yellow]no dossiers for this unit and period in InfluxDB[/]")
    if monthly:
        history = Table(title=f"Chỉ số 766 theo tháng — {scope.name}")
        for col in ("tháng", "điểm", "trên", *(f"nhóm {g.group}" for g in result.result.groups)):
            history.add_column(col, justify="right")
        for mi in monthly:
            groups = [f"{g.score:.2f}" for g in mi.result.groups]
            history.add_row(mi.period.label, f"{mi.result.score:.2f}", f"{mi.result.scored_max:g}", *groups)
        console.print(history)
    if write:
        lines = [line for r in (result, *monthly) for line in scope_lines(r)]
        write_lines(s.influx_url, s.resolve_influx_token(), s.influx_org, bucket, lines)
        console.print(f"wrote {len(lines)} service_index points to bucket {bucket}")


def register(app: typer.Typer) -> None:
    app.command("index")(index)
