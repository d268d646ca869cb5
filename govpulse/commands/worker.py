"""`govpulse worker` (the Faust stream processor) and `govpulse alerts tail`."""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from common.settings import Settings, get_settings
from common.topics import ALERTS

console = Console()
alerts_app = typer.Typer(help="Late-dossier alerts (cảnh báo hồ sơ trễ hạn).")


def _ensure_topics(settings: Settings) -> None:
    try:
        from producers.topics import ensure_topics
    except ImportError:  # producers not installed: rely on the broker's auto-creation
        return
    ensure_topics(settings)


def worker(
    replay: bool = typer.Option(
        False,
        "--replay",
        help="reprocess from the beginning under a separate app id; 'now' is the event-time watermark",
    ),
    bucket: str | None = typer.Option(None, help="InfluxDB bucket (default GOVPULSE_INFLUX_BUCKET)"),
    app_id: str | None = typer.Option(None, help="Faust app id = consumer group (default GOVPULSE_APP_ID)"),
    web_port: int = typer.Option(6066, help="port of the /health endpoint (0: none)"),
    until_idle: float | None = typer.Option(None, help="exit once caught up and idle this many seconds"),
    batch_size: int = typer.Option(2000, help="events taken per batch"),
    loglevel: str = typer.Option("warning", help="debug, info, warning, error"),
) -> None:
    """Run the stream processor: rates per unit and window, alerts, InfluxDB sink."""
    import faust

    from streams.app import build_app

    settings = get_settings()
    if replay and bucket is None:
        console.print("[red]--replay needs --bucket: a replay writes into its own bucket, not the live one[/]")
        raise typer.Exit(2)
    _ensure_topics(settings)
    app = build_app(
        settings,
        app_id=app_id,
        bucket=bucket,
        replay=replay,
        web_port=web_port,
        until_idle=until_idle,
        batch_size=batch_size,
    )
    logging.getLogger("govpulse").setLevel(loglevel.upper())
    console.print(
        f"worker [bold]{app.conf.id}[/] → bucket [bold]{bucket or settings.influx_bucket}[/]"
        f"{' (replay)' if replay else ''}; health on :{web_port}/health"
    )
    sys.argv = [sys.argv[0]]  # faust.Worker parses argv; ours are consumed already
    try:
        faust.Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
    finally:
        failure = app.govpulse_failure()
        if failure:  # Faust's worker exits 0 whatever stopped it: say it failed
            console.print(f"[red]worker failed: {failure}[/]")
            raise SystemExit(1)


@alerts_app.command("tail")
def tail(
    from_beginning: bool = typer.Option(False, help="show past alerts too"),
    kind: str | None = typer.Option(None, help="dossier_overdue, dossier_due_soon or apology_missing"),
    limit: int | None = typer.Option(None, help="stop after this many alerts"),
    timeout: float | None = typer.Option(None, help="stop after this many idle seconds"),
) -> None:
    """Show alerts live as the worker emits them."""
    import orjson
    from kafka import KafkaConsumer

    s = get_settings()
    consumer = KafkaConsumer(
        s.topic(ALERTS),
        bootstrap_servers=s.kafka_bootstrap_servers,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout * 1000) if timeout else float("inf"),
        **s.kafka_client_kwargs(),
    )
    colours = {"dossier_overdue": "red", "dossier_due_soon": "yellow", "apology_missing": "magenta"}
    n = 0
    try:
        for msg in consumer:
            a = orjson.loads(msg.value)
            if kind and a.get("kind") != kind:
                continue
            late_h = a.get("late_seconds", 0) / 3600
            console.print(
                f"[{colours.get(a['kind'], 'white')}]{a['kind']:<17}[/] {a['alert_at']}  "
                f"{a.get('unit_name', a['unit_code'])} ({a['unit_code']})  hồ sơ {a['dossier_id']}  "
                f"TTHC {a.get('procedure_code', '')}  hạn {a['due_at']}  {late_h:+.1f} h"
                f"{'  [green]đã xin lỗi[/]' if a.get('apology_sent') else ''}"
            )
            n += 1
            if limit and n >= limit:
                break
    finally:
        consumer.close()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.add_typer(alerts_app, name="alerts")
