"""`govpulse demo`: the main job end to end, with progress shown.

Local services must be up (``make demo`` runs ``govpulse services up`` first). The demo
simulates a shipped scenario into Kafka, runs the worker until it has caught up, and prints
the figures InfluxDB now holds beside the public report's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from common.measurements import REPORT_YEAR
from common.settings import Settings, get_settings
from common.topics import EVENT_TOPICS

console = Console()
REPO = Path(__file__).resolve().parents[2]


def _flux(settings: Settings, query: str) -> list[dict[str, Any]]:
    from influxdb_client.client.influxdb_client import InfluxDBClient

    with InfluxDBClient(
        url=settings.influx_url, token=settings.resolve_influx_token(), org=settings.influx_org, timeout=120_000
    ) as c:
        return [r.values for t in c.query_api().query(query) for r in t.records]


def _sum(settings: Settings, bucket: str, predicate: str, field: str) -> int:
    rows = _flux(
        settings,
        f'''from(bucket: "{bucket}") |> range(start: 2021-12-01T00:00:00Z, stop: 2022-12-31T00:00:00Z)
      |> filter(fn: (r) => r._measurement == "unit_rates" and r.window == "{REPORT_YEAR}" and r._field == "{field}")
      |> filter(fn: (r) => {predicate}) |> group() |> sum()''',
    )
    return int(rows[0]["_value"]) if rows else 0


def demo(
    scenario: Path = typer.Option(REPO / "producers" / "scenarios" / "mytho_2022.yaml", help="scenario to simulate"),
    fresh: bool = typer.Option(True, help="use new topics and a new bucket (a clean, repeatable run)"),
) -> None:
    """Simulate Mỹ Tho 2022 into Kafka, process it with the worker into InfluxDB, show the figures."""
    s = get_settings()
    tag = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    env = dict(os.environ)
    # the shipped scenarios' former districts (e.g. Mỹ Tho city, 815) are registered units
    env.setdefault(
        "GOVPULSE_EXTRA_UNITS_FILE",
        ":".join(str(p) for p in sorted((REPO / "producers" / "scenarios").glob("*_units.yaml"))),
    )
    if fresh:
        env.update(
            GOVPULSE_TOPIC_PREFIX=f"demo-{tag}", GOVPULSE_INFLUX_BUCKET=f"demo-{tag}", GOVPULSE_APP_ID=f"demo-{tag}"
        )
    prefix = env.get("GOVPULSE_TOPIC_PREFIX", s.topic_prefix)
    bucket = env.get("GOVPULSE_INFLUX_BUCKET", s.influx_bucket)
    console.rule(f"[bold]1/3 simulate[/] {scenario.name} → Kafka topics {prefix}.*")
    cmd = [sys.executable, "-m", "govpulse.cli"]
    sim = subprocess.run([*cmd, "simulate", str(scenario)], env=env, cwd=REPO)
    if sim.returncode != 0:
        raise typer.Exit(sim.returncode)
    produced = _topic_size(s, prefix)

    console.rule(f"[bold]2/3 worker[/] Kafka → Faust → InfluxDB bucket {bucket}")
    log = s.home / "logs" / f"demo-worker-{tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        worker = subprocess.Popen(
            [*cmd, "worker", "--until-idle", "5", "--web-port", "0"],
            env=env,
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("events processed", total=produced)
            t0 = time.monotonic()
            while worker.poll() is None:
                time.sleep(2)
                progress.update(task, completed=min(produced, _processed(s, bucket)))
            progress.update(task, completed=_processed(s, bucket))
        elapsed = time.monotonic() - t0
    if worker.returncode != 0:
        console.print(f"[red]worker exited {worker.returncode}; log: {log}[/]")
        raise typer.Exit(1)
    console.print(f"worker caught up: {produced:,} events in {elapsed:.0f}s (log: {log})")

    console.rule("[bold]3/3 figures in InfluxDB[/] (report year 2022, Mỹ Tho)")
    desk, city = 'r.unit_code == "815"', 'r.district_code == "815"'
    d_res, d_on = (
        _sum(s, bucket, desk, "resolved"),
        _sum(s, bucket, desk, "resolved_early") + _sum(s, bucket, desk, "resolved_on_time"),
    )
    c_res, c_on = (
        _sum(s, bucket, city, "resolved"),
        _sum(s, bucket, city, "resolved_early") + _sum(s, bucket, city, "resolved_on_time"),
    )
    t = Table("figure", "InfluxDB", "report (DOMAIN.md)")
    t.add_row(
        "city desk on time / resolved",
        f"{d_on:,} / {d_res:,} = {100 * d_on / max(d_res, 1):.1f}%",
        "3,671 / 3,739 = 98.2%",
    )
    t.add_row(
        "city-wide on time / resolved", f"{c_on:,} / {c_res:,} = {100 * c_on / max(c_res, 1):.2f}%", "20,255, 99.66%"
    )
    t.add_row("city-wide received", f"{_sum(s, bucket, city, 'received'):,}", "20,742")
    t.add_row("documents digitally signed", f"{_sum(s, bucket, city, 'documents_signed'):,}", "13,200")
    t.add_row(
        "meetings held / uninterrupted",
        f"{_sum(s, bucket, city, 'meetings_held')} / {_sum(s, bucket, city, 'meetings_uninterrupted')}",
        "34 / 34",
    )
    alerts = _flux(
        s,
        f'''from(bucket: "{bucket}") |> range(start: 0) |> filter(fn: (r) => r._measurement == "dossier_alerts"
        and r._field == "late_seconds") |> group(columns: ["kind"]) |> count()''',
    )
    t.add_row("alerts", ", ".join(f"{a['kind']}: {a['_value']}" for a in alerts) or "0", "-")
    console.print(t)

    console.rule("[bold]the periodic report[/] (báo cáo định kỳ, report year 2022, Mỹ Tho city)")
    written = _write_reports(bucket, s.home / "reports" / f"demo-{tag}", env["GOVPULSE_EXTRA_UNITS_FILE"])
    console.print(
        f"alerts as they fired: GOVPULSE_TOPIC_PREFIX={prefix} govpulse alerts tail --from-beginning\n"
        f"Open the report: [bold]{written[0].as_uri()}[/] (spreadsheet: {written[1]})",
        soft_wrap=True,  # an address broken over lines cannot be clicked or pasted
    )
    console.rule("[bold]the Decision 766 index[/] (chỉ số 766, report year 2022, Mỹ Tho city; published points only)")
    _index(bucket, write=True)


def _index(bucket: str, write: bool) -> None:
    """`govpulse index` for the city over report year 2022, without a weights or figures file: the criteria's
    values, and scores only where the sources publish points and a rule (README: the service index)."""
    from govpulse.commands.index import index

    # each month too: the dashboards' month-by-month index panel then has its history
    index(unit="815", period="report_year:2022", rollup="district", weights=None, figures=None, bucket=bucket,
          write=write, each_month=True)  # fmt: skip


def _write_reports(bucket: str, out: Path, units_files: str) -> list[Path]:
    """The city's report for report year 2022 (the desk and its wards), as HTML (charts inside) and
    XLSX, with the charts as PNG files: the HTML and XLSX paths first. The report carries the index of
    Decision 766 (its section, its sheet "Chỉ số 766"), from the settings' weights and figures if any."""
    from govpulse.commands.report import build_report, index_summary, write_report
    from schemas import units

    units.load_units_files(units_files)  # the scenario's former district (815), as the worker had it

    rep = build_report("815", "report_year:2022", "district", bucket)
    html, xlsx = out / "bao-cao-815-2022.html", out / "bao-cao-815-2022.xlsx"
    charts = write_report(rep, "html", html, out / "charts")[1:]
    write_report(rep, "xlsx", xlsx)
    t = rep.total
    console.print(
        f"{rep.unit_name}: {len(rep.rows)} fields, {t.received:,} received, {t.resolved:,} resolved, "
        f"{t.resolved_in_time:,} on time or early; charts: {', '.join(p.name for p in charts)}",
        soft_wrap=True,
    )
    if rep.index is not None:
        console.print(index_summary(rep.index), soft_wrap=True)
    return [html, xlsx, *charts]


def _topic_size(settings: Settings, prefix: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    total = 0
    for short in EVENT_TOPICS:
        parts = c.partitions_for_topic(f"{prefix}.{short}") or set()
        tps = [TopicPartition(f"{prefix}.{short}", p) for p in parts]
        if tps:
            ends, begins = c.end_offsets(tps), c.beginning_offsets(tps)
            total += sum(ends[tp] - begins[tp] for tp in tps)
    c.close()
    return total


def _processed(settings: Settings, bucket: str) -> int:
    try:
        rows = _flux(
            settings,
            f'''from(bucket: "{bucket}") |> range(start: -1h)
          |> filter(fn: (r) => r._measurement == "pipeline_health" and r._field == "events_total")
          |> last() |> group() |> sum()''',
        )
    except Exception:  # noqa: BLE001 - bucket not created yet
        return 0
    return int(rows[0]["_value"]) if rows else 0


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
